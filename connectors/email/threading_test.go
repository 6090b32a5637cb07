package email

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/serambi/serambi/inbox"
)

// A threading scenario: mails arrive in the given order; afterwards every group of external ids
// shares one thread key (the given one), groups never share keys, and each mail sits in the
// conversation of its sender.
type threadStep struct {
	mail    *testMail
	fixture string
	// token: put this thread's plus-address token (issued to the sender of thread[0]) into the
	// fixture's {{TOKEN}}; see tokenFor.
	tokenFor *tokenFor
}

type tokenFor struct {
	customerAddr, threadKey, subject string
}

type threadGroup struct {
	key string   // the thread key they must all have
	ids []string // external ids
	by  string   // optional: Meta email.threadBy of the last id
}

var threadingScenarios = []struct {
	name   string
	steps  []threadStep
	groups []threadGroup
	// sameConversation lists external ids that must be in one conversation.
	sameConversation []string
}{
	{
		name: "replies in order join the root's thread",
		steps: []threadStep{
			{mail: &testMail{id: "r@x"}},
			{mail: &testMail{id: "a@x", inReplyTo: "r@x", references: "r@x", subject: "Re: Order 1042"}},
			{mail: &testMail{id: "b@x", inReplyTo: "a@x", references: "r@x a@x", subject: "Re: Order 1042"}},
		},
		groups: []threadGroup{{key: "r@x", ids: []string{"r@x", "a@x", "b@x"}, by: threadByReference}},
	},
	{
		name: "replies that arrive before their parents join them",
		steps: []threadStep{
			{mail: &testMail{id: "b@x", inReplyTo: "a@x", references: "r@x a@x", subject: "Re: Order 1042"}},
			{mail: &testMail{id: "a@x", inReplyTo: "r@x", references: "r@x", subject: "Re: Order 1042"}},
			{mail: &testMail{id: "r@x"}},
		},
		groups: []threadGroup{{key: "r@x", ids: []string{"r@x", "a@x", "b@x"}}},
	},
	{
		name: "late parents without References move their early replies",
		steps: []threadStep{
			{mail: &testMail{id: "c@x", inReplyTo: "b@x", subject: "Re: Order 1042"}},
			{mail: &testMail{id: "b@x", inReplyTo: "a@x", subject: "Re: Order 1042"}},
			{mail: &testMail{id: "a@x", inReplyTo: "r@x", subject: "Re: Order 1042"}},
			{mail: &testMail{id: "r@x"}},
		},
		groups: []threadGroup{{key: "r@x", ids: []string{"r@x", "a@x", "b@x", "c@x"}}},
	},
	{
		name: "a reply that changes the topic starts a thread in the same conversation",
		steps: []threadStep{
			{mail: &testMail{id: "r@x", subject: "Order 1042 has not arrived"}},
			{mail: &testMail{id: "a@x", inReplyTo: "r@x", references: "r@x", subject: "Re: Order 1042 has not arrived"}},
			{mail: &testMail{id: "n@x", inReplyTo: "a@x", references: "r@x a@x", subject: "Re: Do you ship to Singapore?"}},
			{mail: &testMail{id: "n2@x", inReplyTo: "n@x", references: "r@x a@x n@x", subject: "Re: Do you ship to Singapore?"}},
		},
		groups: []threadGroup{
			{key: "r@x", ids: []string{"r@x", "a@x"}},
			{key: "n@x", ids: []string{"n@x", "n2@x"}},
		},
		sameConversation: []string{"r@x", "a@x", "n@x", "n2@x"},
	},
	{
		name: "real clients: Gmail reply, changed subject, a recycled Message-ID",
		steps: []threadStep{
			{mail: &testMail{from: "Siti Rahma <siti.rahma@gmail.com>", id: "01hzx0root@example.test", subject: "Order 1042 has not arrived"}},
			{fixture: "gmail_reply.eml"},
			{fixture: "changed_subject.eml"},
			{fixture: "duplicate_message_id.eml"},
		},
		groups: []threadGroup{
			{key: "01hzx0root@example.test", ids: []string{"01hzx0root@example.test", "CAJx9Lq+8Vd1=gmail-reply-1@mail.gmail.com"}, by: threadByReference},
			{key: "CAJx9Lq-new-topic@mail.gmail.com", ids: []string{"CAJx9Lq-new-topic@mail.gmail.com"}, by: threadBySubject},
			// The broken mailer's mail is kept, under its own id, in its own sender's conversation.
			{key: "CAJx9Lq+8Vd1=gmail-reply-1@mail.gmail.com#0663a3f39e873baf", ids: []string{"CAJx9Lq+8Vd1=gmail-reply-1@mail.gmail.com#0663a3f39e873baf"}, by: threadByNew},
		},
		sameConversation: []string{"01hzx0root@example.test", "CAJx9Lq+8Vd1=gmail-reply-1@mail.gmail.com", "CAJx9Lq-new-topic@mail.gmail.com"},
	},
	{
		name: "a reply to our newsletter threads under the newsletter",
		steps: []threadStep{
			{fixture: "newsletter_reply.eml"},
			{mail: &testMail{from: "Hendra <hendra@mail.example>", id: "hendra-2@mail.example", inReplyTo: "june-deals.7f3a2b@mailer.example-esp.com",
				references: "june-deals.7f3a2b@mailer.example-esp.com", subject: "Re: June deals: 30% off all bags"}},
		},
		groups: []threadGroup{{key: "june-deals.7f3a2b@mailer.example-esp.com", ids: []string{"hendra-reply-june@mail.example", "hendra-2@mail.example"}, by: threadByUnknownParent}},
	},
	{
		name: "Outlook dropped the headers: the plus-address token finds the thread",
		steps: []threadStep{
			{mail: &testMail{from: "Budi Santoso <budi@contoso.example>", id: "01hzx1invoice@example.test", subject: "Invoice for order 2077"}},
			{fixture: "outlook_mangled_reply.eml", tokenFor: &tokenFor{"budi@contoso.example", "01hzx1invoice@example.test", "Re: Invoice for order 2077"}},
		},
		groups: []threadGroup{{key: "01hzx1invoice@example.test", ids: []string{"01hzx1invoice@example.test", "AM0PR07MB5678-mangled@contoso.example"}, by: threadByToken}},
	},
	{
		name: "someone else's token cannot put mail into that thread",
		steps: []threadStep{
			{mail: &testMail{from: "Budi Santoso <budi@contoso.example>", id: "01hzx1invoice@example.test", subject: "Invoice for order 2077"}},
			{mail: &testMail{from: "Eve <eve@evil.example>", id: "eve-0@evil.example", subject: "hello"}},
			{mail: &testMail{from: "Eve <eve@evil.example>", to: "support+{{TOKEN}}@example.test", id: "eve-1@evil.example", subject: "Re: Invoice for order 2077"},
				tokenFor: &tokenFor{"budi@contoso.example", "01hzx1invoice@example.test", "Re: Invoice for order 2077"}},
		},
		groups: []threadGroup{
			{key: "01hzx1invoice@example.test", ids: []string{"01hzx1invoice@example.test"}},
			{key: "eve-0@evil.example", ids: []string{"eve-0@evil.example"}},
			{key: "eve-1@evil.example", ids: []string{"eve-1@evil.example"}, by: threadByNew},
		},
	},
	{
		name: "a made-up token is ignored",
		steps: []threadStep{
			{mail: &testMail{id: "r@x", subject: "Order 1042"}},
			{mail: &testMail{to: "support+aaaaaaaaaaaaaaaa@example.test", id: "guess@x", subject: "Re: Order 1042"}},
		},
		groups: []threadGroup{{key: "r@x", ids: []string{"r@x"}}, {key: "guess@x", ids: []string{"guess@x"}, by: threadByNew}},
	},
}

func TestThreading(t *testing.T) {
	for _, sc := range threadingScenarios {
		t.Run(sc.name, func(t *testing.T) {
			ctx := context.Background()
			e := newTestEnv(t)
			c := e.connector(Mailbox{PlusAddressing: true, TokenSecret: "test-token-key"})
			for i, st := range sc.steps {
				var raw []byte
				if st.mail != nil {
					raw = st.mail.bytes()
				} else {
					b, err := os.ReadFile(filepath.Join("testdata/corpus", st.fixture))
					if err != nil {
						t.Fatal(err)
					}
					raw = b
				}
				if st.tokenFor != nil {
					cid, err := e.store.CustomerIDByIdentity(ctx, inbox.KindEmail, st.tokenFor.customerAddr)
					if err != nil {
						t.Fatalf("step %d: customer %s: %v", i, st.tokenFor.customerAddr, err)
					}
					addr, err := c.threadAddress(ctx, tokenRecord{ThreadKey: st.tokenFor.threadKey, Subject: st.tokenFor.subject, CustomerID: cid})
					if err != nil {
						t.Fatal(err)
					}
					tok, _ := plusToken(addr, "support@example.test")
					raw = []byte(strings.ReplaceAll(string(raw), "{{TOKEN}}", tok))
				}
				if err := c.IngestRaw(ctx, raw, time.Now()); err != nil {
					t.Fatalf("step %d: %v", i, err)
				}
			}
			keyOwner := map[string]string{}
			for _, g := range sc.groups {
				for _, id := range g.ids {
					m := e.byExternalID(t, id)
					if m.ThreadKey != g.key {
						t.Errorf("%s: thread %q, want %q (by %s)", id, m.ThreadKey, g.key, m.Meta["email.threadBy"])
					}
				}
				if g.by != "" {
					if m := e.byExternalID(t, g.ids[len(g.ids)-1]); m.Meta["email.threadBy"] != g.by {
						t.Errorf("%s threaded by %q, want %q", m.ExternalID, m.Meta["email.threadBy"], g.by)
					}
				}
				if other, dup := keyOwner[g.key]; dup {
					t.Errorf("groups %s and %s share key %s", other, g.ids[0], g.key)
				}
				keyOwner[g.key] = g.ids[0]
			}
			conv := ""
			for _, id := range sc.sameConversation {
				m := e.byExternalID(t, id)
				if conv == "" {
					conv = m.ConversationID
				} else if m.ConversationID != conv {
					t.Errorf("%s is in conversation %s, want %s", id, m.ConversationID, conv)
				}
			}
		})
	}
}

// Mails without a Message-ID are each kept, each in a thread of their own: an empty id never
// glues mail together, even from one sender.
func TestEmptyMessageIDs(t *testing.T) {
	ctx := context.Background()
	e := newTestEnv(t)
	c := e.connector(Mailbox{})
	var raws [][]byte
	for _, f := range []string{"empty_message_id_a.eml", "empty_message_id_b.eml"} {
		b, err := os.ReadFile(filepath.Join("testdata/corpus", f))
		if err != nil {
			t.Fatal(err)
		}
		raws = append(raws, b)
	}
	raws = append(raws, []byte(strings.Replace(string(raws[0]), "printer out of paper", "printer jammed", 1)))
	raws = append(raws, raws[1]) // the same mail again: stored once
	for _, r := range raws {
		if err := c.IngestRaw(ctx, r, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	keys := map[string]bool{}
	for _, r := range raws[:3] {
		m := e.byExternalID(t, "sha256:"+sha256Hex(r))
		if m.ThreadKey == "" || keys[m.ThreadKey] {
			t.Errorf("message %s has thread key %q (empty or shared)", m.ExternalID, m.ThreadKey)
		}
		keys[m.ThreadKey] = true
	}
	if s := c.Status(); s.Imported != 4 {
		t.Errorf("imported %d, want 4 (one of them a duplicate)", s.Imported)
	}
	kiosk, err := e.store.CustomerIDByIdentity(ctx, inbox.KindEmail, "kiosk@shop-terminal.example")
	if err != nil {
		t.Fatal(err)
	}
	conv, _ := e.store.ConversationByCustomer(ctx, kiosk)
	if n := len(e.messages(t, conv.ID)); n != 2 {
		t.Errorf("kiosk conversation has %d messages, want 2", n)
	}
}

// One sender reusing a Message-ID for different mail: both are kept, neither joins the other.
// The same mail delivered twice (other transport headers) is one message.
func TestDuplicateMessageID(t *testing.T) {
	ctx := context.Background()
	e := newTestEnv(t)
	c := e.connector(Mailbox{})
	first := testMail{id: "same@x", subject: "Order 1", body: "first mail"}
	second := testMail{id: "same@x", subject: "Refund question", body: "a different mail"}
	relayed := append([]byte("Received: from relay.example by mx.example; Mon, 3 Jun 2024 10:00:01 +0000\r\n"), first.bytes()...)
	for _, r := range [][]byte{first.bytes(), second.bytes(), relayed, second.bytes()} {
		if err := c.IngestRaw(ctx, r, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	a := e.byExternalID(t, "same@x")
	conv := e.messages(t, a.ConversationID)
	if len(conv) != 2 {
		t.Fatalf("%d messages, want 2", len(conv))
	}
	b := conv[1]
	if !strings.HasPrefix(b.ExternalID, "same@x#") || b.Text != "a different mail" {
		t.Errorf("second mail stored as %q %q", b.ExternalID, b.Text)
	}
	if a.ThreadKey == b.ThreadKey {
		t.Errorf("different mails glued into thread %s", a.ThreadKey)
	}
}
