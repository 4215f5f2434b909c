-- +goose Up
-- Finance's desk. A flag remembers the answer of MOS that raised it (status, amount and currency)
-- and, once resolved, finance's note: a flag resolved for an answer is not raised again while MOS
-- keeps giving that answer.
ALTER TABLE order_flags ADD COLUMN mos_answer TEXT NOT NULL DEFAULT '';
ALTER TABLE order_flags ADD COLUMN resolution TEXT NOT NULL DEFAULT '';
-- The review queue walks the active flags oldest first; few of the flags ever raised are active.
CREATE INDEX order_flags_open ON order_flags (id) WHERE resolved_at IS NULL;
-- Periods on the money basis (basis=paid) read only the rows paid or refunded in the period.
CREATE INDEX orders_paid ON orders (paid_at) WHERE paid_at IS NOT NULL;
CREATE INDEX orders_refunded ON orders (refunded_at) WHERE refunded_at IS NOT NULL;
-- Search by prepayId.
CREATE INDEX orders_prepay ON orders (prepay_id) WHERE prepay_id <> '';

-- +goose Down
DROP INDEX orders_prepay;
DROP INDEX orders_refunded;
DROP INDEX orders_paid;
DROP INDEX order_flags_open;
ALTER TABLE order_flags DROP COLUMN resolution;
ALTER TABLE order_flags DROP COLUMN mos_answer;
