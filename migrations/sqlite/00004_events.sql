-- +goose Up
-- The transactional outbox: an order event is written in the same transaction as the change that
-- causes it (no event without its change, no change without its event), and is the order's event
-- log. payload is the exact JSON body every delivery sends: the order as it is after the change.
CREATE TABLE events (
    id            TEXT PRIMARY KEY CHECK (length(id) BETWEEN 1 AND 64),
    order_id      INTEGER NOT NULL REFERENCES orders (id),
    out_trade_no  TEXT NOT NULL,
    -- The order's version after the change that made the event: with the id (time-ordered within
    -- one write), the order of one order's events, whichever instance made them.
    order_version INTEGER NOT NULL,
    type          TEXT NOT NULL CHECK (type IN ('order.paid', 'order.failed', 'order.closed', 'order.refunded',
                                                 'order.flagged', 'order.flag_resolved')),
    payload       TEXT NOT NULL,
    created_at    DATETIME NOT NULL
);
CREATE INDEX events_order ON events (order_id, created_at);
CREATE INDEX events_created ON events (created_at, id);

-- One delivery per (event, endpoint), made with the event for every endpoint configured then.
-- A pending delivery is due at next_attempt_at and claimed under a short, renewed lease; it waits
-- while an earlier event of its order (order_version, event_id) is pending for its endpoint.
CREATE TABLE deliveries (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id         TEXT NOT NULL REFERENCES events (id),
    order_id         INTEGER NOT NULL,
    order_version    INTEGER NOT NULL,
    endpoint         TEXT NOT NULL,
    status           TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'failed', 'abandoned')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  DATETIME,
    lease_owner      TEXT,
    lease_until      DATETIME,
    last_error       TEXT NOT NULL DEFAULT '',
    created_at       DATETIME NOT NULL,
    updated_at       DATETIME NOT NULL,
    UNIQUE (event_id, endpoint)
);
CREATE INDEX deliveries_due ON deliveries (next_attempt_at) WHERE next_attempt_at IS NOT NULL;
CREATE INDEX deliveries_order ON deliveries (endpoint, order_id, order_version, event_id) WHERE status = 'pending';
CREATE INDEX deliveries_status ON deliveries (status, endpoint);

-- Every attempt: when, the answer's status and latency, the error, the first 1 KiB of the answer.
CREATE TABLE delivery_attempts (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    delivery_id  INTEGER NOT NULL REFERENCES deliveries (id),
    status_code  INTEGER NOT NULL DEFAULT 0,
    latency_ms   INTEGER NOT NULL DEFAULT 0,
    error        TEXT NOT NULL DEFAULT '',
    response     TEXT NOT NULL DEFAULT '',
    created_at   DATETIME NOT NULL
);
CREATE INDEX delivery_attempts_delivery ON delivery_attempts (delivery_id, id);
CREATE INDEX delivery_attempts_created ON delivery_attempts (created_at);

-- +goose Down
DROP TABLE delivery_attempts;
DROP TABLE deliveries;
DROP TABLE events;
