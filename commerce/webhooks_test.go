package commerce_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/serambi/serambi/commerce"
	"github.com/serambi/serambi/commerce/shopifyfake"
	"github.com/serambi/serambi/inbox"
)

const shopifyOrderID = "5940139491234"

// deliverShopify sends a webhook as Shopify does, over HTTP, and decodes the answer.
func deliverShopify(t *testing.T, srv *httptest.Server, w shopifyfake.Webhook) (int, map[string]any) {
	t.Helper()
	resp, err := shopifyfake.Deliver(t.Context(), srv.URL+"/webhooks/shopify", shopifySecret, w)
	if err != nil {
		t.Fatalf("deliver: %v", err)
	}
	defer resp.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m
}

func TestShopifyWebhooks(t *testing.T) {
	orderCreate := testdata(t, "shopify/orders_create.json")
	type scenario struct {
		name       string
		before     func(t *testing.T, h *harness, srv *httptest.Server)
		hook       shopifyfake.Webhook
		wantStatus int
		want       map[string]any
		check      func(t *testing.T, h *harness)
	}
	nothingStored := func(t *testing.T, h *harness) {
		if h.hasOrder(shopifyOrderID) {
			t.Error("the order was stored")
		}
		if h.customerByEmail("siti.rahma@example.id") != "" {
			t.Error("a customer was created")
		}
		if got := h.events.changed(); len(got) != 0 {
			t.Errorf("events were published for %v", got)
		}
	}
	tests := []scenario{
		{name: "orders/create stores the order and links it to its customer",
			hook:       shopifyfake.Webhook{Topic: "orders/create", WebhookID: "w1", Body: orderCreate},
			wantStatus: 200, want: map[string]any{"topic": "orders/create", "results.0.id": shopifyOrderID},
			check: func(t *testing.T, h *harness) {
				o := h.order(shopifyOrderID)
				cust := h.customerByEmail("siti.rahma@example.id")
				if cust == "" || o.CustomerID != cust {
					t.Errorf("order linked to %q, the email's owner is %q", o.CustomerID, cust)
				}
				for _, id := range []inbox.Identity{{Kind: inbox.KindShop, Value: "7010239021218"}, {Kind: inbox.KindPhone, Value: "+6281234567890"}} {
					if owner, _ := h.store.CustomerIDByIdentity(t.Context(), id.Kind, id.Value); owner != cust {
						t.Errorf("%s belongs to %q, want the order's customer", id.Key(), owner)
					}
				}
				want := commerce.Order{Number: "#1042", Currency: "IDR", Subtotal: 415000000, Shipping: 10000000, Total: 425000000,
					Payment: commerce.PaymentPaid, Fulfillment: commerce.FulfillmentUnfulfilled, CartID: "Z2NwLWFzaWEtc291dGhlYXN0MTowMUpDQVJU",
					PlacedAt: at("2026-03-02T09:30:00Z"), ShopUpdatedAt: at("2026-03-02T09:30:02Z"),
					AdminURL: "https://toko-batik.myshopify.com/admin/orders/" + shopifyOrderID}
				got := commerce.Order{Number: o.Number, Currency: o.Currency, Subtotal: o.Subtotal, Shipping: o.Shipping, Total: o.Total,
					Payment: o.Payment, Fulfillment: o.Fulfillment, CartID: o.CartID, PlacedAt: o.PlacedAt, ShopUpdatedAt: o.ShopUpdatedAt, AdminURL: o.AdminURL}
				if string(mustJSON(got)) != string(mustJSON(want)) {
					t.Errorf("order\n got %s\nwant %s", mustJSON(got), mustJSON(want))
				}
				if len(o.Items) != 2 || o.Items[1] != (commerce.LineItem{ID: "14677270986915", SKU: "SLS-IND", Name: "Selendang Sutra - Indigo",
					Quantity: 2, UnitPrice: 45000000, Total: 90000000}) {
					t.Errorf("items = %+v", o.Items)
				}
			}},
		{name: "a forged signature is refused and stores nothing",
			hook:       shopifyfake.Webhook{Topic: "orders/create", WebhookID: "w1", Body: orderCreate, Signature: shopifyfake.Sign("not-the-secret", orderCreate)},
			wantStatus: 401, want: map[string]any{"error.code": "unauthorized"}, check: nothingStored},
		{name: "a body changed after signing is refused",
			hook: shopifyfake.Webhook{Topic: "orders/create", WebhookID: "w1", Body: orderCreate,
				Signature: shopifyfake.Sign(shopifySecret, append([]byte(" "), orderCreate...))},
			wantStatus: 401, check: nothingStored},
		{name: "a signature that is not base64 is refused",
			hook: shopifyfake.Webhook{Topic: "orders/create", WebhookID: "w1", Body: orderCreate, Signature: "not base64!"}, wantStatus: 401, check: nothingStored},
		{name: "a repeated delivery is a duplicate and announces nothing",
			before: func(t *testing.T, h *harness, srv *httptest.Server) {
				if st, _ := deliverShopify(t, srv, shopifyfake.Webhook{Topic: "orders/create", WebhookID: "w1", Body: orderCreate}); st != 200 {
					t.Fatalf("first delivery: %d", st)
				}
				h.events.changed()
			},
			hook:       shopifyfake.Webhook{Topic: "orders/create", WebhookID: "w1", Body: orderCreate},
			wantStatus: 200, want: map[string]any{"duplicate": true},
			check: func(t *testing.T, h *harness) {
				if got := h.events.changed(); len(got) != 0 {
					t.Errorf("a duplicate published for %v", got)
				}
			}},
		{name: "the same content under another delivery id changes nothing",
			before: func(t *testing.T, h *harness, srv *httptest.Server) {
				deliverShopify(t, srv, shopifyfake.Webhook{Topic: "orders/create", WebhookID: "w1", Body: orderCreate})
				h.events.changed()
			},
			hook:       shopifyfake.Webhook{Topic: "orders/updated", WebhookID: "w2", Body: orderCreate},
			wantStatus: 200, want: map[string]any{"duplicate": true, "results.0.duplicate": true}},
		{name: "a cart is stored unlinked and linked when its order arrives",
			before: func(t *testing.T, h *harness, srv *httptest.Server) {
				deliverShopify(t, srv, shopifyfake.Webhook{Topic: "carts/update", WebhookID: "c1", Body: testdata(t, "shopify/carts_update.json")})
				c, err := h.store.CartByID(t.Context(), "Z2NwLWFzaWEtc291dGhlYXN0MTowMUpDQVJU")
				if err != nil || c.CustomerID != "" || c.Total != 415000000 || len(c.Items) != 2 || c.Status != commerce.CartOpen {
					t.Fatalf("stored cart = %+v, %v", c, err)
				}
			},
			hook: shopifyfake.Webhook{Topic: "orders/create", WebhookID: "w1", Body: orderCreate}, wantStatus: 200,
			check: func(t *testing.T, h *harness) {
				c, _ := h.store.CartByID(t.Context(), "Z2NwLWFzaWEtc291dGhlYXN0MTowMUpDQVJU")
				if c.Status != commerce.CartConverted || c.OrderID != shopifyOrderID || c.CustomerID != h.customerByEmail("siti.rahma@example.id") {
					t.Errorf("cart after its order = %s, order %s, customer %s", c.Status, c.OrderID, c.CustomerID)
				}
			}},
		{name: "products/update stores every variant with its stock and image",
			hook:       shopifyfake.Webhook{Topic: "products/update", WebhookID: "p1", Body: testdata(t, "shopify/products_update.json")},
			wantStatus: 200, want: map[string]any{"results.0.id": "BTP-M", "results.1.id": "BTP-L"},
			check: func(t *testing.T, h *harness) {
				ps, _ := h.store.Products(t.Context(), []string{"BTP-M", "BTP-L"})
				slices.SortFunc(ps, func(a, b commerce.Product) int { return -cmpStr(a.SKU, b.SKU) })
				if len(ps) != 2 {
					t.Fatalf("products = %+v", ps)
				}
				m, l := ps[0], ps[1]
				if m.Name != "Batik Tulis Parang - M" || m.Price != 325000000 || m.Available() != 2 ||
					m.ImageURL != "https://cdn.shopify.com/s/files/1/0000/0001/products/parang-m.jpg" ||
					m.URL != "https://toko-batik.myshopify.com/products/batik-tulis-parang?variant=44123456789012" || m.StockState(3) != commerce.StockLow {
					t.Errorf("M = %+v", m)
				}
				if l.StockState(3) != commerce.StockOut || l.ImageURL != "https://cdn.shopify.com/s/files/1/0000/0001/products/parang.jpg" {
					t.Errorf("L = %+v", l)
				}
			}},
		{name: "a topic Serambi does not use is acknowledged and ignored",
			hook:       shopifyfake.Webhook{Topic: "customers/create", WebhookID: "x1", Body: []byte(`{"id":1}`)},
			wantStatus: 200, want: map[string]any{"ignored": true}},
		{name: "a signed payload that is not an order is a bad request and stores nothing",
			hook:       shopifyfake.Webhook{Topic: "orders/create", WebhookID: "w1", Body: []byte(`{"id": "not a number"`)},
			wantStatus: 400, check: nothingStored},
		{name: "an amount that is not a number is a bad request",
			hook: shopifyfake.Webhook{Topic: "orders/create", WebhookID: "w1",
				Body: []byte(`{"id": 1, "name": "#1", "currency": "IDR", "total_price": "lots", "updated_at": "2026-03-02T09:30:00Z"}`)},
			wantStatus: 400},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			srv := httptest.NewServer(h.e)
			defer srv.Close()
			if tc.before != nil {
				tc.before(t, h, srv)
			}
			status, a := deliverShopify(t, srv, tc.hook)
			if status != tc.wantStatus {
				t.Fatalf("status %d, want %d: %v", status, tc.wantStatus, a)
			}
			for path, want := range tc.want {
				if got := field(a, path); got != want {
					t.Errorf("%s = %v, want %v (answer %v)", path, got, want, a)
				}
			}
			if tc.check != nil {
				tc.check(t, h)
			}
		})
	}
}

func cmpStr(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func permutations(n int) [][]int {
	if n == 1 {
		return [][]int{{0}}
	}
	var out [][]int
	for _, p := range permutations(n - 1) {
		for i := 0; i <= len(p); i++ {
			q := append(append(append([]int{}, p[:i]...), n-1), p[i:]...)
			out = append(out, q)
		}
	}
	return out
}

// The three versions of one order delivered in every possible order end as the same stored order:
// the newest version's state, with every step of the history.
func TestShopifyOrderVersionsInAnyOrderEndTheSame(t *testing.T) {
	versions := []struct{ topic, file string }{
		{"orders/create", "shopify/orders_create.json"},
		{"orders/fulfilled", "shopify/orders_fulfilled.json"},
		{"orders/updated", "shopify/orders_updated_refund.json"},
	}
	var first string
	for _, perm := range permutations(len(versions)) {
		t.Run(fmt.Sprint(perm), func(t *testing.T) {
			h := newHarness(t)
			for i, v := range perm {
				_, _, err := h.svc.ShopifyWebhook(t.Context(), versions[v].topic, testdata(t, versions[v].file))
				if err != nil {
					t.Fatalf("delivery %d: %v", i, err)
				}
			}
			o := h.order(shopifyOrderID)
			if o.Payment != commerce.PaymentPartiallyRefunded || o.Refunded != 45000000 || o.Fulfillment != commerce.FulfillmentInTransit ||
				len(o.Tracking) != 1 || o.Tracking[0].Carrier != "JNE" || o.Net() != 380000000 {
				t.Errorf("final order: payment %s refunded %d fulfillment %s tracking %+v", o.Payment, o.Refunded, o.Fulfillment, o.Tracking)
			}
			var steps []string
			for _, e := range o.Timeline() {
				steps = append(steps, string(e.Kind)+":"+e.Status)
			}
			want := []string{"placed:", "fulfillment:unfulfilled", "payment:paid", "fulfillment:fulfilled", "fulfillment:in_transit",
				"payment:partially_refunded", "refund:45000000"}
			if fmt.Sprint(steps) != fmt.Sprint(want) {
				t.Errorf("timeline = %v\n want %v", steps, want)
			}
			o.CreatedAt, o.UpdatedAt, o.CustomerID = time.Time{}, time.Time{}, "" // each run has its own customer
			got := string(mustJSON(o))
			if first == "" {
				first = got
			} else if got != first {
				t.Errorf("order differs from the first permutation's:\n got %s\nwant %s", got, first)
			}
		})
	}
}

func deliverWoo(h *harness, topic, deliveryID string, body []byte, sig string) (int, map[string]any) {
	h.t.Helper()
	hdr := http.Header{}
	hdr.Set("X-WC-Webhook-Topic", topic)
	hdr.Set("X-WC-Webhook-Resource", "order")
	hdr.Set("X-WC-Webhook-Event", "updated")
	hdr.Set("X-WC-Webhook-Source", "https://toko.example.id/")
	hdr.Set("X-WC-Webhook-ID", "12")
	hdr.Set("X-WC-Webhook-Delivery-ID", deliveryID)
	if sig != "" {
		hdr.Set("X-WC-Webhook-Signature", sig)
	}
	rec := h.do(http.MethodPost, "/webhooks/woocommerce", body, hdr)
	var m map[string]any
	_ = json.Unmarshal(rec.Body.Bytes(), &m)
	return rec.Code, m
}

func TestWooCommerceWebhooks(t *testing.T) {
	created, completed := testdata(t, "woocommerce/order_created.json"), testdata(t, "woocommerce/order_updated_completed.json")
	sign := func(b []byte) string { return commerce.SignShopify(wooSecret, b) } // the same scheme: base64 HMAC-SHA256
	t.Run("a guest order is stored and linked by its normalised email and phone", func(t *testing.T) {
		h := newHarness(t)
		st, a := deliverWoo(h, "order.created", "d1", created, sign(created))
		if st != 200 {
			t.Fatalf("status %d: %v", st, a)
		}
		o := h.order("727")
		cust := h.customerByEmail("budi.santoso@example.id")
		if cust == "" || o.CustomerID != cust {
			t.Errorf("order linked to %q, email owner %q", o.CustomerID, cust)
		}
		if owner, _ := h.store.CustomerIDByIdentity(t.Context(), inbox.KindPhone, "+6281298765432"); owner != cust {
			t.Errorf("the phone belongs to %q", owner)
		}
		if o.Number != "#727" || o.Total != 87500000 || o.Shipping != 2500000 || o.Subtotal != 85000000 || o.Payment != commerce.PaymentPaid ||
			o.Fulfillment != commerce.FulfillmentUnfulfilled || !o.PlacedAt.Equal(at("2026-03-02T09:28:02Z")) {
			t.Errorf("order = %+v", o)
		}
		if len(o.Items) != 2 || o.Items[1].SKU != "woo-23" || o.Items[1].UnitPrice != 10000000 || o.Items[0].ImageURL == "" {
			t.Errorf("items = %+v", o.Items)
		}
	})
	t.Run("completion, refund and tracking arrive with an update; a late older version changes nothing", func(t *testing.T) {
		h := newHarness(t)
		deliverWoo(h, "order.updated", "d2", completed, sign(completed))
		st, a := deliverWoo(h, "order.created", "d1", created, sign(created))
		if st != 200 {
			t.Fatalf("late create: %d %v", st, a)
		}
		o := h.order("727")
		if o.Fulfillment != commerce.FulfillmentFulfilled || o.Refunded != 10000000 || o.Payment != commerce.PaymentPartiallyRefunded ||
			len(o.Tracking) != 1 || o.Tracking[0].Carrier != "SiCepat" || o.Tracking[0].URL != "https://www.sicepat.com/checkAwb?awb=004123456789" {
			t.Errorf("order = fulfillment %s refunded %d payment %s tracking %+v", o.Fulfillment, o.Refunded, o.Payment, o.Tracking)
		}
	})
	t.Run("a product update stores its stock", func(t *testing.T) {
		h := newHarness(t)
		body := testdata(t, "woocommerce/product_updated.json")
		if st, a := deliverWoo(h, "product.updated", "p1", body, sign(body)); st != 200 {
			t.Fatalf("status %d: %v", st, a)
		}
		ps, _ := h.store.Products(t.Context(), []string{"SGK-PLB"})
		if len(ps) != 1 || ps[0].Price != 65000000 || ps[0].StockState(3) != commerce.StockLow || ps[0].URL == "" {
			t.Errorf("product = %+v", ps)
		}
	})
	t.Run("a forged or missing signature stores nothing", func(t *testing.T) {
		h := newHarness(t)
		for _, sig := range []string{commerce.SignShopify("wrong", created), ""} {
			if st, _ := deliverWoo(h, "order.created", "d1", created, sig); st != 401 {
				t.Errorf("signature %q: status %d, want 401", sig, st)
			}
		}
		if h.hasOrder("727") || h.customerByEmail("budi.santoso@example.id") != "" {
			t.Error("a forged delivery stored something")
		}
	})
	t.Run("the activation ping is acknowledged without a signature", func(t *testing.T) {
		h := newHarness(t)
		if st, a := deliverWoo(h, "", "", []byte("webhook_id=12"), ""); st != 200 || a["ignored"] != true {
			t.Errorf("ping: %d %v", st, a)
		}
	})
	t.Run("a repeated delivery is a duplicate", func(t *testing.T) {
		h := newHarness(t)
		deliverWoo(h, "order.created", "d1", created, sign(created))
		if st, a := deliverWoo(h, "order.created", "d1", created, sign(created)); st != 200 || a["duplicate"] != true {
			t.Errorf("repeat: %d %v", st, a)
		}
	})
}
