-- Commerce (package commerce): products, carts, orders, loyalty, co-purchase counts and webhook
-- deliveries. Each record is a JSON document (doc) beside the columns its queries filter and sort
-- on; customer_id columns are authoritative over the copy inside doc (a merge moves only them).
-- Numbered 0010 so that it never collides with the core's migrations.

CREATE TABLE commerce_products (
	sku TEXT PRIMARY KEY,
	doc TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE commerce_carts (
	id          TEXT PRIMARY KEY,
	customer_id TEXT NOT NULL DEFAULT '',
	status      TEXT NOT NULL,
	has_items   INTEGER NOT NULL,
	touched_at  INTEGER NOT NULL, -- the shop's updated_at: recency and the abandoned sweep
	doc         TEXT NOT NULL
);
-- The current cart of a customer: the most recently touched open or abandoned one.
CREATE INDEX commerce_carts_customer ON commerce_carts (customer_id, touched_at DESC);
-- The abandoned sweep reads open carts oldest first; only carts with items can be abandoned.
CREATE INDEX commerce_carts_open ON commerce_carts (status, touched_at) WHERE has_items = 1;

CREATE TABLE commerce_orders (
	id          TEXT PRIMARY KEY,
	customer_id TEXT NOT NULL DEFAULT '',
	placed_at   INTEGER NOT NULL,
	currency    TEXT NOT NULL,
	net         INTEGER NOT NULL, -- total less refunds, 0 when cancelled
	cancelled   INTEGER NOT NULL,
	doc         TEXT NOT NULL
);
-- Newest orders first, and (covering) the per-currency value summary, for one customer.
CREATE INDEX commerce_orders_customer ON commerce_orders (customer_id, placed_at DESC, id DESC, cancelled, currency, net);

-- How many orders had sku and other together; both directions of a pair are stored.
CREATE TABLE commerce_copurchase (
	sku   TEXT NOT NULL,
	other TEXT NOT NULL,
	n     INTEGER NOT NULL,
	PRIMARY KEY (sku, other)
) WITHOUT ROWID;
CREATE INDEX commerce_copurchase_top ON commerce_copurchase (sku, n DESC, other);

CREATE TABLE commerce_loyalty (
	shop_customer_id TEXT PRIMARY KEY,
	customer_id      TEXT NOT NULL DEFAULT '',
	shop_updated_at  INTEGER NOT NULL,
	doc              TEXT NOT NULL
);
CREATE INDEX commerce_loyalty_customer ON commerce_loyalty (customer_id, shop_updated_at DESC);

-- Webhook deliveries already processed (Shopify's X-Shopify-Webhook-Id), for deduplication.
CREATE TABLE commerce_deliveries (
	source      TEXT NOT NULL,
	id          TEXT NOT NULL,
	received_at INTEGER NOT NULL,
	PRIMARY KEY (source, id)
) WITHOUT ROWID;
CREATE INDEX commerce_deliveries_age ON commerce_deliveries (received_at);
