-- +goose Up
-- Finance resolves a flag with an outcome. Accepting MOS's answer of another amount records what
-- MOS settled beside the order's own amount (the money figures use it); the resolved flag keeps
-- the outcome chosen. Finance may also close a stuck order (action close).
ALTER TABLE orders ADD COLUMN settled_minor BIGINT CHECK (settled_minor IS NULL OR settled_minor > 0);
ALTER TABLE orders ADD COLUMN settled_currency TEXT NOT NULL DEFAULT '';
ALTER TABLE order_flags ADD COLUMN outcome TEXT NOT NULL DEFAULT '';
ALTER TABLE admin_actions DROP CONSTRAINT admin_actions_action_check;
ALTER TABLE admin_actions ADD CONSTRAINT admin_actions_action_check
    CHECK (action IN ('reconcile', 'revoke', 'resolve', 'close', 'redeliver', 'login'));

-- +goose Down
DELETE FROM admin_actions WHERE action = 'close';
ALTER TABLE admin_actions DROP CONSTRAINT admin_actions_action_check;
ALTER TABLE admin_actions ADD CONSTRAINT admin_actions_action_check
    CHECK (action IN ('reconcile', 'revoke', 'resolve', 'redeliver', 'login'));
ALTER TABLE order_flags DROP COLUMN outcome;
ALTER TABLE orders DROP COLUMN settled_currency;
ALTER TABLE orders DROP COLUMN settled_minor;
