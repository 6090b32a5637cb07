package console_test

import (
	"context"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/serambi/serambi/inbox"
)

// widgetRoot is the chat widget's shadow root on the demo shop page.
const widgetRoot = `document.getElementById("serambi-widget").shadowRoot`

// An admin styles the widget in the console; a visitor on the shop's page gets it at once and
// chats; each side sees the other typing.
func TestBrowserWidgetSettingsAndTypingBothWays(t *testing.T) {
	e, w := newWidgetEnv(t, longTyping)
	b := newBrowser(t)
	admin := b.Tab()
	signIn(t, admin, e, "dewi@toko.id", "/")

	// The settings page paints the preview in the stored colour, and repaints it as the admin
	// picks another, without inline style (the CSP forbids it).
	do(t, admin, chromedp.Navigate(e.srv.URL+"/admin/widget/shop"), chromedp.WaitVisible(chromedp.ID("wi-form")))
	launcher := `getComputedStyle(document.querySelector(".wi-preview-launcher")).backgroundColor`
	if got := eval[string](t, admin, launcher); got != "rgb(154, 52, 18)" {
		t.Fatalf("preview launcher colour %s; want the stored #9a3412", got)
	}
	do(t, admin, chromedp.Evaluate[chromedp.Void](`(() => { const c = document.getElementById("wi-color");
		c.value = "#1d4ed8"; c.dispatchEvent(new Event("input", {bubbles: true})); })()`))
	until(t, admin, "the preview in the new colour", launcher+` === "rgb(29, 78, 216)"`)
	do(t, admin,
		chromedp.SetValue(chromedp.ID("wi-origins"), w.srv.URL),
		chromedp.SetValue(chromedp.ID("wi-greeting-en"), "Hi! Ask us about sizes and stock."),
		chromedp.Submit(chromedp.ID("wi-name")),
	)
	until(t, admin, "the saved notice", `document.querySelector(".flash") && document.querySelector(".flash").textContent.includes("Saved")`)

	// The visitor's widget wears the new colour and greeting at once.
	visitor := b.Tab()
	do(t, visitor, chromedp.Navigate(w.srv.URL+"/widget/demo?inbox=shop"))
	until(t, visitor, "the launcher", widgetRoot+` && `+widgetRoot+`.querySelector(".launcher")`)
	until(t, visitor, "the launcher in the brand colour", `getComputedStyle(`+widgetRoot+`.querySelector(".launcher")).backgroundColor === "rgb(29, 78, 216)"`)
	do(t, visitor, chromedp.Click(chromedp.JSPath(widgetRoot+`.querySelector(".launcher")`)))
	until(t, visitor, "the greeting", widgetRoot+`.textContent.includes("Hi! Ask us about sizes and stock.")`)
	// The panel slides open: typing into it before it is shown fails with "not focusable".
	until(t, visitor, "the chat panel open", `getComputedStyle(`+widgetRoot+`.querySelector(".panel")).visibility === "visible" && `+
		`getComputedStyle(`+widgetRoot+`.querySelector(".panel")).opacity === "1"`)
	do(t, visitor,
		chromedp.SendKeys(chromedp.JSPath(widgetRoot+`.querySelector("textarea")`), "Is the batik shirt in size M?"),
		chromedp.Click(chromedp.JSPath(widgetRoot+`.querySelector(".send")`)),
	)
	var conv string
	eventually(t, "the visitor's conversation", func() bool {
		rows, err := e.store.ListConversations(context.Background(), inbox.ConversationFilter{Channel: inbox.ChannelWidget, Limit: 10})
		for _, c := range rows {
			conv = c.ID
		}
		return err == nil && conv != ""
	})

	// Dewi opens it and types a reply on the widget: the visitor sees her typing.
	do(t, admin, chromedp.Navigate(e.srv.URL+"/conversations/"+conv), chromedp.WaitVisible(chromedp.ID("reply-text")))
	until(t, admin, "the live socket", `document.getElementById("console").dataset.lastSeq !== undefined`)
	if ch := eval[string](t, admin, `document.getElementById("reply-channel").value`); ch != "widget" {
		t.Fatalf("the reply would leave on %q; want widget", ch)
	}
	do(t, admin, chromedp.SendKeys(chromedp.ID("reply-text"), "Yes, size M is"))
	until(t, visitor, "Dewi typing in the widget", widgetRoot+`.querySelector(".typing").classList.contains("on") && `+
		widgetRoot+`.querySelector(".typing").textContent.includes("Dewi Lestari is typing")`)

	// The visitor types: Dewi sees it above the composer.
	do(t, visitor, chromedp.SendKeys(chromedp.JSPath(widgetRoot+`.querySelector("textarea")`), "And in blue"))
	until(t, admin, "the visitor typing in the console", `document.getElementById("visitor-typing-`+conv+`").textContent.includes("is typing…")`)

	if n := eval[int](t, admin, `window.serambi.csp()`); n != 0 {
		t.Errorf("%d content security policy violations in the console", n)
	}
}
