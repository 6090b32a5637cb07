package commerce_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/serambi/serambi/commerce"
	"github.com/serambi/serambi/commerce/shopifyfake"
	"github.com/serambi/serambi/inbox"
)

const shopToken = "shpat_test_token"

var (
	admin    = commerce.Actor{ID: "agent-admin", Name: "Dewi", Admin: true}
	refunder = commerce.Actor{ID: "agent-2", Name: "Budi", Teams: []string{"team-9", "Refunds"}}
	agent    = commerce.Actor{ID: "agent-3", Name: "Rina", Teams: []string{"Billing"}}
)

// actionHarness is a harness whose Shopify orders go to a fake shop, with the order #1042 of
// orders_create.json stored, its customer's conversation open, and the same order in the shop.
func actionHarness(t *testing.T) (*harness, *shopifyfake.Server, inbox.Conversation) {
	t.Helper()
	shop := shopifyfake.New(t, shopToken)
	h := newHarness(t, func(c *commerce.Config) {
		c.Shopify.AccessToken, c.Shopify.AdminBase = shopToken, shop.URL()
	})
	if _, _, err := h.svc.ShopifyWebhook(t.Context(), "orders/create", testdata(t, "shopify/orders_create.json")); err != nil {
		t.Fatal(err)
	}
	in, err := h.inbox.Ingest(t.Context(), inbox.Inbound{Channel: inbox.ChannelEmail, ExternalID: "<q@x>",
		From: []inbox.Identity{{Kind: inbox.KindEmail, Value: "siti.rahma@example.id"}}, Text: "tolong batalkan pesanan saya"})
	if err != nil {
		t.Fatal(err)
	}
	shop.AddOrder(shopifyfake.Order{ID: 5940139491234, Name: "#1042", Currency: "IDR", Shipping: "100000.00", LineItems: []shopifyfake.LineItem{
		{ID: 14677270986914, SKU: "BTP-M", Quantity: 1, Price: "3250000.00"},
		{ID: 14677270986915, SKU: "SLS-IND", Quantity: 2, Price: "450000.00"},
	}})
	return h, shop, in.Conversation
}

// timelineEvents lists the texts of the commerce events in the conversation.
func timelineEvents(t *testing.T, h *harness, conv inbox.Conversation) []string {
	t.Helper()
	msgs, err := h.store.ListMessages(t.Context(), conv.ID, inbox.Cursor{}, 50)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range msgs {
		if m.Event != nil && m.Event.Kind == commerce.EventCommerce {
			out = append(out, m.Event.Data["result"]+": "+m.Text)
		}
	}
	return out
}

func TestCancelAndRefundThroughShopify(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name    string
		setup   func(shop *shopifyfake.Server)
		act     func(h *harness) (commerce.ActionResult, error)
		wantErr func(error) bool
		check   func(t *testing.T, h *harness, shop *shopifyfake.Server, res commerce.ActionResult, events []string)
	}{
		{name: "an admin cancels; the shop cancels and the timeline says so",
			act: func(h *harness) (commerce.ActionResult, error) {
				return h.svc.Cancel(ctx, admin, shopifyOrderID, "", commerce.CancelRequest{Reason: "customer", Notify: true})
			},
			check: func(t *testing.T, _ *harness, shop *shopifyfake.Server, _ commerce.ActionResult, events []string) {
				if shop.Order(5940139491234).CancelledAt.IsZero() {
					t.Error("the shop's order is not cancelled")
				}
				reqs := shop.Requests()
				var body map[string]any
				_ = json.Unmarshal(reqs[len(reqs)-1].Body, &body)
				if reqs[len(reqs)-1].Path != "/admin/api/2024-10/orders/5940139491234/cancel.json" || body["reason"] != "customer" || body["email"] != true {
					t.Errorf("request %s %s", reqs[len(reqs)-1].Path, reqs[len(reqs)-1].Body)
				}
				if len(events) != 1 || events[0] != "ok: Dewi cancelled order #1042 in the shop" {
					t.Errorf("timeline = %q", events)
				}
			}},
		{name: "a member of an action team refunds one scarf: calculate, then refund with Shopify's transactions",
			act: func(h *harness) (commerce.ActionResult, error) {
				return h.svc.Refund(ctx, refunder, shopifyOrderID, "", commerce.RefundRequest{
					Items: []commerce.RefundItem{{LineItemID: "14677270986915", Quantity: 1}}, Note: "scarf damaged"})
			},
			check: func(t *testing.T, _ *harness, shop *shopifyfake.Server, res commerce.ActionResult, events []string) {
				if res.Amount != 45000000 || res.Currency != "IDR" || res.Reference == "" {
					t.Errorf("result = %+v", res)
				}
				o := shop.Order(5940139491234)
				if len(o.Refunds) != 1 || o.Refunds[0].Lines[14677270986915] != 1 || o.FinancialStatus != "partially_refunded" {
					t.Errorf("shop order after the refund = %+v", o)
				}
				reqs := shop.Requests()
				if len(reqs) != 2 || !strings.HasSuffix(reqs[0].Path, "/refunds/calculate.json") || !strings.HasSuffix(reqs[1].Path, "/refunds.json") {
					t.Fatalf("requests = %+v", reqs)
				}
				if !strings.Contains(string(reqs[1].Body), `"kind":"refund"`) || !strings.Contains(string(reqs[1].Body), `"parent_id":5940139491235`) ||
					!strings.Contains(string(reqs[1].Body), `"line_item_id":14677270986915`) {
					t.Errorf("refund body = %s", reqs[1].Body)
				}
				if len(events) != 1 || !strings.HasPrefix(events[0], "ok: Budi refunded Rp 450,000 of order #1042") {
					t.Errorf("timeline = %q", events)
				}
			}},
		{name: "a full refund includes shipping",
			act: func(h *harness) (commerce.ActionResult, error) {
				return h.svc.Refund(ctx, admin, shopifyOrderID, "", commerce.RefundRequest{Full: true})
			},
			check: func(t *testing.T, _ *harness, shop *shopifyfake.Server, res commerce.ActionResult, _ []string) {
				if res.Amount != 425000000 || shop.Order(5940139491234).FinancialStatus != "refunded" {
					t.Errorf("full refund = %+v, shop %s", res, shop.Order(5940139491234).FinancialStatus)
				}
			}},
		{name: "an agent without the permission is refused and the shop hears nothing",
			act: func(h *harness) (commerce.ActionResult, error) {
				return h.svc.Cancel(ctx, agent, shopifyOrderID, "", commerce.CancelRequest{})
			},
			wantErr: func(err error) bool { return errors.Is(err, commerce.ErrForbidden) },
			check: func(t *testing.T, _ *harness, shop *shopifyfake.Server, _ commerce.ActionResult, events []string) {
				if len(shop.Requests()) != 0 || len(events) != 0 {
					t.Errorf("requests %d, events %q", len(shop.Requests()), events)
				}
			}},
		{name: "Shopify's 422 reaches the agent in Shopify's words and is recorded",
			setup: func(shop *shopifyfake.Server) {
				shop.FailNext("cancel", shopifyfake.Failure{Status: 422, Body: `{"errors":"Cannot cancel an order that has been fulfilled"}`})
			},
			act: func(h *harness) (commerce.ActionResult, error) {
				return h.svc.Cancel(ctx, admin, shopifyOrderID, "", commerce.CancelRequest{})
			},
			wantErr: func(err error) bool {
				var rej *commerce.RejectedError
				return errors.As(err, &rej) && rej.Message == "Cannot cancel an order that has been fulfilled" && errors.Is(err, inbox.ErrInvalid)
			},
			check: func(t *testing.T, _ *harness, _ *shopifyfake.Server, _ commerce.ActionResult, events []string) {
				if len(events) != 1 || !strings.HasPrefix(events[0], "failed: Dewi could not cancel order #1042") ||
					!strings.Contains(events[0], "Cannot cancel an order that has been fulfilled") {
					t.Errorf("timeline = %q", events)
				}
			}},
		{name: "refunding more than was bought is refused by the shop's 422 on calculate",
			act: func(h *harness) (commerce.ActionResult, error) {
				// The order has 2 scarves; Serambi checks quantities against its copy first.
				return h.svc.Refund(ctx, admin, shopifyOrderID, "", commerce.RefundRequest{Items: []commerce.RefundItem{{LineItemID: "14677270986915", Quantity: 3}}})
			},
			wantErr: func(err error) bool { return errors.Is(err, inbox.ErrInvalid) }},
		{name: "a 429 is waited out with Retry-After and the action goes through",
			setup: func(shop *shopifyfake.Server) {
				shop.FailNext("cancel", shopifyfake.Failure{Status: 429, Body: `{"errors":"Exceeded 2 calls per second for api client. Reduce request rates to resume uninterrupted service."}`, RetryAfter: "0.05"})
			},
			act: func(h *harness) (commerce.ActionResult, error) {
				return h.svc.Cancel(ctx, admin, shopifyOrderID, "", commerce.CancelRequest{})
			},
			check: func(t *testing.T, _ *harness, shop *shopifyfake.Server, _ commerce.ActionResult, _ []string) {
				if n := len(shop.Requests()); n != 2 || shop.Order(5940139491234).CancelledAt.IsZero() {
					t.Errorf("%d requests, cancelled %v", n, shop.Order(5940139491234).CancelledAt)
				}
			}},
		{name: "a 429 asking for longer than the agent can wait is reported, not retried forever",
			setup: func(shop *shopifyfake.Server) {
				shop.FailNext("cancel", shopifyfake.Failure{Status: 429, Body: `{"errors":"Exceeded"}`, RetryAfter: "60.0"})
			},
			act: func(h *harness) (commerce.ActionResult, error) {
				return h.svc.Cancel(ctx, admin, shopifyOrderID, "", commerce.CancelRequest{})
			},
			wantErr: func(err error) bool {
				var rl *commerce.RateLimitedError
				return errors.As(err, &rl) && rl.After == time.Minute && errors.Is(err, inbox.ErrConflict)
			}},
		{name: "an order changed since the agent looked is not acted on",
			act: func(h *harness) (commerce.ActionResult, error) {
				return h.svc.Cancel(ctx, admin, shopifyOrderID, "an-old-digest", commerce.CancelRequest{})
			},
			wantErr: func(err error) bool { return errors.Is(err, inbox.ErrConflict) }},
		{name: "the version the agent saw is accepted",
			act: func(h *harness) (commerce.ActionResult, error) {
				return h.svc.Cancel(ctx, admin, shopifyOrderID, h.order(shopifyOrderID).Digest, commerce.CancelRequest{})
			}},
		{name: "an unknown reason is invalid",
			act: func(h *harness) (commerce.ActionResult, error) {
				return h.svc.Cancel(ctx, admin, shopifyOrderID, "", commerce.CancelRequest{Reason: "bored"})
			},
			wantErr: func(err error) bool { return errors.Is(err, inbox.ErrInvalid) }},
		{name: "a wrong access token is a clear error",
			setup: func(shop *shopifyfake.Server) { shop.Token = "rotated" },
			act: func(h *harness) (commerce.ActionResult, error) {
				return h.svc.Cancel(ctx, admin, shopifyOrderID, "", commerce.CancelRequest{})
			},
			wantErr: func(err error) bool {
				return err != nil && strings.Contains(err.Error(), "SERAMBI_SHOPIFY_ACCESS_TOKEN")
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h, shop, conv := actionHarness(t)
			if tc.setup != nil {
				tc.setup(shop)
			}
			res, err := tc.act(h)
			switch {
			case tc.wantErr == nil && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.wantErr != nil && !tc.wantErr(err):
				t.Fatalf("error %v is not the expected one", err)
			}
			if tc.check != nil {
				tc.check(t, h, shop, res, timelineEvents(t, h, conv))
			}
		})
	}
}

func TestConcurrentActionsOnOneOrder(t *testing.T) {
	h, shop, _ := actionHarness(t)
	// The first refund is slow to answer: a second click meanwhile must not reach the shop.
	shop.FailNext("calculate", shopifyfake.Failure{Status: 429, Body: `{"errors":"slow"}`, RetryAfter: "0.3"})
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if i == 1 {
				time.Sleep(100 * time.Millisecond)
			}
			_, errs[i] = h.svc.Refund(t.Context(), admin, shopifyOrderID, "", commerce.RefundRequest{Full: true})
		}()
	}
	wg.Wait()
	if errs[0] != nil || !errors.Is(errs[1], inbox.ErrConflict) {
		t.Errorf("errors = %v, %v; want the second refused as in progress", errs[0], errs[1])
	}
	if n := len(shop.Order(5940139491234).Refunds); n != 1 {
		t.Errorf("the shop made %d refunds", n)
	}
}

func TestSignedWebhookActions(t *testing.T) {
	var mu sync.Mutex
	var got []commerce.ActionHook
	answer := http.StatusOK
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if !commerce.VerifyBody("hook-secret", body, r.Header.Get(commerce.SignatureHeader)) {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var h commerce.ActionHook
		_ = json.Unmarshal(body, &h)
		mu.Lock()
		got = append(got, h)
		status := answer
		mu.Unlock()
		w.WriteHeader(status)
		if status == http.StatusUnprocessableEntity {
			_, _ = io.WriteString(w, `{"error":"order already shipped"}`)
			return
		}
		_, _ = io.WriteString(w, `{"reference":"rf-1"}`)
	}))
	defer srv.Close()
	h := newHarness(t, func(c *commerce.Config) {
		c.ActionsWebhook = commerce.WebhookConfig{URL: srv.URL, Secret: "hook-secret"}
	})
	if _, err := h.svc.PutOrder(t.Context(), commerce.Order{ID: "A-7", Number: "#A7", Contact: commerce.Contact{Email: "a@example.id"},
		Items: []commerce.LineItem{{ID: "l1", SKU: "A", Name: "A", Quantity: 2, UnitPrice: 5000}}, Total: 10000, Payment: commerce.PaymentPaid,
		ShopUpdatedAt: at("2026-03-02T09:00:00Z")}); err != nil {
		t.Fatal(err)
	}
	res, err := h.svc.Refund(t.Context(), refunder, "A-7", "", commerce.RefundRequest{Items: []commerce.RefundItem{{LineItemID: "l1", Quantity: 1}}, Restock: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.Amount != 5000 || res.Reference != "rf-1" {
		t.Errorf("result = %+v", res)
	}
	if len(got) != 1 || got[0].Action != "order.refund" || got[0].OrderID != "A-7" || len(got[0].Items) != 1 || got[0].Items[0].SKU != "A" ||
		!got[0].Restock || got[0].RequestedBy.Name != "Budi" || got[0].Timestamp == 0 {
		t.Errorf("hook = %+v", got)
	}
	mu.Lock()
	answer = http.StatusUnprocessableEntity
	mu.Unlock()
	_, err = h.svc.Cancel(t.Context(), admin, "A-7", "", commerce.CancelRequest{})
	var rej *commerce.RejectedError
	if !errors.As(err, &rej) || rej.Message != "order already shipped" {
		t.Errorf("cancel refused by the shop: err = %v", err)
	}
}

func TestCards(t *testing.T) {
	h, _, conv := actionHarness(t)
	if _, err := h.svc.PutProduct(t.Context(), commerce.Product{SKU: "BTP-M", Name: "Batik Tulis Parang - M", Price: 325000000,
		ImageURL: "https://cdn.example.id/parang-m.jpg", URL: "https://toko.example.id/p/parang", Tracked: true,
		Stock: []commerce.StockLevel{{Location: "Bandung", Available: 2}}, ShopUpdatedAt: at("2026-03-02T00:00:00Z")}); err != nil {
		t.Fatal(err)
	}
	m, err := h.svc.SendProductCard(t.Context(), commerce.CardRequest{ConversationID: conv.ID, Actor: agent, Lang: "id"}, "BTP-M")
	if err != nil {
		t.Fatal(err)
	}
	if m.Direction != inbox.DirectionOut || m.Delivery != inbox.DeliveryQueued || m.Channel != inbox.ChannelEmail {
		t.Errorf("card message = %+v", m)
	}
	if m.Meta["card"] != "product" || m.Meta["sku"] != "BTP-M" || m.Meta["price"] != "325000000" || m.Meta["currency"] != "IDR" ||
		m.Meta["image"] != "https://cdn.example.id/parang-m.jpg" || m.Meta["stock"] != "low" {
		t.Errorf("product card meta = %v", m.Meta)
	}
	if m.Text != "Batik Tulis Parang - M — Rp 3.250.000\nhttps://toko.example.id/p/parang" {
		t.Errorf("product card text = %q", m.Text)
	}
	if _, _, err := h.svc.ShopifyWebhook(t.Context(), "orders/fulfilled", testdata(t, "shopify/orders_fulfilled.json")); err != nil {
		t.Fatal(err)
	}
	m, err = h.svc.SendOrderCard(t.Context(), commerce.CardRequest{ConversationID: conv.ID, Actor: agent, Lang: "id"}, shopifyOrderID)
	if err != nil {
		t.Fatal(err)
	}
	if m.Meta["card"] != "order" || m.Meta["number"] != "#1042" || m.Meta["status"] != "in_transit" || m.Meta["carrier"] != "JNE" ||
		m.Meta["trackingUrl"] != "https://www.jne.co.id/id/tracking/trace/JNE0123456789" {
		t.Errorf("order card meta = %v", m.Meta)
	}
	if want := "Pesanan #1042: dalam perjalanan · Rp 4.250.000\nResi: JNE JNE0123456789\nhttps://www.jne.co.id/id/tracking/trace/JNE0123456789"; m.Text != want {
		t.Errorf("order card text = %q\nwant %q", m.Text, want)
	}
	if _, err := h.svc.SendProductCard(t.Context(), commerce.CardRequest{ConversationID: conv.ID, Actor: agent}, "NOPE"); !errors.Is(err, inbox.ErrNotFound) {
		t.Errorf("a card of an unknown product: %v", err)
	}
}
