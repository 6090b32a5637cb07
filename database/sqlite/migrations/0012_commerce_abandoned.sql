-- The abandoned-cart list of the console (commerce.Store.AbandonedCarts): abandoned carts with
-- items and a customer, most recently touched first, paged by (touched_at, id). The id makes the
-- index give the list's whole order (commerce_carts_open would leave ties to a sort), and guest
-- carts (no customer), which a shop may have many of, are not in it: a page reads only the rows
-- it returns.
CREATE INDEX commerce_carts_abandoned ON commerce_carts (status, touched_at, id)
	WHERE has_items = 1 AND customer_id <> '';
