-- +goose Up
-- The audit trail also records what reads payers' data (a CSV export, a user looked up by openid)
-- and the ends of sign-in: a sign-out, a refused sign-in. A row keeps mospay's own request id and,
-- apart from it, the X-Request-Id the client sent (which the client chooses). SQLite cannot change
-- a CHECK in place: the table is made again with the same rows and ids.
CREATE TABLE admin_actions_new (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    actor              TEXT NOT NULL,
    action             TEXT NOT NULL CHECK (action IN ('reconcile', 'revoke', 'resolve', 'close', 'redeliver',
                                                       'login', 'login_failed', 'logout', 'export', 'lookup')),
    order_id           INTEGER REFERENCES orders (id),
    out_trade_no       TEXT NOT NULL DEFAULT '',
    user_id            TEXT NOT NULL DEFAULT '',
    detail             TEXT NOT NULL DEFAULT '',
    request_id         TEXT NOT NULL DEFAULT '',
    client_request_id  TEXT NOT NULL DEFAULT '',
    created_at         DATETIME NOT NULL
);
INSERT INTO admin_actions_new (id, actor, action, order_id, out_trade_no, user_id, detail, request_id, created_at)
    SELECT id, actor, action, order_id, out_trade_no, user_id, detail, request_id, created_at FROM admin_actions;
DROP TABLE admin_actions;
ALTER TABLE admin_actions_new RENAME TO admin_actions;
CREATE INDEX admin_actions_at ON admin_actions (created_at, id);
CREATE INDEX admin_actions_order ON admin_actions (order_id);
CREATE INDEX admin_actions_action ON admin_actions (action, id);

-- Finance's sessions live here, so that signing out ends a session everywhere (a copied cookie
-- with it) and a removed admin token's sessions stay ended if the token comes back. The cookie
-- carries the session's secret; a row is keyed by its SHA-256, so that the table signs no one in.
-- token_fingerprint names the admin token signed in with (an HMAC of it, never the token).
CREATE TABLE finance_sessions (
    id                 TEXT PRIMARY KEY CHECK (length(id) = 64),
    admin              TEXT NOT NULL,
    token_fingerprint  TEXT NOT NULL,
    remote_ip          TEXT NOT NULL DEFAULT '',
    user_agent         TEXT NOT NULL DEFAULT '',
    created_at         DATETIME NOT NULL,
    expires_at         DATETIME NOT NULL,
    ended_at           DATETIME,
    ended_by           TEXT NOT NULL DEFAULT ''
);
CREATE INDEX finance_sessions_open ON finance_sessions (admin, created_at) WHERE ended_at IS NULL;

-- +goose Down
DROP TABLE finance_sessions;
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
    WHERE action IN ('reconcile', 'revoke', 'resolve', 'redeliver', 'login');
DROP TABLE admin_actions;
ALTER TABLE admin_actions_old RENAME TO admin_actions;
CREATE INDEX admin_actions_at ON admin_actions (created_at, id);
CREATE INDEX admin_actions_order ON admin_actions (order_id);
