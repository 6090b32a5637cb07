package console_test

import (
	"testing"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/chromedp"
)

// The copy button puts the snippet on the clipboard and says so; the text is selected as well, so
// where the clipboard is refused the admin only has to press Ctrl+C, and is told to.
func TestBrowserChecklistCopyButton(t *testing.T) {
	b := newBrowser(t)
	e := newSetupEnv(t, map[string]string{"SERAMBI_BASE_URL": publicBase}, nil)
	tab := b.Tab()
	// Let this page use the clipboard as a user who allowed it would (headless has nobody to ask).
	granted := true
	bc := chromedp.FromContext(tab)
	for _, name := range []string{"clipboard-read", "clipboard-write"} {
		if _, err := cdp.Call(tab, bc.Browser, cdpbrowser.SetPermission, cdpbrowser.SetPermissionParams{
			Permission: &cdpbrowser.PermissionDescriptor{Name: name}, Setting: "granted", Origin: e.srv.URL,
			BrowserContextID: bc.BrowserContextID,
		}); err != nil {
			t.Logf("cannot grant %s (%v): checking the selection instead", name, err)
			granted = false
		}
	}
	signIn(t, tab, e, "dewi@toko.id", "/")
	// The inbox links to the unfinished checklist.
	until(t, tab, "the checklist link in the inbox", `(document.getElementById("setup-nudge") || {}).textContent && document.getElementById("setup-nudge").textContent.includes("Finish setting up (0/7)")`)
	do(t, tab, chromedp.Click(chromedp.ID("setup-nudge")))
	until(t, tab, "the checklist", `location.pathname === "/admin/getting-started" && !!document.getElementById("gs-widget-snippet")`)

	want := `<script src="` + publicBase + `/widget.js" data-serambi-inbox="default" async></script>`
	if got := eval[string](t, tab, `document.getElementById("gs-widget-snippet").textContent`); got != want {
		t.Fatalf("snippet %q, want %q", got, want)
	}
	do(t, tab, chromedp.Click(chromedp.CSS(`[data-copy="gs-widget-snippet"]`)))
	feedback := `document.querySelector("#gs-widget-snippet ~ .copy-feedback").textContent`
	until(t, tab, "feedback after copying", feedback+` !== ""`)
	if sel := eval[string](t, tab, `window.getSelection().toString()`); sel != want {
		t.Errorf("selection after copying is %q, want the snippet", sel)
	}
	fb := eval[string](t, tab, feedback)
	t.Logf("copy feedback %q (clipboard permission granted: %v)", fb, granted)
	switch fb {
	case "Copied":
		if !granted {
			break
		}
		clip, err := chromedp.Run(tab, chromedp.Evaluate[string](`navigator.clipboard.readText()`, chromedp.EvalAwaitPromise))
		if err != nil {
			t.Logf("the clipboard cannot be read back here (%v); the copy was reported done", err)
			break
		}
		if clip != want {
			t.Errorf("clipboard holds %q, want the snippet", clip)
		}
	case "Selected: press Ctrl+C (⌘C) to copy":
		if granted {
			t.Error("the clipboard was allowed, yet the copy fell back to selecting")
		}
	default:
		t.Errorf("feedback %q", fb)
	}

	// The feedback goes away again, and a second button copies its own text.
	do(t, tab, chromedp.Click(chromedp.CSS(`[data-copy="gs-apikey-cmd"]`)))
	until(t, tab, "the command selected", `window.getSelection().toString() === "serambi apikey create --name shop"`)
}
