package panel_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/serambi/serambi/agents"
	"github.com/serambi/serambi/bus"
	"github.com/serambi/serambi/commerce"
	"github.com/serambi/serambi/commerce/panel"
	"github.com/serambi/serambi/commerce/shopifyfake"
	"github.com/serambi/serambi/database/sqlite"
	"github.com/serambi/serambi/database/storetest"
	"github.com/serambi/serambi/i18n"
	"github.com/serambi/serambi/inbox"
	"github.com/serambi/serambi/templates"
)

type fixture struct {
	store    *sqlite.Store
	inbox    *inbox.Inbox
	svc      *commerce.Service
	panel    *panel.Panel
	catalog  *i18n.Catalog
	shop     *shopifyfake.Server
	customer string
	conv     inbox.Conversation
	now      time.Time
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func ts(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

// newFixture is a customer, Siti, with a conversation, a cart (one item low on stock, one sold
// out), two orders (one shipped with JNE, one to pick up), loyalty, and co-purchase history.
func newFixture(t testing.TB) *fixture {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "serambi.db"), quiet())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	clock := storetest.NewClock(ts("2026-03-05T02:00:00Z"))
	events := bus.NewLocal(quiet(), 0)
	f := &fixture{store: st, now: ts("2026-03-05T02:00:00Z")}
	f.shop = shopifyfake.New(t, "tok")
	f.inbox = inbox.New(st, events, inbox.NewNormalizer("ID"), clock.Now, quiet())
	f.svc, err = commerce.New(commerce.Config{Currency: "IDR", ActionTeams: []string{"Refunds"},
		Shopify: commerce.ShopifyConfig{AccessToken: "tok", AdminBase: f.shop.URL()}},
		commerce.Deps{Store: st, Customers: st, Timeline: f.inbox, Events: events, Normalizer: inbox.NewNormalizer("ID"), Now: clock.Now, Log: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	if f.catalog, err = i18n.New(); err != nil {
		t.Fatal(err)
	}
	f.panel = panel.New(f.svc, f.inbox, f.catalog, clock.Now, quiet())
	in, err := f.inbox.Ingest(ctx, inbox.Inbound{Channel: inbox.ChannelWhatsApp, ExternalID: "wamid.1",
		From: []inbox.Identity{{Kind: inbox.KindWhatsApp, Value: "+6281234567890"}, {Kind: inbox.KindEmail, Value: "siti@example.id", Verified: true}},
		Name: "Siti Rahma", Text: "ukuran M masih ada?"})
	if err != nil {
		t.Fatal(err)
	}
	f.customer, f.conv = in.CustomerID, in.Conversation
	put := func(sku, name string, stock int64) {
		if _, err := f.svc.PutProduct(ctx, commerce.Product{SKU: sku, Name: name, Price: 32500000, Tracked: true, URL: "https://toko.example.id/p/" + sku,
			Stock: []commerce.StockLevel{{Location: "Bandung", Available: stock}}, ShopUpdatedAt: ts("2026-03-01T00:00:00Z")}); err != nil {
			t.Fatal(err)
		}
	}
	put("BTP-M", "Batik Tulis Parang M", 2)
	put("BTP-L", "Batik Tulis Parang L", 0)
	put("SLS-IND", "Selendang Sutra Indigo", 40)
	put("KBY-01", "Kebaya Encim", 9)
	contact := commerce.Contact{Email: "siti@example.id"}
	if _, err := f.svc.PutCart(ctx, commerce.Cart{ID: "cart-1", Contact: contact, ShopUpdatedAt: ts("2026-03-05T01:50:00Z"), Items: []commerce.LineItem{
		{SKU: "BTP-M", Name: "Batik Tulis Parang M", Quantity: 1, UnitPrice: 325000000},
		{SKU: "BTP-L", Name: "Batik Tulis Parang L", Quantity: 1, UnitPrice: 325000000}}}); err != nil {
		t.Fatal(err)
	}
	orders := []commerce.Order{
		{ID: "5940139491234", Number: "#1042", Contact: contact, Source: commerce.SourceShopify, Total: 425000000, Payment: commerce.PaymentPaid,
			Fulfillment: commerce.FulfillmentInTransit, Tracking: []commerce.Tracking{{Number: "JNE0123", Carrier: "JNE", URL: "https://www.jne.co.id/t/JNE0123"}},
			Items:    []commerce.LineItem{{ID: "11", SKU: "SLS-IND", Name: "Selendang Sutra Indigo", Quantity: 2, UnitPrice: 45000000}, {ID: "12", SKU: "BTP-M", Name: "Batik Tulis Parang M", Quantity: 1, UnitPrice: 325000000}},
			PlacedAt: ts("2026-03-02T09:30:00Z"), ShopUpdatedAt: ts("2026-03-03T03:00:00Z")},
		{ID: "5940139491300", Number: "#1043", Contact: contact, Source: commerce.SourceShopify, Total: 0, Payment: commerce.PaymentPending,
			Fulfillment: commerce.FulfillmentReadyForPickup, Pickup: true, PlacedAt: ts("2026-03-04T09:30:00Z"), ShopUpdatedAt: ts("2026-03-04T09:30:00Z"),
			Items: []commerce.LineItem{{ID: "21", SKU: "KBY-01", Name: "Kebaya Encim", Quantity: 1}}},
		// Someone else bought the batik with a kebaya: a recommendation for Siti's cart.
		{ID: "9", Contact: commerce.Contact{Email: "other@example.id"}, Total: 1, Payment: commerce.PaymentPaid, ShopUpdatedAt: ts("2026-03-01T00:00:00Z"),
			Items: []commerce.LineItem{{SKU: "BTP-M", Name: "x", Quantity: 1}, {SKU: "KBY-01", Name: "y", Quantity: 1}, {SKU: "BTP-L", Name: "z", Quantity: 1}}},
	}
	for _, o := range orders {
		if _, err := f.svc.PutOrder(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := f.svc.PutLoyalty(ctx, commerce.Loyalty{ShopCustomerID: "s-1", Contact: contact, Points: 1240, Tier: "Gold",
		ShopUpdatedAt: ts("2026-03-01T00:00:00Z")}); err != nil {
		t.Fatal(err)
	}
	f.shop.AddOrder(shopifyfake.Order{ID: 5940139491234, Name: "#1042", Currency: "IDR", LineItems: []shopifyfake.LineItem{
		{ID: 11, SKU: "SLS-IND", Quantity: 2, Price: "450000.00"}, {ID: 12, SKU: "BTP-M", Quantity: 1, Price: "3250000.00"}}})
	return f
}

func (f *fixture) viewer(lang string) templates.Viewer {
	jkt, _ := time.LoadLocation("Asia/Jakarta")
	return templates.Viewer{L: f.catalog.Localizer(lang), Loc: jkt, Now: f.now}
}

func (f *fixture) render(t testing.TB, v templates.Viewer) string {
	t.Helper()
	c, err := f.panel.Panel(context.Background(), f.customer, v)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := c.Render(context.Background(), &b); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestPanelShowsCartOrdersValueAndSuggestions(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		lang string
		want []string
		not  []string
	}{
		{lang: "id", want: []string{
			"Keranjang", "Batik Tulis Parang M", `data-stock="low"`, "Sisa 2", `data-stock="out"`, "Stok habis",
			"Rp 3.250.000", // each cart item, in the shop's currency and the agent's separators, without cents
			"#1042", "Dalam perjalanan", `href="https://www.jne.co.id/t/JNE0123"`, "JNE JNE0123",
			"#1043", "Ambil di toko", "Siap diambil",
			"Total belanja", "Rp 4.250.000", "Rata-rata pesanan", "Rp 2.125.000", // two orders: 4.250.000 + 0
			"Gold", "1.240 poin",
			"Juga dibeli", "Kebaya Encim",
			"Batalkan pesanan…", `name="version"`,
		}},
		{lang: "en", want: []string{"Cart", "Only 2 left", "Out of stock", "Rp 3,250,000", "In transit", "Lifetime value", "1,240 points", "Also bought"}},
	}
	for _, tt := range tests {
		t.Run(tt.lang, func(t *testing.T) {
			html := f.render(t, f.viewer(tt.lang))
			for _, w := range tt.want {
				if !strings.Contains(html, w) {
					t.Errorf("panel lacks %q", w)
				}
			}
			for _, w := range tt.not {
				if strings.Contains(html, w) {
					t.Errorf("panel has %q", w)
				}
			}
			// The out-of-stock L is bought with the batik too, but is not recommended.
			recs := html[strings.Index(html, "commerce-recs"):]
			if strings.Contains(recs, "Batik Tulis Parang L") {
				t.Error("an out-of-stock product is recommended")
			}
		})
	}
	t.Run("orders newest first", func(t *testing.T) {
		html := f.render(t, f.viewer("en"))
		if i, j := strings.Index(html, "#1043"), strings.Index(html, "#1042"); i < 0 || j < 0 || i > j {
			t.Errorf("#1043 at %d, #1042 at %d", i, j)
		}
	})
	t.Run("an empty viewer (the hub's) still renders", func(t *testing.T) {
		html := f.render(t, templates.Viewer{})
		if !strings.Contains(html, "Only 2 left") {
			t.Error("the fallback language is not used")
		}
	})
	t.Run("the abandoned flag shows", func(t *testing.T) {
		if _, err := f.store.MarkAbandoned(context.Background(), ts("2026-03-06T00:00:00Z"), ts("2026-03-05T03:00:00Z"), 10); err != nil {
			t.Fatal(err)
		}
		if html := f.render(t, f.viewer("id")); !strings.Contains(html, "Ditinggalkan") {
			t.Error("an abandoned cart is not flagged")
		}
	})
}

// agentPage is the console's page of a signed-in agent, as the console's PageFunc gives it.
func (f *fixture) agentPage(a agents.Agent) panel.PageFunc {
	dir := templates.NewDirectory([]agents.Agent{a}, []agents.Team{{ID: "team-r", Name: "Refunds"}})
	return func(echo.Context) (templates.Page, error) {
		v := f.viewer(a.Locale)
		v.Dir = dir
		return templates.Page{Viewer: v, Me: a}, nil
	}
}

func post(t *testing.T, e *echo.Echo, path string, form url.Values) string {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(form.Encode()))
	req.Header.Set(echo.HeaderContentType, echo.MIMEApplicationForm)
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Fatalf("POST %s: %d %s", path, rec.Code, rec.Body)
	}
	return rec.Body.String()
}

func TestPanelActions(t *testing.T) {
	dewi := agents.Agent{ID: "a-1", Name: "Dewi", Role: agents.RoleAdmin, Locale: "en"}
	budi := agents.Agent{ID: "a-2", Name: "Budi", Role: agents.RoleAgent, Locale: "id", TeamIDs: []string{"team-r"}}
	rina := agents.Agent{ID: "a-3", Name: "Rina", Role: agents.RoleAgent, Locale: "en"}
	setup := func(t *testing.T, a agents.Agent) (*fixture, *echo.Echo) {
		f := newFixture(t)
		e := echo.New()
		f.panel.Register(e.Group(""), f.agentPage(a))
		return f, e
	}
	t.Run("an admin cancels after confirming; the slot comes back with the outcome", func(t *testing.T) {
		f, e := setup(t, dewi)
		o, _ := f.store.OrderByID(context.Background(), "5940139491234")
		html := post(t, e, "/commerce/orders/5940139491234/cancel", url.Values{"version": {o.Digest}, "reason": {"customer"},
			"notify": {"1"}, "customer": {f.customer}})
		if !strings.Contains(html, `id="commerce-panel"`) || !strings.Contains(html, "Order #1042 was cancelled in the shop.") {
			t.Errorf("answer = %s", html)
		}
		if f.shop.Order(5940139491234).CancelledAt.IsZero() {
			t.Error("the shop did not cancel")
		}
	})
	t.Run("an agent outside the action teams is told so and the shop hears nothing", func(t *testing.T) {
		f, e := setup(t, rina)
		html := post(t, e, "/commerce/orders/5940139491234/cancel", url.Values{"reason": {"customer"}, "customer": {f.customer}})
		if !strings.Contains(html, "Only admins and members") || len(f.shop.Requests()) != 0 {
			t.Errorf("answer = %s; shop requests %d", html, len(f.shop.Requests()))
		}
	})
	t.Run("a member of the Refunds team refunds one item", func(t *testing.T) {
		f, e := setup(t, budi)
		html := post(t, e, "/commerce/orders/5940139491234/refund", url.Values{"full": {"0"}, "qty_11": {"1"}, "qty_12": {"0"}, "customer": {f.customer}})
		if !strings.Contains(html, "Rp 450.000 sudah dikembalikan.") {
			t.Errorf("answer = %s", html)
		}
		if r := f.shop.Order(5940139491234).Refunds; len(r) != 1 || r[0].Lines[11] != 1 {
			t.Errorf("shop refunds = %+v", r)
		}
	})
	t.Run("a product card goes into the conversation", func(t *testing.T) {
		f, e := setup(t, rina)
		html := post(t, e, "/commerce/conversations/"+f.conv.ID+"/cards", url.Values{"kind": {"product"}, "ref": {"KBY-01"}})
		if !strings.Contains(html, "Card sent.") {
			t.Errorf("answer = %s", html)
		}
		msgs, _ := f.store.ListMessages(context.Background(), f.conv.ID, inbox.Cursor{}, 10)
		if len(msgs) == 0 || msgs[0].Meta["card"] != "product" || msgs[0].Meta["sku"] != "KBY-01" || msgs[0].Channel != inbox.ChannelWhatsApp {
			t.Errorf("newest message = %+v", msgs[0])
		}
	})
	t.Run("older orders page by page", func(t *testing.T) {
		f, e := setup(t, rina)
		for i := range 15 {
			if _, err := f.svc.PutOrder(context.Background(), commerce.Order{ID: fmt.Sprint("old-", i), Number: fmt.Sprintf("#%d", 900+i),
				Contact: commerce.Contact{Email: "siti@example.id"}, Total: 1000, Payment: commerce.PaymentPaid,
				PlacedAt: ts("2026-01-01T00:00:00Z").Add(time.Duration(i) * time.Hour), ShopUpdatedAt: ts("2026-01-02T00:00:00Z")}); err != nil {
				t.Fatal(err)
			}
		}
		html := f.render(t, f.viewer("en"))
		i := strings.Index(html, "/orders?conv=")
		if i < 0 {
			t.Fatal("no link to older orders")
		}
		link := html[strings.LastIndex(html[:i], `"`)+1 : i+strings.Index(html[i:], `"`)]
		link = strings.ReplaceAll(link, "&amp;", "&")
		req := httptest.NewRequest(http.MethodGet, link, nil)
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, req)
		if rec.Code != 200 || !strings.Contains(rec.Body.String(), "#904") || strings.Contains(rec.Body.String(), "#1042") {
			t.Errorf("older orders (%s): %d %s", link, rec.Code, rec.Body)
		}
	})
}

func TestCallSummary(t *testing.T) {
	f := newFixture(t)
	c, err := f.panel.CallSummary(context.Background(), f.customer, f.viewer("id"))
	if err != nil || c == nil {
		t.Fatalf("summary: %v, %v", c, err)
	}
	var b bytes.Buffer
	if err := c.Render(context.Background(), &b); err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"Keranjang", "Rp 6.500.000", "#1043", "Siap diambil", "#1042", "Total belanja Rp 4.250.000"} {
		if !strings.Contains(b.String(), w) {
			t.Errorf("summary lacks %q: %s", w, b.String())
		}
	}
	none, err := f.panel.CallSummary(context.Background(), "nobody", f.viewer("id"))
	if err != nil || none != nil {
		t.Errorf("a customer without a cart or orders gets %v, %v", none, err)
	}
}
