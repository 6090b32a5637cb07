package widget_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/serambi/serambi/commerce"
	"github.com/serambi/serambi/connectors/widget"
	"github.com/serambi/serambi/inbox"
)

// An agent sends a product card into a visitor's widget conversation through the commerce
// service, as the console's panel does; the card goes out through the real outbox and the widget
// draws it: picture, name, price in the visitor's language, stock hint and a button to the
// product page. A card whose shop data is hostile draws as text, without links.
func TestBrowserProductCardReachesTheWidget(t *testing.T) {
	e := newEnv(t, withConfig(func(c *widget.Config) { c.Demo = true }))
	e.setOnline(true)
	ctx := context.Background()
	if err := e.conn.Settings().Put(ctx, widget.Settings{ID: "shop", Name: "Sekar Batik", Color: "#9a3412",
		AllowedOrigins: []string{"http://" + e.addr}, JWTSecret: jwtSecret, Language: "id", Source: widget.SourceConsole}); err != nil {
		t.Fatal(err)
	}
	// The shop's CDN, serving the product picture.
	pic := pngBytes(t)
	cdn := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "image/png")
		_, _ = w.Write(pic)
	}))
	t.Cleanup(cdn.Close)
	shop, err := commerce.New(commerce.Config{Currency: "IDR"}, commerce.Deps{Store: e.store, Customers: e.store, Timeline: e.inbox,
		Events: e.events, Normalizer: inbox.NewNormalizer("ID"), Now: e.clock.Now, Log: e.log})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := shop.PutProduct(ctx, commerce.Product{SKU: "KMJ-PRG-L", Name: "Kemeja Parang - L", Price: 38900000, Currency: "IDR",
		ImageURL: cdn.URL + "/kemeja-parang-l.png", URL: "https://sekar.example/produk/kemeja-parang", Tracked: true,
		Stock: []commerce.StockLevel{{Location: "Bandung", Available: 2}}, ShopUpdatedAt: e.clock.Now()}); err != nil {
		t.Fatal(err)
	}

	stored, stop := widgetMessages(e)
	defer stop()
	b := newBrowser(t)
	visitor := b.Tab()
	do(t, visitor, chromedp.Navigate("http://"+e.addr+"/widget/demo?inbox=shop"))
	until(t, visitor, "the launcher", root+`.querySelector(".sr").style.display !== "none"`)
	do(t, visitor, chromedp.Click(in(".launcher")))
	until(t, visitor, "the open panel", panelOpen)
	say(t, visitor, "Kemeja Parang ukuran L masih ada?")
	conv := next(t, stored, "Kemeja Parang ukuran L masih ada?").ConversationID

	m, err := shop.SendProductCard(ctx, commerce.CardRequest{ConversationID: conv, Actor: commerce.Actor{ID: "agent-dewi", Name: "Dewi"},
		Lang: "id"}, "KMJ-PRG-L")
	if err != nil {
		t.Fatal(err)
	}
	if m.Channel != inbox.ChannelWidget {
		t.Fatalf("the card went to %s; want the widget, where the customer last wrote", m.Channel)
	}
	card := root + `.querySelector('.row[data-from="agent"] .product-card')`
	until(t, visitor, "the product card", card)
	until(t, visitor, "the product picture, loaded", card+`.querySelector("img").complete && `+card+`.querySelector("img").naturalWidth === 4`)
	got := map[string]string{
		"img":     eval[string](t, visitor, card+`.querySelector("img").getAttribute("src")`),
		"name":    eval[string](t, visitor, card+`.querySelector(".pc-name").textContent`),
		"price":   eval[string](t, visitor, card+`.querySelector(".pc-price").textContent`),
		"stock":   eval[string](t, visitor, card+`.querySelector(".pc-stock").textContent`),
		"button":  eval[string](t, visitor, card+`.querySelector("a").textContent`),
		"href":    eval[string](t, visitor, card+`.querySelector("a").getAttribute("href")`),
		"target":  eval[string](t, visitor, card+`.querySelector("a").getAttribute("target")`),
		"rel":     eval[string](t, visitor, card+`.querySelector("a").getAttribute("rel")`),
		"bubbles": eval[string](t, visitor, root+`.querySelector('.row[data-from="agent"] .b').textContent`),
	}
	want := map[string]string{
		"img": cdn.URL + "/kemeja-parang-l.png", "name": "Kemeja Parang - L", "price": "Rp 389.000", "stock": "Stok tinggal sedikit",
		"button": "Lihat produk", "href": "https://sekar.example/produk/kemeja-parang", "target": "_blank",
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s = %q, want %q", k, got[k], w)
		}
	}
	if !strings.Contains(got["rel"], "noopener") {
		t.Errorf("rel = %q; want noopener", got["rel"])
	}
	if strings.Contains(got["bubbles"], "https://sekar.example") {
		t.Errorf("the card shows its text fallback too: %q", got["bubbles"])
	}
	shoot(t, visitor, "widget-product-card.png")

	// Shop data is data: markup in a name is text, a javascript: link is no link, an order card
	// in another currency is formatted in the visitor's language.
	if _, err := e.inbox.Reply(ctx, inbox.ReplyRequest{ConversationID: conv, AgentID: "agent-dewi", AgentName: "Dewi", Channel: inbox.ChannelWidget,
		Text: "hostile card", Meta: map[string]string{"card": "product", "sku": "X-1", "name": `<img src=x onerror="window.pwned=1">`,
			"price": "100", "currency": "IDR", "digits": "2", "image": "javascript:window.pwned=2", "url": "javascript:window.pwned=3"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.inbox.Reply(ctx, inbox.ReplyRequest{ConversationID: conv, AgentID: "agent-dewi", AgentName: "Dewi", Channel: inbox.ChannelWidget,
		Text: "Order #1042: in transit", Meta: map[string]string{"card": "order", "order": "o1", "number": "#1042", "status": "in_transit",
			"total": "123450", "currency": "USD", "digits": "2", "carrier": "JNE", "tracking": "JNE0123",
			"trackingUrl": "https://www.jne.co.id/t/JNE0123"}}); err != nil {
		t.Fatal(err)
	}
	hostile := root + `.querySelector('.product-card[data-sku="X-1"]')`
	order := root + `.querySelector('.order-card')`
	until(t, visitor, "the hostile card and the order card", hostile+` && `+order)
	if got := eval[string](t, visitor, hostile+`.querySelector(".pc-name").textContent`); got != `<img src=x onerror="window.pwned=1">` {
		t.Errorf("hostile name shows as %q", got)
	}
	if n := eval[int](t, visitor, hostile+`.querySelectorAll("img, a").length`); n != 0 {
		t.Errorf("the hostile card has %d images or links", n)
	}
	if eval[bool](t, visitor, `window.pwned !== undefined`) {
		t.Error("the hostile card ran script")
	}
	for sel, w := range map[string]string{".pc-name": "Pesanan #1042", ".pc-status": "Dalam perjalanan", ".pc-price": "$1.234,50",
		".pc-track": "JNE JNE0123", "a": "Lacak paket"} {
		if got := eval[string](t, visitor, order+`.querySelector(`+quote(sel)+`).textContent`); got != w {
			t.Errorf("order card %s = %q, want %q", sel, got, w)
		}
	}
}
