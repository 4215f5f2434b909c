-- +goose Up
-- The reconciler's checks in a row that got no answer from MOS (unreachable, timeout, HTTP 5xx,
-- a lost answer): such a check is made again on a short backoff that grows with this count, apart
-- from the order's timetable, and the count is back to 0 once MOS answers.
ALTER TABLE orders ADD COLUMN check_failures INTEGER NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE orders DROP COLUMN check_failures;
