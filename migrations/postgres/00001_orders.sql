-- +goose Up
-- Orders and their durable history. Times are timestamptz.
CREATE TABLE orders (
    id               BIGSERIAL PRIMARY KEY,
    out_trade_no     TEXT    NOT NULL UNIQUE CHECK (length(out_trade_no) BETWEEN 1 AND 32),
    nonce_str        TEXT    NOT NULL CHECK (length(nonce_str) BETWEEN 1 AND 32),
    app_key          TEXT    NOT NULL,
    openid           TEXT    NOT NULL,
    prepay_id        TEXT    NOT NULL DEFAULT '',
    amount_minor     BIGINT  NOT NULL CHECK (amount_minor > 0),
    currency         TEXT    NOT NULL CHECK (currency IN ('USD', 'KHR')),
    description      TEXT    NOT NULL DEFAULT '',
    status           TEXT    NOT NULL CHECK (status IN ('CREATED', 'PENDING', 'PAID', 'FAILED', 'CLOSED', 'REFUNDED')),
    version          BIGINT  NOT NULL DEFAULT 1,
    sandbox          BOOLEAN NOT NULL DEFAULT FALSE,
    idempotency_key  TEXT,
    request_hash     TEXT    NOT NULL DEFAULT '',
    expire_at        TIMESTAMPTZ NOT NULL,
    next_check_at    TIMESTAMPTZ,
    check_attempts   INTEGER NOT NULL DEFAULT 0,
    lease_owner      TEXT,
    lease_until      TIMESTAMPTZ,
    created_at       TIMESTAMPTZ NOT NULL,
    updated_at       TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX orders_idempotency ON orders (openid, idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE INDEX orders_openid ON orders (openid, id);
CREATE INDEX orders_due ON orders (next_check_at) WHERE next_check_at IS NOT NULL;
CREATE INDEX orders_created ON orders (created_at);
CREATE INDEX orders_status ON orders (status, id);

CREATE TABLE transitions (
    id           BIGSERIAL PRIMARY KEY,
    order_id     BIGINT  NOT NULL REFERENCES orders (id),
    version      BIGINT  NOT NULL,
    from_status  TEXT    NOT NULL DEFAULT '',
    to_status    TEXT    NOT NULL CHECK (to_status IN ('CREATED', 'PENDING', 'PAID', 'FAILED', 'CLOSED', 'REFUNDED')),
    source       TEXT    NOT NULL CHECK (source IN ('api', 'notify', 'reconciler', 'admin')),
    reason       TEXT    NOT NULL DEFAULT '',
    mos_status   TEXT    NOT NULL DEFAULT '',
    request_id   TEXT    NOT NULL DEFAULT '',
    created_at   TIMESTAMPTZ NOT NULL,
    UNIQUE (order_id, version)
);

CREATE TABLE order_flags (
    id           BIGSERIAL PRIMARY KEY,
    order_id     BIGINT  NOT NULL REFERENCES orders (id),
    flag         TEXT    NOT NULL,
    note         TEXT    NOT NULL DEFAULT '',
    raised_at    TIMESTAMPTZ NOT NULL,
    resolved_at  TIMESTAMPTZ,
    resolved_by  TEXT    NOT NULL DEFAULT ''
);
CREATE UNIQUE INDEX order_flags_active ON order_flags (order_id, flag) WHERE resolved_at IS NULL;

CREATE TABLE notifications (
    id              BIGSERIAL PRIMARY KEY,
    order_id        BIGINT REFERENCES orders (id),
    out_trade_no    TEXT    NOT NULL DEFAULT '',
    content_type    TEXT    NOT NULL DEFAULT '',
    raw_body        TEXT    NOT NULL,
    mos_status      TEXT    NOT NULL DEFAULT '',
    queried_status  TEXT    NOT NULL DEFAULT '',
    outcome         TEXT    NOT NULL,
    request_id      TEXT    NOT NULL DEFAULT '',
    received_at     TIMESTAMPTZ NOT NULL
);
CREATE INDEX notifications_order ON notifications (order_id);

CREATE TABLE mos_queries (
    id            BIGSERIAL PRIMARY KEY,
    order_id      BIGINT  NOT NULL REFERENCES orders (id),
    source        TEXT    NOT NULL,
    mos_status    TEXT    NOT NULL DEFAULT '',
    total_amount  TEXT    NOT NULL DEFAULT '',
    currency      TEXT    NOT NULL DEFAULT '',
    error         TEXT    NOT NULL DEFAULT '',
    duration_ms   INTEGER NOT NULL DEFAULT 0,
    created_at    TIMESTAMPTZ NOT NULL
);
CREATE INDEX mos_queries_order ON mos_queries (order_id);

-- +goose Down
DROP TABLE mos_queries;
DROP TABLE notifications;
DROP TABLE order_flags;
DROP TABLE transitions;
DROP TABLE orders;
