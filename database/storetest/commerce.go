package storetest

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/serambi/serambi/commerce"
	"github.com/serambi/serambi/inbox"
)

// RunCommerce checks commerce.Store. open returns a fresh, empty store.
func RunCommerce(t *testing.T, open func(t *testing.T) commerce.Store) {
	t.Run("products", func(t *testing.T) { runProducts(t, open) })
	t.Run("carts", func(t *testing.T) { runCarts(t, open) })
	t.Run("orders", func(t *testing.T) { runOrders(t, open) })
	t.Run("co-purchases", func(t *testing.T) { runCoPurchases(t, open) })
	t.Run("loyalty", func(t *testing.T) { runLoyalty(t, open) })
	t.Run("move customer", func(t *testing.T) { runMoveCustomer(t, open) })
	t.Run("deliveries", func(t *testing.T) { runDeliveries(t, open) })
	t.Run("updates are atomic", func(t *testing.T) { runAtomicUpdates(t, open) })
}

// sameDoc compares records as they would be stored: as JSON, times in UTC.
func sameDoc(t *testing.T, what string, got, want any) {
	t.Helper()
	g, _ := json.Marshal(got)
	w, _ := json.Marshal(want)
	if string(g) != string(w) {
		t.Errorf("%s differs\n got: %s\nwant: %s", what, g, w)
	}
}

func unchanged(t *testing.T, err error, what string) {
	t.Helper()
	if !errors.Is(err, commerce.ErrUnchanged) {
		t.Errorf("%s: err = %v, want commerce.ErrUnchanged", what, err)
	}
}

func product(sku string, at time.Time, stock ...int64) commerce.Product {
	p := commerce.Product{SKU: sku, Name: "Batik " + sku, ImageURL: "https://cdn.example.id/" + sku + ".jpg", Price: 42500000,
		Currency: "IDR", Tracked: true, Source: commerce.SourceAPI, ShopUpdatedAt: at, Digest: "d-" + sku, UpdatedAt: at}
	for i, n := range stock {
		p.Stock = append(p.Stock, commerce.StockLevel{Location: fmt.Sprintf("loc-%d", i), Available: n})
	}
	return p
}

func cart(id, customer string, at time.Time, skus ...string) commerce.Cart {
	c := commerce.Cart{ID: id, CustomerID: customer, Currency: "IDR", Status: commerce.CartOpen, Source: commerce.SourceAPI,
		ShopUpdatedAt: at, Digest: "d-" + id, UpdatedAt: at, Items: []commerce.LineItem{}}
	for _, sku := range skus {
		c.Items = append(c.Items, commerce.LineItem{SKU: sku, Name: sku, Quantity: 1, UnitPrice: 1000, Total: 1000})
		c.Total += 1000
	}
	return c
}

func order(id, customer string, placed time.Time, total int64, skus ...string) commerce.Order {
	o := commerce.Order{ID: id, Number: "#" + id, CustomerID: customer, Currency: "IDR", Total: total, Subtotal: total,
		Payment: commerce.PaymentPaid, Fulfillment: commerce.FulfillmentUnfulfilled, Source: commerce.SourceAPI,
		PlacedAt: placed, ShopUpdatedAt: placed, Digest: "d-" + id, CreatedAt: placed, UpdatedAt: placed,
		History: []commerce.StatusEvent{{At: placed, Kind: commerce.EventPlaced}}, Items: []commerce.LineItem{}}
	for i, sku := range skus {
		o.Items = append(o.Items, commerce.LineItem{ID: fmt.Sprint(i + 1), SKU: sku, Name: sku, Quantity: 1, UnitPrice: 1000, Total: 1000})
	}
	return o
}

// put stores a record through its update function, as the service does.
func putProduct(t *testing.T, s commerce.Store, p commerce.Product) {
	t.Helper()
	_, _, err := s.UpdateProduct(t.Context(), p.SKU, commerce.MergeProduct(p))
	must(t, err, "update product "+p.SKU)
}

func putCart(t *testing.T, s commerce.Store, c commerce.Cart) {
	t.Helper()
	_, _, err := s.UpdateCart(t.Context(), c.ID, commerce.MergeCart(c))
	must(t, err, "update cart "+c.ID)
}

func putOrder(t *testing.T, s commerce.Store, o commerce.Order) {
	t.Helper()
	_, _, err := s.UpdateOrder(t.Context(), o.ID, commerce.MergeOrder(o))
	must(t, err, "update order "+o.ID)
}

func runProducts(t *testing.T, open func(t *testing.T) commerce.Store) {
	t.Run("a stored product reads back as stored; unknown SKUs are left out", func(t *testing.T) {
		s := open(t)
		p := product("BT-M", Base(), 2, 5)
		before, after, err := s.UpdateProduct(t.Context(), p.SKU, commerce.MergeProduct(p))
		must(t, err, "update")
		sameDoc(t, "before", before, commerce.Product{})
		sameDoc(t, "after", after, p)
		got, err := s.Products(t.Context(), []string{"nope", "BT-M"})
		must(t, err, "products")
		if len(got) != 1 {
			t.Fatalf("Products returned %d products, want 1", len(got))
		}
		sameDoc(t, "product", got[0], p)
		none, err := s.Products(t.Context(), nil)
		must(t, err, "no products")
		if len(none) != 0 {
			t.Errorf("Products(nil) = %v", none)
		}
	})

	t.Run("an older version changes nothing and a newer one replaces", func(t *testing.T) {
		s := open(t)
		cur := product("BT-M", Base().Add(time.Minute), 2)
		putProduct(t, s, cur)
		old := product("BT-M", Base(), 9)
		_, got, err := s.UpdateProduct(t.Context(), old.SKU, commerce.MergeProduct(old))
		unchanged(t, err, "older version")
		sameDoc(t, "returned after an older version", got, cur)
		stored, _ := s.Products(t.Context(), []string{"BT-M"})
		sameDoc(t, "stored after an older version", stored[0], cur)
		next := product("BT-M", Base().Add(2*time.Minute), 0)
		putProduct(t, s, next)
		stored, _ = s.Products(t.Context(), []string{"BT-M"})
		sameDoc(t, "stored after a newer version", stored[0], next)
	})

	t.Run("an update function's error stores nothing", func(t *testing.T) {
		s := open(t)
		boom := errors.New("boom")
		_, _, err := s.UpdateProduct(t.Context(), "X", func(commerce.Product, bool) (commerce.Product, error) { return product("X", Base()), boom })
		if !errors.Is(err, boom) {
			t.Fatalf("err = %v, want the function's error", err)
		}
		if got, _ := s.Products(t.Context(), []string{"X"}); len(got) != 0 {
			t.Errorf("a failed update stored %v", got)
		}
	})
}

func runCarts(t *testing.T, open func(t *testing.T) commerce.Store) {
	t.Run("the current cart is the most recently touched open or abandoned one with items", func(t *testing.T) {
		s := open(t)
		putCart(t, s, cart("c-old", "cust-1", Base(), "A"))
		putCart(t, s, cart("c-new", "cust-1", Base().Add(2*time.Minute), "B"))
		putCart(t, s, cart("c-empty", "cust-1", Base().Add(3*time.Minute)))
		putCart(t, s, cart("c-other", "cust-2", Base().Add(4*time.Minute), "C"))
		conv := cart("c-conv", "cust-1", Base().Add(5*time.Minute), "D")
		putCart(t, s, conv)
		_, _, err := s.UpdateCart(t.Context(), "c-conv", commerce.ConvertCart("o-1", "cust-1", Base().Add(6*time.Minute)))
		must(t, err, "convert")
		got, err := s.CurrentCart(t.Context(), "cust-1")
		must(t, err, "current cart")
		if got.ID != "c-new" {
			t.Errorf("current cart = %s, want c-new (c-conv is converted, c-empty has no items)", got.ID)
		}
		_, err = s.CurrentCart(t.Context(), "cust-3")
		notFound(t, err, "CurrentCart of a customer without carts")
		_, err = s.CartByID(t.Context(), "nope")
		notFound(t, err, "CartByID")
		byID, err := s.CartByID(t.Context(), "c-conv")
		must(t, err, "cart by id")
		if byID.Status != commerce.CartConverted || byID.OrderID != "o-1" || byID.CustomerID != "cust-1" {
			t.Errorf("converted cart = %+v", byID)
		}
	})

	t.Run("abandoned marks only open carts with items untouched long enough, once", func(t *testing.T) {
		s := open(t)
		putCart(t, s, cart("old", "cust-1", Base(), "A"))
		putCart(t, s, cart("old-empty", "cust-1", Base()))
		putCart(t, s, cart("anon", "", Base(), "A"))
		putCart(t, s, cart("fresh", "cust-2", Base().Add(time.Hour), "A"))
		at := Base().Add(90 * time.Minute)
		marked, err := s.MarkAbandoned(t.Context(), Base().Add(30*time.Minute), at, 10)
		must(t, err, "mark abandoned")
		same(t, "marked", sorted(ids(marked, func(c commerce.Cart) string { return c.ID })), []string{"anon", "old"})
		for _, c := range marked {
			if c.Status != commerce.CartAbandoned || !c.AbandonedAt.Equal(at) {
				t.Errorf("marked cart %s = status %s at %v", c.ID, c.Status, c.AbandonedAt)
			}
		}
		again, err := s.MarkAbandoned(t.Context(), Base().Add(30*time.Minute), at, 10)
		must(t, err, "mark again")
		if len(again) != 0 {
			t.Errorf("a second sweep marked %d carts again", len(again))
		}
		cur, err := s.CurrentCart(t.Context(), "cust-1")
		must(t, err, "current cart")
		if cur.ID != "old" || cur.Status != commerce.CartAbandoned {
			t.Errorf("an abandoned cart is still the current cart: got %s %s", cur.ID, cur.Status)
		}
		// The customer comes back: a newer version opens it again.
		putCart(t, s, cart("old", "cust-1", Base().Add(2*time.Hour), "A", "B"))
		cur, _ = s.CartByID(t.Context(), "old")
		if cur.Status != commerce.CartOpen || !cur.AbandonedAt.IsZero() {
			t.Errorf("a touched abandoned cart = %s (abandoned at %v), want open", cur.Status, cur.AbandonedAt)
		}
	})

	t.Run("abandoned carts list newest touched first, page by page, only those with items and a customer", func(t *testing.T) {
		s := open(t)
		minute := func(n int) time.Time { return Base().Add(time.Duration(n) * time.Minute) }
		// Two carts of one customer (both listed: the console shows the customer once), and ties
		// on the touched time that only the id orders.
		putCart(t, s, cart("k1", "cust-1", minute(1), "A"))
		putCart(t, s, cart("k2", "cust-1", minute(3), "A"))
		putCart(t, s, cart("k3", "cust-2", minute(3), "B"))
		putCart(t, s, cart("k4", "cust-3", minute(2), "C"))
		putCart(t, s, cart("k5", "cust-4", minute(3), "A", "B"))
		putCart(t, s, cart("k0", "cust-5", minute(1), "D"))
		putCart(t, s, cart("guest", "", minute(4), "A"))        // no customer: no conversation can show it
		putCart(t, s, cart("empty", "cust-6", minute(4)))       // no items: never abandoned
		putCart(t, s, cart("fresh", "cust-7", minute(60), "A")) // touched recently: stays open
		putCart(t, s, cart("bought", "cust-8", minute(2), "A")) // becomes an order before the sweep
		_, _, err := s.UpdateCart(t.Context(), "bought", commerce.ConvertCart("o-1", "cust-8", minute(5)))
		must(t, err, "convert")
		marked, err := s.MarkAbandoned(t.Context(), minute(30), minute(40), 100)
		must(t, err, "mark abandoned")
		if len(marked) != 7 {
			t.Fatalf("the sweep marked %d carts, want 7", len(marked))
		}
		// A stored abandoned cart without items (however it came to be) is not listed either.
		_, _, err = s.UpdateCart(t.Context(), "hollow", func(commerce.Cart, bool) (commerce.Cart, error) {
			c := cart("hollow", "cust-9", minute(5))
			c.Status, c.AbandonedAt = commerce.CartAbandoned, minute(40)
			return c, nil
		})
		must(t, err, "store an abandoned cart without items")

		want := []string{"k5", "k3", "k2", "k4", "k1", "k0"}
		all, err := s.AbandonedCarts(t.Context(), inbox.Cursor{}, 0)
		must(t, err, "abandoned carts")
		same(t, "abandoned carts", ids(all, func(c commerce.Cart) string { return c.ID }), want)
		for _, c := range all {
			if c.Status != commerce.CartAbandoned || c.CustomerID == "" || c.Quantity() == 0 || !c.AbandonedAt.Equal(minute(40)) {
				t.Errorf("listed cart %s: status %s, customer %q, %d items, abandoned at %v", c.ID, c.Status, c.CustomerID, c.Quantity(), c.AbandonedAt)
			}
		}
		for _, size := range []int{1, 2, 4, 6} {
			var got []string
			cursor := inbox.Cursor{}
			for range 10 {
				page, err := s.AbandonedCarts(t.Context(), cursor, size)
				must(t, err, "abandoned carts page")
				if len(page) > size {
					t.Fatalf("a page of %d holds %d carts", size, len(page))
				}
				got = append(got, ids(page, func(c commerce.Cart) string { return c.ID })...)
				if len(page) < size {
					break
				}
				last := page[len(page)-1]
				cursor = inbox.Cursor{At: last.Touched(), ID: last.ID}
			}
			same(t, fmt.Sprintf("pages of %d", size), got, want)
		}

		// The customer comes back to k2 and a merge moves k4 to another customer: k2 is open
		// again and drops out, k4 stays, now linked to the survivor.
		putCart(t, s, cart("k2", "cust-1", minute(90), "A", "B"))
		must(t, s.MoveCustomer(t.Context(), "cust-3", "cust-10"), "move customer")
		after, err := s.AbandonedCarts(t.Context(), inbox.Cursor{}, 10)
		must(t, err, "abandoned carts after changes")
		same(t, "abandoned carts after changes", ids(after, func(c commerce.Cart) string { return c.ID + "@" + c.CustomerID }),
			[]string{"k5@cust-4", "k3@cust-2", "k4@cust-10", "k1@cust-1", "k0@cust-5"})
	})

	t.Run("limit bounds a sweep", func(t *testing.T) {
		s := open(t)
		for i := range 5 {
			putCart(t, s, cart(fmt.Sprint("c", i), "cust", Base().Add(time.Duration(i)*time.Second), "A"))
		}
		marked, err := s.MarkAbandoned(t.Context(), Base().Add(time.Hour), Base().Add(2*time.Hour), 3)
		must(t, err, "mark")
		same(t, "marked oldest first", ids(marked, func(c commerce.Cart) string { return c.ID }), []string{"c0", "c1", "c2"})
	})
}

func runOrders(t *testing.T, open func(t *testing.T) commerce.Store) {
	t.Run("a stored order reads back as stored", func(t *testing.T) {
		s := open(t)
		o := order("1001", "cust-1", Base(), 85000000, "A", "B")
		o.Tracking = []commerce.Tracking{{Number: "JNE123", Carrier: "JNE", URL: "https://jne.co.id/t/JNE123"}}
		o.Pickup, o.Contact = true, commerce.Contact{Email: "siti@example.id"}
		putOrder(t, s, o)
		got, err := s.OrderByID(t.Context(), "1001")
		must(t, err, "order by id")
		sameDoc(t, "order", got, o)
		_, err = s.OrderByID(t.Context(), "nope")
		notFound(t, err, "OrderByID")
	})

	t.Run("orders list newest first, page by page", func(t *testing.T) {
		s := open(t)
		for i := range 7 {
			id := fmt.Sprintf("o%d", i)
			// Two orders share each placed time: the id breaks the tie.
			putOrder(t, s, order(id, "cust-1", Base().Add(time.Duration(i/2)*time.Hour), 1000, "A"))
		}
		putOrder(t, s, order("other", "cust-2", Base(), 1000, "A"))
		var got []string
		cursor := inbox.Cursor{}
		for range 10 {
			page, err := s.OrdersOf(t.Context(), "cust-1", cursor, 3)
			must(t, err, "orders of")
			for _, o := range page {
				got = append(got, o.ID)
			}
			if len(page) < 3 {
				break
			}
			last := page[len(page)-1]
			cursor = inbox.Cursor{At: last.PlacedAt, ID: last.ID}
		}
		same(t, "orders newest first", got, []string{"o6", "o5", "o4", "o3", "o2", "o1", "o0"})
	})

	t.Run("summaries add up net values per currency, without cancelled orders", func(t *testing.T) {
		s := open(t)
		putOrder(t, s, order("a", "cust-1", Base(), 100000, "A"))
		refunded := order("b", "cust-1", Base().Add(time.Hour), 300000, "A")
		refunded.Refunded = 50000
		putOrder(t, s, refunded)
		cancelled := order("c", "cust-1", Base().Add(2*time.Hour), 999999, "A")
		cancelled.Cancelled, cancelled.CancelledAt = true, Base().Add(2*time.Hour)
		putOrder(t, s, cancelled)
		usd := order("d", "cust-1", Base().Add(3*time.Hour), 1250, "A")
		usd.Currency = "USD"
		putOrder(t, s, usd)
		putOrder(t, s, order("e", "cust-2", Base(), 777, "A"))
		got, err := s.Summaries(t.Context(), "cust-1")
		must(t, err, "summaries")
		slices.SortFunc(got, func(a, b commerce.Summary) int { return cmpString(a.Currency, b.Currency) })
		for i := range got {
			got[i].First, got[i].Last = utc(got[i].First), utc(got[i].Last)
		}
		same(t, "summaries", got, []commerce.Summary{
			{Currency: "IDR", Orders: 2, Value: 350000, First: Base(), Last: Base().Add(time.Hour)},
			{Currency: "USD", Orders: 1, Value: 1250, First: Base().Add(3 * time.Hour), Last: Base().Add(3 * time.Hour)},
		})
		none, err := s.Summaries(t.Context(), "nobody")
		must(t, err, "summaries of nobody")
		if len(none) != 0 {
			t.Errorf("summaries of a customer without orders = %v", none)
		}
	})

	t.Run("out-of-order versions end as the newest, with the whole history", func(t *testing.T) {
		s := open(t)
		v1 := order("o", "cust-1", Base(), 1000, "A")
		v2 := v1
		v2.ShopUpdatedAt, v2.Digest, v2.Fulfillment = Base().Add(time.Hour), "d2", commerce.FulfillmentFulfilled
		v2.History = []commerce.StatusEvent{{At: Base().Add(time.Hour), Kind: commerce.EventFulfillment, Status: "fulfilled"}}
		putOrder(t, s, v2)
		_, after, err := s.UpdateOrder(t.Context(), "o", commerce.MergeOrder(v1))
		must(t, err, "late older version")
		if after.Fulfillment != commerce.FulfillmentFulfilled || after.Digest != "d2" {
			t.Errorf("an older version moved the order back: %s %s", after.Fulfillment, after.Digest)
		}
		if len(after.History) != 2 {
			t.Errorf("history = %+v, want the steps of both versions", after.History)
		}
		_, _, err = s.UpdateOrder(t.Context(), "o", commerce.MergeOrder(v1))
		unchanged(t, err, "the same late version again")
	})
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func coPurchases(t *testing.T, s commerce.Store, sku string) map[string]int64 {
	t.Helper()
	cps, err := s.CoPurchases(t.Context(), sku, 50)
	must(t, err, "co-purchases of "+sku)
	m := map[string]int64{}
	for _, cp := range cps {
		m[cp.SKU] = cp.Count
	}
	return m
}

func runCoPurchases(t *testing.T, open func(t *testing.T) commerce.Store) {
	t.Run("counts follow baskets: new orders, repeats, edits and cancellations", func(t *testing.T) {
		s := open(t)
		o1 := order("1", "c", Base(), 1000, "A", "B", "C")
		putOrder(t, s, o1)
		same(t, "after one order", coPurchases(t, s, "A"), map[string]int64{"B": 1, "C": 1})
		_, _, err := s.UpdateOrder(t.Context(), "1", commerce.MergeOrder(o1))
		unchanged(t, err, "the same version again")
		same(t, "after a repeated version", coPurchases(t, s, "A"), map[string]int64{"B": 1, "C": 1})
		putOrder(t, s, order("2", "c", Base(), 1000, "A", "B", "B"))
		same(t, "after a second order", coPurchases(t, s, "A"), map[string]int64{"B": 2, "C": 1})
		same(t, "the other direction", coPurchases(t, s, "B"), map[string]int64{"A": 2, "C": 1})
		// The shop edits order 1: C is replaced by D.
		edit := order("1", "c", Base(), 1000, "A", "B", "D")
		edit.ShopUpdatedAt, edit.Digest = Base().Add(time.Minute), "edit"
		putOrder(t, s, edit)
		same(t, "after an edit", coPurchases(t, s, "A"), map[string]int64{"B": 2, "D": 1})
		same(t, "C has no partners left", coPurchases(t, s, "C"), map[string]int64{})
		cancel := edit
		cancel.ShopUpdatedAt, cancel.Digest, cancel.Cancelled, cancel.CancelledAt = Base().Add(2*time.Minute), "cancel", true, Base().Add(2*time.Minute)
		putOrder(t, s, cancel)
		same(t, "after a cancellation", coPurchases(t, s, "A"), map[string]int64{"B": 1})
		cps, err := s.CoPurchases(t.Context(), "A", 1)
		must(t, err, "limited")
		if len(cps) != 1 {
			t.Errorf("limit 1 gave %d", len(cps))
		}
	})

	t.Run("the most frequent come first", func(t *testing.T) {
		s := open(t)
		putOrder(t, s, order("1", "c", Base(), 1000, "A", "B", "C"))
		putOrder(t, s, order("2", "c", Base(), 1000, "A", "C"))
		putOrder(t, s, order("3", "c", Base(), 1000, "A", "C", "D"))
		cps, err := s.CoPurchases(t.Context(), "A", 10)
		must(t, err, "co-purchases")
		same(t, "ranking", cps, []commerce.CoPurchase{{SKU: "C", Count: 3}, {SKU: "B", Count: 1}, {SKU: "D", Count: 1}})
	})

	t.Run("concurrent repeats of the same orders count each order once", func(t *testing.T) {
		s := open(t)
		var wg sync.WaitGroup
		for g := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 5 {
					o := order(fmt.Sprint("o", (g+i)%5), "c", Base(), 1000, "A", "B")
					if _, _, err := s.UpdateOrder(t.Context(), o.ID, commerce.MergeOrder(o)); err != nil && !errors.Is(err, commerce.ErrUnchanged) {
						t.Errorf("update order: %v", err)
					}
				}
			}()
		}
		wg.Wait()
		same(t, "five distinct orders", coPurchases(t, s, "A"), map[string]int64{"B": 5})
	})
}

func runLoyalty(t *testing.T, open func(t *testing.T) commerce.Store) {
	s := open(t)
	l := commerce.Loyalty{ShopCustomerID: "207119551", CustomerID: "cust-1", Points: 1240, Tier: "Gold",
		ShopUpdatedAt: Base(), Digest: "x", UpdatedAt: Base()}
	_, after, err := s.UpdateLoyalty(t.Context(), l.ShopCustomerID, commerce.MergeLoyalty(l))
	must(t, err, "update loyalty")
	sameDoc(t, "after", after, l)
	older := commerce.Loyalty{ShopCustomerID: "other-id", CustomerID: "cust-1", Points: 5, ShopUpdatedAt: Base().Add(-time.Hour), Digest: "y"}
	_, _, err = s.UpdateLoyalty(t.Context(), older.ShopCustomerID, commerce.MergeLoyalty(older))
	must(t, err, "second account")
	got, err := s.LoyaltyOf(t.Context(), "cust-1")
	must(t, err, "loyalty of")
	sameDoc(t, "the most recently updated account", got, l)
	_, err = s.LoyaltyOf(t.Context(), "nobody")
	notFound(t, err, "LoyaltyOf")
	stale := l
	stale.Points, stale.ShopUpdatedAt = 1, Base().Add(-time.Minute)
	_, _, err = s.UpdateLoyalty(t.Context(), l.ShopCustomerID, commerce.MergeLoyalty(stale))
	unchanged(t, err, "older loyalty")
}

func runMoveCustomer(t *testing.T, open func(t *testing.T) commerce.Store) {
	s := open(t)
	putCart(t, s, cart("cart", "loser", Base(), "A"))
	putOrder(t, s, order("o1", "loser", Base(), 5000, "A"))
	putOrder(t, s, order("o2", "survivor", Base().Add(time.Hour), 7000, "B"))
	_, _, err := s.UpdateLoyalty(t.Context(), "shop-1", commerce.MergeLoyalty(commerce.Loyalty{ShopCustomerID: "shop-1", CustomerID: "loser",
		Points: 10, ShopUpdatedAt: Base(), Digest: "l"}))
	must(t, err, "loyalty")
	for range 2 { // idempotent
		must(t, s.MoveCustomer(t.Context(), "loser", "survivor"), "move")
	}
	c, err := s.CurrentCart(t.Context(), "survivor")
	must(t, err, "survivor's cart")
	if c.ID != "cart" || c.CustomerID != "survivor" {
		t.Errorf("moved cart = %s of %s", c.ID, c.CustomerID)
	}
	orders, err := s.OrdersOf(t.Context(), "survivor", inbox.Cursor{}, 10)
	must(t, err, "survivor's orders")
	same(t, "survivor's orders", ids(orders, func(o commerce.Order) string { return o.ID + "/" + o.CustomerID }), []string{"o2/survivor", "o1/survivor"})
	left, _ := s.OrdersOf(t.Context(), "loser", inbox.Cursor{}, 10)
	if len(left) != 0 {
		t.Errorf("the loser still has %d orders", len(left))
	}
	sums, _ := s.Summaries(t.Context(), "survivor")
	if len(sums) != 1 || sums[0].Orders != 2 || sums[0].Value != 12000 {
		t.Errorf("survivor's summary = %+v", sums)
	}
	l, err := s.LoyaltyOf(t.Context(), "survivor")
	must(t, err, "survivor's loyalty")
	if l.CustomerID != "survivor" {
		t.Errorf("moved loyalty belongs to %s", l.CustomerID)
	}
	// A later update of a moved order keeps the survivor.
	o1, _ := s.OrderByID(t.Context(), "o1")
	next := o1
	next.CustomerID, next.ShopUpdatedAt, next.Digest = "", Base().Add(2*time.Hour), "n"
	_, after, err := s.UpdateOrder(t.Context(), "o1", commerce.MergeOrder(next))
	must(t, err, "update moved order")
	if after.CustomerID != "survivor" {
		t.Errorf("an update of a moved order links it to %q", after.CustomerID)
	}
}

func runDeliveries(t *testing.T, open func(t *testing.T) commerce.Store) {
	s := open(t)
	seen, err := s.SeenDelivery(t.Context(), "shopify", "w-1")
	must(t, err, "seen")
	if seen {
		t.Fatal("an unrecorded delivery is seen")
	}
	must(t, s.RecordDelivery(t.Context(), "shopify", "w-1", Base()), "record")
	must(t, s.RecordDelivery(t.Context(), "shopify", "w-1", Base()), "record again")
	must(t, s.RecordDelivery(t.Context(), "shopify", "w-2", Base().Add(time.Hour)), "record w-2")
	if seen, _ := s.SeenDelivery(t.Context(), "shopify", "w-1"); !seen {
		t.Error("a recorded delivery is not seen")
	}
	if seen, _ := s.SeenDelivery(t.Context(), "woocommerce", "w-1"); seen {
		t.Error("a delivery id of another source is seen")
	}
	n, err := s.PruneDeliveries(t.Context(), Base().Add(time.Minute))
	must(t, err, "prune")
	if n != 1 {
		t.Errorf("pruned %d, want 1", n)
	}
	if seen, _ := s.SeenDelivery(t.Context(), "shopify", "w-1"); seen {
		t.Error("a pruned delivery is still seen")
	}
	if seen, _ := s.SeenDelivery(t.Context(), "shopify", "w-2"); !seen {
		t.Error("prune removed a newer delivery")
	}
}

// runAtomicUpdates checks that no update comes between an Update's read and its write: twenty
// concurrent read-increment-write functions must add twenty.
func runAtomicUpdates(t *testing.T, open func(t *testing.T) commerce.Store) {
	s := open(t)
	const n = 20
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _, err := s.UpdateProduct(t.Context(), "ctr", func(cur commerce.Product, found bool) (commerce.Product, error) {
				if !found {
					cur = product("ctr", Base())
					cur.Price = 0
				}
				cur.Price++
				return cur, nil
			})
			if err != nil {
				t.Errorf("update: %v", err)
			}
			_, _, err = s.UpdateOrder(t.Context(), "ctr", func(cur commerce.Order, found bool) (commerce.Order, error) {
				if !found {
					cur = order("ctr", "c", Base(), 0, "A", "B")
				}
				cur.Total++
				return cur, nil
			})
			if err != nil {
				t.Errorf("update order: %v", err)
			}
		}()
	}
	wg.Wait()
	ps, err := s.Products(t.Context(), []string{"ctr"})
	must(t, err, "products")
	if len(ps) != 1 || ps[0].Price != n {
		t.Errorf("after %d concurrent increments the product price is %v", n, ps)
	}
	o, err := s.OrderByID(t.Context(), "ctr")
	must(t, err, "order")
	if o.Total != n {
		t.Errorf("after %d concurrent increments the order total is %d", n, o.Total)
	}
	same(t, "the order's basket counted once", coPurchases(t, s, "A"), map[string]int64{"B": 1})
}
