package console_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/serambi/serambi/agents"
	"github.com/serambi/serambi/inbox"
	"github.com/serambi/serambi/web/console"
)

// Typing shows both ways between a widget visitor and the agents who have their conversation
// open: the widget connector and the console hub talk over the real bus, as in the instance.

// widgetChat is a visitor who has written once, so their conversation exists.
func widgetChat(t *testing.T, e *env, w *widgetSide, name string) (*visitor, string) {
	t.Helper()
	v, status := w.dial(t, "shop", widgetShop)
	if status != 0 {
		t.Fatalf("dial: %d", status)
	}
	hello := v.hello("shop", "")
	v.send(map[string]any{"t": "msg", "cid": "first-message-1", "text": "is size M in stock?", "profile": map[string]any{"name": name}})
	v.next("ack", frameType("ack"))
	visitorID, _ := hello.raw["visitor"].(string)
	ctx := context.Background()
	cust, err := e.store.CustomerIDByIdentity(ctx, inbox.KindWidget, "v:"+visitorID)
	if err != nil {
		t.Fatalf("the visitor's customer: %v", err)
	}
	conv, err := e.store.ConversationByCustomer(ctx, cust)
	if err != nil {
		t.Fatal(err)
	}
	return v, conv.ID
}

// longTyping keeps "typing…" up for longer than any test waits, so that what clears it in a test
// is the event under test, not the expiry.
func longTyping(o *console.Options, _ *agents.Config) { o.TypingFor = time.Hour }

func TestWidgetVisitorTypingShowsInTheConversation(t *testing.T) {
	e, w := newWidgetEnv(t, longTyping)
	v, conv := widgetChat(t, e, w, "Siti Rahma")
	hub := e.console.Hub()
	budi := e.login("budi@toko.id").socket(t)
	budi.view(hub.ID(), conv, "", hub.Seq())
	budi.next("caught up", func(f frame) bool { return len(f.Ops) == 0 })
	line := "visitor-typing-" + conv
	typing := func(f frame) bool {
		return hasOp("replace", line)(f) && strings.Contains(opHTML(f, "replace"), "Siti Rahma is typing…")
	}
	cleared := func(f frame) bool {
		return hasOp("replace", line)(f) && !strings.Contains(opHTML(f, "replace"), "is typing")
	}

	v.send(map[string]any{"t": "typing", "on": true})
	budi.next("Siti typing", typing)
	v.send(map[string]any{"t": "typing", "on": false})
	budi.next("Siti stopped typing", cleared)

	// An agent who opens the conversation while the visitor types sees it at once.
	v.send(map[string]any{"t": "typing", "on": true})
	budi.next("Siti typing again", typing)
	dewi := e.login("dewi@toko.id").socket(t)
	dewi.view(hub.ID(), conv, "", hub.Seq())
	dewi.next("Siti typing, for Dewi who just came", typing)

	// A view of another conversation gets nothing of it: it was pushed, if at all, before Budi
	// saw it, so before anything the other view asks for afterwards.
	other := e.ingest(inbox.ChannelWhatsApp, "wamid.x", whatsapp("+6281234567890"), "Budi Customer", "halo")
	elsewhere := e.login("dewi@toko.id").socket(t)
	elsewhere.view(hub.ID(), other.Conversation.ID, "", hub.Seq())
	elsewhere.next("caught up", func(f frame) bool { return len(f.Ops) == 0 })
	v.send(map[string]any{"t": "typing", "on": false})
	budi.next("Siti stopped typing again", cleared)
	if err := elsewhere.conn.WriteJSON(map[string]string{"t": "typing", "conv": other.Conversation.ID}); err != nil {
		t.Fatal(err)
	}
	elsewhere.next("its own collaborators bar", func(f frame) bool {
		for _, o := range f.Ops {
			if strings.HasPrefix(o.ID, "visitor-typing-") {
				t.Errorf("a view of another conversation got %s", o.ID)
			}
		}
		return hasOp("replace", "collab-"+other.Conversation.ID)(f)
	})
}

func TestAgentTypingReachesTheWidgetVisitor(t *testing.T) {
	e, w := newWidgetEnv(t, longTyping)
	v, conv := widgetChat(t, e, w, "Siti Rahma")
	hub := e.console.Hub()
	budiClient := e.login("budi@toko.id")
	budi := budiClient.socket(t)
	budi.view(hub.ID(), conv, "", hub.Seq())
	budi.next("caught up", func(f frame) bool { return len(f.Ops) == 0 })
	dewi := e.login("dewi@toko.id").socket(t)
	dewi.view(hub.ID(), conv, "", hub.Seq())
	dewi.next("caught up", func(f frame) bool { return len(f.Ops) == 0 })

	typing := func(on bool, name string) func(map[string]any) bool {
		return func(f map[string]any) bool {
			return f["t"] == "typing" && f["on"] == on && (name == "" || f["name"] == name)
		}
	}
	// Dewi writes a note (no channel), then Budi a reply on the widget: the visitor hears of
	// Budi only. Events reach the widget in order, so Dewi's would have come first.
	if err := dewi.conn.WriteJSON(map[string]string{"t": "typing", "conv": conv, "via": ""}); err != nil {
		t.Fatal(err)
	}
	if err := dewi.conn.WriteJSON(map[string]string{"t": "typing", "conv": conv, "via": "email"}); err != nil {
		t.Fatal(err)
	}
	if err := budi.conn.WriteJSON(map[string]string{"t": "typing", "conv": conv, "via": "widget"}); err != nil {
		t.Fatal(err)
	}
	if f := v.next("an agent typing", frameType("typing")); f["on"] != true || f["name"] != "Budi Santoso" {
		t.Fatalf("the visitor's first typing frame is %v; want Budi Santoso typing (Dewi's note and email stay unseen)", f)
	}

	// Budi sends: the visitor is told at once that he stopped, and gets the reply.
	res := budiClient.htmx("/conversations/"+conv+"/send", url.Values{"mode": {"reply"}, "channel": {"widget"}, "text": {"Ada kak, size M ready."}})
	if res.status != http.StatusOK {
		t.Fatalf("send: %d %s", res.status, res.body)
	}
	var stopped, replied bool
	v.next("Budi stopped typing, and his reply", func(f map[string]any) bool {
		stopped = stopped || typing(false, "")(f)
		replied = replied || (f["t"] == "msg" && f["text"] == "Ada kak, size M ready.")
		return stopped && replied
	})

	// An agent who closes the console while typing is not left typing either.
	if err := budi.conn.WriteJSON(map[string]string{"t": "typing", "conv": conv, "via": "widget"}); err != nil {
		t.Fatal(err)
	}
	v.next("Budi typing once more", typing(true, "Budi Santoso"))
	budi.conn.Close()
	v.next("Budi gone", typing(false, ""))
}

// Typing that just stops, on either side (a tab closed, a visitor who walked away), stops showing
// after the console's typing time.
func TestWidgetTypingExpires(t *testing.T) {
	e, w := newWidgetEnv(t) // typing shows for 3 s
	v, conv := widgetChat(t, e, w, "Siti Rahma")
	hub := e.console.Hub()
	budi := e.login("budi@toko.id").socket(t)
	budi.view(hub.ID(), conv, "", hub.Seq())
	budi.next("caught up", func(f frame) bool { return len(f.Ops) == 0 })

	v.send(map[string]any{"t": "typing", "on": true})
	budi.next("Siti typing", func(f frame) bool { return strings.Contains(opHTML(f, "replace"), "Siti Rahma is typing…") })
	budi.next("Siti's typing expired", func(f frame) bool {
		return hasOp("replace", "visitor-typing-"+conv)(f) && !strings.Contains(opHTML(f, "replace"), "is typing")
	})

	if err := budi.conn.WriteJSON(map[string]string{"t": "typing", "conv": conv, "via": "widget"}); err != nil {
		t.Fatal(err)
	}
	v.next("Budi typing", func(f map[string]any) bool { return f["t"] == "typing" && f["on"] == true })
	v.next("Budi's typing expired", func(f map[string]any) bool { return f["t"] == "typing" && f["on"] == false })
}
