package console_test

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/serambi/serambi/agents"
	"github.com/serambi/serambi/inbox"
)

// The search box finds customers by part of a name, an email address or a phone number as people
// type it, and lists their conversations; the page and the htmx fragment agree, what was typed is
// shown escaped, and a query too short to search says so.
func TestSearchFindsCustomers(t *testing.T) {
	e := newEnv(t).withAgents()
	siti := e.ingest(inbox.ChannelWhatsApp, "wamid.s1", whatsapp("+6281234567890"), "Siti Rahma", "Ukuran M ada?")
	budi := e.ingest(inbox.ChannelEmail, "<b1@toko.example>", email("budi@toko.example"), "Budi Santoso", "Invoice?")
	c := e.login("budi@toko.id") // an agent, not an admin: every agent may search

	tests := []struct {
		q    string
		want []string
	}{
		{"siti", []string{siti.Conversation.ID}},
		{"Santoso", []string{budi.Conversation.ID}},
		{"toko.example", []string{budi.Conversation.ID}},
		{"0812-3456-7890", []string{siti.Conversation.ID}},
		{"+62 812 3456", []string{siti.Conversation.ID}},
		{"nobody", nil},
	}
	for _, tt := range tests {
		t.Run(tt.q, func(t *testing.T) {
			page := c.get("/search?q="+url.QueryEscape(tt.q), nil)
			if page.status != http.StatusOK {
				t.Fatalf("status %d: %s", page.status, page.body)
			}
			if got := rowsOf(page.body); !slices.Equal(got, tt.want) {
				t.Errorf("page rows %v, want %v", got, tt.want)
			}
			if !strings.Contains(page.body, `id="search-q"`) || !strings.Contains(page.body, "<!doctype") {
				t.Error("the search page is not the whole console with its search box")
			}
			frag := c.get("/search?q="+url.QueryEscape(tt.q), map[string]string{"HX-Request": "true"})
			if got := rowsOf(frag.body); !slices.Equal(got, tt.want) || strings.Contains(frag.body, "<!doctype") {
				t.Errorf("fragment rows %v, want %v", got, tt.want)
			}
			if len(tt.want) == 0 && !strings.Contains(page.body, "No customer matches") {
				t.Error("an empty result does not say so")
			}
		})
	}

	t.Run("what was typed is escaped", func(t *testing.T) {
		page := c.get("/search?q="+url.QueryEscape(`<script>alert(1)</script>`), nil)
		if strings.Contains(page.body, "<script>alert(1)") || !strings.Contains(page.body, "&lt;script&gt;alert(1)") {
			t.Errorf("the query is not escaped:\n%s", page.body)
		}
	})
	t.Run("a single character is not searched", func(t *testing.T) {
		page := c.get("/search?q=s", map[string]string{"HX-Request": "true"})
		if page.status != http.StatusOK || !strings.Contains(page.body, "at least 2 characters") || len(rowsOf(page.body)) != 0 {
			t.Errorf("status %d:\n%s", page.status, page.body)
		}
	})
	t.Run("in Bahasa Indonesia", func(t *testing.T) {
		if _, err := e.agents.Create(context.Background(), agents.NewAgent{Email: "sari@toko.id", Name: "Sari", Password: password,
			Role: agents.RoleAgent, Locale: "id"}); err != nil {
			t.Fatal(err)
		}
		page := e.login("sari@toko.id").get("/search?q=zzzz", nil)
		if !strings.Contains(page.body, "Tidak ada pelanggan yang cocok") || !strings.Contains(page.body, "Cari nama, email, telepon") {
			t.Errorf("the Indonesian search page:\n%s", page.body)
		}
	})
	t.Run("signed out, it asks to sign in", func(t *testing.T) {
		if r := e.anon().get("/search?q=siti", nil); r.status != http.StatusSeeOther || !strings.HasPrefix(r.header.Get("Location"), "/login") {
			t.Errorf("status %d, Location %q", r.status, r.header.Get("Location"))
		}
	})
	t.Run("every console page has the search box", func(t *testing.T) {
		if body := c.get("/", nil).body; !strings.Contains(body, `action="/search"`) || !strings.Contains(body, `aria-keyshortcuts="s"`) {
			t.Error("the inbox page has no search box")
		}
	})
}

// TestBrowserSearch: in a real browser, "s" puts the cursor in the search box, Enter lists the
// matching customers' conversations in the list column (with the address bar following), and a
// row opens the conversation beside it.
func TestBrowserSearch(t *testing.T) {
	b := newBrowser(t)
	e := newEnv(t).withAgents()
	siti := e.ingest(inbox.ChannelWhatsApp, "wamid.s1", whatsapp("+6281234567890"), "Siti Rahma", "Ukuran M ada?")
	e.ingest(inbox.ChannelEmail, "<b1@toko.example>", email("budi@toko.example"), "Budi Santoso", "Invoice?")
	conv := siti.Conversation.ID
	tab := b.Tab()
	signIn(t, tab, e, "dewi@toko.id", "/?view=all")
	until(t, tab, "the inbox with both rows", `document.querySelectorAll("#conv-list .row").length === 2`)

	do(t, tab, chromedp.KeyEvent("s"))
	until(t, tab, "the search box to have the focus", `document.activeElement && document.activeElement.id === "search-q"`)
	// DevTools sends a key's character as an event of its own, which the page's preventDefault on
	// keydown does not cancel as a real keyboard's is: it may land in the box. Start it empty.
	do(t, tab, chromedp.Evaluate[chromedp.Void](`document.getElementById("search-q").value = ""`),
		chromedp.SendKeys(chromedp.ID("search-q"), "0812 3456\n"))
	until(t, tab, "Siti's row alone in the results", `location.pathname === "/search" &&
		document.querySelectorAll("#conv-list .row").length === 1 && !!document.getElementById("row-`+conv+`")`)
	do(t, tab, chromedp.Click(chromedp.CSS("#row-"+conv+" .row-link")))
	until(t, tab, "the conversation beside the results", `!!document.getElementById("conv-head-`+conv+`") && !!document.getElementById("row-`+conv+`")`)
	if n := eval[int](t, tab, `window.serambi.csp()`); n != 0 {
		t.Errorf("%d content-security-policy violations", n)
	}
}
