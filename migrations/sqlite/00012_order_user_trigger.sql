-- +goose Up
-- Nothing changes on SQLite: orders.user_id keeps its foreign key to users. (On PostgreSQL the key
-- is replaced by triggers that keep the same guarantee without locking the user's row for every
-- order; SQLite takes no row locks, its one writer at a time is what isolates writes.) The
-- migration exists so that both dialects have the same numbers; goose records it as applied.

-- +goose Down
