-- +goose Up
-- Finance resolves a flag with an outcome. Accepting MOS's answer of another amount records what
-- MOS settled beside the order's own amount (the money figures use it); the resolved flag keeps
-- the outcome chosen. (The audit trail's action close, finance closing a stuck order, is allowed
-- since 00006.)
ALTER TABLE orders ADD COLUMN settled_minor BIGINT CHECK (settled_minor IS NULL OR settled_minor > 0);
ALTER TABLE orders ADD COLUMN settled_currency TEXT NOT NULL DEFAULT '';
ALTER TABLE order_flags ADD COLUMN outcome TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE order_flags DROP COLUMN outcome;
ALTER TABLE orders DROP COLUMN settled_currency;
ALTER TABLE orders DROP COLUMN settled_minor;
