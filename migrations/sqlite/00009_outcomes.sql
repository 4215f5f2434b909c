-- +goose Up
-- Finance resolves a flag with an outcome. Accepting MOS's answer of another amount records what
-- MOS settled beside the order's own amount (the money figures use it); the resolved flag keeps
-- the outcome chosen. Finance may also close a stuck order (action close): SQLite cannot change a
-- CHECK in place, so the audit table is made again with the same rows and ids.
ALTER TABLE orders ADD COLUMN settled_minor INTEGER CHECK (settled_minor IS NULL OR settled_minor > 0);
ALTER TABLE orders ADD COLUMN settled_currency TEXT NOT NULL DEFAULT '';
ALTER TABLE order_flags ADD COLUMN outcome TEXT NOT NULL DEFAULT '';

CREATE TABLE admin_actions_new (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    actor         TEXT NOT NULL,
    action        TEXT NOT NULL CHECK (action IN ('reconcile', 'revoke', 'resolve', 'close', 'redeliver', 'login')),
    order_id      INTEGER REFERENCES orders (id),
    out_trade_no  TEXT NOT NULL DEFAULT '',
    user_id       TEXT NOT NULL DEFAULT '',
    detail        TEXT NOT NULL DEFAULT '',
    request_id    TEXT NOT NULL DEFAULT '',
    created_at    DATETIME NOT NULL
);
INSERT INTO admin_actions_new (id, actor, action, order_id, out_trade_no, user_id, detail, request_id, created_at)
    SELECT id, actor, action, order_id, out_trade_no, user_id, detail, request_id, created_at FROM admin_actions;
DROP TABLE admin_actions;
ALTER TABLE admin_actions_new RENAME TO admin_actions;
CREATE INDEX admin_actions_at ON admin_actions (created_at, id);
CREATE INDEX admin_actions_order ON admin_actions (order_id);

-- +goose Down
CREATE TABLE admin_actions_old (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    actor         TEXT NOT NULL,
    action        TEXT NOT NULL CHECK (action IN ('reconcile', 'revoke', 'resolve', 'redeliver', 'login')),
    order_id      INTEGER REFERENCES orders (id),
    out_trade_no  TEXT NOT NULL DEFAULT '',
    user_id       TEXT NOT NULL DEFAULT '',
    detail        TEXT NOT NULL DEFAULT '',
    request_id    TEXT NOT NULL DEFAULT '',
    created_at    DATETIME NOT NULL
);
INSERT INTO admin_actions_old (id, actor, action, order_id, out_trade_no, user_id, detail, request_id, created_at)
    SELECT id, actor, action, order_id, out_trade_no, user_id, detail, request_id, created_at FROM admin_actions
    WHERE action <> 'close';
DROP TABLE admin_actions;
ALTER TABLE admin_actions_old RENAME TO admin_actions;
CREATE INDEX admin_actions_at ON admin_actions (created_at, id);
CREATE INDEX admin_actions_order ON admin_actions (order_id);
ALTER TABLE order_flags DROP COLUMN outcome;
ALTER TABLE orders DROP COLUMN settled_currency;
ALTER TABLE orders DROP COLUMN settled_minor;
