package sqlite

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/serambi/serambi/commerce"
	"github.com/serambi/serambi/inbox"
)

// The commerce tables (migrations/0010_commerce.sql) keep each record as a JSON document beside
// the columns that queries filter and sort on. Every Update* runs the caller's function inside the
// writer's transaction, between reading the record and writing it back, so no other write comes
// between; an order's co-purchase counts change in that same transaction.

var _ commerce.Store = (*Store)(nil)

// readDoc reads one document column; found is false when the row is absent.
func readDoc(q querier, sqlText string, args []any, dest any, extra ...any) (bool, error) {
	var doc []byte
	err := queryOne(q, sqlText, args, append([]any{&doc}, extra...)...)
	if errors.Is(err, inbox.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if err := json.Unmarshal(doc, dest); err != nil {
		return false, fmt.Errorf("decode stored document: %w", err)
	}
	return true, nil
}

func marshal(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode document: %w", err)
	}
	return b, nil
}

// UpdateProduct applies fn to the product under sku.
func (s *Store) UpdateProduct(ctx context.Context, sku string, fn func(commerce.Product, bool) (commerce.Product, error)) (before, after commerce.Product, err error) {
	err = s.write(ctx, func(w *writer) error {
		before, after = commerce.Product{}, commerce.Product{}
		found, err := readDoc(w, `SELECT doc FROM commerce_products WHERE sku = ?`, []any{sku}, &before)
		if err != nil {
			return err
		}
		if after, err = fn(before, found); err != nil {
			return err
		}
		after.SKU = sku
		doc, err := marshal(after)
		if err != nil {
			return err
		}
		_, err = w.exec(`INSERT INTO commerce_products (sku, doc) VALUES (?, ?) ON CONFLICT (sku) DO UPDATE SET doc = excluded.doc`, sku, doc)
		return err
	})
	if err != nil {
		return before, before, err
	}
	return before, after, nil
}

// Products returns the stored products among skus.
func (s *Store) Products(ctx context.Context, skus []string) ([]commerce.Product, error) {
	if len(skus) == 0 {
		return nil, nil
	}
	list, err := json.Marshal(skus)
	if err != nil {
		return nil, err
	}
	rows, err := s.reader(ctx).query(`SELECT doc FROM commerce_products WHERE sku IN (SELECT value FROM json_each(?))`, string(list))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []commerce.Product
	for rows.Next() {
		var doc []byte
		var p commerce.Product
		if err := rows.Scan(&doc); err != nil {
			return nil, err
		}
		if err := json.Unmarshal(doc, &p); err != nil {
			return nil, fmt.Errorf("decode stored product: %w", err)
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

const cartColumns = `doc, customer_id`

func writeCart(w *writer, c commerce.Cart) error {
	doc, err := marshal(c)
	if err != nil {
		return err
	}
	_, err = w.exec(`INSERT INTO commerce_carts (id, customer_id, status, has_items, touched_at, doc) VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET customer_id = excluded.customer_id, status = excluded.status,
		has_items = excluded.has_items, touched_at = excluded.touched_at, doc = excluded.doc`,
		c.ID, c.CustomerID, string(c.Status), b2i(c.Quantity() > 0), ts(c.Touched()), doc)
	return err
}

// UpdateCart applies fn to the cart under id.
func (s *Store) UpdateCart(ctx context.Context, id string, fn func(commerce.Cart, bool) (commerce.Cart, error)) (before, after commerce.Cart, err error) {
	err = s.write(ctx, func(w *writer) error {
		before, after = commerce.Cart{}, commerce.Cart{}
		var cust string
		found, err := readDoc(w, `SELECT `+cartColumns+` FROM commerce_carts WHERE id = ?`, []any{id}, &before, &cust)
		if err != nil {
			return err
		}
		before.CustomerID = cust
		if after, err = fn(before, found); err != nil {
			return err
		}
		after.ID = id
		return writeCart(w, after)
	})
	if err != nil {
		return before, before, err
	}
	return before, after, nil
}

func readCart(q querier, sqlText string, args ...any) (commerce.Cart, error) {
	var c commerce.Cart
	var cust string
	found, err := readDoc(q, sqlText, args, &c, &cust)
	if err != nil {
		return c, err
	}
	if !found {
		return c, inbox.ErrNotFound
	}
	c.CustomerID = cust
	return c, nil
}

// CartByID returns a cart.
func (s *Store) CartByID(ctx context.Context, id string) (commerce.Cart, error) {
	c, err := readCart(s.lookup(ctx), `SELECT `+cartColumns+` FROM commerce_carts WHERE id = ?`, id)
	if err != nil {
		return c, fmt.Errorf("cart %s: %w", id, err)
	}
	return c, nil
}

// CurrentCart returns the customer's most recently touched open or abandoned cart with items.
func (s *Store) CurrentCart(ctx context.Context, customerID string) (commerce.Cart, error) {
	c, err := readCart(s.reader(ctx), `SELECT `+cartColumns+` FROM commerce_carts
		WHERE customer_id = ? AND status IN ('open', 'abandoned') AND has_items = 1
		ORDER BY touched_at DESC LIMIT 1`, customerID)
	if err != nil {
		return c, fmt.Errorf("current cart of %s: %w", customerID, err)
	}
	return c, nil
}

// MarkAbandoned marks open carts untouched since touchedBefore as abandoned.
func (s *Store) MarkAbandoned(ctx context.Context, touchedBefore, at time.Time, limit int) ([]commerce.Cart, error) {
	var out []commerce.Cart
	err := s.write(ctx, func(w *writer) error {
		out = out[:0]
		rows, err := w.query(`SELECT `+cartColumns+` FROM commerce_carts
			WHERE status = 'open' AND has_items = 1 AND touched_at < ? ORDER BY touched_at LIMIT ?`, ts(touchedBefore), limit)
		if err != nil {
			return err
		}
		var carts []commerce.Cart
		for rows.Next() {
			var doc []byte
			var c commerce.Cart
			if err := rows.Scan(&doc, &c.CustomerID); err != nil {
				rows.Close()
				return err
			}
			cust := c.CustomerID
			if err := json.Unmarshal(doc, &c); err != nil {
				rows.Close()
				return fmt.Errorf("decode stored cart: %w", err)
			}
			c.CustomerID = cust
			carts = append(carts, c)
		}
		if err := rows.Close(); err != nil {
			return err
		}
		for _, c := range carts {
			c.Status, c.AbandonedAt, c.UpdatedAt = commerce.CartAbandoned, at.UTC(), at.UTC()
			if err := writeCart(w, c); err != nil {
				return err
			}
			out = append(out, c)
		}
		return nil
	})
	return out, err
}

// abandonedCartsQuery is one page of AbandonedCarts. Its WHERE repeats the partial index's terms
// literally (migrations/0012_commerce_abandoned.sql), which is what lets SQLite use that index.
const (
	abandonedCartsWhere = `status = 'abandoned' AND has_items = 1 AND customer_id <> ''`
	abandonedCartsFirst = `SELECT ` + cartColumns + ` FROM commerce_carts WHERE ` + abandonedCartsWhere + `
		ORDER BY touched_at DESC, id DESC LIMIT ?`
	abandonedCartsAfter = `SELECT ` + cartColumns + ` FROM commerce_carts WHERE ` + abandonedCartsWhere + `
		AND (touched_at, id) < (?, ?) ORDER BY touched_at DESC, id DESC LIMIT ?`
)

// AbandonedCarts lists abandoned carts with items and a customer, most recently touched first.
func (s *Store) AbandonedCarts(ctx context.Context, after inbox.Cursor, limit int) ([]commerce.Cart, error) {
	if limit <= 0 || limit > inbox.MaxPage {
		limit = inbox.MaxPage
	}
	q, args := abandonedCartsFirst, []any{limit}
	if !after.IsZero() {
		q, args = abandonedCartsAfter, []any{ts(after.At), after.ID, limit}
	}
	rows, err := s.reader(ctx).query(q, args...)
	if err != nil {
		return nil, fmt.Errorf("abandoned carts: %w", err)
	}
	defer rows.Close()
	var out []commerce.Cart
	for rows.Next() {
		var doc []byte
		var c commerce.Cart
		var cust string
		if err := rows.Scan(&doc, &cust); err != nil {
			return nil, err
		}
		if err := json.Unmarshal(doc, &c); err != nil {
			return nil, fmt.Errorf("decode stored cart: %w", err)
		}
		c.CustomerID = cust
		out = append(out, c)
	}
	return out, rows.Err()
}

const orderColumns = `doc, customer_id`

func readOrder(q querier, sqlText string, args ...any) (commerce.Order, bool, error) {
	var o commerce.Order
	var cust string
	found, err := readDoc(q, sqlText, args, &o, &cust)
	o.CustomerID = cust
	return o, found, err
}

// UpdateOrder applies fn to the order under id and moves the co-purchase counts with its basket.
func (s *Store) UpdateOrder(ctx context.Context, id string, fn func(commerce.Order, bool) (commerce.Order, error)) (before, after commerce.Order, err error) {
	err = s.write(ctx, func(w *writer) error {
		var found bool
		var err error
		after = commerce.Order{}
		if before, found, err = readOrder(w, `SELECT `+orderColumns+` FROM commerce_orders WHERE id = ?`, id); err != nil {
			return err
		}
		if after, err = fn(before, found); err != nil {
			return err
		}
		after.ID = id
		doc, err := marshal(after)
		if err != nil {
			return err
		}
		if _, err := w.exec(`INSERT INTO commerce_orders (id, customer_id, placed_at, currency, net, cancelled, doc) VALUES (?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (id) DO UPDATE SET customer_id = excluded.customer_id, placed_at = excluded.placed_at,
			currency = excluded.currency, net = excluded.net, cancelled = excluded.cancelled, doc = excluded.doc`,
			id, after.CustomerID, ts(after.PlacedAt), after.Currency, after.Net(), b2i(after.Cancelled), doc); err != nil {
			return err
		}
		var old []string
		if found {
			old = before.Basket()
		}
		for _, d := range commerce.BasketDelta(old, after.Basket()) {
			if _, err := w.exec(`INSERT INTO commerce_copurchase (sku, other, n) VALUES (?, ?, ?)
				ON CONFLICT (sku, other) DO UPDATE SET n = n + excluded.n`, d.SKU, d.Other, d.Delta); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return before, before, err
	}
	return before, after, nil
}

// OrderByID returns an order.
func (s *Store) OrderByID(ctx context.Context, id string) (commerce.Order, error) {
	o, found, err := readOrder(s.lookup(ctx), `SELECT `+orderColumns+` FROM commerce_orders WHERE id = ?`, id)
	if err == nil && !found {
		err = inbox.ErrNotFound
	}
	if err != nil {
		return o, fmt.Errorf("order %s: %w", id, err)
	}
	return o, nil
}

// OrdersOf lists a customer's orders newest first.
func (s *Store) OrdersOf(ctx context.Context, customerID string, after inbox.Cursor, limit int) ([]commerce.Order, error) {
	if limit <= 0 || limit > inbox.MaxPage {
		limit = inbox.MaxPage
	}
	q := `SELECT ` + orderColumns + ` FROM commerce_orders WHERE customer_id = ? ORDER BY placed_at DESC, id DESC LIMIT ?`
	args := []any{customerID, limit}
	if !after.IsZero() {
		q = `SELECT ` + orderColumns + ` FROM commerce_orders WHERE customer_id = ? AND (placed_at, id) < (?, ?)
			ORDER BY placed_at DESC, id DESC LIMIT ?`
		args = []any{customerID, ts(after.At), after.ID, limit}
	}
	rows, err := s.reader(ctx).query(q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []commerce.Order
	for rows.Next() {
		var doc []byte
		var o commerce.Order
		var cust string
		if err := rows.Scan(&doc, &cust); err != nil {
			return nil, err
		}
		if err := json.Unmarshal(doc, &o); err != nil {
			return nil, fmt.Errorf("decode stored order: %w", err)
		}
		o.CustomerID = cust
		out = append(out, o)
	}
	return out, rows.Err()
}

// Summaries is the customer's value per currency, from the covering index.
func (s *Store) Summaries(ctx context.Context, customerID string) ([]commerce.Summary, error) {
	rows, err := s.reader(ctx).query(`SELECT currency, COUNT(*), SUM(net), MIN(placed_at), MAX(placed_at)
		FROM commerce_orders WHERE customer_id = ? AND cancelled = 0 GROUP BY currency ORDER BY currency`, customerID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []commerce.Summary
	for rows.Next() {
		var sm commerce.Summary
		var first, last int64
		if err := rows.Scan(&sm.Currency, &sm.Orders, &sm.Value, &first, &last); err != nil {
			return nil, err
		}
		sm.First, sm.Last = fromTS(first), fromTS(last)
		out = append(out, sm)
	}
	return out, rows.Err()
}

// CoPurchases lists what is most often ordered with sku.
func (s *Store) CoPurchases(ctx context.Context, sku string, limit int) ([]commerce.CoPurchase, error) {
	rows, err := s.reader(ctx).query(`SELECT other, n FROM commerce_copurchase WHERE sku = ? AND n > 0
		ORDER BY n DESC, other LIMIT ?`, sku, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []commerce.CoPurchase
	for rows.Next() {
		var cp commerce.CoPurchase
		if err := rows.Scan(&cp.SKU, &cp.Count); err != nil {
			return nil, err
		}
		out = append(out, cp)
	}
	return out, rows.Err()
}

// UpdateLoyalty applies fn to the loyalty account under shopCustomerID.
func (s *Store) UpdateLoyalty(ctx context.Context, shopCustomerID string, fn func(commerce.Loyalty, bool) (commerce.Loyalty, error)) (before, after commerce.Loyalty, err error) {
	err = s.write(ctx, func(w *writer) error {
		before, after = commerce.Loyalty{}, commerce.Loyalty{}
		var cust string
		found, err := readDoc(w, `SELECT doc, customer_id FROM commerce_loyalty WHERE shop_customer_id = ?`, []any{shopCustomerID}, &before, &cust)
		if err != nil {
			return err
		}
		before.CustomerID = cust
		if after, err = fn(before, found); err != nil {
			return err
		}
		after.ShopCustomerID = shopCustomerID
		doc, err := marshal(after)
		if err != nil {
			return err
		}
		_, err = w.exec(`INSERT INTO commerce_loyalty (shop_customer_id, customer_id, shop_updated_at, doc) VALUES (?, ?, ?, ?)
			ON CONFLICT (shop_customer_id) DO UPDATE SET customer_id = excluded.customer_id,
			shop_updated_at = excluded.shop_updated_at, doc = excluded.doc`,
			shopCustomerID, after.CustomerID, ts(after.ShopUpdatedAt), doc)
		return err
	})
	if err != nil {
		return before, before, err
	}
	return before, after, nil
}

// LoyaltyOf returns the customer's most recently updated loyalty account.
func (s *Store) LoyaltyOf(ctx context.Context, customerID string) (commerce.Loyalty, error) {
	var l commerce.Loyalty
	var cust string
	found, err := readDoc(s.lookup(ctx), `SELECT doc, customer_id FROM commerce_loyalty WHERE customer_id = ?
		ORDER BY shop_updated_at DESC LIMIT 1`, []any{customerID}, &l, &cust)
	if err == nil && !found {
		err = inbox.ErrNotFound
	}
	if err != nil {
		return l, fmt.Errorf("loyalty of %s: %w", customerID, err)
	}
	l.CustomerID = cust
	return l, nil
}

// MoveCustomer relinks a merged-away customer's records to the survivor.
func (s *Store) MoveCustomer(ctx context.Context, from, to string) error {
	if from == "" || from == to {
		return nil
	}
	return s.write(ctx, func(w *writer) error {
		for _, q := range []string{
			`UPDATE commerce_carts SET customer_id = ? WHERE customer_id = ?`,
			`UPDATE commerce_orders SET customer_id = ? WHERE customer_id = ?`,
			`UPDATE commerce_loyalty SET customer_id = ? WHERE customer_id = ?`,
		} {
			if _, err := w.exec(q, to, from); err != nil {
				return err
			}
		}
		return nil
	})
}

// SeenDelivery reports whether a webhook delivery was recorded.
func (s *Store) SeenDelivery(ctx context.Context, source, id string) (bool, error) {
	var one int
	err := queryOne(s.lookup(ctx), `SELECT 1 FROM commerce_deliveries WHERE source = ? AND id = ?`, []any{source, id}, &one)
	if errors.Is(err, inbox.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// RecordDelivery records a processed webhook delivery.
func (s *Store) RecordDelivery(ctx context.Context, source, id string, at time.Time) error {
	return s.write(ctx, func(w *writer) error {
		_, err := w.exec(`INSERT INTO commerce_deliveries (source, id, received_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`, source, id, ts(at))
		return err
	})
}

// PruneDeliveries forgets deliveries recorded before `before`.
func (s *Store) PruneDeliveries(ctx context.Context, before time.Time) (int, error) {
	var n int64
	err := s.write(ctx, func(w *writer) error {
		var err error
		n, err = affected(w.exec(`DELETE FROM commerce_deliveries WHERE received_at < ?`, ts(before)))
		return err
	})
	return int(n), err
}
