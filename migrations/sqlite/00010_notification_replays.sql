-- +goose Up
-- Notifications are told apart by what their signature covers, never by their bytes: one row per
-- signed content (signed, its SHA-256 in signed_hash, unique), a repeat counted on it (repeats,
-- last_repeat_at); checked_at is when its current check began (a check that never ended is
-- taken over by a repeat). Of the body as received only the first 2 KiB are kept from now on, with its
-- full size (body_size) and SHA-256 (body_hash). Rows from before keep signed_hash '' (they take
-- no part in the uniqueness) and get their body's size.
ALTER TABLE notifications ADD COLUMN signed TEXT NOT NULL DEFAULT '';
ALTER TABLE notifications ADD COLUMN signed_hash TEXT NOT NULL DEFAULT '';
ALTER TABLE notifications ADD COLUMN body_size INTEGER NOT NULL DEFAULT 0;
ALTER TABLE notifications ADD COLUMN repeats INTEGER NOT NULL DEFAULT 0;
ALTER TABLE notifications ADD COLUMN last_repeat_at DATETIME;
ALTER TABLE notifications ADD COLUMN checked_at DATETIME;
UPDATE notifications SET body_size = length(CAST(raw_body AS BLOB));
CREATE UNIQUE INDEX notifications_signed ON notifications (signed_hash) WHERE signed_hash <> '';

-- When MOS was last asked about an order on behalf of notifications: at most once per window,
-- claimed by compare-and-set so that instances share it.
CREATE TABLE notify_windows (
    order_id    INTEGER PRIMARY KEY REFERENCES orders (id),
    queried_at  DATETIME NOT NULL
);

-- +goose Down
DROP TABLE notify_windows;
DROP INDEX notifications_signed;
ALTER TABLE notifications DROP COLUMN checked_at;
ALTER TABLE notifications DROP COLUMN last_repeat_at;
ALTER TABLE notifications DROP COLUMN repeats;
ALTER TABLE notifications DROP COLUMN body_size;
ALTER TABLE notifications DROP COLUMN signed_hash;
ALTER TABLE notifications DROP COLUMN signed;
