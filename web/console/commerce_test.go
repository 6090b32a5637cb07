package console_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/labstack/echo/v4"

	"github.com/serambi/serambi/agents"
	"github.com/serambi/serambi/bus"
	"github.com/serambi/serambi/commerce"
	"github.com/serambi/serambi/commerce/panel"
	"github.com/serambi/serambi/commerce/shopifyfake"
	"github.com/serambi/serambi/i18n"
	"github.com/serambi/serambi/inbox"
	"github.com/serambi/serambi/web/console"
)

// shopEnv is a console with the real commerce panel on the same SQLite store and bus, and a
// local fake of Shopify's Admin API for cancel and refund. Agents: Dewi (admin, English), Rina
// (agent, English, no action team), Sari (agent, Indonesian, in the Refunds team that may act).
// Customers: Siti and Andi, each with an email conversation.
type shopEnv struct {
	*env
	svc              *commerce.Service
	shop             *shopifyfake.Server
	dewi, rina, sari agents.Agent
	siti, andi       inbox.IngestResult
}

const shopOrderID = "5940139491234"

func newShopEnv(t *testing.T) *shopEnv {
	t.Helper()
	ctx := context.Background()
	se := &shopEnv{shop: shopifyfake.New(t, "tok")}
	se.env = newEnvWith(t, func(e *env, d *console.Deps) {
		svc, err := commerce.New(commerce.Config{Currency: "IDR", ActionTeams: []string{"Refunds"},
			Shopify: commerce.ShopifyConfig{AccessToken: "tok", AdminBase: se.shop.URL()}},
			commerce.Deps{Store: e.store, Customers: e.store, Timeline: e.inbox, Events: e.bus, Normalizer: inbox.NewNormalizer("ID"), Log: d.Log})
		if err != nil {
			t.Fatal(err)
		}
		se.svc = svc
		d.Commerce = panel.New(svc, e.inbox, d.Catalog, nil, d.Log)
	})
	team, err := se.agents.CreateTeam(ctx, "Refunds")
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range []struct {
		to *agents.Agent
		n  agents.NewAgent
	}{
		{&se.dewi, agents.NewAgent{Email: "dewi@toko.id", Name: "Dewi", Role: agents.RoleAdmin, Locale: "en", Timezone: "Asia/Jakarta"}},
		{&se.rina, agents.NewAgent{Email: "rina@toko.id", Name: "Rina", Role: agents.RoleAgent, Locale: "en", Timezone: "Asia/Jakarta"}},
		{&se.sari, agents.NewAgent{Email: "sari@toko.id", Name: "Sari", Role: agents.RoleAgent, Locale: "id", Timezone: "Asia/Jakarta", TeamIDs: []string{team.ID}}},
	} {
		a.n.Password = password
		if *a.to, err = se.agents.Create(ctx, a.n); err != nil {
			t.Fatal(err)
		}
	}
	// The shop's emails are verified (it sent its confirmations there), so the inbox's customers
	// must hold them verified too for the shop's records to land on them.
	ingest := func(ext, addr, name, text string) inbox.IngestResult {
		res, err := se.inbox.Ingest(ctx, inbox.Inbound{Channel: inbox.ChannelEmail, ExternalID: ext,
			From: []inbox.Identity{{Kind: inbox.KindEmail, Value: addr, Verified: true}}, Name: name, Text: text})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	se.siti = ingest("<1@example.id>", "siti@example.id", "Siti Rahma", "Ukuran M masih ada?")
	se.andi = ingest("<2@example.id>", "andi@example.id", "Andi Wijaya", "Pesanan saya di mana?")
	for _, p := range []commerce.Product{
		{SKU: "KBY-01", Name: "Kebaya Encim", Price: 85000000, Tracked: true, Stock: []commerce.StockLevel{{Location: "Bandung", Available: 1}}},
		{SKU: "SLS-IND", Name: "Selendang Sutra Indigo", Price: 45000000, Tracked: true, Stock: []commerce.StockLevel{{Location: "Bandung", Available: 40}}},
	} {
		p.ShopUpdatedAt = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
		if _, err := se.svc.PutProduct(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := se.svc.PutOrder(ctx, commerce.Order{ID: shopOrderID, Number: "#1042", Contact: commerce.Contact{Email: "siti@example.id"},
		Source: commerce.SourceShopify, Total: 90000000, Payment: commerce.PaymentPaid, Fulfillment: commerce.FulfillmentUnfulfilled,
		Items:    []commerce.LineItem{{ID: "11", SKU: "SLS-IND", Name: "Selendang Sutra Indigo", Quantity: 2, UnitPrice: 45000000, Total: 90000000}},
		PlacedAt: time.Date(2026, 3, 2, 9, 30, 0, 0, time.UTC), ShopUpdatedAt: time.Date(2026, 3, 2, 9, 30, 0, 0, time.UTC)}); err != nil {
		t.Fatal(err)
	}
	se.shop.AddOrder(shopifyfake.Order{ID: 5940139491234, Name: "#1042", Currency: "IDR", FinancialStatus: "paid",
		LineItems: []shopifyfake.LineItem{{ID: 11, SKU: "SLS-IND", Quantity: 2, Price: "450000.00"}}})
	return se
}

// putCart stores a version of a customer's cart as the shop's REST ingestion would.
func (se *shopEnv) putCart(id, email string, at time.Time, items ...commerce.LineItem) {
	se.t.Helper()
	if _, err := se.svc.PutCart(context.Background(), commerce.Cart{ID: id, Contact: commerce.Contact{Email: email}, Items: items,
		ShopUpdatedAt: at}); err != nil {
		se.t.Fatal(err)
	}
}

// watch opens a socket of c showing conversation conv and waits until the hub has it.
func (se *shopEnv) watch(t *testing.T, c *client, conv string) *wsClient {
	t.Helper()
	w := c.socket(t)
	w.view(se.console.Hub().ID(), conv, "", se.console.Hub().Seq())
	w.next("subscribed", hasOp("presence-all", ""))
	return w
}

func commerceOp(f frame) string {
	for _, o := range f.Ops {
		if o.Op == "replace" && o.ID == "commerce-panel" {
			return o.HTML
		}
	}
	return ""
}

func TestCommercePanelIsLive(t *testing.T) {
	se := newShopEnv(t)
	rina := se.watch(t, se.login("rina@toko.id"), se.siti.Conversation.ID)
	sari := se.watch(t, se.login("sari@toko.id"), se.siti.Conversation.ID)
	dewi := se.watch(t, se.login("dewi@toko.id"), se.andi.Conversation.ID)
	t0 := time.Date(2026, 3, 5, 1, 0, 0, 0, time.UTC)

	se.putCart("cart-siti", "siti@example.id", t0, commerce.LineItem{SKU: "KBY-01", Name: "Kebaya Encim", Quantity: 1, UnitPrice: 85000000, Total: 85000000})
	tests := []struct {
		who  string
		w    *wsClient
		want []string
	}{
		// Each viewer gets the panel in their own language and money format.
		{"Rina (English)", rina, []string{`id="commerce-panel"`, "Kebaya Encim", "Only 1 left", "Rp 850,000", "#1042"}},
		{"Sari (Indonesian)", sari, []string{`id="commerce-panel"`, "Kebaya Encim", "Keranjang", "Sisa 1", "Rp 850.000"}},
	}
	for _, tt := range tests {
		html := commerceOp(tt.w.next(tt.who+"'s commerce panel", func(f frame) bool { return commerceOp(f) != "" }))
		for _, w := range tt.want {
			if !strings.Contains(html, w) {
				t.Errorf("%s's panel lacks %q: %s", tt.who, w, html)
			}
		}
	}

	// Andi's cart changes next. Dewi, on Andi's conversation, was not sent Siti's panel: the first
	// panel she gets is Andi's. Rina, on Siti's, gets nothing for Andi: her next panel is Siti's
	// next change.
	se.putCart("cart-andi", "andi@example.id", t0, commerce.LineItem{SKU: "SLS-IND", Name: "Selendang Sutra Indigo", Quantity: 3, UnitPrice: 45000000, Total: 135000000})
	html := commerceOp(dewi.next("Andi's commerce panel", func(f frame) bool { return commerceOp(f) != "" }))
	if !strings.Contains(html, `data-customer="`+se.andi.CustomerID+`"`) || !strings.Contains(html, "Rp 1,350,000") {
		t.Errorf("Dewi, viewing Andi, got another panel first: %s", html)
	}
	se.putCart("cart-siti", "siti@example.id", t0.Add(time.Minute)) // Siti emptied her cart
	html = commerceOp(rina.next("Siti's emptied cart", func(f frame) bool { return commerceOp(f) != "" }))
	if !strings.Contains(html, `data-customer="`+se.siti.CustomerID+`"`) || strings.Contains(html, "Kebaya Encim") {
		t.Errorf("Rina's next panel is not Siti's emptied cart: %s", html)
	}

	// The customer pane pushed on a customer change carries the commerce slot in the viewer's
	// language too (it used to be rendered for an empty viewer, in English).
	se.bus.Publish(context.Background(), bus.Event{Topic: bus.CustomerChanged, CustomerID: se.siti.CustomerID, At: time.Now()})
	f := sari.next("Siti's customer pane", hasOp("replace", "customer-"+se.siti.CustomerID))
	for _, o := range f.Ops {
		if o.ID != "customer-"+se.siti.CustomerID {
			continue
		}
		if i := strings.Index(o.HTML, `id="commerce-panel"`); i < 0 || !strings.Contains(o.HTML[i:], "Pesanan") {
			t.Errorf("Sari's customer pane has no Indonesian commerce slot: %s", o.HTML)
		}
	}
}

func TestCommerceActionsThroughTheConsole(t *testing.T) {
	cancel := func(version string) url.Values {
		return url.Values{"version": {version}, "reason": {"customer"}, "notify": {"1"}, "customer": {""}}
	}
	tests := []struct {
		name     string
		as       string // email of the agent signed in; "" for nobody
		path     string
		noCSRF   bool
		status   int
		want     string
		cancelOK bool
	}{
		{name: "signed out", path: "/commerce/orders/" + shopOrderID + "/cancel", status: http.StatusUnauthorized},
		{name: "an admin without the CSRF token", as: "dewi@toko.id", noCSRF: true, path: "/commerce/orders/" + shopOrderID + "/cancel",
			status: http.StatusForbidden},
		{name: "an agent outside the action teams may not cancel", as: "rina@toko.id", path: "/commerce/orders/" + shopOrderID + "/cancel",
			status: http.StatusOK, want: "Only admins and members"},
		{name: "an agent outside the action teams may not refund", as: "rina@toko.id", path: "/commerce/orders/" + shopOrderID + "/refund",
			status: http.StatusOK, want: "Only admins and members"},
		{name: "an admin cancels", as: "dewi@toko.id", path: "/commerce/orders/" + shopOrderID + "/cancel",
			status: http.StatusOK, want: "Order #1042 was cancelled in the shop.", cancelOK: true},
		{name: "a member of the action team cancels", as: "sari@toko.id", path: "/commerce/orders/" + shopOrderID + "/cancel",
			status: http.StatusOK, cancelOK: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			se := newShopEnv(t)
			o, err := se.store.OrderByID(context.Background(), shopOrderID)
			if err != nil {
				t.Fatal(err)
			}
			form := cancel(o.Digest)
			form.Set("customer", se.siti.CustomerID)
			c := se.anon()
			if tt.as != "" {
				c = se.login(tt.as)
			}
			h := map[string]string{"HX-Request": "true", "X-CSRF-Token": c.csrf}
			if tt.noCSRF {
				delete(h, "X-CSRF-Token")
			}
			r := c.post(tt.path, form, h)
			if r.status != tt.status || !strings.Contains(r.body, tt.want) {
				t.Fatalf("status %d, want %d; body lacks %q: %s", r.status, tt.status, tt.want, r.body)
			}
			if r.status == http.StatusOK && !strings.Contains(r.body, `id="commerce-panel"`) {
				t.Errorf("the answer is not the re-rendered slot: %s", r.body)
			}
			if cancelled := !se.shop.Order(5940139491234).CancelledAt.IsZero(); cancelled != tt.cancelOK {
				t.Errorf("cancelled in the shop: %v, want %v (shop saw %d requests)", cancelled, tt.cancelOK, len(se.shop.Requests()))
			}
			if !tt.cancelOK && len(se.shop.Requests()) != 0 {
				t.Errorf("the shop heard %d requests from a refused action", len(se.shop.Requests()))
			}
		})
	}
}

func TestCommerceCardInTheTimeline(t *testing.T) {
	se := newShopEnv(t)
	c := se.login("rina@toko.id")
	conv := se.siti.Conversation.ID
	r := c.htmx("/commerce/conversations/"+conv+"/cards", url.Values{"kind": {"product"}, "ref": {"KBY-01"}, "channel": {"email"}})
	if r.status != http.StatusOK || !strings.Contains(r.body, "Card sent.") {
		t.Fatalf("send card: %d %s", r.status, r.body)
	}
	page := c.get("/conversations/"+conv, nil)
	if !strings.Contains(page.body, `class="commerce-card card-product"`) || !strings.Contains(page.body, `data-sku="KBY-01"`) {
		t.Errorf("the timeline does not show the card: %s", page.body)
	}
	// The slot route serves the panel to refresh it, for signed-in agents only.
	if r := c.get("/commerce/customers/"+se.siti.CustomerID+"/panel", nil); r.status != http.StatusOK || !strings.Contains(r.body, "Kebaya") && !strings.Contains(r.body, "#1042") {
		t.Errorf("slot: %d %s", r.status, r.body)
	}
	if r := se.anon().get("/commerce/customers/"+se.siti.CustomerID+"/panel", nil); r.status != http.StatusSeeOther {
		t.Errorf("slot without a session: %d", r.status)
	}
}

func TestImageSources(t *testing.T) {
	tests := []struct {
		sources []string
		wantErr bool
		imgSrc  string
	}{
		{nil, false, "img-src 'self' data: blob:;"},
		{[]string{"https://cdn.shopify.com", "https://Toko.example.id/"}, false, "img-src 'self' data: blob: https://cdn.shopify.com https://toko.example.id;"},
		{[]string{"http://cdn.example.id"}, true, ""},
		{[]string{"https:"}, true, ""},
		{[]string{"https://*"}, true, ""},
		{[]string{"https://cdn.example.id/images"}, true, ""},
		{[]string{"https://cdn.example.id; script-src *"}, true, ""},
	}
	e := newEnv(t)
	cat, err := i18n.New()
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.sources, ","), func(t *testing.T) {
			c, err := console.New(console.Deps{Inbox: e.inbox, Agents: e.agents, Events: e.bus, Blobs: e.blobs, Catalog: cat,
				Options: console.Options{ImageSources: tt.sources}})
			if tt.wantErr {
				if err == nil {
					t.Fatal("accepted")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			srv := echo.New()
			c.Register(srv)
			rec := httptest.NewRecorder()
			srv.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/login", nil))
			if got := rec.Header().Get("Content-Security-Policy"); !strings.Contains(got, tt.imgSrc) {
				t.Errorf("CSP %q lacks %q", got, tt.imgSrc)
			}
		})
	}
}

// In a real browser: a cart update arrives while the agent has the conversation open, and the
// commerce panel changes without a reload; its (replaced) send button works and the card shows
// in the timeline.
func TestBrowserCommercePanelLive(t *testing.T) {
	b := newBrowser(t)
	se := newShopEnv(t)
	conv := se.siti.Conversation.ID
	tab := b.Tab()
	signIn(t, tab, se.env, "rina@toko.id", "/conversations/"+conv)
	until(t, tab, "the commerce panel", `document.querySelector("#commerce-panel .commerce-body")`)
	if eval[bool](t, tab, `document.getElementById("commerce-panel").innerText.includes("Kebaya Encim")`) {
		t.Fatal("the cart shows before the shop sent it")
	}
	do(t, tab, chromedp.Evaluate[chromedp.Void](`window.__noReload = 1`))

	se.putCart("cart-siti", "siti@example.id", time.Date(2026, 3, 5, 1, 0, 0, 0, time.UTC),
		commerce.LineItem{SKU: "KBY-01", Name: "Kebaya Encim", Quantity: 1, UnitPrice: 85000000, Total: 85000000})
	until(t, tab, "the cart in the panel", `document.getElementById("commerce-panel").innerText.includes("Kebaya Encim")`)
	until(t, tab, "the low stock flag", `document.querySelector("#commerce-panel [data-stock=low]")`)
	if eval[int](t, tab, `window.__noReload || 0`) != 1 {
		t.Fatal("the page reloaded")
	}

	do(t, tab, chromedp.Click(chromedp.CSS(`#commerce-panel .commerce-cart button[hx-post$="/cards"]`)))
	until(t, tab, "the product card in the timeline", `document.querySelector("#timeline-`+conv+` .commerce-card.card-product[data-sku=KBY-01]")`)
	until(t, tab, "the sent notice", `document.getElementById("commerce-panel").innerText.includes("Card sent.")`)
}
