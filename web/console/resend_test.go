package console_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"testing"

	"github.com/serambi/serambi/inbox"
)

var midRE = regexp.MustCompile(`name="mid" value="([0-9a-z]{26})"`)

// The composer carries a message id: the same form sent twice (a double press, a request the
// browser retried) stores and queues one reply, and each fresh composer has a new id.
func TestComposerSentTwiceStoresOneMessage(t *testing.T) {
	e := newEnv(t).withAgents()
	res := e.ingest(inbox.ChannelWhatsApp, "wamid.1", whatsapp("+6281234567890"), "Sari", "halo kak")
	agent := e.login("budi@toko.id")
	page := agent.get("/conversations/"+res.Conversation.ID, nil)
	m := midRE.FindStringSubmatch(page.body)
	if m == nil {
		t.Fatalf("the composer carries no message id")
	}
	for _, mode := range []string{"reply", "note"} {
		t.Run(mode, func(t *testing.T) {
			page := agent.get("/conversations/"+res.Conversation.ID, nil)
			mid := midRE.FindStringSubmatch(page.body)[1]
			form := url.Values{"mode": {mode}, "channel": {"whatsapp"}, "text": {"siap, dicek dulu (" + mode + ")"}, "mid": {mid}}
			first := agent.htmx("/conversations/"+res.Conversation.ID+"/send", form)
			second := agent.htmx("/conversations/"+res.Conversation.ID+"/send", form)
			if first.status != http.StatusOK || second.status != http.StatusOK {
				t.Fatalf("send: %d then %d: %s", first.status, second.status, second.body)
			}
			if next := midRE.FindStringSubmatch(first.body); next == nil || next[1] == mid {
				t.Fatalf("the composer after sending has id %v; want a new one", next)
			}
			msgs, err := e.store.ListMessages(context.Background(), res.Conversation.ID, inbox.Cursor{}, 50)
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for _, m := range msgs {
				if m.Text == form.Get("text") {
					n++
				}
			}
			if n != 1 {
				t.Fatalf("%d messages stored for one %s sent twice; want 1", n, mode)
			}
		})
	}
}
