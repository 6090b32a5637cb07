package commerce_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/serambi/serambi/bus"
	"github.com/serambi/serambi/commerce"
	"github.com/serambi/serambi/inbox"
)

func TestParseAndFormatAmounts(t *testing.T) {
	tests := []struct {
		in, currency string
		want         int64
		wantErr      bool
	}{
		{"4250000.00", "IDR", 425000000, false},
		{"4250000", "IDR", 425000000, false},
		{"12.5", "USD", 1250, false},
		{"12.500", "USD", 1250, false},
		{"-10.00", "USD", -1000, false},
		{"1000", "JPY", 1000, false},
		{"1.234", "KWD", 1234, false},
		{"", "IDR", 0, false},
		{".5", "USD", 50, false},
		{"12.345", "USD", 0, true}, // more decimals than the dollar has: refused, not rounded
		{"1.5", "JPY", 0, true},
		{"1,000.00", "USD", 0, true},
		{"12e3", "USD", 0, true},
		{"99999999999999999999", "USD", 0, true},
		{".", "USD", 0, true},
	}
	for _, tt := range tests {
		got, err := commerce.ParseAmount(tt.in, tt.currency)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("ParseAmount(%q, %s) = %d, %v; want %d, error %v", tt.in, tt.currency, got, err, tt.want, tt.wantErr)
		}
		if err != nil && !errors.Is(err, inbox.ErrInvalid) {
			t.Errorf("ParseAmount(%q) error does not wrap inbox.ErrInvalid", tt.in)
		}
		if err == nil && tt.in != "" {
			back, _ := commerce.ParseAmount(commerce.FormatAmount(got, tt.currency), tt.currency)
			if back != got {
				t.Errorf("FormatAmount(%d, %s) = %q does not parse back", got, tt.currency, commerce.FormatAmount(got, tt.currency))
			}
		}
	}
	for _, tt := range []struct {
		minor    int64
		currency string
		want     string
	}{{4194, "USD", "41.94"}, {5, "USD", "0.05"}, {-150, "USD", "-1.50"}, {1000, "JPY", "1000"}, {425000000, "IDR", "4250000.00"}} {
		if got := commerce.FormatAmount(tt.minor, tt.currency); got != tt.want {
			t.Errorf("FormatAmount(%d, %s) = %q, want %q", tt.minor, tt.currency, got, tt.want)
		}
	}
}

func TestLinkingShopRecordsToCustomers(t *testing.T) {
	ctx := context.Background()
	order := func(id string, c commerce.Contact) commerce.Order {
		return commerce.Order{ID: id, Contact: c, Total: 100, Payment: commerce.PaymentPaid, ShopUpdatedAt: at("2026-03-02T09:00:00Z")}
	}
	t.Run("records with the same shop id, email or phone join one customer", func(t *testing.T) {
		h := newHarness(t)
		a, err := h.svc.PutOrder(ctx, order("1", commerce.Contact{ShopCustomerID: "42", Email: "siti@example.id"}))
		must(t, err)
		b, err := h.svc.PutOrder(ctx, order("2", commerce.Contact{Email: "SITI@example.id", Phone: "0812 3456 7890"}))
		must(t, err)
		c, err := h.svc.PutCart(ctx, commerce.Cart{ID: "c", Contact: commerce.Contact{Phone: "+62 812-3456-7890"}, ShopUpdatedAt: at("2026-03-02T09:00:00Z"),
			Items: []commerce.LineItem{{SKU: "A", Quantity: 1}}})
		must(t, err)
		if a.CustomerID == "" || b.CustomerID != a.CustomerID || c.CustomerID != a.CustomerID {
			t.Errorf("customers %q %q %q, want one", a.CustomerID, b.CustomerID, c.CustomerID)
		}
	})
	t.Run("an anonymous cart is stored unlinked and creates nobody", func(t *testing.T) {
		h := newHarness(t)
		r, err := h.svc.PutCart(ctx, commerce.Cart{ID: "c", ShopUpdatedAt: at("2026-03-02T09:00:00Z"), Items: []commerce.LineItem{{SKU: "A", Quantity: 1}}})
		must(t, err)
		if r.CustomerID != "" || len(h.events.changed()) != 0 {
			t.Errorf("an anonymous cart was linked to %q", r.CustomerID)
		}
	})
	t.Run("an unusable phone does not lose the order", func(t *testing.T) {
		h := newHarness(t)
		r, err := h.svc.PutOrder(ctx, order("1", commerce.Contact{Email: "budi@example.id", Phone: "call me"}))
		must(t, err)
		if r.CustomerID == "" || r.CustomerID != h.customerByEmail("budi@example.id") {
			t.Errorf("order linked to %q", r.CustomerID)
		}
	})
	t.Run("a shop id and an email owned by two customers: the shop id decides, the two are suggested", func(t *testing.T) {
		h := newHarness(t)
		a, _ := h.svc.PutOrder(ctx, order("1", commerce.Contact{ShopCustomerID: "42"}))
		b, _ := h.svc.PutOrder(ctx, order("2", commerce.Contact{Email: "siti@example.id"}))
		r, err := h.svc.PutOrder(ctx, order("3", commerce.Contact{ShopCustomerID: "42", Email: "siti@example.id"}))
		must(t, err)
		if r.CustomerID != a.CustomerID {
			t.Errorf("order 3 went to %q, want the shop id's owner %q", r.CustomerID, a.CustomerID)
		}
		if h.customerByEmail("siti@example.id") != b.CustomerID {
			t.Error("the email moved to another customer")
		}
		sugg, _ := h.store.ListSuggestions(ctx, a.CustomerID)
		if len(sugg) != 1 || sugg[0].OtherID != b.CustomerID {
			t.Errorf("suggestions of %s = %+v, want %s", a.CustomerID, sugg, b.CustomerID)
		}
	})
	t.Run("with ContactsUnverified the email only suggests a merge", func(t *testing.T) {
		h := newHarness(t, func(c *commerce.Config) { c.ContactsUnverified = true })
		in, err := h.inbox.Ingest(ctx, inbox.Inbound{Channel: inbox.ChannelEmail, ExternalID: "<1@x>",
			From: []inbox.Identity{{Kind: inbox.KindEmail, Value: "siti@example.id"}}, Text: "halo"})
		must(t, err)
		r, err := h.svc.PutOrder(ctx, order("1", commerce.Contact{ShopCustomerID: "42", Email: "siti@example.id"}))
		must(t, err)
		if r.CustomerID == in.CustomerID {
			t.Fatal("an unverified email linked the order to the customer who wrote from it")
		}
		sugg, _ := h.store.ListSuggestions(ctx, r.CustomerID)
		if len(sugg) != 1 || sugg[0].OtherID != in.CustomerID {
			t.Errorf("suggestions = %+v, want the customer who wrote in", sugg)
		}
		r2, _ := h.svc.PutOrder(ctx, order("2", commerce.Contact{Email: "other@example.id"}))
		if r2.CustomerID != "" {
			t.Errorf("an order with only an unverified email was linked to %q", r2.CustomerID)
		}
	})
	t.Run("an order for a new email is there when the customer writes in", func(t *testing.T) {
		h := newHarness(t)
		r, _ := h.svc.PutOrder(ctx, order("1", commerce.Contact{Email: "dewi@example.id", Name: "Dewi"}))
		in, err := h.inbox.Ingest(ctx, inbox.Inbound{Channel: inbox.ChannelEmail, ExternalID: "<2@x>",
			From: []inbox.Identity{{Kind: inbox.KindEmail, Value: "Dewi@Example.id"}}, Text: "status?"})
		must(t, err)
		if in.CustomerID != r.CustomerID {
			t.Errorf("the message joined %q, the order is %q's", in.CustomerID, r.CustomerID)
		}
		v, err := h.svc.View(ctx, in.CustomerID)
		must(t, err)
		if len(v.Orders) != 1 || v.Orders[0].ID != "1" {
			t.Errorf("view orders = %+v", v.Orders)
		}
	})
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestAbandonedCartSweep(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t, func(c *commerce.Config) { c.AbandonAfter = time.Hour })
	// The harness clock starts at storetest.Base(), 2026-03-02 09:30 UTC.
	cart := func(id, email, updated string) {
		_, err := h.svc.PutCart(ctx, commerce.Cart{ID: id, Contact: commerce.Contact{Email: email}, ShopUpdatedAt: at(updated),
			Items: []commerce.LineItem{{SKU: "A", Name: "A", Quantity: 1, UnitPrice: 1000}}})
		must(t, err)
	}
	cart("old", "a@example.id", "2026-03-02T08:00:00Z")   // 90 minutes before the clock
	cart("fresh", "b@example.id", "2026-03-02T09:00:00Z") // 30 minutes before
	h.events.changed()
	n, err := h.svc.Sweep(ctx)
	must(t, err)
	if n != 1 {
		t.Fatalf("swept %d carts, want 1", n)
	}
	if got := h.events.changed(); len(got) != 1 || got[0] != h.customerByEmail("a@example.id") {
		t.Errorf("changed = %v, want the old cart's customer", got)
	}
	v, _ := h.svc.View(ctx, h.customerByEmail("a@example.id"))
	if v.Cart == nil || v.Cart.Cart.Status != commerce.CartAbandoned {
		t.Errorf("the panel's cart = %+v, want it flagged abandoned", v.Cart)
	}
	h.clock.Advance(time.Hour)
	if n, _ := h.svc.Sweep(ctx); n != 1 {
		t.Errorf("the second sweep marked %d, want the now-old fresh cart", n)
	}
	if n, _ := h.svc.Sweep(ctx); n != 0 {
		t.Errorf("a third sweep marked %d again", n)
	}
	// The customer comes back to the cart.
	cart("old", "a@example.id", "2026-03-02T10:40:00Z")
	c, _ := h.store.CartByID(ctx, "old")
	if c.Status != commerce.CartOpen {
		t.Errorf("a touched cart stays %s", c.Status)
	}
}

func TestMergedCustomersKeepTheirOrders(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t)
	events := bus.NewLocal(quietLog(), 0)
	x := inbox.New(h.store, events, inbox.NewNormalizer("ID"), h.clock.Now, quietLog())
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	unfollow := h.svc.FollowMerges(events)
	defer unfollow()
	go func() { done <- h.svc.Run(runCtx) }()
	defer func() { stop(); <-done }()

	a, _ := h.svc.PutOrder(ctx, commerce.Order{ID: "1", Contact: commerce.Contact{Email: "a@example.id"}, Total: 500, Payment: commerce.PaymentPaid,
		ShopUpdatedAt: at("2026-03-01T09:00:00Z")})
	b, _ := h.svc.PutOrder(ctx, commerce.Order{ID: "2", Contact: commerce.Contact{Phone: "+6281234567890"}, Total: 700, Payment: commerce.PaymentPaid,
		ShopUpdatedAt: at("2026-03-02T09:00:00Z")})
	for _, c := range []string{a.CustomerID, b.CustomerID} {
		if _, err := h.store.EnsureConversation(ctx, inbox.Conversation{ID: inbox.NewID(), CustomerID: c, Status: inbox.StatusOpen,
			Tags: []string{}, Channels: []inbox.Channel{}, CreatedAt: h.clock.Now(), UpdatedAt: h.clock.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := x.Merge(ctx, a.CustomerID, b.CustomerID, "agent-1"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		v, err := h.svc.View(ctx, a.CustomerID)
		must(t, err)
		if len(v.Orders) == 2 {
			if len(v.Summaries) != 1 || v.Summaries[0].Value != 1200 || v.Summaries[0].Orders != 2 {
				t.Errorf("survivor's summary = %+v", v.Summaries)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the merge the survivor has %d orders, want 2", len(v.Orders))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestRecommendations(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t)
	stock := func(sku string, n int64) {
		_, err := h.svc.PutProduct(ctx, commerce.Product{SKU: sku, Name: "Product " + sku, Price: 1000, Tracked: true,
			Stock: []commerce.StockLevel{{Location: "Bandung", Available: n}}, ShopUpdatedAt: at("2026-03-01T00:00:00Z")})
		must(t, err)
	}
	for sku, n := range map[string]int64{"A": 5, "B": 5, "C": 0, "D": 5, "E": 5, "F": 5} {
		stock(sku, n)
	}
	orders := [][]string{{"A", "B"}, {"A", "B"}, {"A", "C"}, {"A", "C"}, {"A", "C"}, {"A", "D"}, {"E", "F"}, {"E", "D"}}
	for i, skus := range orders {
		o := commerce.Order{ID: string(rune('a' + i)), Contact: commerce.Contact{Email: "x@example.id"}, Total: 1, Payment: commerce.PaymentPaid,
			ShopUpdatedAt: at("2026-03-01T00:00:00Z")}
		for _, s := range skus {
			o.Items = append(o.Items, commerce.LineItem{SKU: s, Name: s, Quantity: 1})
		}
		_, err := h.svc.PutOrder(ctx, o)
		must(t, err)
	}
	var got []string
	recs, err := h.svc.AlsoBought(ctx, []string{"A"}, 4)
	must(t, err)
	for _, p := range recs {
		got = append(got, p.SKU)
	}
	// C was bought with A most often (3) but is out of stock; then B (2) and D (1).
	if want := []string{"B", "D"}; !slices.Equal(got, want) {
		t.Errorf("also bought with A = %v, want %v", got, want)
	}
	got = nil
	recs, _ = h.svc.AlsoBought(ctx, []string{"A", "E"}, 4)
	for _, p := range recs {
		got = append(got, p.SKU)
	}
	// D: 1 with A + 1 with E = 2, tied with B (2): by SKU. F: 1. The seeds themselves never.
	if want := []string{"B", "D", "F"}; !slices.Equal(got, want) {
		t.Errorf("also bought with A and E = %v, want %v", got, want)
	}
}
