-- +goose Up
-- Where an order's price came from. An order a merchant's backend made through the merchant API
-- names the merchant (the key's name) and carries the merchant's own reference, unique per
-- merchant: the unique index, not any process's memory, is what makes a repeated create return
-- the same order on every instance. metadata is the merchant's flat string map as JSON text, and
-- items the product list's lines the order was priced from, as JSON text ('' for none).
ALTER TABLE orders ADD COLUMN merchant TEXT;
ALTER TABLE orders ADD COLUMN reference TEXT;
ALTER TABLE orders ADD COLUMN metadata TEXT NOT NULL DEFAULT '';
ALTER TABLE orders ADD COLUMN items TEXT NOT NULL DEFAULT '';
CREATE UNIQUE INDEX orders_merchant_reference ON orders (merchant, reference) WHERE reference IS NOT NULL;
-- Finance searches by reference, whichever merchant made it.
CREATE INDEX orders_reference ON orders (reference) WHERE reference IS NOT NULL;

-- The product list: what a mini-app without a backend of its own sells, at a price per currency.
-- An order copies its lines at the prices of the moment, so a later change never touches it.
CREATE TABLE products (
    id          TEXT PRIMARY KEY CHECK (length(id) BETWEEN 1 AND 64),
    name        TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    active      BOOLEAN NOT NULL DEFAULT 1,
    created_at  DATETIME NOT NULL,
    updated_at  DATETIME NOT NULL
);
CREATE TABLE product_prices (
    product_id    TEXT    NOT NULL REFERENCES products (id),
    currency      TEXT    NOT NULL CHECK (currency IN ('USD', 'KHR')),
    amount_minor  INTEGER NOT NULL CHECK (amount_minor > 0),
    PRIMARY KEY (product_id, currency)
);

-- The audit trail also records a merchant creating an order (create) and changes to the product
-- list (product). SQLite cannot change a CHECK in place: the table is made again with every
-- action mospay records.
CREATE TABLE admin_actions_new (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    actor         TEXT NOT NULL,
    action        TEXT NOT NULL CHECK (action IN ('reconcile', 'revoke', 'resolve', 'redeliver', 'login',
                      'login_failed', 'logout', 'close', 'export', 'lookup', 'create', 'product')),
    order_id      INTEGER REFERENCES orders (id),
    out_trade_no  TEXT NOT NULL DEFAULT '',
    user_id       TEXT NOT NULL DEFAULT '',
    detail        TEXT NOT NULL DEFAULT '',
    request_id    TEXT NOT NULL DEFAULT '',
    client_request_id TEXT NOT NULL DEFAULT '',
    created_at    DATETIME NOT NULL
);
INSERT INTO admin_actions_new (id, actor, action, order_id, out_trade_no, user_id, detail, request_id, client_request_id, created_at)
    SELECT id, actor, action, order_id, out_trade_no, user_id, detail, request_id, client_request_id, created_at FROM admin_actions;
DROP TABLE admin_actions;
ALTER TABLE admin_actions_new RENAME TO admin_actions;
CREATE INDEX admin_actions_at ON admin_actions (created_at, id);
CREATE INDEX admin_actions_order ON admin_actions (order_id);
CREATE INDEX admin_actions_action ON admin_actions (action, id);

-- +goose Down
DELETE FROM admin_actions WHERE action IN ('create', 'product');
DROP TABLE product_prices;
DROP TABLE products;
DROP INDEX orders_reference;
DROP INDEX orders_merchant_reference;
ALTER TABLE orders DROP COLUMN items;
ALTER TABLE orders DROP COLUMN metadata;
ALTER TABLE orders DROP COLUMN reference;
ALTER TABLE orders DROP COLUMN merchant;
