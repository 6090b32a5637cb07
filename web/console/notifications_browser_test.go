package console_test

import (
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/serambi/serambi/inbox"
)

// TestBrowserBell: in a real browser, an agent's bell counts a mention live (through the
// console's own script, under its CSP), the bell leads to the notifications page, and opening
// the notification there lands on the conversation with the count gone.
func TestBrowserBell(t *testing.T) {
	b := newBrowser(t)
	e, _ := newNotifyEnv(t)
	res := e.ingest(inbox.ChannelWhatsApp, "wamid.1", whatsapp("+6281234567890"), "Siti Rahma", "apakah ukuran M ada?")
	conv := res.Conversation.ID
	tab := b.Tab()
	signIn(t, tab, e, "dewi@toko.id", "/?view=all")
	if n := eval[int](t, tab, `document.querySelectorAll("#bell .bell-count").length`); n != 0 {
		t.Fatalf("Dewi's bell shows a count before anything happened")
	}
	do(t, tab, chromedp.Evaluate[chromedp.Void](`window.__noReload = 1`))

	budi := e.login("budi@toko.id")
	if r := budi.htmx("/conversations/"+conv+"/send", url.Values{"mode": {"note"}, "text": {"@dewi please check stock in BDG"}}); r.status != http.StatusOK {
		t.Fatalf("note: %d", r.status)
	}
	until(t, tab, "the bell to count the mention", `(document.querySelector("#bell .bell-count") || {}).textContent === "1"`)
	if label := eval[string](t, tab, `document.getElementById("bell").getAttribute("aria-label")`); label != "Notifications, 1 unread" {
		t.Errorf("bell label %q", label)
	}
	if eval[int](t, tab, `window.__noReload`) != 1 {
		t.Errorf("the page reloaded to show the bell")
	}
	// The bell sits in the navigation's brand row, inside the viewport and on top.
	if !eval[bool](t, tab, `(() => { const r = document.getElementById("bell").getBoundingClientRect();
		const nav = document.getElementById("nav").getBoundingClientRect();
		return r.left >= nav.left && r.right <= nav.right && r.top >= 0 && r.bottom < 80 &&
			document.elementFromPoint(r.left + r.width/2, r.top + r.height/2).closest("#bell") !== null })()`) {
		t.Errorf("the bell is not visible in the navigation's top row")
	}
	shots := t.TempDir()
	if os.Getenv("SERAMBI_SCREENSHOTS") == "1" {
		shots = filepath.Join("..", "..", "docs", "screenshots")
	}
	shot := func(name string) {
		t.Helper()
		png, err := chromedp.Run(tab, chromedp.CaptureScreenshot())
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(shots, name), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	shot("bell.png")

	do(t, tab, chromedp.Click(chromedp.ID("bell")))
	until(t, tab, "the notifications page", `location.pathname === "/notifications" && !!document.querySelector(".notif.unread")`)
	if txt := eval[string](t, tab, `document.querySelector(".notif.unread").innerText`); !strings.Contains(txt, "Budi Santoso mentioned you on Siti Rahma") ||
		!strings.Contains(txt, "please check stock in BDG") {
		t.Errorf("the notification reads %q", txt)
	}
	shot("notifications.png")

	do(t, tab, chromedp.Click(chromedp.CSS(".notif.unread .notif-open")))
	until(t, tab, "the conversation", `location.pathname === "/conversations/`+conv+`" && !!document.getElementById("console")`)
	until(t, tab, "the bell without a count", `!!document.getElementById("bell") && !document.querySelector("#bell .bell-count")`)
	if n := eval[int](t, tab, `window.serambi.csp()`); n != 0 {
		t.Errorf("%d content-security-policy violations", n)
	}
}
