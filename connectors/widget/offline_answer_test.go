package widget_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/serambi/serambi/connectors/email"
	"github.com/serambi/serambi/connectors/email/mailpeers"
	"github.com/serambi/serambi/inbox"
)

// Offline continuity, end to end on real parts: no agent is online, so the widget asks for an
// email; the visitor leaves one and goes away; the agent's reply is emailed to them through the
// email connector (OpenSMTPD into their dovecot mailbox); they answer it from their mail client;
// the answer comes back through OpenSMTPD and IMAP IDLE and lands in the same conversation. Their
// answer proved the address is theirs, so it is now a verified identity of the same customer: no
// second customer, no merge suggestion for an agent to sort out.
func TestVisitorAnswersTheEmailedReplyInTheSameConversation(t *testing.T) {
	p := mailpeers.Start(t)
	const (
		support = "support@toko.example"
		visitor = "rina@example.id"
	)
	e := newEnv(t, withManualOutbox(), func(e *env) {
		e.deps.EmailFallback = e.inbox
		e.cfg.OfflineAfter = 5 * time.Minute
	})
	ctx := context.Background()

	mail := email.New(email.Mailbox{
		ID: "support", Address: support, DisplayName: "Toko Sekar", PlusAddressing: true,
		IMAP: email.IMAPConfig{Host: mailpeers.Host, Port: p.IMAPPort(), TLS: email.TLSStartTLS, Password: mailpeers.Password,
			CAFile: p.CAFile(), PollInterval: time.Hour},
		SMTP:     email.SMTPConfig{Host: mailpeers.Host, Port: p.SMTPPort(), TLS: email.TLSNone},
		LookBack: 24 * time.Hour, ReconnectMin: 100 * time.Millisecond, ReconnectMax: time.Second, LeaseTTL: 3 * time.Second,
	}, email.Deps{Inbox: e.inbox, Store: e.store, State: e.store, Blobs: e.blobs, Log: e.log})
	runCtx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	t.Cleanup(func() { stop(); wg.Wait() })
	wg.Go(func() {
		if err := mail.Run(runCtx); err != nil {
			t.Errorf("email connector: %v", err)
		}
	})
	// One dispatcher for both channels, as the server runs it: the widget reply and its email copy.
	d := inbox.NewDispatcher(e.store, map[inbox.Channel]inbox.Sender{inbox.ChannelWidget: e.conn, inbox.ChannelEmail: mail}, e.events,
		inbox.DispatcherConfig{Poll: 20 * time.Millisecond, BaseBackoff: 20 * time.Millisecond, MaxBackoff: 100 * time.Millisecond},
		e.clock.Now, e.log)
	e.inbox.SetOutboxWaker(d.Wake)
	wg.Go(func() { _ = d.Run(runCtx) })
	waitLong(t, "IMAP IDLE on the support mailbox", func() bool { s := mail.Status(); return s.Connected && s.Idle && !s.LastSync.IsZero() })

	// 1. Nobody is online: the widget says so and offers to take an email.
	c := e.connect(nil)
	w := c.waitFor("welcome", func(f frame) bool { return f.T == "welcome" })
	if w.Online || !w.Settings.OfflineEmail {
		t.Fatalf("welcome online=%v offlineEmail=%v; want offline, asking for an email", w.Online, w.Settings.OfflineEmail)
	}
	first := c.say(cid(1), "Tas yang merah masih ada?")
	conv := e.message(first.Msg.ID).ConversationID
	c.send(map[string]any{"t": "email", "cid": cid(2), "email": "Rina@Example.ID"})
	c.waitFor("ack of the email", func(f frame) bool { return f.T == "ack" && f.CID == cid(2) })
	customerID := e.message(first.Msg.ID).CustomerID
	if held, verified := emailIdentity(t, e, customerID, visitor); !held || verified {
		t.Fatalf("typed address held=%v verified=%v; want kept unverified", held, verified)
	}

	// 2. She leaves; an agent answers later. Once she has been gone OfflineAfter, it is emailed.
	c.ws.Close()
	eventually(t, "presence recorded", func() bool { return e.conn.Sockets() == 0 && e.presenceWritten(conv) })
	reply := e.reply(conv, "Masih ada! Mau kami simpankan?")
	eventually(t, "the reply waits for her", func() bool {
		n, _ := e.store.OutboxDepth(ctx)
		return n == 1 && e.message(reply.ID).Delivery == inbox.DeliveryQueued
	})
	e.clock.advance(6 * time.Minute)
	var copyMsg inbox.Message
	waitLong(t, "the email copy sent", func() bool {
		cs := e.copies(conv, reply.ID)
		if len(cs) == 1 {
			copyMsg = e.message(cs[0].ID)
		}
		return copyMsg.Delivery == inbox.DeliverySent
	})

	// 3. It reaches her mailbox.
	var ours *email.Parsed
	waitLong(t, "the reply in her mailbox", func() bool {
		for _, raw := range p.Messages(t, visitor, "INBOX") {
			if m, err := email.NewParser().Parse(raw); err == nil && m.MessageID == copyMsg.ExternalID {
				ours = m
				return true
			}
		}
		return false
	})
	if !strings.Contains(ours.Text, "Masih ada! Mau kami simpankan?") {
		t.Errorf("the emailed reply reads %q", ours.Text)
	}

	// 4. She answers from her mail client, which threads by In-Reply-To.
	answer := fmt.Sprintf("From: Rina <%s>\r\nTo: %s\r\nSubject: Re: %s\r\nMessage-ID: <answer-1@example.id>\r\n"+
		"In-Reply-To: <%s>\r\nReferences: <%s>\r\nDate: %s\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"+
		"Iya, tolong simpankan sampai besok.\r\n", visitor, support, ours.Subject, ours.MessageID, ours.MessageID,
		time.Now().Format(time.RFC1123Z))
	p.Send(t, visitor, []string{support}, []byte(answer))
	var got inbox.Message
	waitLong(t, "her answer in the inbox", func() bool {
		m, err := e.store.MessageByExternalID(ctx, inbox.ChannelEmail, "answer-1@example.id")
		got = m
		return err == nil
	})

	// 5. Same conversation, same customer, in the thread of our mail; the address is verified.
	if got.ConversationID != conv || got.CustomerID != customerID {
		t.Fatalf("her answer is in conversation %s of customer %s; want %s of %s", got.ConversationID, got.CustomerID, conv, customerID)
	}
	if got.ThreadKey != copyMsg.ExternalID {
		t.Errorf("her answer's thread %q (by %s), want our mail's %q", got.ThreadKey, got.Meta["email.threadBy"], copyMsg.ExternalID)
	}
	if _, verified := emailIdentity(t, e, customerID, visitor); !verified {
		t.Errorf("the address she answered from is still unverified")
	}
	if owner, err := e.store.CustomerIDByIdentity(ctx, inbox.KindEmail, visitor); err != nil || owner != customerID {
		t.Errorf("the address is claimed by %q (%v), want %s", owner, err, customerID)
	}
	if holders, _ := e.store.CustomersWithIdentity(ctx, inbox.KindEmail, visitor); !slices.Equal(holders, []string{customerID}) {
		t.Errorf("customers holding the address: %v; want only %s", holders, customerID)
	}
	if sugg, _ := e.store.ListSuggestions(ctx, customerID); len(sugg) != 0 {
		t.Errorf("merge suggestions %+v; the answer proved the address, none are needed", sugg)
	}
	timeline := e.timeline(conv)
	if timeline[0].ID != got.ID {
		t.Errorf("her answer is not the newest entry of the conversation: %+v", timeline[0])
	}
	if cv, _ := e.inbox.Conversation(ctx, conv); !slices.Contains(cv.Channels, inbox.ChannelEmail) || cv.LastChannel != inbox.ChannelEmail {
		t.Errorf("conversation channels %v, last %s; want email joined", cv.Channels, cv.LastChannel)
	}
}

func emailIdentity(t *testing.T, e *env, customerID, addr string) (held, verified bool) {
	t.Helper()
	c, err := e.inbox.Customer(context.Background(), customerID)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range c.Identities {
		if id.Kind == inbox.KindEmail && id.Value == addr {
			return true, id.Verified
		}
	}
	return false, false
}

func waitLong(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 20 s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
