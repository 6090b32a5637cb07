package panel_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/serambi/serambi/agents"
	"github.com/serambi/serambi/commerce"
	"github.com/serambi/serambi/inbox"
)

func get(t *testing.T, e *echo.Echo, path string, htmx bool) string {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, path, nil)
	if htmx {
		req.Header.Set("HX-Request", "true")
	}
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Fatalf("GET %s: %d %s", path, rec.Code, rec.Body)
	}
	return rec.Body.String()
}

var (
	rowConv  = regexp.MustCompile(`<li id="row-([^"]+)" class="row abandoned-cart`)
	moreLink = regexp.MustCompile(`hx-get="(/commerce/abandoned\?after=[^"]+)"`)
)

// The abandoned-cart list holds the conversations of exactly the customers whose current cart
// is abandoned, each once, newest touched cart first, page after page, however the shop mixes
// them with open carts, older carts and customers who never wrote; each request reads a bounded
// number of carts.
func TestAbandonedCartList(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	e := echo.New()
	f.panel.Register(e.Group(""), f.agentPage(agents.Agent{ID: "a-1", Name: "Dewi", Role: agents.RoleAgent, Locale: "id"}))

	// 240 more customers, each with a conversation a minute apart. Every third leaves a cart,
	// touched the earlier the later they wrote (so the list's order is the carts', not the
	// inbox's); every sixth also left an older cart; every ninth has an open cart now and an old
	// one the sweep abandons; the others none.
	var want []string
	convOf := map[string]string{}
	putCart := func(id, email string, touched time.Time) {
		t.Helper()
		if _, err := f.svc.PutCart(ctx, commerce.Cart{ID: id, Contact: commerce.Contact{Email: email}, ShopUpdatedAt: touched,
			Items: []commerce.LineItem{{SKU: "KBY-01", Name: "Kebaya Encim", Quantity: 2, UnitPrice: 65000000}}}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 240 {
		email := fmt.Sprintf("pembeli%03d@example.id", i)
		in, err := f.inbox.Ingest(ctx, inbox.Inbound{Channel: inbox.ChannelEmail, ExternalID: fmt.Sprintf("<m%d@example.id>", i),
			From: []inbox.Identity{{Kind: inbox.KindEmail, Value: email, Verified: true}}, Name: fmt.Sprintf("Pembeli %03d", i),
			Text: "halo", SentAt: ts("2026-03-04T00:00:00Z").Add(time.Duration(i) * time.Minute)})
		if err != nil {
			t.Fatal(err)
		}
		convOf[email] = in.Conversation.ID
		switch {
		case i%3 == 0:
			putCart(fmt.Sprint("cart-x", i), email, ts("2026-03-01T00:00:00Z").Add(time.Duration(240-i)*time.Minute))
			if i%6 == 0 {
				putCart(fmt.Sprint("cart-old", i), email, ts("2026-02-20T00:00:00Z").Add(time.Duration(i)*time.Minute))
			}
		case i%9 == 4:
			putCart(fmt.Sprint("cart-y", i), email, ts("2026-02-10T00:00:00Z").Add(time.Duration(i)*time.Minute))
			putCart(fmt.Sprint("cart-x", i), email, ts("2026-03-05T01:59:00Z"))
		}
	}
	// A shop customer who never wrote has the newest abandoned cart: no conversation to list.
	putCart("cart-diam", "diam@example.id", ts("2026-03-02T00:00:00Z"))
	if _, err := f.store.MarkAbandoned(ctx, ts("2026-03-04T00:00:00Z"), ts("2026-03-05T01:00:00Z"), 1000); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 240; i += 3 {
		want = append(want, convOf[fmt.Sprintf("pembeli%03d@example.id", i)])
	}

	page := get(t, e, "/commerce/abandoned", false)
	for _, w := range []string{"<!doctype html>", `id="list-pane"`, "Keranjang ditinggal", "Pembeli 000", "Rp 1.300.000", "2 barang"} {
		if !strings.Contains(strings.ToLower(page), strings.ToLower(w)) {
			t.Errorf("the page lacks %q", w)
		}
	}
	if strings.Contains(page, "data-list=") {
		t.Error("the list asks the hub for live rows of another list")
	}
	var got []string
	pages := 0
	body := get(t, e, "/commerce/abandoned", true)
	if strings.Contains(body, "<!doctype") {
		t.Fatal("htmx got a whole page")
	}
	for {
		pages++
		for _, m := range rowConv.FindAllStringSubmatch(body, -1) {
			got = append(got, m[1])
		}
		if n := len(rowConv.FindAllString(body, -1)); n > 50 {
			t.Errorf("page %d holds %d rows", pages, n)
		}
		next := moreLink.FindStringSubmatch(body)
		if next == nil {
			break
		}
		if pages > 10 {
			t.Fatal("the list does not end")
		}
		body = get(t, e, strings.ReplaceAll(next[1], "&amp;", "&"), true)
	}
	if !slices.Equal(got, want) {
		t.Errorf("listed %d conversations, want %d\ngot  %v\nwant %v", len(got), len(want), got, want)
	}
	if pages < 2 {
		t.Errorf("%d pages for %d conversations: a page holds at most 50", pages, len(want))
	}
	if slices.Contains(got, f.conv.ID) {
		t.Error("Siti's open cart is listed")
	}

	t.Run("a customer who comes back to the cart leaves the list", func(t *testing.T) {
		putCart("cart-x0", "pembeli000@example.id", ts("2026-03-05T01:30:00Z"))
		rows, _, err := f.panel.AbandonedCarts(ctx, inbox.Cursor{}, 10)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rows {
			if r.Row.Conv.ID == convOf["pembeli000@example.id"] {
				t.Errorf("listed with an open cart: %+v", r.Cart)
			}
		}
		if len(rows) == 0 || rows[0].Row.Conv.ID != want[1] {
			t.Errorf("the list now starts with %v, want %s", rows, want[1])
		}
	})

	t.Run("a cursor the list did not give out is refused", func(t *testing.T) {
		req := httptest.NewRequest(http.MethodGet, "/commerce/abandoned?after=nonsense", nil)
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, req)
		if rec.Code != http.StatusBadRequest {
			t.Errorf("status %d", rec.Code)
		}
	})
}

// Every word of the panel comes from the catalogs: in both languages nothing shows as a raw
// message id, and the Indonesian panel has no English words of the English one.
func TestPanelWordsAreTranslated(t *testing.T) {
	f := newFixture(t)
	if _, err := f.store.MarkAbandoned(context.Background(), ts("2026-03-06T00:00:00Z"), ts("2026-03-05T03:00:00Z"), 10); err != nil {
		t.Fatal(err)
	}
	en, id := f.render(t, f.viewer("en")), f.render(t, f.viewer("id"))
	for lang, html := range map[string]string{"en": en, "id": id} {
		if m := regexp.MustCompile(`Commerce[A-Z][A-Za-z_]*`).FindString(html); m != "" {
			t.Errorf("%s panel shows the message id %s", lang, m)
		}
	}
	for _, w := range []string{"Abandoned", "Lifetime value", "Average order", "Cancel order", "Refund…", "In transit", "Ready for pickup", "Also bought"} {
		if !strings.Contains(en, w) {
			t.Errorf("English panel lacks %q", w)
		}
		if strings.Contains(id, w) {
			t.Errorf("Indonesian panel has the English %q", w)
		}
	}
	for _, w := range []string{"Ditinggalkan", "Total belanja", "Rata-rata pesanan", "Batalkan pesanan", "Dalam perjalanan", "Siap diambil", "Juga dibeli"} {
		if !strings.Contains(id, w) {
			t.Errorf("Indonesian panel lacks %q", w)
		}
	}
}

// A card speaks the customer's language when the inbox knows it, whatever the agent's.
func TestCardsSpeakTheCustomersLanguage(t *testing.T) {
	f := newFixture(t)
	e := echo.New()
	f.panel.Register(e.Group(""), f.agentPage(agents.Agent{ID: "a-3", Name: "Rina", Role: agents.RoleAgent, Locale: "en"}))
	send := func() inbox.Message {
		post(t, e, "/commerce/conversations/"+f.conv.ID+"/cards", map[string][]string{"kind": {"order"}, "ref": {"5940139491234"}})
		msgs, err := f.store.ListMessages(context.Background(), f.conv.ID, inbox.Cursor{}, 1)
		if err != nil || len(msgs) != 1 {
			t.Fatal(err)
		}
		return msgs[0]
	}
	if m := send(); !strings.HasPrefix(m.Text, "Order #1042: in transit") || m.Meta["lang"] != "en" || m.Meta["button"] != "Track package" {
		t.Errorf("card of an agent writing English to a customer of unknown language: %q %v", m.Text, m.Meta)
	}
	if err := f.store.UpdateCustomerProfile(context.Background(), f.customer, "", "", "id"); err != nil {
		t.Fatal(err)
	}
	if m := send(); !strings.HasPrefix(m.Text, "Pesanan #1042: dalam perjalanan · Rp 4.250.000") || m.Meta["lang"] != "id" ||
		m.Meta["button"] != "Lacak paket" || m.Meta["statusText"] != "dalam perjalanan" || m.Meta["totalText"] != "Rp 4.250.000" {
		t.Errorf("card to an Indonesian customer: %q %v", m.Text, m.Meta)
	}
}
