package email

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/serambi/serambi/connectors/email/mailpeers"
	"github.com/serambi/serambi/inbox"
)

// answerCase is how a visitor answers (or seems to answer) the mail we sent to the address they
// typed into the chat widget, and what that answer may prove.
type answerCase struct {
	name string
	// answer is the visitor's mail, built from our mail as it reached them (ours) at addr; from is
	// the envelope and header sender, rcpt where it is sent.
	answer func(addr string, ours *Parsed) (from, rcpt string, m testMail)
	// proves: the answer joins the widget customer's conversation, in our mail's thread, and the
	// address becomes a verified identity of that customer. Otherwise nothing changes for the
	// widget customer: the sender is resolved as any unknown sender is.
	proves bool
	// typedFriend: the visitor also typed friendOf(addr) into the widget, so only the rule that
	// the answer must come from the address we wrote to keeps a forwarded mail from proving it.
	typedFriend bool
}

func friendOf(addr string) string { return "teman-" + addr }

var answerCases = []answerCase{
	{
		name: "In-Reply-To names our Message-ID",
		answer: func(addr string, ours *Parsed) (string, string, testMail) {
			return addr, supportAddr, testMail{from: addr, subject: "Re: " + ours.Subject, inReplyTo: ours.MessageID,
				references: ours.MessageID, body: "Ya, kirim hari ini."}
		},
		proves: true,
	},
	{
		name: "only References names it, among others",
		answer: func(addr string, ours *Parsed) (string, string, testMail) {
			return addr, supportAddr, testMail{from: addr, subject: "Re: " + ours.Subject,
				references: "elsewhere-1@example.org " + ours.MessageID, body: "Ya."}
		},
		proves: true,
	},
	{
		name: "the client dropped the headers but kept our plus-address token",
		answer: func(addr string, ours *Parsed) (string, string, testMail) {
			return addr, ours.ReplyTo[0].Addr, testMail{from: addr, to: ours.ReplyTo[0].Addr, subject: "AW: " + ours.Subject, body: "Ya."}
		},
		proves: true,
	},
	{
		name: "no thread match: a new mail with the same subject",
		answer: func(addr string, ours *Parsed) (string, string, testMail) {
			return addr, supportAddr, testMail{from: addr, subject: "Re: " + ours.Subject, body: "Halo?"}
		},
	},
	{
		name: "a forged In-Reply-To naming a Message-ID we never sent",
		answer: func(addr string, ours *Parsed) (string, string, testMail) {
			return addr, supportAddr, testMail{from: addr, subject: "Re: " + ours.Subject,
				inReplyTo: "01jzzzzzzzzzzzzzzzzzzzzzzz@example.test", references: "01jzzzzzzzzzzzzzzzzzzzzzzz@example.test", body: "Ya."}
		},
	},
	{
		name: "our Message-ID, from another address the visitor typed (the mail was forwarded)",
		answer: func(addr string, ours *Parsed) (string, string, testMail) {
			return friendOf(addr), supportAddr, testMail{from: friendOf(addr), subject: "Re: " + ours.Subject, inReplyTo: ours.MessageID,
				references: ours.MessageID, body: "Saya temannya."}
		},
		typedFriend: true,
	},
}

// A visitor typed an address into the widget; the agent's reply went to it by mail. Answering
// that mail from that address proves the address is the visitor's: the answer threads back into
// the visitor's conversation and the address becomes verified there. Nothing else proves it.
// Real servers: our mail leaves through OpenSMTPD into the visitor's dovecot mailbox, their
// answer comes back through OpenSMTPD and IDLE.
func TestAnswersProveTheAddress(t *testing.T) {
	p := mailpeers.Start(t)
	e := newTestEnv(t)
	ctx := context.Background()
	mb := peerMailbox(p, supportAddr)
	mb.PlusAddressing = true
	c := New(mb, Deps{Inbox: e.inbox, Store: e.store, State: e.store, Blobs: e.blobs, Log: e.log})
	runConnector(t, c)
	waitFor(t, 15*time.Second, "IMAP connection with IDLE", func() bool { s := c.Status(); return s.Connected && s.Idle && !s.LastSync.IsZero() })
	d := inbox.NewDispatcher(e.store, map[inbox.Channel]inbox.Sender{inbox.ChannelEmail: c}, e.bus, inbox.DispatcherConfig{}, time.Now, e.log)

	for i, tc := range answerCases {
		t.Run(tc.name, func(t *testing.T) {
			addr := fmt.Sprintf("visitor%d@example.org", i)
			typed, err := e.inbox.Ingest(ctx, inbox.Inbound{Channel: inbox.ChannelWidget, ExternalID: fmt.Sprintf("widget-%d", i),
				Text: "Stoknya ada?", From: []inbox.Identity{{Kind: inbox.KindWidget, Value: fmt.Sprintf("visitor-%d", i)},
					{Kind: inbox.KindEmail, Value: addr}}})
			if err != nil {
				t.Fatal(err)
			}
			if tc.typedFriend {
				if _, err := e.inbox.Ingest(ctx, inbox.Inbound{Channel: inbox.ChannelWidget, ExternalID: fmt.Sprintf("widget-%d-friend", i),
					Text: "Atau kirim ke teman saya", From: []inbox.Identity{{Kind: inbox.KindWidget, Value: fmt.Sprintf("visitor-%d", i)},
						{Kind: inbox.KindEmail, Value: friendOf(addr)}}}); err != nil {
					t.Fatal(err)
				}
			}
			reply, err := e.inbox.Reply(ctx, inbox.ReplyRequest{ConversationID: typed.Conversation.ID, AgentID: "a1", AgentName: "Dewi",
				Channel: inbox.ChannelEmail, Text: "Ada, mau dikirim hari ini?"})
			// Mail goes to the customer's first address: the one typed first.
			if err != nil {
				t.Fatal(err)
			}
			if n, err := d.RunOnce(ctx); err != nil || n != 1 {
				t.Fatalf("dispatch: %d jobs, %v", n, err)
			}
			sent, _ := e.store.MessageByID(ctx, reply.ID)
			if sent.Delivery != inbox.DeliverySent {
				t.Fatalf("reply %s: %s", sent.Delivery, sent.DeliveryError)
			}
			var ours *Parsed
			waitFor(t, 10*time.Second, "our mail in the visitor's mailbox", func() bool {
				for _, raw := range p.Messages(t, addr, "INBOX") {
					if m, err := NewParser().Parse(raw); err == nil && m.MessageID == sent.ExternalID {
						ours = m
						return true
					}
				}
				return false
			})

			from, rcpt, m := tc.answer(addr, ours)
			m.id = fmt.Sprintf("answer-%d@example.org", i)
			p.Send(t, from, []string{rcpt}, m.bytes())
			var got inbox.Message
			waitFor(t, 10*time.Second, "the answer in the inbox", func() bool {
				got, err = e.store.MessageByExternalID(ctx, inbox.ChannelEmail, m.id)
				return err == nil
			})

			cust, err := e.inbox.Customer(ctx, typed.CustomerID)
			if err != nil {
				t.Fatal(err)
			}
			email := func(a string) (held, verified bool) {
				i := slices.IndexFunc(cust.Identities, func(id inbox.Identity) bool { return id.Kind == inbox.KindEmail && id.Value == a })
				return i >= 0, i >= 0 && cust.Identities[i].Verified
			}
			if held, _ := email(addr); !held {
				t.Fatalf("the widget customer lost the address: %+v", cust.Identities)
			}
			holders, err := e.store.CustomersWithIdentity(ctx, inbox.KindEmail, addr)
			if err != nil {
				t.Fatal(err)
			}
			owner, _ := e.store.CustomerIDByIdentity(ctx, inbox.KindEmail, from)
			sugg, err := e.store.ListSuggestions(ctx, typed.CustomerID)
			if err != nil {
				t.Fatal(err)
			}

			if tc.proves {
				if got.CustomerID != typed.CustomerID || got.ConversationID != typed.Conversation.ID {
					t.Errorf("the answer went to customer %s, want the widget customer %s", got.CustomerID, typed.CustomerID)
				}
				if got.ThreadKey != sent.ExternalID {
					t.Errorf("the answer's thread %q (by %s), want our mail's %q", got.ThreadKey, got.Meta["email.threadBy"], sent.ExternalID)
				}
				if _, verified := email(addr); !verified || owner != typed.CustomerID {
					t.Errorf("address verified=%v claimed by %q, want verified on %s", verified, owner, typed.CustomerID)
				}
				if !slices.Equal(holders, []string{typed.CustomerID}) || len(sugg) != 0 {
					t.Errorf("holders %v suggestions %+v; want only the widget customer, and no suggestion", holders, sugg)
				}
				return
			}
			if got.CustomerID == typed.CustomerID {
				t.Fatalf("an answer that proves nothing joined the widget customer")
			}
			for _, a := range []string{addr, from} {
				if _, verified := email(a); verified {
					t.Errorf("typed address %s became verified without proof", a)
				}
			}
			// Today's rule for a new sender whose address someone typed: a customer of their own,
			// and a suggestion an agent confirms.
			if owner != got.CustomerID || len(sugg) != 1 || sugg[0].OtherID != got.CustomerID {
				t.Errorf("sender claimed by %q, suggestions %+v; want the sender's own customer %s, suggested", owner, sugg, got.CustomerID)
			}
		})
	}
}
