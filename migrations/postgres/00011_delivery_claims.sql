-- +goose Up
-- The deliverer claims an endpoint's due deliveries, earliest first: with this index the claim
-- reads them in that order and stops at its batch, instead of reading every pending delivery of
-- the endpoint (deliveries_status) and sorting them, which made each claim cost as much as the
-- backlog was long. It replaces deliveries_due, which only claims used.
CREATE INDEX deliveries_claim ON deliveries (endpoint, next_attempt_at) WHERE status = 'pending';
DROP INDEX deliveries_due;

-- +goose Down
CREATE INDEX deliveries_due ON deliveries (next_attempt_at) WHERE next_attempt_at IS NOT NULL;
DROP INDEX deliveries_claim;
