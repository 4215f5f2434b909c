-- +goose Up
-- When an order was paid and refunded, set in the transaction of that transition. Orders paid
-- before this migration take the time of their first transition to the status.
ALTER TABLE orders ADD COLUMN paid_at DATETIME;
ALTER TABLE orders ADD COLUMN refunded_at DATETIME;
UPDATE orders SET paid_at = (SELECT MIN(t.created_at) FROM transitions t WHERE t.order_id = orders.id AND t.to_status = 'PAID');
UPDATE orders SET refunded_at = (SELECT MIN(t.created_at) FROM transitions t WHERE t.order_id = orders.id AND t.to_status = 'REFUNDED');

-- A PAID order is checked for a refund through the refund window (MOSPAY_REFUND_WINDOW, whose
-- default of 720 hours this migration assumes): at paid_at + 1 hour, 1 day, 7 days and the end of
-- the window. Orders already PAID get the next of those still ahead; times are written as Go
-- writes them, so they compare as text with the rest.
UPDATE orders SET next_check_at = CASE
        WHEN strftime('%Y-%m-%d %H:%M:%f+00:00', paid_at, '+1 hours') > strftime('%Y-%m-%d %H:%M:%f+00:00', 'now')
            THEN strftime('%Y-%m-%d %H:%M:%f+00:00', paid_at, '+1 hours')
        WHEN strftime('%Y-%m-%d %H:%M:%f+00:00', paid_at, '+24 hours') > strftime('%Y-%m-%d %H:%M:%f+00:00', 'now')
            THEN strftime('%Y-%m-%d %H:%M:%f+00:00', paid_at, '+24 hours')
        WHEN strftime('%Y-%m-%d %H:%M:%f+00:00', paid_at, '+168 hours') > strftime('%Y-%m-%d %H:%M:%f+00:00', 'now')
            THEN strftime('%Y-%m-%d %H:%M:%f+00:00', paid_at, '+168 hours')
        WHEN strftime('%Y-%m-%d %H:%M:%f+00:00', paid_at, '+720 hours') > strftime('%Y-%m-%d %H:%M:%f+00:00', 'now')
            THEN strftime('%Y-%m-%d %H:%M:%f+00:00', paid_at, '+720 hours')
    END
    WHERE status = 'PAID' AND paid_at IS NOT NULL AND next_check_at IS NULL;

-- Readiness writes here (one row per instance) to find out whether the database still takes
-- writes: a full disk must make /readyz fail, and its recovery make it pass again.
CREATE TABLE readiness (
    instance    TEXT PRIMARY KEY,
    checked_at  DATETIME NOT NULL,
    pad         TEXT NOT NULL DEFAULT ''
);

-- +goose Down
DROP TABLE readiness;
ALTER TABLE orders DROP COLUMN refunded_at;
ALTER TABLE orders DROP COLUMN paid_at;
