package email

import (
	"context"
	"testing"
	"time"

	"github.com/serambi/serambi/inbox"
)

// With several mailboxes, a reply leaves through the one the answered mail came in by.
func TestRouter(t *testing.T) {
	ctx := context.Background()
	e := newTestEnv(t)
	support := e.connector(Mailbox{ID: "support", Address: "support@example.test"})
	sales := e.connector(Mailbox{ID: "sales", Address: "sales@example.test"})
	r := NewRouter(support, sales)
	if err := sales.IngestRaw(ctx, testMail{from: "Siti <siti@example.org>", to: "sales@example.test", id: "q@x"}.bytes(), time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := support.IngestRaw(ctx, testMail{from: "Budi <budi@example.org>", id: "b@x"}.bytes(), time.Now()); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ from, want string }{{"q@x", "sales"}, {"b@x", "support"}} {
		in := e.byExternalID(t, tc.from)
		reply, err := e.inbox.Reply(ctx, inbox.ReplyRequest{ConversationID: in.ConversationID, AgentID: "a", Channel: inbox.ChannelEmail, Text: "hi"})
		if err != nil {
			t.Fatal(err)
		}
		cust, _ := e.store.CustomerByID(ctx, in.CustomerID)
		c, err := r.route(ctx, inbox.Outbound{Message: reply, Customer: cust})
		if err != nil {
			t.Fatal(err)
		}
		if c.mb.ID != tc.want {
			t.Errorf("reply to %s routed through %s, want %s", tc.from, c.mb.ID, tc.want)
		}
	}
	if _, err := NewRouter().route(ctx, inbox.Outbound{}); err == nil {
		t.Error("a router without mailboxes accepted a message")
	}
}
