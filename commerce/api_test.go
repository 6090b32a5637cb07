package commerce_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/serambi/serambi/commerce"
	"github.com/serambi/serambi/inbox"
)

const productBody = `{"name":"Batik Tulis Parang - M","imageUrl":"https://cdn.example.id/parang-m.jpg","url":"https://toko.example.id/p/parang",
	"price":325000000,"currency":"IDR","stock":[{"location":"Bandung","available":2},{"location":"Jakarta","available":1}],
	"updatedAt":"2026-03-02T09:00:00Z"}`

const orderBody = `{"number":"#1042","customer":{"shopCustomerId":"cust-42","email":"siti.rahma@EXAMPLE.id","name":"Siti Rahma"},
	"currency":"IDR","items":[{"lineItemId":"1","sku":"BTP-M","name":"Batik Tulis Parang - M","quantity":1,"unitPrice":325000000}],
	"shipping":10000000,"total":335000000,"paymentStatus":"paid","fulfillmentStatus":"in_transit",
	"tracking":[{"number":"JNE0123","carrier":"JNE","url":"https://www.jne.co.id/t/JNE0123"}],
	"placedAt":"2026-03-02T09:30:00Z","updatedAt":"2026-03-02T10:00:00Z"}`

// TestIngestionAPI reads as the specification of the REST ingestion endpoints.
func TestIngestionAPI(t *testing.T) {
	type scenario struct {
		name       string
		before     func(h *harness)
		method     string
		path       string
		body       string
		wantStatus int
		want       map[string]any // dotted paths into the JSON answer
		check      func(t *testing.T, h *harness, answer map[string]any)
	}
	put := func(h *harness, path, body string) {
		h.t.Helper()
		if rec := h.do(http.MethodPut, path, []byte(body), nil); rec.Code != http.StatusOK {
			h.t.Fatalf("setup PUT %s: %d %s", path, rec.Code, rec.Body)
		}
	}
	tests := []scenario{
		{name: "a product is stored with its stock per location", method: "PUT", path: "/api/v1/commerce/products/BTP-M", body: productBody,
			wantStatus: 200, want: map[string]any{"id": "BTP-M", "duplicate": false},
			check: func(t *testing.T, h *harness, _ map[string]any) {
				ps, _ := h.store.Products(t.Context(), []string{"BTP-M"})
				if len(ps) != 1 || ps[0].Price != 325000000 || ps[0].Available() != 3 || !ps[0].Tracked ||
					ps[0].StockState(3) != commerce.StockLow {
					t.Errorf("stored product = %+v", ps)
				}
			}},
		{name: "the same product again is a duplicate", before: func(h *harness) { put(h, "/api/v1/commerce/products/BTP-M", productBody) },
			method: "PUT", path: "/api/v1/commerce/products/BTP-M", body: productBody, wantStatus: 200, want: map[string]any{"duplicate": true}},
		{name: "an older version is a duplicate and changes nothing",
			before: func(h *harness) { put(h, "/api/v1/commerce/products/BTP-M", productBody) },
			method: "PUT", path: "/api/v1/commerce/products/BTP-M",
			body:       strings.Replace(strings.Replace(productBody, `"available":2`, `"available":50`, 1), "2026-03-02T09:00:00Z", "2026-03-01T09:00:00Z", 1),
			wantStatus: 200, want: map[string]any{"duplicate": true},
			check: func(t *testing.T, h *harness, _ map[string]any) {
				ps, _ := h.store.Products(t.Context(), []string{"BTP-M"})
				if ps[0].Available() != 3 {
					t.Errorf("an older version changed the stock to %d", ps[0].Available())
				}
			}},
		{name: "an unknown field is refused and nothing is stored", method: "PUT", path: "/api/v1/commerce/products/BTP-M",
			body:       strings.Replace(productBody, `"currency"`, `"colour":"indigo","currency"`, 1),
			wantStatus: 400, want: map[string]any{"error.code": "bad_request"},
			check: func(t *testing.T, h *harness, a map[string]any) {
				if msg, _ := field(a, "error.message").(string); !strings.Contains(msg, `unknown field "colour"`) {
					t.Errorf("message %q does not name the field", msg)
				}
				if ps, _ := h.store.Products(t.Context(), []string{"BTP-M"}); len(ps) != 0 {
					t.Errorf("a refused request stored %v", ps)
				}
			}},
		{name: "a body that is not JSON is refused", method: "PUT", path: "/api/v1/commerce/products/X", body: `{"name":`,
			wantStatus: 400, want: map[string]any{"error.code": "bad_request"}},
		{name: "a string where a number belongs is refused, naming the field", method: "PUT", path: "/api/v1/commerce/products/X",
			body: `{"name":"x","price":"12.50","updatedAt":"2026-03-02T09:00:00Z"}`, wantStatus: 400,
			check: func(t *testing.T, _ *harness, a map[string]any) {
				if msg, _ := field(a, "error.message").(string); !strings.Contains(msg, `"price"`) {
					t.Errorf("message %q does not name price", msg)
				}
			}},
		{name: "a product without updatedAt is invalid: versions could not be ordered", method: "PUT", path: "/api/v1/commerce/products/X",
			body: `{"name":"x","price":100}`, wantStatus: 422, want: map[string]any{"error.code": "invalid"}},
		{name: "a product without a price is invalid", method: "PUT", path: "/api/v1/commerce/products/X",
			body: `{"name":"x","updatedAt":"2026-03-02T09:00:00Z"}`, wantStatus: 422, want: map[string]any{"error.code": "invalid"}},
		{name: "a javascript: image is refused", method: "PUT", path: "/api/v1/commerce/products/X",
			body: `{"name":"x","price":1,"imageUrl":"javascript:alert(1)","updatedAt":"2026-03-02T09:00:00Z"}`, wantStatus: 422},
		{name: "a currency that is not ISO 4217 is refused", method: "PUT", path: "/api/v1/commerce/products/X",
			body: `{"name":"x","price":1,"currency":"rupiah","updatedAt":"2026-03-02T09:00:00Z"}`, wantStatus: 422},
		{name: "an order for an unknown email creates the customer, who owns the email", method: "PUT", path: "/api/v1/commerce/orders/1042",
			body: orderBody, wantStatus: 200, want: map[string]any{"id": "1042", "duplicate": false},
			check: func(t *testing.T, h *harness, a map[string]any) {
				cust, _ := a["customerId"].(string)
				if cust == "" || h.customerByEmail("siti.rahma@example.id") != cust {
					t.Errorf("order customer %q, owner of the email %q", cust, h.customerByEmail("siti.rahma@example.id"))
				}
				c, err := h.store.CustomerByID(t.Context(), cust)
				if err != nil || c.Name != "Siti Rahma" {
					t.Errorf("created customer = %+v, %v", c, err)
				}
				if owner, _ := h.store.CustomerIDByIdentity(t.Context(), inbox.KindShop, "cust-42"); owner != cust {
					t.Errorf("the shop id belongs to %q", owner)
				}
				o := h.order("1042")
				if o.Fulfillment != commerce.FulfillmentInTransit || len(o.Tracking) != 1 || o.Total != 335000000 {
					t.Errorf("stored order = %+v", o)
				}
				if got := h.events.changed(); len(got) != 1 || got[0] != cust {
					t.Errorf("commerce.changed published for %v, want [%s]", got, cust)
				}
			}},
		{name: "an order joins the customer who already wrote in from that address",
			before: func(h *harness) {
				if _, err := h.inbox.Ingest(h.t.Context(), inbox.Inbound{Channel: inbox.ChannelEmail, ExternalID: "<m1@example.id>",
					From: []inbox.Identity{{Kind: inbox.KindEmail, Value: "Siti.Rahma@example.id"}}, Text: "pesanan saya?"}); err != nil {
					h.t.Fatal(err)
				}
			},
			method: "PUT", path: "/api/v1/commerce/orders/1042", body: orderBody, wantStatus: 200,
			check: func(t *testing.T, h *harness, a map[string]any) {
				if a["customerId"] != h.customerByEmail("siti.rahma@example.id") {
					t.Errorf("order linked to %v, not to the customer who wrote in (%s)", a["customerId"], h.customerByEmail("siti.rahma@example.id"))
				}
			}},
		{name: "an unknown payment status is invalid", method: "PUT", path: "/api/v1/commerce/orders/1",
			body: strings.Replace(orderBody, `"paid"`, `"settled"`, 1), wantStatus: 422,
			check: func(t *testing.T, h *harness, _ map[string]any) {
				if h.hasOrder("1") {
					t.Error("an invalid order was stored")
				}
			}},
		{name: "an order without a total is invalid", method: "PUT", path: "/api/v1/commerce/orders/1",
			body: strings.Replace(orderBody, `"total":335000000,`, ``, 1), wantStatus: 422},
		{name: "a cart without a customer is stored unlinked", method: "PUT", path: "/api/v1/commerce/carts/c1",
			body:       `{"items":[{"sku":"BTP-M","name":"Batik","quantity":1,"unitPrice":325000000}],"updatedAt":"2026-03-02T09:00:00Z"}`,
			wantStatus: 200, want: map[string]any{"id": "c1"},
			check: func(t *testing.T, h *harness, a map[string]any) {
				c, err := h.store.CartByID(t.Context(), "c1")
				if err != nil || c.CustomerID != "" || c.Total != 325000000 || c.Currency != "IDR" || c.Status != commerce.CartOpen {
					t.Errorf("stored cart = %+v, %v", c, err)
				}
			}},
		{name: "loyalty links by the shop's customer id",
			before: func(h *harness) { put(h, "/api/v1/commerce/orders/1042", orderBody) },
			method: "PUT", path: "/api/v1/commerce/customers/cust-42/loyalty",
			body: `{"points":1240,"tier":"Gold","updatedAt":"2026-03-02T11:00:00Z"}`, wantStatus: 200,
			check: func(t *testing.T, h *harness, a map[string]any) {
				l, err := h.store.LoyaltyOf(t.Context(), h.customerByEmail("siti.rahma@example.id"))
				if err != nil || l.Points != 1240 || l.Tier != "Gold" {
					t.Errorf("loyalty of the order's customer = %+v, %v", l, err)
				}
			}},
		{name: "a body over the limit is refused", method: "PUT", path: "/api/v1/commerce/products/X",
			body: `{"name":"` + strings.Repeat("x", 3<<20) + `"}`, wantStatus: 413},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			if tc.before != nil {
				tc.before(h)
			}
			h.events.changed()
			rec := h.do(tc.method, tc.path, []byte(tc.body), nil)
			if rec.Code != tc.wantStatus {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.wantStatus, rec.Body)
			}
			a := decode(t, rec)
			for path, want := range tc.want {
				if got := field(a, path); got != want {
					t.Errorf("%s = %v, want %v (answer %s)", path, got, want, rec.Body)
				}
			}
			if tc.check != nil {
				tc.check(t, h, a)
			}
		})
	}
}
