package console_test

import (
	"context"
	"fmt"
	"html"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/serambi/serambi/commerce"
	"github.com/serambi/serambi/inbox"
)

var (
	listRow      = regexpMust(`<li id="row-([^"]+)" class="row`)
	moreRowsLink = regexpMust(`hx-get="(/list/rows\?[^"]+)"`)
	cartChecked  = regexpMust(`<input type="checkbox" name="cart" value="abandoned" checked`)
	cartOffered  = regexpMust(`<input type="checkbox" name="cart" value="abandoned"`)
	liveList     = regexpMust(`<div id="list" class="list" data-list=`)
)

func rowsOf(body string) []string {
	var out []string
	for _, m := range listRow.FindAllStringSubmatch(body, -1) {
		out = append(out, m[1])
	}
	return out
}

// The list's abandoned-cart filter shows the conversations of exactly the customers whose current
// cart the sweep marked abandoned, each once, newest touched cart first, page after page; it
// combines with the other filters, and a customer who comes back to the cart leaves it.
func TestAbandonedCartFilter(t *testing.T) {
	se := newShopEnv(t)
	ctx := context.Background()
	now := time.Now().UTC()
	kebaya := commerce.LineItem{SKU: "KBY-01", Name: "Kebaya Encim", Quantity: 1, UnitPrice: 85000000}
	// Siti left her cart 90 minutes ago; Andi left one five hours ago but is shopping again now.
	se.putCart("cart-siti", "siti@example.id", now.Add(-90*time.Minute), kebaya)
	se.putCart("cart-andi-old", "andi@example.id", now.Add(-5*time.Hour), kebaya)
	se.putCart("cart-andi", "andi@example.id", now, kebaya)
	marked, err := se.svc.Sweep(ctx)
	if err != nil || marked != 2 {
		t.Fatalf("the sweep marked %d carts (%v), want Siti's and Andi's old one", marked, err)
	}
	c := se.login("dewi@toko.id")

	t.Run("one abandoned cart", func(t *testing.T) {
		page := c.get("/?view=all&status=any&cart=abandoned", nil)
		if page.status != http.StatusOK {
			t.Fatalf("status %d: %s", page.status, page.body)
		}
		if got := rowsOf(page.body); !slices.Equal(got, []string{se.siti.Conversation.ID}) {
			t.Errorf("rows %v, want only Siti's conversation %s (Andi's current cart is open)", got, se.siti.Conversation.ID)
		}
		if !cartChecked.MatchString(page.body) {
			t.Error("the filter bar does not show the abandoned-cart filter on")
		}
		if !strings.Contains(page.body, `data-list="cart=abandoned&amp;status=any&amp;view=all"`) {
			t.Error("the filtered list does not ask the hub for live rows with its cart filter")
		}
		frag := c.get("/list?view=all&status=any&cart=abandoned", map[string]string{"HX-Request": "true"})
		if got := rowsOf(frag.body); !slices.Equal(got, []string{se.siti.Conversation.ID}) || strings.Contains(frag.body, "<!doctype") {
			t.Errorf("list fragment rows %v", got)
		}
		if push := frag.header.Get("HX-Push-Url"); push != "/?cart=abandoned&status=any&view=all" {
			t.Errorf("HX-Push-Url %q", push)
		}
	})

	t.Run("without the filter", func(t *testing.T) {
		page := c.get("/?view=all&status=any", nil)
		got := rowsOf(page.body)
		if !slices.Contains(got, se.siti.Conversation.ID) || !slices.Contains(got, se.andi.Conversation.ID) {
			t.Errorf("rows %v, want Siti's and Andi's", got)
		}
		if !cartOffered.MatchString(page.body) || cartChecked.MatchString(page.body) {
			t.Error("the filter bar should offer the abandoned-cart filter, off")
		}
		if !liveList.MatchString(page.body) {
			t.Error("the unfiltered list is not live")
		}
	})

	t.Run("combined with other filters", func(t *testing.T) {
		for _, q := range []string{"view=mine&cart=abandoned", "view=all&status=resolved&cart=abandoned", "view=all&channel=telegram&cart=abandoned"} {
			if got := rowsOf(c.get("/?"+q, nil).body); len(got) != 0 {
				t.Errorf("%s lists %v: Siti's conversation is open, unassigned, by email", q, got)
			}
		}
		if got := rowsOf(c.get("/?view=unassigned&channel=email&cart=abandoned", nil).body); !slices.Equal(got, []string{se.siti.Conversation.ID}) {
			t.Errorf("unassigned email conversations with an abandoned cart: %v", got)
		}
	})

	t.Run("page after page", func(t *testing.T) {
		// 70 more customers with abandoned carts, touched a minute apart after Siti's; every
		// fifth also left an older cart, which must not list them twice.
		want := []string{se.siti.Conversation.ID}
		for i := range 70 {
			addr := fmt.Sprintf("pembeli%02d@example.id", i)
			res, err := se.inbox.Ingest(ctx, inbox.Inbound{Channel: inbox.ChannelEmail, ExternalID: fmt.Sprintf("<p%d@example.id>", i),
				From: []inbox.Identity{{Kind: inbox.KindEmail, Value: addr, Verified: true}}, Name: fmt.Sprintf("Pembeli %02d", i), Text: "halo"})
			if err != nil {
				t.Fatal(err)
			}
			want = append(want, res.Conversation.ID)
			se.putCart(fmt.Sprint("cart-p", i), addr, now.Add(-2*time.Hour-time.Duration(i)*time.Minute), kebaya)
			if i%5 == 0 {
				se.putCart(fmt.Sprint("cart-p-old", i), addr, now.Add(-24*time.Hour-time.Duration(i)*time.Minute), kebaya)
			}
		}
		if _, err := se.svc.Sweep(ctx); err != nil {
			t.Fatal(err)
		}
		body := c.get("/list?view=all&status=any&cart=abandoned", map[string]string{"HX-Request": "true"}).body
		var got []string
		pages := 0
		for {
			pages++
			rows := rowsOf(body)
			if len(rows) > 50 {
				t.Errorf("page %d holds %d rows", pages, len(rows))
			}
			got = append(got, rows...)
			next := moreRowsLink.FindStringSubmatch(body)
			if next == nil {
				break
			}
			if pages > 5 {
				t.Fatal("the list does not end")
			}
			if !strings.Contains(next[1], "cart=abandoned") {
				t.Fatalf("the next page loses the filter: %s", next[1])
			}
			r := c.get(html.UnescapeString(next[1]), map[string]string{"HX-Request": "true"})
			if r.status != http.StatusOK {
				t.Fatalf("GET %s: %d %s", next[1], r.status, r.body)
			}
			body = r.body
		}
		if !slices.Equal(got, want) {
			t.Errorf("listed %d conversations, want %d\ngot  %v\nwant %v", len(got), len(want), got, want)
		}
		if pages != 2 {
			t.Errorf("%d pages for %d conversations, want 2", pages, len(want))
		}
	})

	t.Run("a customer who comes back leaves the list", func(t *testing.T) {
		se.putCart("cart-siti", "siti@example.id", time.Now().UTC(), kebaya, kebaya)
		got := rowsOf(c.get("/?view=all&status=any&cart=abandoned", nil).body)
		if len(got) == 0 || slices.Contains(got, se.siti.Conversation.ID) {
			t.Errorf("rows %v: Siti's cart is open again", got)
		}
	})

	t.Run("a cursor the list did not give out is refused", func(t *testing.T) {
		if r := c.get("/list/rows?view=all&status=any&cart=abandoned&after=nonsense", map[string]string{"HX-Request": "true"}); r.status != http.StatusUnprocessableEntity {
			t.Errorf("status %d", r.status)
		}
	})
}

// Without a shop the filter is not offered, and a link that asks for it shows the list without it.
func TestAbandonedCartFilterWithoutAShop(t *testing.T) {
	e := newEnv(t).withAgents()
	res := e.ingest(inbox.ChannelEmail, "<1@example.id>", email("siti@example.id"), "Siti", "halo")
	page := e.login("dewi@toko.id").get("/?view=all&status=any&cart=abandoned", nil)
	if got := rowsOf(page.body); !slices.Equal(got, []string{res.Conversation.ID}) {
		t.Errorf("rows %v", got)
	}
	if cartOffered.MatchString(page.body) || !liveList.MatchString(page.body) {
		t.Error("a console without a shop offers the abandoned-cart filter")
	}
}

// The abandoned-cart list is live: a customer whose cart the sweep marks abandoned joins it at once,
// placed by when the cart was last touched; a conversation that changes without an abandoned cart
// behind it is kept out; a customer who comes back to shop leaves it.
func TestAbandonedCartListIsLive(t *testing.T) {
	se := newShopEnv(t)
	ctx := context.Background()
	kebaya := commerce.LineItem{SKU: "KBY-01", Name: "Kebaya Encim", Quantity: 1, UnitPrice: 85000000}
	hub := se.console.Hub()
	w := se.login("dewi@toko.id").socket(t)
	w.view(hub.ID(), "", "cart=abandoned&status=any&view=all", hub.Seq())
	w.next("subscribed", hasOp("presence-all", ""))
	siti, andi := se.siti.Conversation.ID, se.andi.Conversation.ID

	left := time.Now().UTC().Add(-90 * time.Minute).Truncate(time.Second)
	se.putCart("cart-siti", "siti@example.id", left, kebaya)
	if n, err := se.svc.Sweep(ctx); err != nil || n != 1 {
		t.Fatalf("the sweep marked %d carts (%v), want Siti's", n, err)
	}
	f := w.next("Siti's row", hasOp("row", "row-"+siti))
	for _, o := range f.Ops {
		if o.Op != "row" {
			continue
		}
		if want := strconv.FormatInt(left.UnixNano(), 10) + "-" + siti; o.Sort != want {
			t.Errorf("row sort key %q, want the cart's touched time %q", o.Sort, want)
		}
		if !strings.Contains(o.HTML, "Siti Rahma") {
			t.Errorf("row HTML:\n%s", o.HTML)
		}
	}

	// Andi writes again: his conversation changes, but his cart is not abandoned.
	if _, err := se.inbox.Ingest(ctx, inbox.Inbound{Channel: inbox.ChannelEmail, ExternalID: "<andi-again@example.id>",
		From: []inbox.Identity{{Kind: inbox.KindEmail, Value: "andi@example.id", Verified: true}}, Name: "Andi Wijaya", Text: "Halo lagi"}); err != nil {
		t.Fatal(err)
	}
	w.next("Andi kept out", func(f frame) bool {
		if hasOp("row", "row-"+andi)(f) {
			t.Fatal("Andi's conversation was pushed into the abandoned-cart list; he has no abandoned cart")
		}
		return hasOp("unrow", "row-"+andi)(f)
	})

	// Siti comes back and fills her cart again: it is open, and she leaves the list.
	se.putCart("cart-siti", "siti@example.id", time.Now().UTC(), kebaya, kebaya)
	w.next("Siti's row removed", hasOp("unrow", "row-"+siti))
}
