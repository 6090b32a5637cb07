package console_test

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"

	"github.com/serambi/serambi/agents"
	"github.com/serambi/serambi/bus"
	"github.com/serambi/serambi/inbox"
	"github.com/serambi/serambi/web/browsertest"
	"github.com/serambi/serambi/web/console"
)

// The browser tests drive Debian's chromium headless through chromedp against a real console.

func newBrowser(t *testing.T) *browsertest.Browser { return browsertest.New(t) }

func do(t *testing.T, ctx context.Context, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	browsertest.Do(t, ctx, steps...)
}

func eval[T any](t *testing.T, ctx context.Context, js string) T {
	t.Helper()
	return browsertest.Eval[T](t, ctx, js)
}

func until(t *testing.T, ctx context.Context, what, js string) {
	t.Helper()
	browsertest.Until(t, ctx, what, js)
}

func signIn(t *testing.T, ctx context.Context, e *env, email, path string) {
	t.Helper()
	do(t, ctx,
		chromedp.Navigate(e.srv.URL+"/login?next="+url.QueryEscape(path)),
		chromedp.WaitVisible(chromedp.ID("email")),
		chromedp.SendKeys(chromedp.ID("email"), email),
		chromedp.SendKeys(chromedp.ID("password"), password),
		chromedp.Submit(chromedp.ID("password")),
	)
	until(t, ctx, "the console after signing in", `!!document.getElementById("console")`)
	// The socket is up and subscribed once the hub has said which sequence the page is at.
	until(t, ctx, "the live socket", `document.getElementById("console").dataset.lastSeq !== undefined`)
}

// press types one key as a keyboard does: one keyDown that carries its text, so a page that
// cancels the keydown also cancels the character (chromedp's KeyEvent sends the character as a
// separate event that no keydown handler can cancel).
func press(key string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		for _, typ := range []input.DispatchKeyEventType{input.DispatchKeyEventTypeKeyDown, input.DispatchKeyEventTypeKeyUp} {
			p := input.DispatchKeyEventParams{Type: typ, Key: key}
			if typ == input.DispatchKeyEventTypeKeyDown {
				p.Text = key
			}
			if _, err := cdp.Call(ctx, t, input.DispatchKeyEvent, p); err != nil {
				return err
			}
		}
		return nil
	})
}

func js(s string) string { return fmt.Sprintf("%q", s) }

func TestBrowserLiveInboxReplyAndXSS(t *testing.T) {
	b := newBrowser(t)
	e := newEnv(t).withAgents()
	d := e.seedDemo()
	tab := b.Tab()
	signIn(t, tab, e, "budi@toko.id", "/?view=all")
	do(t, tab, chromedp.Evaluate[chromedp.Void](`window.__noReload = 1`))

	// A message from a new customer appears at the top of the open list without a reload.
	res := e.ingest(inbox.ChannelWhatsApp, "wamid.live1", whatsapp("+6289900001111"), "Wulan Sari", "Apakah bisa COD?")
	until(t, tab, "the new row", `(document.querySelector("#conv-list .row") || {}).id === "row-`+res.Conversation.ID+`"`)
	if txt := eval[string](t, tab, `document.querySelector("#row-`+res.Conversation.ID+` .preview").textContent`); txt != "Apakah bisa COD?" {
		t.Fatalf("row preview %q", txt)
	}

	// Open it; the next message appears in the timeline as it arrives.
	do(t, tab, chromedp.Click(chromedp.CSS("#row-"+res.Conversation.ID+" .row-link")), chromedp.WaitVisible(chromedp.ID("timeline-"+res.Conversation.ID)))
	until(t, tab, "the open conversation", `document.querySelector("#conv") && document.querySelector("#conv").dataset.conv === "`+res.Conversation.ID+`"`)
	e.ingest(inbox.ChannelWhatsApp, "wamid.live2", whatsapp("+6289900001111"), "Wulan Sari", "Saya di Bekasi, kak.")
	until(t, tab, "the new message in the timeline", `document.getElementById("timeline-`+res.Conversation.ID+`").innerText.includes("Saya di Bekasi, kak.")`)
	if path := eval[string](t, tab, `location.pathname`); path != "/conversations/"+res.Conversation.ID {
		t.Errorf("URL is %s after opening a conversation", path)
	}

	// Reply with the keyboard: r, type, Ctrl+Enter. The reply shows in the timeline, queued.
	do(t, tab, chromedp.Evaluate[chromedp.Void](`document.activeElement && document.activeElement.blur()`))
	do(t, tab, press("r"))
	until(t, tab, "r focuses the reply box", `document.activeElement && document.activeElement.id === "reply-text"`)
	do(t, tab, chromedp.SendKeys(chromedp.ID("reply-text"), "Bisa kak, COD tersedia untuk Bekasi."), chromedp.Click(chromedp.ID("send-btn")))
	until(t, tab, "the reply in the timeline", `[...document.querySelectorAll("#timeline-`+res.Conversation.ID+` .dir-out")].some(x => x.innerText.includes("COD tersedia untuk Bekasi"))`)
	until(t, tab, "the composer emptied", `document.getElementById("reply-text").value === ""`)
	msgs, err := e.inbox.Messages(context.Background(), res.Conversation.ID, inbox.Cursor{}, 5)
	if err != nil {
		t.Fatal(err)
	}
	if msgs[0].Direction != inbox.DirectionOut || msgs[0].Text != "Bisa kak, COD tersedia untuk Bekasi." || msgs[0].Channel != inbox.ChannelWhatsApp {
		t.Fatalf("the stored reply is %+v", msgs[0])
	}
	// Exactly one copy, although it arrived both as the send's answer and over the socket.
	if n := eval[int](t, tab, `document.querySelectorAll("#msg-`+msgs[0].ID+`").length`); n != 1 {
		t.Fatalf("the reply is shown %d times", n)
	}
	// A delivery receipt updates it in place.
	if _, err := e.store.UpdateDelivery(context.Background(), msgs[0].ID, inbox.DeliveryUpdate{State: inbox.DeliverySent, At: time.Now()}); err != nil {
		t.Fatal(err)
	}
	e.bus.Publish(context.Background(), busMessageUpdated(msgs[0]))
	until(t, tab, "the delivery state", `document.querySelector("#msg-`+msgs[0].ID+` .delivery").classList.contains("d-sent")`)

	// j and k move through the list and open the conversation.
	do(t, tab, chromedp.Evaluate[chromedp.Void](`document.activeElement && document.activeElement.blur()`), press("j"))
	until(t, tab, "j opens the next conversation", `document.querySelector("#conv") && document.querySelector("#conv").dataset.conv !== "`+res.Conversation.ID+`"`)
	do(t, tab, chromedp.Evaluate[chromedp.Void](`document.activeElement && document.activeElement.blur()`), press("k"))
	until(t, tab, "k goes back", `document.querySelector("#conv") && document.querySelector("#conv").dataset.conv === "`+res.Conversation.ID+`"`)

	// XSS: a message full of script renders inert.
	payload := `<script>window.pwned=1</script><img src=x onerror="window.pwned=2"><svg onload="window.pwned=3">`
	x, err := e.inbox.Ingest(context.Background(), inbox.Inbound{Channel: inbox.ChannelEmail, ExternalID: "<xss@b>",
		Name: `<img src=x onerror="window.pwned=4">`, From: []inbox.Identity{email("eve@example.id")},
		Subject: `<script>window.pwned=5</script>`, Text: payload, HTML: "<p>hi</p>" + payload})
	if err != nil {
		t.Fatal(err)
	}
	until(t, tab, "the hostile row", `!!document.getElementById("row-`+x.Conversation.ID+`")`)
	do(t, tab, chromedp.Click(chromedp.CSS("#row-"+x.Conversation.ID+" .row-link")))
	until(t, tab, "the hostile conversation", `!!document.getElementById("timeline-`+x.Conversation.ID+`")`)
	do(t, tab, chromedp.Navigate(e.srv.URL+"/conversations/"+x.Conversation.ID), chromedp.WaitVisible(chromedp.ID("timeline-"+x.Conversation.ID)))
	until(t, tab, "images had their chance to fail", `[...document.images].every(i => i.complete)`)
	if p := eval[string](t, tab, `String(window.pwned)`); p != "undefined" {
		t.Fatalf("a script from a message ran: window.pwned = %s", p)
	}
	if n := eval[int](t, tab, `window.serambi.csp()`); n != 0 {
		t.Errorf("%d content security policy violations on the page", n)
	}
	for _, literal := range []string{`<script>window.pwned=5</script>`, `<img src=x onerror="window.pwned=4">`} {
		if !eval[bool](t, tab, `document.body.innerText.includes(`+js(literal)+`)`) {
			t.Errorf("%s is not shown as text", literal)
		}
	}
	if n := eval[int](t, tab, `document.querySelectorAll(".email-html script, .email-html [onerror], .email-html svg").length`); n != 0 {
		t.Errorf("the sanitised email body kept %d active elements", n)
	}
	_ = d
}

func busMessageUpdated(m inbox.Message) bus.Event {
	return bus.Event{Topic: bus.MessageUpdated, ConversationID: m.ConversationID, CustomerID: m.CustomerID, MessageID: m.ID, At: time.Now()}
}

func TestBrowserTwoAgentsSeeEachOther(t *testing.T) {
	b := newBrowser(t)
	e := newEnv(t).withAgents()
	res := e.ingest(inbox.ChannelWhatsApp, "wamid.c1", whatsapp("+6281234567890"), "Siti Rahma", "Halo kak")
	path := "/conversations/" + res.Conversation.ID
	budi, dewi := b.Tab(), b.Tab()
	signIn(t, budi, e, "budi@toko.id", path)
	signIn(t, dewi, e, "dewi@toko.id", path)
	collab := `document.getElementById("collab-` + res.Conversation.ID + `")`
	until(t, budi, "Budi sees Dewi viewing", collab+`.innerText.includes("Dewi Lestari is viewing")`)
	until(t, dewi, "Dewi sees Budi viewing", collab+`.innerText.includes("Budi Santoso is viewing")`)
	if eval[bool](t, budi, collab+`.innerText.includes("Budi Santoso")`) {
		t.Error("Budi sees himself in the collaborators bar")
	}
	do(t, budi, chromedp.SendKeys(chromedp.ID("reply-text"), "Sebentar ya kak"))
	until(t, dewi, "Dewi sees Budi typing", collab+`.innerText.includes("Budi Santoso is typing")`)
	// Presence: both are online in each other's navigation.
	until(t, dewi, "Budi online", `document.querySelector('.presence-list [data-presence="`+e.agent.ID+`"]').dataset.state === "online"`)
	// Dewi leaves: Budi no longer sees her.
	do(t, dewi, chromedp.Navigate(e.srv.URL+"/settings"))
	until(t, budi, "Dewi gone from the bar", `!`+collab+`.innerText.includes("Dewi")`)
	until(t, budi, "Dewi offline", `document.querySelector('.presence-list [data-presence="`+e.admin.ID+`"]').dataset.state === "offline"`)
}

// The socket is cut (server side) and kept from reconnecting while messages arrive; when it
// comes back the browser gets every one of them, in order, without reloading.
func TestBrowserCatchesUpAfterDisconnect(t *testing.T) {
	b := newBrowser(t)
	e := newEnv(t).withAgents()
	res := e.ingest(inbox.ChannelWhatsApp, "wamid.g0", whatsapp("+6281234567890"), "Siti Rahma", "pesan 0")
	tab := b.Tab()
	signIn(t, tab, e, "budi@toko.id", "/conversations/"+res.Conversation.ID+"?view=all")
	do(t, tab, chromedp.Evaluate[chromedp.Void](`window.__noReload = 1`))
	seqBefore := eval[int](t, tab, `window.serambi.seq()`)

	e.wsBlocked.Store(true)
	e.console.Hub().Disconnect()
	until(t, tab, "the reconnecting notice", `!document.getElementById("conn").hidden`)
	other := e.ingest(inbox.ChannelTelegram, "tg-g", inbox.Identity{Kind: inbox.KindTelegram, Value: "777"}, "Ayu", "baru dari telegram")
	for i := 1; i <= 5; i++ {
		e.ingest(inbox.ChannelWhatsApp, fmt.Sprintf("wamid.g%d", i), whatsapp("+6281234567890"), "Siti Rahma", fmt.Sprintf("pesan %d", i))
	}
	eventually(t, "the hub to number the missed events", func() bool { return e.console.Hub().Seq() >= uint64(seqBefore)+12 })
	if got := eval[string](t, tab, `document.getElementById("timeline-`+res.Conversation.ID+`").innerText`); strings.Contains(got, "pesan 1") {
		t.Fatal("a message arrived while the socket was down: the test did not cut it")
	}
	e.wsBlocked.Store(false)
	until(t, tab, "all five messages", `["pesan 1","pesan 2","pesan 3","pesan 4","pesan 5"].every(p => document.getElementById("timeline-`+res.Conversation.ID+`").innerText.includes(p))`)
	order := eval[[]string](t, tab, `[...document.querySelectorAll("#timeline-`+res.Conversation.ID+` .dir-in .text")].map(x => x.textContent)`)
	if strings.Join(order, "|") != "pesan 0|pesan 1|pesan 2|pesan 3|pesan 4|pesan 5" {
		t.Fatalf("timeline order after catching up: %v", order)
	}
	until(t, tab, "the other customer's new row", `!!document.getElementById("row-`+other.Conversation.ID+`")`)
	if eval[string](t, tab, `String(window.__noReload)`) != "1" {
		t.Fatal("the page reloaded instead of catching up")
	}
	if got := eval[int](t, tab, `window.serambi.seq()`); uint64(got) != e.console.Hub().Seq() {
		t.Errorf("browser is at sequence %d, hub at %d", got, e.console.Hub().Seq())
	}
}

// When more was missed than the hub remembers, the browser reloads the view and still shows
// everything.
func TestBrowserReloadsWhenTooMuchWasMissed(t *testing.T) {
	b := newBrowser(t)
	e := newEnv(t, func(o *console.Options, _ *agents.Config) { o.RingSize = 4 }).withAgents()
	res := e.ingest(inbox.ChannelWhatsApp, "wamid.r0", whatsapp("+6281234567890"), "Siti Rahma", "awal")
	tab := b.Tab()
	signIn(t, tab, e, "budi@toko.id", "/conversations/"+res.Conversation.ID)
	do(t, tab, chromedp.Evaluate[chromedp.Void](`window.__noReload = 1`))
	e.wsBlocked.Store(true)
	e.console.Hub().Disconnect()
	until(t, tab, "the reconnecting notice", `!document.getElementById("conn").hidden`)
	for i := 1; i <= 6; i++ {
		e.ingest(inbox.ChannelWhatsApp, fmt.Sprintf("wamid.r%d", i), whatsapp("+6281234567890"), "Siti Rahma", fmt.Sprintf("banyak %d", i))
	}
	eventually(t, "the hub to handle the events", func() bool { return e.console.Hub().Seq() >= 12 })
	e.wsBlocked.Store(false)
	until(t, tab, "the reloaded page", `window.__noReload === undefined && !!document.getElementById("timeline-`+res.Conversation.ID+`")`)
	until(t, tab, "every message after the reload", `document.getElementById("timeline-`+res.Conversation.ID+`").innerText.includes("banyak 6")`)
}

// TestBrowserScreenshots captures the main screens. With SERAMBI_SCREENSHOTS=1 it saves them to
// docs/screenshots (the README shows them); otherwise to a temporary directory, so a routine test
// run does not rewrite files in the checkout.
func TestBrowserScreenshots(t *testing.T) {
	b := newBrowser(t)
	e := newEnv(t).withAgents()
	d := e.seedDemo()
	if _, err := e.agents.CreateTeam(context.Background(), "Billing"); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if os.Getenv("SERAMBI_SCREENSHOTS") == "1" {
		dir = filepath.Join("..", "..", "docs", "screenshots")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	shot := func(ctx context.Context, name string) {
		t.Helper()
		png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
		if err != nil {
			t.Fatal(err)
		}
		if len(png) < 10_000 {
			t.Fatalf("screenshot %s is only %d bytes", name, len(png))
		}
		if err := os.WriteFile(filepath.Join(dir, name), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	login := b.Tab()
	do(t, login, chromedp.Navigate(e.srv.URL+"/login"), chromedp.WaitVisible(chromedp.ID("email")))
	shot(login, "login.png")

	dewi := b.Tab()
	signIn(t, dewi, e, "dewi@toko.id", "/conversations/"+d.sitiConv+"?view=all")
	budi := b.Tab()
	signIn(t, budi, e, "budi@toko.id", "/conversations/"+d.sitiConv+"?view=all")
	do(t, dewi, chromedp.SendKeys(chromedp.ID("reply-text"), "Sebentar"))
	until(t, budi, "Dewi typing", `document.querySelector(".collab").innerText.includes("typing")`)
	do(t, budi, chromedp.Evaluate[chromedp.Void](`document.activeElement && document.activeElement.blur()`))
	shot(budi, "console.png")

	do(t, budi, press("?"))
	until(t, budi, "the shortcuts dialog", `document.getElementById("help").open`)
	shot(budi, "shortcuts.png")

	do(t, dewi, chromedp.Navigate(e.srv.URL+"/admin/agents"), chromedp.WaitVisible(chromedp.CSS("table")))
	shot(dewi, "admin-agents.png")

	indo := b.Tab()
	if _, err := e.agents.Create(context.Background(), agents.NewAgent{Email: "sari@toko.id", Name: "Sari Wulandari", Password: password, Role: agents.RoleAgent, Locale: "id"}); err != nil {
		t.Fatal(err)
	}
	signIn(t, indo, e, "sari@toko.id", "/conversations/"+d.sitiConv+"?view=all")
	shot(indo, "console-id.png")
}

// Issue 7: a ringing call pops up in the console of a signed-in agent with the caller's context,
// one click opens the conversation, and the pop goes away when the call is answered.
func TestBrowserScreenPop(t *testing.T) {
	b := newBrowser(t)
	e, p := newCallEnv(t)
	siti := knownCaller(t, e)
	other := e.ingest(inbox.ChannelWhatsApp, "wamid.sp1", whatsapp("+6289900002222"), "Ayu", "Halo")
	tab := b.Tab()
	signIn(t, tab, e, "budi@toko.id", "/conversations/"+other.Conversation.ID+"?view=all")
	do(t, tab, chromedp.Evaluate[chromedp.Void](`window.__noReload = 1`))

	p.event(map[string]any{"event": "newCall", "callId": "b1", "from": sitiPhone, "to": "+62215550100", "direction": "in", "queue": "sales"})
	pop := `document.querySelector("#calls .call-pop")`
	until(t, tab, "the screen-pop", pop+` && `+pop+`.innerText.includes("Siti Rahma")`)
	if txt := eval[string](t, tab, pop+`.innerText`); !strings.Contains(txt, "Pesanan #1042 saya belum sampai") || !strings.Contains(txt, "queue sales") {
		t.Errorf("the pop shows %q", txt)
	}
	do(t, tab, chromedp.Click(chromedp.CSS("#calls .call-pop .call-open")))
	until(t, tab, "the caller's conversation", `document.querySelector("#conv") && document.querySelector("#conv").dataset.conv === "`+siti.Conversation.ID+`"`)
	until(t, tab, "the call in the timeline", `document.getElementById("timeline-`+siti.Conversation.ID+`").innerText.includes("Incoming call")`)
	if eval[string](t, tab, `String(window.__noReload)`) != "1" {
		t.Fatal("opening the conversation reloaded the page")
	}

	p.event(map[string]any{"event": "answer", "callId": "b1", "from": sitiPhone, "to": "+62215550100", "direction": "in", "user": "Dewi Lestari", "answeringNumber": "202"})
	until(t, tab, "the pop gone once answered elsewhere", `!document.querySelector("#calls .call-pop")`)
	until(t, tab, "the answer in the timeline", `document.getElementById("timeline-`+siti.Conversation.ID+`").innerText.includes("Answered by Dewi Lestari (202)")`)
	if n := eval[int](t, tab, `window.serambi.csp()`); n != 0 {
		t.Errorf("%d content security policy violations", n)
	}
}
