package demo

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/serambi/serambi/inbox"
	"github.com/serambi/serambi/web/browsertest"
)

// The browser test walks the README's tour on a demo started in-process with a fast simulation,
// driving Debian's chromium headless.

// newTab starts chromium for the test and returns a way to open tabs, each a person of its own.
func newTab(t *testing.T) (newTab func() context.Context) {
	return browsertest.New(t).Tab
}

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

func jsString(s string) string { return strconv.Quote(s) }

const widgetRoot = `document.getElementById("serambi-widget").shadowRoot`

func inWidget(sel string) chromedp.JSPath {
	return chromedp.JSPath(widgetRoot + `.querySelector(` + jsString(sel) + `)`)
}

// shooter saves screenshots of the tour: with SERAMBI_SCREENSHOTS=1 into docs/screenshots (the
// README shows them), otherwise into a temporary directory, so a routine run changes no files.
func shooter(t *testing.T) func(ctx context.Context, name string) {
	dir := t.TempDir()
	if os.Getenv("SERAMBI_SCREENSHOTS") == "1" {
		dir = filepath.Join("..", "docs", "screenshots")
	}
	return func(ctx context.Context, name string) {
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
}

func TestBrowserTour(t *testing.T) {
	tab := newTab(t)
	shot := shooter(t)
	began := time.Now()
	d, err := Start(context.Background(), Options{Dir: t.TempDir(), Listen: "127.0.0.1:0", Simulate: true,
		Interval: 400 * time.Millisecond, Seed: 42, Stderr: testWriter{t}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := d.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	t.Logf("demo ready in %s (seeding %s; %s including the test's setup)", d.StartTook, d.SeedTook, time.Since(began))
	ctx := context.Background()
	tour, ok := d.TourCustomer()
	if !ok {
		t.Fatal("the seeded world has no customer on three channels with the widget and WhatsApp")
	}
	customer := d.World.Customers[tour]
	custID, err := d.CustomerID(ctx, tour)
	if err != nil {
		t.Fatal(err)
	}
	conv, err := d.Instance.Inbox.ConversationOfCustomer(ctx, custID)
	if err != nil {
		t.Fatal(err)
	}
	base := d.BaseURL

	// 1. Log in as the demo agent.
	agent := tab()
	do(t, agent,
		chromedp.Navigate(base+"/login?next="+url.QueryEscape("/?view=all")),
		chromedp.WaitVisible(chromedp.ID("email")),
		chromedp.SendKeys(chromedp.ID("email"), AgentLogin().Email),
		chromedp.SendKeys(chromedp.ID("password"), AgentLogin().Password),
		chromedp.Submit(chromedp.ID("password")),
	)
	until(t, agent, "the console after signing in", `!!document.getElementById("console")`)
	until(t, agent, "the live socket", `document.getElementById("console").dataset.lastSeq !== undefined`)
	do(t, agent, chromedp.Evaluate[chromedp.Void](`window.__noReload = 1`))

	// 2. A simulated message arrives in the list, live.
	const listState = `[...document.querySelectorAll("#conv-list .row")].slice(0, 5).map(r => r.id + "|" + ((r.querySelector(".preview") || {}).textContent || "")).join("\n")`
	before := eval[string](t, agent, listState)
	until(t, agent, "a simulated message to change the list without a reload", listState+` !== `+jsString(before)+` && window.__noReload === 1`)
	shot(agent, "demo-inbox.png")

	// 3. Open the multi-channel customer: their one timeline holds at least three channels.
	do(t, agent, chromedp.Navigate(base+"/conversations/"+conv.ID+"?view=all"))
	timeline := `document.getElementById("timeline-` + conv.ID + `")`
	until(t, agent, "the customer's timeline", timeline)
	const channels = `new Set([...document.querySelectorAll("#timeline-%s .badge")].flatMap(b => [...b.classList].filter(c => c.startsWith("ch-")))).size`
	until(t, agent, customer.Name+"'s timeline on three channels or more", fmt.Sprintf(channels, conv.ID)+` >= 3`)
	t.Logf("%s's timeline shows %d channels", customer.Name, eval[int](t, agent, fmt.Sprintf(channels, conv.ID)))

	// 4. The sidebar shows the cart and the orders.
	until(t, agent, "the cart in the sidebar", `document.querySelectorAll("#commerce-panel .commerce-cart .commerce-item").length > 0`)
	until(t, agent, "the orders in the sidebar", `document.querySelectorAll("#commerce-panel .commerce-order").length > 0`)
	shot(agent, "demo-customer.png")

	// 5. Reply on WhatsApp (the customer wrote there today, so the 24-hour window is open): the
	// WhatsApp stand-in receives it and the reply shows as sent, then delivered.
	sim := d.Simulator(time.Second, 5)
	if err := sim.Write(ctx, tour, inbox.ChannelWhatsApp, "Kak, kemejanya ready ukuran M?"); err != nil {
		t.Fatal(err)
	}
	until(t, agent, "the customer's WhatsApp message, live", timeline+`.innerText.includes("kemejanya ready ukuran M")`)
	reply := "Ready kak, ukuran M masih ada 2. " + strconv.FormatInt(time.Now().UnixNano()%100000, 10)
	// Choose WhatsApp, type and send in one go: live updates may redraw parts of the page
	// between separate steps.
	until(t, agent, "the composer", `document.getElementById("reply-text") && document.querySelector("#reply-channel option[value=whatsapp]")`)
	do(t, agent, chromedp.Evaluate[chromedp.Void](`(() => {
		const s = document.getElementById("reply-channel");
		s.value = "whatsapp";
		s.dispatchEvent(new Event("change", {bubbles: true}));
		const ta = document.getElementById("reply-text");
		ta.value = `+jsString(reply)+`;
		ta.dispatchEvent(new Event("input", {bubbles: true}));
		document.getElementById("send-btn").click();
	})()`))
	deadline := time.Now().Add(20 * time.Second)
	for {
		found := false
		for _, s := range d.WhatsApp.Sent() {
			if s.Text == reply && strings.TrimPrefix(s.To, "+") == digits(customer.Phone) {
				found = true
			}
		}
		if found {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the WhatsApp stand-in did not receive the reply; it has %+v", d.WhatsApp.Sent())
		}
		time.Sleep(100 * time.Millisecond)
	}
	outItem := `[...document.querySelectorAll("#timeline-` + conv.ID + ` .dir-out")].find(x => x.innerText.includes(` + jsString(reply) + `))`
	until(t, agent, "the reply marked delivered", outItem+`.querySelector(".delivery.d-delivered, .delivery.d-read")`)

	// 6. On the demo shop page, signed in as the customer, they chat; the agent sends a product
	// card from the cart, and the card shows in the widget.
	link, name, ok := d.KnownVisitorLink()
	if !ok || name != customer.Name {
		t.Fatalf("the demo's chat link signs in %q, the tour follows %q", name, customer.Name)
	}
	visitor := tab()
	do(t, visitor, chromedp.Navigate(link))
	until(t, visitor, "the widget launcher", widgetRoot+`.querySelector(".launcher")`)
	do(t, visitor, chromedp.Click(inWidget(".launcher")))
	until(t, visitor, "the chat panel open", `getComputedStyle(`+widgetRoot+`.querySelector(".panel")).visibility === "visible" && getComputedStyle(`+widgetRoot+`.querySelector(".panel")).opacity === "1"`)
	question := "Halo, kemeja batiknya bahannya katun? " + strconv.FormatInt(time.Now().UnixNano()%100000, 10)
	do(t, visitor, chromedp.SendKeys(inWidget("textarea"), question), chromedp.Click(inWidget(".send")))
	until(t, agent, "the visitor's chat in the same timeline", timeline+`.innerText.includes(`+jsString(question)+`)`)
	const cardButton = `#commerce-panel .commerce-cart button[hx-post$="/cards"]`
	until(t, agent, "the cart's send-card button", `document.querySelector(`+jsString(cardButton)+`)`)
	product := eval[string](t, agent, `document.querySelector(`+jsString(cardButton)+`).closest(".commerce-item").querySelector(".commerce-item-name").textContent.trim()`)
	do(t, agent, chromedp.Click(chromedp.CSS(cardButton)))
	until(t, agent, "the card in the console's timeline", `document.querySelector("#timeline-`+conv.ID+` .commerce-card.card-product")`)
	if ch := eval[string](t, agent, `[...document.querySelector("#timeline-`+conv.ID+` .commerce-card.card-product").closest(".bubble").querySelector(".badge").classList].find(c => c.startsWith("ch-"))`); ch != "ch-widget" {
		t.Errorf("the card went out on %s, want the widget the customer is chatting on", ch)
	}
	until(t, visitor, "the product card in the widget", widgetRoot+`.querySelector(".product-card")`)
	if got := eval[string](t, visitor, widgetRoot+`.querySelector(".product-card").textContent`); !strings.Contains(got, product) {
		t.Errorf("the widget's product card reads %q, want %q in it", got, product)
	}
	if n := eval[int](t, visitor, widgetRoot+`.querySelectorAll(".product-card a[href]").length`); n == 0 {
		t.Error("the widget's product card has no link to the product")
	}
	shot(visitor, "demo-widget-card.png")

	// 7. The customer calls the shop: every agent with an extension gets a screen-pop naming the
	// caller, with their cart and last order beside it.
	if _, err := sim.Call(ctx, tour, CallMissed); err != nil {
		t.Fatal(err)
	}
	until(t, agent, "the call's screen-pop", `[...document.querySelectorAll(".call-pop")].some(p => p.innerText.includes(`+jsString(customer.Name)+`))`)
	shot(agent, "demo-screen-pop.png")
}
