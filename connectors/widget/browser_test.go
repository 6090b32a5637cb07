package widget_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/golang-jwt/jwt/v5"

	"github.com/serambi/serambi/bus"
	"github.com/serambi/serambi/connectors/widget"
	"github.com/serambi/serambi/inbox"
	"github.com/serambi/serambi/web/browsertest"
)

// The browser tests drive Debian's chromium headless through chromedp: a visitor on the demo
// shop page chats through the real widget script, against the real connector, store and outbox.

// newBrowser starts chromium in Indonesian, the widget's other language.
func newBrowser(t *testing.T) *browsertest.Browser {
	return browsertest.New(t, chromedp.Flag("lang", "id-ID"))
}

func do(t *testing.T, ctx context.Context, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	browsertest.Do(t, ctx, steps...)
}

// root is the widget's shadow root, from inside the page.
const root = `document.getElementById("serambi-widget").shadowRoot`

func in(sel string) chromedp.JSPath {
	return chromedp.JSPath(root + `.querySelector(` + quote(sel) + `)`)
}

func quote(s string) string { return "'" + strings.ReplaceAll(s, "'", `\'`) + "'" }

// panelOpen is true once the chat panel has finished opening.
const panelOpen = `getComputedStyle(` + root + `.querySelector(".panel")).opacity === "1" && getComputedStyle(` + root + `.querySelector(".panel")).visibility === "visible"`

// until polls a JavaScript condition in the page.
func until(t *testing.T, ctx context.Context, what, js string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	var lastErr error
	for time.Now().Before(deadline) {
		c, cancel := context.WithTimeout(ctx, 2*time.Second)
		ok, err := chromedp.Run(c, chromedp.Evaluate[bool]("(() => { try { return !!("+js+") } catch (e) { return false } })()"))
		cancel()
		if err == nil && ok {
			return
		}
		lastErr = err
		time.Sleep(50 * time.Millisecond)
	}
	text, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`(() => { try { return `+root+`.querySelector(".list").textContent } catch (e) { return String(e) } })()`))
	t.Fatalf("waiting for %s: last error %v\nwidget text:\n%s", what, lastErr, text)
}

func eval[T any](t *testing.T, ctx context.Context, js string) T {
	t.Helper()
	return browsertest.Eval[T](t, ctx, js)
}

// rows counts the widget's message rows from `from` whose text is text (settled, not pending).
func rows(from, text string) string {
	return `Array.from(` + root + `.querySelectorAll('.row[data-from="` + from + `"]:not(.pending)')).filter(r => r.querySelector('.b').textContent === ` + quote(text) + `).length`
}

// type into the composer and send with the send button, as a visitor does.
func say(t *testing.T, ctx context.Context, text string) {
	t.Helper()
	do(t, ctx, chromedp.SendKeys(in("textarea"), text), chromedp.Click(in(".send")))
}

// widgetMessages collects the visitor messages the inbox stores.
func widgetMessages(e *env) (<-chan inbox.Message, func()) {
	ch := make(chan inbox.Message, 64)
	cancel := e.events.Subscribe(func(ev bus.Event) {
		if ev.Topic != bus.MessageAdded {
			return
		}
		m, err := e.store.MessageByID(context.Background(), ev.MessageID)
		if err == nil && m.Channel == inbox.ChannelWidget && m.Direction == inbox.DirectionIn {
			ch <- m
		}
	})
	return ch, cancel
}

func next(t *testing.T, ch <-chan inbox.Message, text string) inbox.Message {
	t.Helper()
	deadline := time.After(15 * time.Second)
	for {
		select {
		case m := <-ch:
			if m.Text == text {
				return m
			}
		case <-deadline:
			t.Fatalf("the inbox did not get %q", text)
		}
	}
}

func screenshotDir(t *testing.T) string {
	if os.Getenv("SERAMBI_SCREENSHOTS") == "1" {
		dir := filepath.Join("..", "..", "docs", "screenshots")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	return t.TempDir()
}

// shoot saves a screenshot of the viewport (to docs/screenshots with SERAMBI_SCREENSHOTS=1).
func shoot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	time.Sleep(250 * time.Millisecond) // transitions end
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(screenshotDir(t), name), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestBrowserVisitorChatsWithAnAgent(t *testing.T) {
	e := newEnv(t, withConfig(func(c *widget.Config) { c.Demo = true }))
	e.setOnline(true)
	ctx := context.Background()
	if err := e.conn.Settings().Put(ctx, widget.Settings{ID: "shop", Name: "Sekar Batik", Color: "#9a3412",
		AllowedOrigins: []string{"http://" + e.addr}, JWTSecret: jwtSecret, Language: "id", OfflineEmail: true, Uploads: true,
		GreetingID: "Halo! 👋 Selamat datang di Sekar Batik. Ada yang bisa kami bantu soal ukuran, stok, atau pesanan?",
		Source:     widget.SourceConsole}); err != nil {
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
	if got := eval[string](t, visitor, root+`.querySelector(".status").textContent`); got != "Kami sedang online" {
		t.Fatalf("status line = %q; want the Indonesian 'online'", got)
	}

	// The visitor writes; the message reaches the inbox, once.
	say(t, visitor, "Halo, apakah Kemeja Parang ukuran L masih ada?")
	first := next(t, stored, "Halo, apakah Kemeja Parang ukuran L masih ada?")
	conv := first.ConversationID
	until(t, visitor, "the sent message settled", rows("visitor", "Halo, apakah Kemeja Parang ukuran L masih ada?")+" === 1")

	// The agent answers through the inbox; the widget shows it with the agent's name.
	e.reply(conv, "Ada kak, ukuran L tinggal 3. Mau kami siapkan?")
	until(t, visitor, "the agent's reply", rows("agent", "Ada kak, ukuran L tinggal 3. Mau kami siapkan?")+" === 1")
	if who := eval[string](t, visitor, root+`.querySelector(".who").textContent`); who != "Dewi" {
		t.Fatalf("agent name = %q", who)
	}
	say(t, visitor, "Boleh, kirim ke Bandung ya")
	next(t, stored, "Boleh, kirim ke Bandung ya")
	e.reply(conv, "Siap! Totalnya Rp 389.000 + ongkir Rp 18.000. Bayar di sini: https://sekar.example/bayar/1042")
	until(t, visitor, "the link, auto-linked", root+`.querySelector('.row[data-from="agent"] a[href="https://sekar.example/bayar/1042"][rel~="noopener"]')`)
	e.conn.AgentTyping(ctx, conv, "Dewi", true)
	until(t, visitor, "the typing indicator", root+`.querySelector(".typing").classList.contains("on")`)
	shoot(t, visitor, "widget-demo.png")

	// Markup a visitor types is text, shown as typed and stored as text.
	say(t, visitor, `<img src=x onerror="document.title='pwned'">`)
	m := next(t, stored, `<img src=x onerror="document.title='pwned'">`)
	if m.HTML != "" {
		t.Fatalf("visitor HTML stored: %q", m.HTML)
	}
	until(t, visitor, "the markup shown as text", rows("visitor", `<img src=x onerror="document.title='pwned'">`)+" === 1")
	if n := eval[int](t, visitor, root+`.querySelectorAll(".list img").length`); n != 0 {
		t.Fatalf("the visitor's markup became %d <img> elements", n)
	}
	if title := eval[string](t, visitor, "document.title"); title == "pwned" {
		t.Fatal("the visitor's markup ran")
	}

	// Reconnect mid-conversation: the server restarts; meanwhile the agent replies and the
	// visitor writes. Nothing is lost and nothing shows twice.
	e.restart(func() {
		e.reply(conv, "Pesanan sudah kami proses ya kak.")
		until(t, visitor, "the widget noticing the lost connection", root+`.querySelector(".conn").classList.contains("on")`)
		say(t, visitor, "Terima kasih banyak!")
		until(t, visitor, "the unsent message shown as pending", root+`.querySelectorAll(".row.pending").length === 1`)
	})
	until(t, visitor, "the reply written while disconnected", rows("agent", "Pesanan sudah kami proses ya kak.")+" === 1")
	until(t, visitor, "the message written while disconnected, sent", rows("visitor", "Terima kasih banyak!")+" === 1")
	next(t, stored, "Terima kasih banyak!")
	time.Sleep(300 * time.Millisecond)
	for _, text := range []string{"Halo, apakah Kemeja Parang ukuran L masih ada?", "Boleh, kirim ke Bandung ya", "Terima kasih banyak!"} {
		if n := eval[int](t, visitor, rows("visitor", text)); n != 1 {
			t.Fatalf("%q shows %d times after the reconnect", text, n)
		}
	}
	for _, text := range []string{"Ada kak, ukuran L tinggal 3. Mau kami siapkan?", "Pesanan sudah kami proses ya kak."} {
		if n := eval[int](t, visitor, rows("agent", text)); n != 1 {
			t.Fatalf("%q shows %d times after the reconnect", text, n)
		}
	}
	count := 0
	for _, msg := range e.timeline(conv) {
		if msg.Text == "Terima kasih banyak!" {
			count++
		}
	}
	if count != 1 {
		t.Fatalf("the inbox stored the message written while disconnected %d times", count)
	}

	// A reload shows the same conversation (the visitor is remembered), and the agent typing.
	do(t, visitor, chromedp.Navigate("http://"+e.addr+"/widget/demo?inbox=shop"))
	until(t, visitor, "the history after a reload", rows("agent", "Pesanan sudah kami proses ya kak.")+" === 1")
	e.conn.AgentTyping(ctx, conv, "Dewi", true)
	until(t, visitor, "the typing indicator", root+`.querySelector(".typing").classList.contains("on")`)
	if got := eval[string](t, visitor, root+`.querySelector(".typing").textContent`); !strings.Contains(got, "Dewi sedang mengetik") {
		t.Fatalf("typing indicator = %q", got)
	}

	// The closed launcher counts unread replies.
	do(t, visitor, chromedp.Click(in(".x")))
	e.reply(conv, "Resi akan kami kirim sore ini.")
	until(t, visitor, "the unread badge", root+`.querySelector(".badge.on") && `+root+`.querySelector(".badge").textContent === "1"`)
	shoot(t, visitor, "widget-launcher.png")
}

func TestBrowserIdentifiedVisitorJoinsTheCustomer(t *testing.T) {
	e := newEnv(t, withConfig(func(c *widget.Config) { c.Demo = true }))
	ctx := context.Background()
	if err := e.conn.Settings().Put(ctx, widget.Settings{ID: "shop", Name: "Sekar Batik", AllowedOrigins: []string{"http://" + e.addr},
		JWTSecret: jwtSecret, Language: "en", OfflineEmail: true, Uploads: true, Source: widget.SourceConsole,
		PreChat: widget.PreChat{Enabled: true, AskName: true, Fields: []widget.Field{{Key: "order", LabelEN: "Order number", LabelID: "Nomor pesanan"}}}}); err != nil {
		t.Fatal(err)
	}
	siti, err := e.inbox.Ingest(ctx, inbox.Inbound{Channel: inbox.ChannelEmail, ExternalID: "<invoice@mail.example>",
		From: []inbox.Identity{{Kind: inbox.KindEmail, Value: "siti@example.id"}}, Name: "Siti Rahma", Text: "Where is my invoice?"})
	if err != nil {
		t.Fatal(err)
	}
	token, err := widget.SignIdentity(jwtSecret, widget.Claims{Email: "siti@example.id", Name: "Siti Rahma",
		RegisteredClaims: jwt.RegisteredClaims{Subject: "cust-42", ExpiresAt: jwt.NewNumericDate(time.Now().Add(time.Hour))}})
	if err != nil {
		t.Fatal(err)
	}
	stored, stop := widgetMessages(e)
	defer stop()
	b := newBrowser(t)
	anonymous, identified := b.Tab(), b.Tab()
	do(t, anonymous, chromedp.Navigate("http://"+e.addr+"/widget/demo?inbox=shop"))
	do(t, identified, chromedp.Navigate("http://"+e.addr+"/widget/demo?inbox=shop&token="+token))
	for _, tab := range []context.Context{anonymous, identified} {
		until(t, tab, "the launcher", root+`.querySelector(".sr").style.display !== "none"`)
		do(t, tab, chromedp.Click(in(".launcher")))
		until(t, tab, "the open panel", panelOpen)
	}
	if got := eval[string](t, identified, `document.querySelector("nav .right span").innerText`); got != "Halo, Siti Rahma" {
		t.Fatalf("the shop page greets %q", got)
	}
	say(t, identified, "Hi, it's Siti about my invoice")
	m := next(t, stored, "Hi, it's Siti about my invoice")
	if m.CustomerID != siti.CustomerID || m.ConversationID != siti.Conversation.ID {
		t.Fatalf("the identified visitor's message joined customer %s / conversation %s; want Siti's %s / %s",
			m.CustomerID, m.ConversationID, siti.CustomerID, siti.Conversation.ID)
	}
	// The anonymous visitor gets the pre-chat form first (Siti, identified by the shop, does not).
	until(t, anonymous, "the pre-chat form", root+`.querySelector("form.pre")`)
	if eval[bool](t, identified, "!!"+root+`.querySelector("form.pre")`) {
		t.Fatal("the identified visitor got the pre-chat form")
	}
	do(t, anonymous, chromedp.SendKeys(in(`form.pre input[name="name"]`), "Rina"),
		chromedp.SendKeys(in(`form.pre input[name="f_order"]`), "#1042"), chromedp.Click(in("form.pre .btn")))
	until(t, anonymous, "the composer after the form", "!"+root+`.querySelector("form.pre") && !`+root+`.querySelector(".composer").classList.contains("off")`)
	say(t, anonymous, "Hello, just browsing")
	a := next(t, stored, "Hello, just browsing")
	if a.CustomerID == siti.CustomerID || a.Meta["widget.field.order"] != "#1042" {
		t.Fatalf("anonymous visitor's message = %+v; want its own customer and the pre-chat answer in meta", a)
	}
	if c, _ := e.inbox.Customer(ctx, a.CustomerID); c.Name != "Rina" {
		t.Fatalf("customer name = %q; want the pre-chat name", c.Name)
	}

	// A picture, uploaded through the widget's paperclip.
	pic := filepath.Join(t.TempDir(), "foto.png")
	if err := os.WriteFile(pic, pngBytes(t), 0o644); err != nil {
		t.Fatal(err)
	}
	do(t, identified, chromedp.SetUploadFiles(in(`input[type="file"]`), []string{pic}))
	withFile := next(t, stored, "")
	if len(withFile.Attachments) != 1 || withFile.Attachments[0].Name != "foto.png" || withFile.Attachments[0].ContentType != "image/png" ||
		withFile.CustomerID != siti.CustomerID {
		t.Fatalf("uploaded message = %+v", withFile)
	}
	until(t, identified, "the picture in the widget", root+`.querySelector('.row[data-from="visitor"] img[src^="https://files.example/"]')`)
	e.reply(siti.Conversation.ID, "Hi Siti, the invoice is on its way.")
	until(t, identified, "the reply in Siti's widget", rows("agent", "Hi Siti, the invoice is on its way.")+" === 1")
	time.Sleep(200 * time.Millisecond)
	if n := eval[int](t, anonymous, rows("agent", "Hi Siti, the invoice is on its way.")); n != 0 {
		t.Fatal("another visitor saw Siti's reply")
	}
	// Siti's email history stays out of the widget: it shows her widget chat only.
	if got := eval[string](t, identified, root+`.querySelector(".list").textContent`); strings.Contains(got, "Where is my invoice?") {
		t.Fatal("the widget shows the customer's email")
	}
	// English texts, since this inbox is set to English; nobody online, so the widget asks for an email
	// (Siti's is known from the signed identity, so she is not asked).
	if got := eval[string](t, anonymous, root+`.querySelector(".status").textContent`); got != "We're away right now" {
		t.Fatalf("status = %q", got)
	}
	until(t, anonymous, "the email prompt for the anonymous visitor", root+`.querySelector(".card.ask")`)
	if eval[bool](t, identified, "!!"+root+`.querySelector(".card.ask")`) {
		t.Fatal("the identified visitor was asked for an email")
	}
	do(t, anonymous, chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile))
	shoot(t, anonymous, "widget-mobile-away.png")
	do(t, anonymous, chromedp.SendKeys(in(".card.ask input"), "rina@example.id"), chromedp.Click(in(".card.ask .btn")))
	until(t, anonymous, "the confirmation", root+`.querySelector(".sys") && `+root+`.querySelector(".sys").textContent.includes("rina@example.id")`)
}
