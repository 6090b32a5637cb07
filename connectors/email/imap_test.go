package email

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/serambi/serambi/connectors/email/mailpeers"
	"github.com/serambi/serambi/inbox"
)

const (
	supportAddr  = "support@example.test"
	customerAddr = "customer@example.org"
)

// The whole path with real servers: a customer's mail goes through OpenSMTPD and LMTP into
// dovecot, IDLE brings it into the conversation, the agent's reply leaves through the outbox and
// SMTP and lands in the customer's mailbox with headers a mail client threads, and the customer's
// answers (a proper reply, and one whose client dropped the threading headers) join the thread.
func TestRoundTrip(t *testing.T) {
	p := mailpeers.Start(t)
	e := newTestEnv(t)
	ctx := context.Background()
	mb := peerMailbox(p, supportAddr)
	mb.PlusAddressing = true
	mb.SentFolder = "Sent"
	c := New(mb, Deps{Inbox: e.inbox, Store: e.store, State: e.store, Blobs: e.blobs, Log: e.log})
	runConnector(t, c)
	waitFor(t, 15*time.Second, "IMAP connection with IDLE", func() bool { s := c.Status(); return s.Connected && s.Idle && !s.LastSync.IsZero() })

	// 1. The customer writes. PollInterval is an hour: only IDLE can bring it in this quickly.
	first := testMail{from: "Customer Person <" + customerAddr + ">", to: supportAddr, id: "first-1@example.org",
		subject: "Order 1042 has not arrived", body: "Hello,\nmy order 1042 has not arrived.\nRegards"}
	sentAt := time.Now()
	p.Send(t, customerAddr, []string{supportAddr}, first.bytes())
	var in inbox.Message
	waitFor(t, 10*time.Second, "the customer's mail in the inbox", func() bool {
		m, err := e.store.MessageByExternalID(ctx, inbox.ChannelEmail, "first-1@example.org")
		in = m
		return err == nil
	})
	t.Logf("delivery (SMTP accepted) to ingest: %s", time.Since(sentAt))
	if in.Text != "Hello,\nmy order 1042 has not arrived.\nRegards" || in.ThreadKey != "first-1@example.org" {
		t.Errorf("ingested %q thread %q", in.Text, in.ThreadKey)
	}

	// 2. The agent replies with an attachment; the outbox sends it through this connector.
	sha, size, err := e.blobs.Put(ctx, strings.NewReader("%PDF-1.4 label"), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	reply, err := e.inbox.Reply(ctx, inbox.ReplyRequest{ConversationID: in.ConversationID, AgentID: "a1", AgentName: "Ani",
		Channel: inbox.ChannelEmail, Text: "Hello,\nyour parcel is on its way.\nAni",
		Attachments: []inbox.Attachment{{SHA256: sha, Name: "送り状 1042.pdf", ContentType: "application/pdf", Size: size}}})
	if err != nil {
		t.Fatal(err)
	}
	d := inbox.NewDispatcher(e.store, map[inbox.Channel]inbox.Sender{inbox.ChannelEmail: c}, e.bus, inbox.DispatcherConfig{}, time.Now, e.log)
	if n, err := d.RunOnce(ctx); err != nil || n != 1 {
		t.Fatalf("dispatch: %d jobs, %v", n, err)
	}
	sent, _ := e.store.MessageByID(ctx, reply.ID)
	if sent.Delivery != inbox.DeliverySent || sent.ExternalID != reply.ID+"@example.test" {
		t.Fatalf("reply delivery %s %q, external id %q", sent.Delivery, sent.DeliveryError, sent.ExternalID)
	}

	// 3. It arrives in the customer's mailbox, threaded.
	var got *Parsed
	waitFor(t, 10*time.Second, "the reply in the customer's mailbox", func() bool {
		for _, raw := range p.Messages(t, customerAddr, "INBOX") {
			m, err := NewParser().Parse(raw)
			if err == nil && m.MessageID == sent.ExternalID {
				got = m
				return true
			}
		}
		return false
	})
	if !slices.Equal(got.InReplyTo, []string{"first-1@example.org"}) || !slices.Equal(got.References, []string{"first-1@example.org"}) {
		t.Errorf("In-Reply-To %q References %q", got.InReplyTo, got.References)
	}
	if got.Subject != "Re: Order 1042 has not arrived" || got.From != (Address{"Ani | Example Support", supportAddr}) {
		t.Errorf("subject %q from %+v", got.Subject, got.From)
	}
	if len(got.ReplyTo) != 1 || !strings.HasPrefix(got.ReplyTo[0].Addr, "support+") {
		t.Errorf("Reply-To %+v, want the thread's plus address", got.ReplyTo)
	}
	if got.Text != "Hello,\nyour parcel is on its way.\nAni" || !strings.Contains(got.HTML, "your parcel is on its way.") {
		t.Errorf("text %q html %q", got.Text, got.HTML)
	}
	if len(got.Parts) != 1 || got.Parts[0].Name != "送り状 1042.pdf" || string(got.Parts[0].Data) != "%PDF-1.4 label" {
		t.Errorf("attachments %+v", got.Parts)
	}
	waitFor(t, 5*time.Second, "a copy in the Sent folder", func() bool { return len(p.Messages(t, supportAddr, "Sent")) == 1 })

	// 4. The customer answers: a proper reply, and one from a client that dropped the headers but
	// kept the plus address.
	answer := testMail{from: customerAddr, to: got.ReplyTo[0].Addr, id: "answer-2@example.org", subject: "Re: Order 1042 has not arrived",
		inReplyTo: sent.ExternalID, references: "first-1@example.org " + sent.ExternalID, body: "Thanks, got the tracking number."}
	mangled := testMail{from: customerAddr, to: got.ReplyTo[0].Addr, id: "answer-3@example.org", subject: "AW: Order 1042 has not arrived",
		body: "Outlook ate the headers."}
	p.Send(t, customerAddr, []string{got.ReplyTo[0].Addr}, answer.bytes())
	p.Send(t, customerAddr, []string{got.ReplyTo[0].Addr}, mangled.bytes())
	for _, id := range []string{"answer-2@example.org", "answer-3@example.org"} {
		var m inbox.Message
		waitFor(t, 10*time.Second, id, func() bool {
			var err error
			m, err = e.store.MessageByExternalID(ctx, inbox.ChannelEmail, id)
			return err == nil
		})
		if m.ConversationID != in.ConversationID || m.ThreadKey != in.ThreadKey {
			t.Errorf("%s: conversation %s thread %q (by %s), want %s %q", id, m.ConversationID, m.ThreadKey, m.Meta["email.threadBy"], in.ConversationID, in.ThreadKey)
		}
	}
	waitFor(t, 5*time.Second, "the imports counted", func() bool { return c.Status().Imported >= 3 })
	if s := c.Status(); s.Imported != 3 || s.LastError != "" {
		t.Errorf("status %+v", s)
	}
}

// A dovecot outage of any length loses nothing: mail queued by OpenSMTPD while dovecot is down is
// imported exactly once when it is back, and a restarted connector does not import anything again.
func TestOutage(t *testing.T) {
	p := mailpeers.Start(t)
	e := newTestEnv(t)
	ctx := context.Background()
	c := New(peerMailbox(p, supportAddr), Deps{Inbox: e.inbox, Store: e.store, State: e.store, Blobs: e.blobs, Log: e.log})
	stop := runConnector(t, c)
	p.Send(t, customerAddr, []string{supportAddr}, testMail{from: customerAddr, id: "before@example.org"}.bytes())
	waitFor(t, 10*time.Second, "the first mail", func() bool {
		_, err := e.store.MessageByExternalID(ctx, inbox.ChannelEmail, "before@example.org")
		return err == nil
	})

	p.StopDovecot(t)
	waitFor(t, 10*time.Second, "the connector to notice", func() bool { s := c.Status(); return !s.Connected && s.LastError != "" })
	const n = 50
	for i := range n {
		from := fmt.Sprintf("c%02d@example.org", i%7) // several customers, several mails each
		p.Send(t, from, []string{supportAddr}, testMail{from: from, id: fmt.Sprintf("outage-%02d@example.org", i),
			subject: fmt.Sprintf("Question %d", i)}.bytes())
	}
	time.Sleep(1500 * time.Millisecond) // the connector keeps failing to reconnect meanwhile
	p.StartDovecot(t)
	p.Flush(t)
	waitFor(t, 30*time.Second, "all 50 queued mails", func() bool { return c.Status().Imported == n+1 })

	for i := range n {
		m, err := e.store.MessageByExternalID(ctx, inbox.ChannelEmail, fmt.Sprintf("outage-%02d@example.org", i))
		if err != nil {
			t.Errorf("mail %d missing: %v", i, err)
			continue
		}
		if m.Meta["email.from"] != fmt.Sprintf("c%02d@example.org", i%7) {
			t.Errorf("mail %d from %q", i, m.Meta["email.from"])
		}
	}
	total := 0
	list, _ := e.store.ListConversations(ctx, inbox.ConversationFilter{Limit: 100})
	for _, conv := range list {
		total += len(e.messages(t, conv.ID))
	}
	if total != n+1 {
		t.Errorf("%d messages stored, want %d (exactly once each)", total, n+1)
	}

	// A new instance (a restart) resumes from the stored state: the next mail only.
	stop()
	c2 := New(peerMailbox(p, supportAddr), Deps{Inbox: e.inbox, Store: e.store, State: e.store, Blobs: e.blobs, Log: e.log})
	runConnector(t, c2)
	waitFor(t, 10*time.Second, "the restarted connector", func() bool { return c2.Status().Connected })
	p.Send(t, customerAddr, []string{supportAddr}, testMail{from: customerAddr, id: "after@example.org"}.bytes())
	waitFor(t, 10*time.Second, "the mail after the restart", func() bool {
		_, err := e.store.MessageByExternalID(ctx, inbox.ChannelEmail, "after@example.org")
		return err == nil
	})
	// The status counts a mail after its last step, a moment after the message is stored.
	waitFor(t, 5*time.Second, "the import counted", func() bool { return c2.Status().Imported > 0 })
	if s := c2.Status(); s.Imported != 1 {
		t.Errorf("restarted connector imported %d mails, want 1", s.Imported)
	}
}

// The first connection imports only the look-back window; older mail stays on the server.
func TestLookBack(t *testing.T) {
	p := mailpeers.Start(t)
	e := newTestEnv(t)
	ctx := context.Background()
	now := time.Now()
	p.Append(t, supportAddr, "INBOX", testMail{id: "old@x", date: now.Add(-30 * 24 * time.Hour)}.bytes(), now.Add(-30*24*time.Hour))
	p.Append(t, supportAddr, "INBOX", testMail{id: "recent@x", date: now.Add(-2 * 24 * time.Hour)}.bytes(), now.Add(-2*24*time.Hour))
	mb := peerMailbox(p, supportAddr)
	mb.LookBack = 7 * 24 * time.Hour
	c := New(mb, Deps{Inbox: e.inbox, Store: e.store, State: e.store, Blobs: e.blobs, Log: e.log})
	runConnector(t, c)
	waitFor(t, 10*time.Second, "the first sync", func() bool { return c.Status().Connected && !c.Status().LastSync.IsZero() })
	p.Append(t, supportAddr, "INBOX", testMail{id: "new@x"}.bytes(), now)
	waitFor(t, 10*time.Second, "the new mail", func() bool {
		_, err := e.store.MessageByExternalID(ctx, inbox.ChannelEmail, "new@x")
		return err == nil
	})
	if _, err := e.store.MessageByExternalID(ctx, inbox.ChannelEmail, "recent@x"); err != nil {
		t.Errorf("mail inside the window not imported: %v", err)
	}
	if _, err := e.store.MessageByExternalID(ctx, inbox.ChannelEmail, "old@x"); !errors.Is(err, inbox.ErrNotFound) {
		t.Errorf("mail older than the window imported (err %v)", err)
	}
}

// When the server renumbers the folder (UIDVALIDITY changes), the connector re-imports by date
// and Message-ID dedupe keeps every mail once.
func TestUIDValidityChange(t *testing.T) {
	p := mailpeers.Start(t)
	e := newTestEnv(t)
	ctx := context.Background()
	for i := range 3 {
		p.Append(t, supportAddr, "INBOX", testMail{id: fmt.Sprintf("v%d@x", i)}.bytes(), time.Now())
	}
	c := New(peerMailbox(p, supportAddr), Deps{Inbox: e.inbox, Store: e.store, State: e.store, Blobs: e.blobs, Log: e.log})
	stop := runConnector(t, c)
	waitFor(t, 10*time.Second, "the first import", func() bool { return c.Status().Imported == 3 })
	oldValidity := c.Status().UIDValidity
	stop()

	out, err := p.Doveadm("mailbox", "update", "-u", supportAddr, "--uid-validity", fmt.Sprint(oldValidity+1000), "INBOX")
	if err != nil {
		t.Fatalf("doveadm: %v %s", err, out)
	}
	p.Append(t, supportAddr, "INBOX", testMail{id: "v3@x"}.bytes(), time.Now())

	c2 := New(peerMailbox(p, supportAddr), Deps{Inbox: e.inbox, Store: e.store, State: e.store, Blobs: e.blobs, Log: e.log})
	runConnector(t, c2)
	waitFor(t, 10*time.Second, "the mail after the renumbering", func() bool {
		_, err := e.store.MessageByExternalID(ctx, inbox.ChannelEmail, "v3@x")
		return err == nil
	})
	if s := c2.Status(); s.UIDValidity == oldValidity {
		t.Fatalf("UIDVALIDITY did not change (%d)", s.UIDValidity)
	}
	m := e.byExternalID(t, "v0@x")
	if n := len(e.messages(t, m.ConversationID)); n != 4 {
		t.Errorf("%d messages after the re-import, want 4", n)
	}
}

// Two instances share one mailbox: one reads it, the other waits; when the first stops, the
// second takes over and nothing is imported twice.
func TestLease(t *testing.T) {
	p := mailpeers.Start(t)
	e := newTestEnv(t)
	ctx := context.Background()
	mk := func(owner string) *Connector {
		return New(peerMailbox(p, supportAddr), Deps{Inbox: e.inbox, Store: e.store, State: e.store, Blobs: e.blobs, Log: e.log, Owner: owner})
	}
	a, b := mk("instance-a"), mk("instance-b")
	stopA := runConnector(t, a)
	waitFor(t, 10*time.Second, "instance a connected", func() bool { return a.Status().Connected })
	runConnector(t, b)
	waitFor(t, 10*time.Second, "instance b on standby", func() bool { return b.Status().Standby })
	p.Send(t, customerAddr, []string{supportAddr}, testMail{from: customerAddr, id: "l1@example.org"}.bytes())
	waitFor(t, 10*time.Second, "l1", func() bool { return a.Status().Imported == 1 })
	if b.Status().Connected {
		t.Errorf("both instances read the mailbox")
	}
	stopA() // releases the lease
	waitFor(t, 15*time.Second, "instance b takes over", func() bool { return b.Status().Connected })
	p.Send(t, customerAddr, []string{supportAddr}, testMail{from: customerAddr, id: "l2@example.org"}.bytes())
	waitFor(t, 10*time.Second, "l2", func() bool {
		_, err := e.store.MessageByExternalID(ctx, inbox.ChannelEmail, "l2@example.org")
		return err == nil
	})
	// The counter moves just after the message is stored: wait for it rather than read it once.
	waitFor(t, 5*time.Second, "two imports in total", func() bool { return a.Status().Imported+b.Status().Imported >= 2 })
	if a.Status().Imported+b.Status().Imported != 2 {
		t.Errorf("imported %d + %d, want 2 in total", a.Status().Imported, b.Status().Imported)
	}
}

// Connection modes and failures an admin sees in the status.
func TestConnectionModes(t *testing.T) {
	p := mailpeers.Start(t)
	tests := []struct {
		name    string
		mutate  func(mb *Mailbox)
		wantErr string // "" when the connector must connect
	}{
		{name: "implicit TLS (IMAPS)", mutate: func(mb *Mailbox) { mb.IMAP.TLS, mb.IMAP.Port = TLSImplicit, p.IMAPSPort() }},
		{name: "STARTTLS", mutate: func(mb *Mailbox) {}},
		{name: "plain on loopback", mutate: func(mb *Mailbox) { mb.IMAP.TLS, mb.IMAP.CAFile = TLSNone, "" }},
		{name: "wrong password", mutate: func(mb *Mailbox) { mb.IMAP.Password = "wrong" }, wantErr: "login"},
		{name: "untrusted certificate", mutate: func(mb *Mailbox) { mb.IMAP.CAFile = "" }, wantErr: "certificate"},
		{name: "nothing listening", mutate: func(mb *Mailbox) { mb.IMAP.Port = mailpeers.FreePorts(t, 1)[0] }, wantErr: "connect"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newTestEnv(t)
			mb := peerMailbox(p, supportAddr)
			tc.mutate(&mb)
			c := New(mb, Deps{Inbox: e.inbox, Store: e.store, State: e.store, Blobs: e.blobs, Log: e.log})
			runConnector(t, c)
			if tc.wantErr == "" {
				waitFor(t, 10*time.Second, "connected", func() bool { return c.Status().Connected })
				return
			}
			waitFor(t, 10*time.Second, "an error in the status", func() bool { return c.Status().LastError != "" })
			s := c.Status()
			if s.Connected || !strings.Contains(strings.ToLower(s.LastError), tc.wantErr) {
				t.Errorf("status %+v, want an error mentioning %q", s, tc.wantErr)
			}
			if strings.Contains(s.LastError, mailpeers.Password) || strings.Contains(s.LastError, "wrong") {
				t.Errorf("the error shows the password: %s", s.LastError)
			}
		})
	}
}

// SMTP outcomes map to the outbox's retry rules: 5xx is permanent, a server that is down is retried.
func TestSendErrors(t *testing.T) {
	p := mailpeers.Start(t)
	ctx := context.Background()
	tests := []struct {
		name      string
		customer  string
		smtpPort  int
		permanent bool
	}{
		{name: "recipient refused (550)", customer: "someone@reject.example", smtpPort: p.SMTPPort(), permanent: true},
		{name: "relay down", customer: customerAddr, smtpPort: mailpeers.FreePorts(t, 1)[0], permanent: false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newTestEnv(t)
			mb := peerMailbox(p, supportAddr)
			mb.SMTP.Port = tc.smtpPort
			c := New(mb, Deps{Inbox: e.inbox, Store: e.store, State: e.store, Blobs: e.blobs, Log: e.log})
			if err := c.IngestRaw(ctx, testMail{from: tc.customer, id: "q@" + tc.name[:4]}.bytes(), time.Now()); err != nil {
				t.Fatal(err)
			}
			m := e.byExternalID(t, "q@"+tc.name[:4])
			reply, err := e.inbox.Reply(ctx, inbox.ReplyRequest{ConversationID: m.ConversationID, AgentID: "a", Channel: inbox.ChannelEmail, Text: "hi"})
			if err != nil {
				t.Fatal(err)
			}
			cust, _ := e.store.CustomerByID(ctx, m.CustomerID)
			conv, _ := e.store.ConversationByID(ctx, m.ConversationID)
			_, err = c.Send(ctx, inbox.Outbound{Message: reply, Customer: cust, Conversation: conv, Attempt: 1})
			var perm *inbox.PermanentError
			if err == nil || errors.As(err, &perm) != tc.permanent {
				t.Errorf("Send error %v, permanent=%v; want permanent=%v", err, errors.As(err, &perm), tc.permanent)
			}
		})
	}
}

// Without IDLE (a server that lacks it, or NoIdle) the folder is polled.
func TestPolling(t *testing.T) {
	p := mailpeers.Start(t)
	e := newTestEnv(t)
	ctx := context.Background()
	mb := peerMailbox(p, supportAddr)
	mb.IMAP.NoIdle, mb.IMAP.PollInterval = true, 300*time.Millisecond
	c := New(mb, Deps{Inbox: e.inbox, Store: e.store, State: e.store, Blobs: e.blobs, Log: e.log})
	runConnector(t, c)
	waitFor(t, 10*time.Second, "connected", func() bool { return c.Status().Connected })
	if c.Status().Idle {
		t.Fatal("IDLE used despite NoIdle")
	}
	p.Send(t, customerAddr, []string{supportAddr}, testMail{from: customerAddr, id: "polled@example.org"}.bytes())
	waitFor(t, 10*time.Second, "the polled mail", func() bool {
		_, err := e.store.MessageByExternalID(ctx, inbox.ChannelEmail, "polled@example.org")
		return err == nil
	})
}

// flakyInbox is the real inbox with one injected failure: the nth Ingest fails as a database
// outage would, once.
type flakyInbox struct {
	*inbox.Inbox
	calls, failAt int
}

func (f *flakyInbox) Ingest(ctx context.Context, in inbox.Inbound) (inbox.IngestResult, error) {
	f.calls++
	if f.calls == f.failAt {
		return inbox.IngestResult{}, errors.New("database is locked")
	}
	return f.Inbox.Ingest(ctx, in)
}

// The import position only advances past stored mail: a failure in the middle of a batch ends the
// session, and the next one resumes at the mail that failed, losing and repeating nothing.
func TestIngestFailureResumes(t *testing.T) {
	p := mailpeers.Start(t)
	e := newTestEnv(t)
	ctx := context.Background()
	const n = 20
	for i := range n {
		p.Append(t, supportAddr, "INBOX", testMail{from: fmt.Sprintf("c%d@example.org", i%3), id: fmt.Sprintf("f%02d@x", i)}.bytes(), time.Now())
	}
	flaky := &flakyInbox{Inbox: e.inbox, failAt: 7}
	c := New(peerMailbox(p, supportAddr), Deps{Inbox: flaky, Store: e.store, State: e.store, Blobs: e.blobs, Log: e.log})
	runConnector(t, c)
	waitFor(t, 15*time.Second, "all mails", func() bool { return c.Status().Imported == n })
	if s := c.Status(); !strings.Contains(s.LastError, "database is locked") || s.LastUID != n || s.Duplicates != 0 {
		t.Errorf("status %+v: want the failure reported, the position at UID %d, nothing fetched twice", s, n)
	}
	total := 0
	for i := range 3 {
		cid, err := e.store.CustomerIDByIdentity(ctx, inbox.KindEmail, fmt.Sprintf("c%d@example.org", i))
		if err != nil {
			t.Fatal(err)
		}
		conv, _ := e.store.ConversationByCustomer(ctx, cid)
		total += len(e.messages(t, conv.ID))
	}
	if total != n {
		t.Errorf("%d messages stored, want %d", total, n)
	}
}
