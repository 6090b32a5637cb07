package email

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/serambi/serambi/inbox"
)

func fixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata/corpus", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// sentReply makes an agent reply in the conversation of customer addr and marks it sent with the
// given Message-ID, as the outbox dispatcher does after Send returns it.
func sentReply(t *testing.T, e *testEnv, addr, messageID string) inbox.Message {
	t.Helper()
	ctx := context.Background()
	cid, err := e.store.CustomerIDByIdentity(ctx, inbox.KindEmail, addr)
	if err != nil {
		t.Fatal(err)
	}
	conv, err := e.store.ConversationByCustomer(ctx, cid)
	if err != nil {
		t.Fatal(err)
	}
	m, err := e.inbox.Reply(ctx, inbox.ReplyRequest{ConversationID: conv.ID, AgentID: "agent-1", AgentName: "Ani", Channel: inbox.ChannelEmail, Text: "Your refund is on its way."})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.UpdateDelivery(ctx, m.ID, inbox.DeliveryUpdate{State: inbox.DeliverySent, ExternalID: messageID, At: time.Now()}); err != nil {
		t.Fatal(err)
	}
	m, _ = e.store.MessageByID(ctx, m.ID)
	return m
}

func eventsOf(msgs []inbox.Message, kind inbox.EventKind) []inbox.Message {
	var out []inbox.Message
	for _, m := range msgs {
		if m.Direction == inbox.DirectionEvent && m.Event != nil && m.Event.Kind == kind {
			out = append(out, m)
		}
	}
	return out
}

// A hard bounce of a mail we sent: an event on the conversation, the reply marked failed, the
// address marked unreachable; never a message, never a customer for the mailer daemon; recorded
// once however often it is fetched. When the customer writes again, the address is reachable.
func TestBounceOfOurReply(t *testing.T) {
	ctx := context.Background()
	e := newTestEnv(t)
	c := e.connector(Mailbox{})
	if err := c.IngestRaw(ctx, testMail{from: "Nobody <nobody@gone.example>", id: "q@gone", subject: "Where is my order?"}.bytes(), time.Now()); err != nil {
		t.Fatal(err)
	}
	reply := sentReply(t, e, "nobody@gone.example", "01hzx9bounced@example.test")
	for range 2 {
		if err := c.IngestRaw(ctx, fixture(t, "dsn_bounce.eml"), time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	msgs := e.messages(t, reply.ConversationID)
	bounces := eventsOf(msgs, EventBounce)
	if len(bounces) != 1 {
		t.Fatalf("%d bounce events, want 1: %+v", len(bounces), msgs)
	}
	ev := bounces[0].Event
	if ev.Data["messageId"] != reply.ID || ev.Data["status"] != "5.1.1" || ev.Data["recipients"] != "nobody@gone.example" || ev.Data["permanent"] != "true" {
		t.Errorf("bounce event data %+v", ev.Data)
	}
	for _, m := range msgs {
		if m.Direction == inbox.DirectionIn && m.ExternalID != "q@gone" {
			t.Errorf("the bounce became a message: %+v", m)
		}
	}
	if got, _ := e.store.MessageByID(ctx, reply.ID); got.Delivery != inbox.DeliveryFailed || got.DeliveryError == "" {
		t.Errorf("reply delivery %s %q, want failed with the reason", got.Delivery, got.DeliveryError)
	}
	if _, err := e.store.CustomerIDByIdentity(ctx, inbox.KindEmail, "mailer-daemon@mail.example.test"); !errors.Is(err, inbox.ErrNotFound) {
		t.Errorf("a customer was made of the mailer daemon (err %v)", err)
	}
	cust, _ := e.store.CustomerByID(ctx, reply.CustomerID)
	if id, _ := cust.Identity(inbox.KindEmail); !id.Unreachable {
		t.Errorf("address not marked unreachable: %+v", cust.Identities)
	}
	if s := c.Status(); s.Events != 1 {
		t.Errorf("status counts %d events, want 1", s.Events)
	}

	if err := c.IngestRaw(ctx, testMail{from: "nobody@gone.example", id: "back@gone", subject: "I'm back"}.bytes(), time.Now()); err != nil {
		t.Fatal(err)
	}
	cust, _ = e.store.CustomerByID(ctx, reply.CustomerID)
	if id, _ := cust.Identity(inbox.KindEmail); id.Unreachable {
		t.Errorf("address still unreachable after the customer wrote from it")
	}
}

func TestAutomaticMail(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name string
		// setup prepares the inbox; it returns the conversation the mail is about ("" for none).
		setup       func(t *testing.T, e *testEnv, c *Connector) string
		raw         func(t *testing.T) []byte
		wantEvent   inbox.EventKind // "" when no event is expected
		wantAbout   bool            // the event names the original message
		wantSkip    bool
		wantInbound int // inbound messages in the conversation afterwards
	}{
		{
			name: "out-of-office answer to our reply",
			setup: func(t *testing.T, e *testEnv, c *Connector) string {
				if err := c.IngestRaw(ctx, testMail{from: "Rina <rina@corp.example>", id: "refund-q@corp", subject: "Refund for order 3310"}.bytes(), time.Now()); err != nil {
					t.Fatal(err)
				}
				return sentReply(t, e, "rina@corp.example", "01hzxarefund@example.test").ConversationID
			},
			raw:       func(t *testing.T) []byte { return fixture(t, "auto_reply.eml") },
			wantEvent: EventAutoReply, wantAbout: true, wantInbound: 1,
		},
		{
			name: "out-of-office from a known customer about nothing we know",
			setup: func(t *testing.T, e *testEnv, c *Connector) string {
				if err := c.IngestRaw(ctx, testMail{from: "Rina <rina@corp.example>", id: "hello@corp"}.bytes(), time.Now()); err != nil {
					t.Fatal(err)
				}
				return e.byExternalID(t, "hello@corp").ConversationID
			},
			raw: func(t *testing.T) []byte {
				return testMail{from: "Rina <rina@corp.example>", id: "ooo2@corp", subject: "Out of Office: away", extra: "Auto-Submitted: auto-replied\r\n"}.bytes()
			},
			wantEvent: EventAutoReply, wantInbound: 1,
		},
		{
			name:     "out-of-office from a stranger is skipped, not made a customer",
			raw:      func(t *testing.T) []byte { return fixture(t, "auto_reply.eml") },
			wantSkip: true,
		},
		{
			name:     "a bounce about mail we never sent is skipped",
			raw:      func(t *testing.T) []byte { return fixture(t, "dsn_bounce.eml") },
			wantSkip: true,
		},
		{
			name: "a read receipt marks our reply read",
			setup: func(t *testing.T, e *testEnv, c *Connector) string {
				if err := c.IngestRaw(ctx, testMail{from: "Rina <rina@corp.example>", id: "q3@corp"}.bytes(), time.Now()); err != nil {
					t.Fatal(err)
				}
				return sentReply(t, e, "rina@corp.example", "read-me@example.test").ConversationID
			},
			raw: func(t *testing.T) []byte {
				return []byte("From: rina@corp.example\r\nTo: support@example.test\r\nSubject: Read: Refund\r\nMessage-ID: <mdn1@corp>\r\n" +
					"Content-Type: multipart/report; report-type=disposition-notification; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nRead.\r\n" +
					"--b\r\nContent-Type: message/disposition-notification\r\n\r\nFinal-Recipient: rfc822; rina@corp.example\r\n" +
					"Original-Message-ID: <read-me@example.test>\r\nDisposition: manual-action/MDN-sent-manually; displayed\r\n--b--\r\n")
			},
			wantInbound: 1,
		},
		{
			name: "mail from our own address is never imported",
			raw: func(t *testing.T) []byte {
				return testMail{from: "Support <support@example.test>", id: "own@example.test"}.bytes()
			},
			wantSkip: true,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newTestEnv(t)
			c := e.connector(Mailbox{})
			conv := ""
			if tc.setup != nil {
				conv = tc.setup(t, e, c)
			}
			before := c.Status()
			raw := tc.raw(t)
			for range 2 { // a re-sync fetches it again
				if err := c.IngestRaw(ctx, raw, time.Now()); err != nil {
					t.Fatal(err)
				}
			}
			after := c.Status()
			if tc.wantSkip && after.Skipped == before.Skipped {
				t.Errorf("not skipped: %+v", after)
			}
			if after.Imported != before.Imported {
				t.Errorf("automatic mail imported as a message (%d → %d)", before.Imported, after.Imported)
			}
			if conv == "" {
				if tc.wantEvent != "" {
					t.Fatal("scenario expects an event but has no conversation")
				}
				list, _ := e.store.ListConversations(ctx, inbox.ConversationFilter{Limit: 10})
				if len(list) != 0 {
					t.Errorf("a conversation was created: %+v", list)
				}
				return
			}
			msgs := e.messages(t, conv)
			inbound := 0
			for _, m := range msgs {
				if m.Direction == inbox.DirectionIn {
					inbound++
				}
			}
			if inbound != tc.wantInbound {
				t.Errorf("%d inbound messages, want %d", inbound, tc.wantInbound)
			}
			if tc.wantEvent != "" {
				evs := eventsOf(msgs, tc.wantEvent)
				if len(evs) != 1 {
					t.Fatalf("%d %s events, want exactly 1", len(evs), tc.wantEvent)
				}
				if tc.wantAbout && evs[0].Event.Data["messageId"] == "" {
					t.Errorf("event does not name the message it answers: %+v", evs[0].Event.Data)
				}
			}
			if tc.name == "a read receipt marks our reply read" {
				for _, m := range msgs {
					if m.Direction == inbox.DirectionOut && m.Delivery != inbox.DeliveryRead {
						t.Errorf("reply delivery %s, want read", m.Delivery)
					}
				}
			}
		})
	}
}

// A new address makes a customer named from the From header; the same address again (in other
// case) is the same customer; a Reply-To elsewhere is kept as an unverified identity.
func TestCustomers(t *testing.T) {
	ctx := context.Background()
	e := newTestEnv(t)
	c := e.connector(Mailbox{})
	mails := []testMail{
		{from: "=?UTF-8?B?5bGx55SwIOWkqumDjg==?= <Taro@Example.JP>", id: "t1@x"},
		{from: "taro@example.jp", id: "t2@x"},
		{from: "Web Form <forms@shop.example>", id: "f1@x", extra: "Reply-To: Dewi <dewi@mail.example>\r\n"},
	}
	for _, m := range mails[:3] {
		if err := c.IngestRaw(ctx, m.bytes(), time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	a, b := e.byExternalID(t, "t1@x"), e.byExternalID(t, "t2@x")
	if a.CustomerID != b.CustomerID || a.ConversationID != b.ConversationID {
		t.Errorf("one address became two customers: %s %s", a.CustomerID, b.CustomerID)
	}
	cust, _ := e.store.CustomerByID(ctx, a.CustomerID)
	if cust.Name != "山田 太郎" {
		t.Errorf("customer name %q", cust.Name)
	}
	if id, _ := cust.Identity(inbox.KindEmail); id.Value != "taro@example.jp" || !id.Verified {
		t.Errorf("identity %+v", id)
	}
	form, _ := e.store.CustomerByID(ctx, e.byExternalID(t, "f1@x").CustomerID)
	found := false
	for _, id := range form.Identities {
		if id.Value == "dewi@mail.example" {
			found = !id.Verified
		}
	}
	if !found {
		t.Errorf("Reply-To not kept as an unverified identity: %+v", form.Identities)
	}
}
