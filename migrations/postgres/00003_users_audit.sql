-- +goose Up
-- mospay's own users: the mini-app token names one of these, not MOS's openid (which the front
-- end has no use for). Tokens issued before tokens_revoked_at are refused.
CREATE TABLE users (
    id                 TEXT PRIMARY KEY CHECK (length(id) BETWEEN 1 AND 64),
    openid             TEXT NOT NULL UNIQUE,
    language           TEXT NOT NULL DEFAULT '',
    first_login_at     TIMESTAMPTZ NOT NULL,
    last_login_at      TIMESTAMPTZ NOT NULL,
    tokens_revoked_at  TIMESTAMPTZ
);
-- Orders made before users existed belong to a user made from their openid now.
INSERT INTO users (id, openid, first_login_at, last_login_at)
    SELECT replace(gen_random_uuid()::text, '-', ''), openid, MIN(created_at), MAX(created_at) FROM orders GROUP BY openid;
ALTER TABLE orders ADD COLUMN user_id TEXT REFERENCES users (id);
UPDATE orders SET user_id = u.id FROM users u WHERE u.openid = orders.openid;
CREATE INDEX orders_user ON orders (user_id, id);

-- Every admin action that changes something or asks MOS, with who (the admin token's name),
-- written in the same transaction as the action's effect where it has one.
CREATE TABLE admin_actions (
    id            BIGSERIAL PRIMARY KEY,
    actor         TEXT NOT NULL,
    action        TEXT NOT NULL CHECK (action IN ('reconcile', 'revoke', 'resolve', 'redeliver', 'login')),
    order_id      BIGINT REFERENCES orders (id),
    out_trade_no  TEXT NOT NULL DEFAULT '',
    user_id       TEXT NOT NULL DEFAULT '',
    detail        TEXT NOT NULL DEFAULT '',
    request_id    TEXT NOT NULL DEFAULT '',
    created_at    TIMESTAMPTZ NOT NULL
);
CREATE INDEX admin_actions_at ON admin_actions (created_at, id);
CREATE INDEX admin_actions_order ON admin_actions (order_id);

-- A notification is known again by its body: an identical one already applied is answered
-- without another orderQuery or row. Where its own fields disagreed with MOS's answer, the
-- disagreement is recorded here (and never turned into a flag).
ALTER TABLE notifications ADD COLUMN body_hash TEXT NOT NULL DEFAULT '';
ALTER TABLE notifications ADD COLUMN disagreement TEXT NOT NULL DEFAULT '';
CREATE INDEX notifications_body ON notifications (body_hash);

-- +goose Down
DROP INDEX notifications_body;
ALTER TABLE notifications DROP COLUMN disagreement;
ALTER TABLE notifications DROP COLUMN body_hash;
DROP TABLE admin_actions;
DROP INDEX orders_user;
ALTER TABLE orders DROP COLUMN user_id;
DROP TABLE users;
