package email

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/serambi/serambi/inbox"
)

// Meta keys a reply may carry (inbox.ReplyRequest.Meta) to say which mail it answers. Without
// them a reply answers the conversation's latest email.
const (
	// MetaReplyTo is the inbox id of the message being answered.
	MetaReplyTo = "email.replyToMessage"
	// MetaThreadKey is the thread to answer in (its latest message is answered).
	MetaThreadKey = "email.threadKey"
)

// Send delivers an outbound message of the conversation by SMTP; it is the inbox.Sender of
// ChannelEmail. It returns the Message-ID it gave the mail (without brackets), which the outbox
// stores as the message's ExternalID, so the customer's answer threads by it. The Message-ID
// is derived from the message id, so a retry after an unclear failure sends the same id and the
// recipient's client shows one mail. An SMTP 5xx is permanent (inbox.Permanent); 4xx and
// network errors are retried by the outbox.
func (c *Connector) Send(ctx context.Context, out inbox.Outbound) (string, error) {
	m := out.Message
	if m.Channel != inbox.ChannelEmail {
		return "", inbox.Permanent(fmt.Errorf("email connector asked to send a %s message", m.Channel))
	}
	parent, err := c.parentOf(ctx, out)
	if err != nil {
		return "", err
	}
	to, err := recipientFor(out.Customer, parent)
	if err != nil {
		return "", inbox.Permanent(err)
	}
	_, domain, _ := strings.Cut(c.mb.Address, "@")
	msgID := m.ID + "@" + domain

	threadKey, subject, inReplyTo := msgID, strings.TrimSpace(m.Subject), ""
	var refs []string
	if parent != nil {
		var prec sentRecord
		if parent.Direction == inbox.DirectionOut {
			if _, err := getJSON(ctx, c.deps.State, sentKey(parent.ExternalID), &prec); err != nil {
				return "", err
			}
		}
		threadKey = firstNonEmpty(parent.ThreadKey, prec.ThreadKey, parent.ExternalID)
		inReplyTo = firstNonEmpty(parent.Meta["email.messageId"], parent.ExternalID)
		if parent.Direction == inbox.DirectionOut {
			refs = append(refs, prec.References...)
		} else {
			refs = append(refs, strings.Fields(parent.Meta["email.references"])...)
			if len(refs) == 0 && parent.Meta["email.inReplyTo"] != "" {
				refs = append(refs, strings.Fields(parent.Meta["email.inReplyTo"])[0])
			}
		}
		if inReplyTo != "" && !slices.Contains(refs, inReplyTo) {
			refs = append(refs, inReplyTo)
		}
		if len(refs) > maxMetaIDs {
			refs = append([]string{refs[0]}, refs[len(refs)-maxMetaIDs+1:]...)
		}
		if subject == "" {
			subject = replySubject(firstNonEmpty(parent.Subject, prec.Subject))
		}
	}
	if subject == "" {
		subject = "Message from " + firstNonEmpty(c.mb.DisplayName, c.mb.Address)
	}

	subject = cleanHeaderText(subject) // no header injection through an agent's subject or name
	from := Address{Name: cleanHeaderText(fromName(m.AuthorName, c.mb.DisplayName)), Addr: c.mb.Address}
	var replyTo *Address
	if c.mb.PlusAddressing {
		addr, err := c.threadAddress(ctx, tokenRecord{ThreadKey: threadKey, Subject: subject, CustomerID: out.Customer.ID,
			ConversationID: m.ConversationID, To: []string{to}})
		if err != nil {
			return "", err
		}
		replyTo = &Address{Name: firstNonEmpty(c.mb.DisplayName, from.Name), Addr: addr}
	}
	// Recorded before the mail leaves, so that an answer arriving at once finds its thread.
	if err := putJSON(ctx, c.deps.State, sentKey(msgID), sentRecord{
		ThreadKey: threadKey, Subject: subject, References: refs, ConversationID: m.ConversationID,
		CustomerID: out.Customer.ID, MessageID: m.ID, Mailbox: c.mb.ID, To: to,
	}); err != nil {
		return "", err
	}

	mail := outgoing{
		From: from, ReplyTo: replyTo, To: []Address{{Name: cleanHeaderText(out.Customer.Name), Addr: to}}, Subject: subject,
		MessageID: msgID, InReplyTo: inReplyTo, References: refs, Date: firstTime(m.CreatedAt, c.now()),
		Text: m.Text, HTML: m.HTML, Meta: m.Meta,
	}
	for _, a := range m.Attachments {
		sha := a.SHA256
		f := outgoingFile{Name: firstNonEmpty(a.Name, "attachment"), ContentType: a.ContentType,
			Open: func() (io.ReadCloser, error) { return c.deps.Blobs.Open(ctx, sha) }}
		if a.Inline {
			f.ContentID = sha // the console writes inline images as cid:<sha256>
		}
		mail.Files = append(mail.Files, f)
	}
	raw, err := composeBytes(mail)
	if err != nil {
		if errors.Is(err, inbox.ErrNotFound) {
			return "", inbox.Permanent(fmt.Errorf("compose: %w", err))
		}
		return "", fmt.Errorf("compose: %w", err)
	}
	if err := c.sendSMTP(ctx, c.mb.Address, []string{to}, raw); err != nil {
		return "", err
	}
	if c.mb.SentFolder != "" {
		if err := c.appendSent(ctx, raw); err != nil {
			// The customer has the mail; a missing copy in Sent is not worth sending it twice.
			c.log.Warn("could not save a copy in the sent folder", "folder", c.mb.SentFolder, "err", err)
		}
	}
	return msgID, nil
}

// threadAddress issues (idempotently) the plus address of a customer's thread,
// support+<token>@domain, and records what the token stands for, adding rec.To to the addresses
// it was sent to before.
func (c *Connector) threadAddress(ctx context.Context, rec tokenRecord) (string, error) {
	key, err := c.tokenKeyBytes(ctx)
	if err != nil {
		return "", err
	}
	tok := threadToken(key, rec.CustomerID, rec.ThreadKey)
	var before tokenRecord
	if _, err := getJSON(ctx, c.deps.State, tokenKey(tok), &before); err != nil {
		return "", err
	}
	// Read, then write: two sends in one thread at once may keep only one of their addresses,
	// which costs an answer to the other only the proof, never its thread (In-Reply-To remains).
	for _, a := range before.To {
		if !slices.Contains(rec.To, a) {
			rec.To = append(rec.To, a)
		}
	}
	if len(rec.To) > maxTokenRecipients {
		rec.To = rec.To[:maxTokenRecipients]
	}
	if err := putJSON(ctx, c.deps.State, tokenKey(tok), rec); err != nil {
		return "", err
	}
	local, domain, _ := strings.Cut(c.mb.Address, "@")
	return local + "+" + tok + "@" + domain, nil
}

// parentOf finds the mail a reply answers: the one named in its Meta, else the latest email in
// the named thread, else the conversation's latest email. nil when the conversation has none
// (the reply starts a thread).
func (c *Connector) parentOf(ctx context.Context, out inbox.Outbound) (*inbox.Message, error) {
	m := out.Message
	if id := m.Meta[MetaReplyTo]; id != "" {
		p, err := c.deps.Store.MessageByID(ctx, id)
		if err == nil && p.Channel == inbox.ChannelEmail && p.ConversationID == m.ConversationID {
			return &p, nil
		}
		if err != nil && !errors.Is(err, inbox.ErrNotFound) {
			return nil, fmt.Errorf("load message %s: %w", id, err)
		}
	}
	thread := firstNonEmpty(m.ThreadKey, m.Meta[MetaThreadKey])
	var cur inbox.Cursor
	for page := 0; page < 10; page++ {
		msgs, err := c.deps.Store.ListMessages(ctx, m.ConversationID, cur, 100)
		if err != nil {
			return nil, fmt.Errorf("list messages of %s: %w", m.ConversationID, err)
		}
		for i := range msgs {
			x := msgs[i]
			if x.ID == m.ID || x.Channel != inbox.ChannelEmail || x.ExternalID == "" {
				continue
			}
			if x.Direction != inbox.DirectionIn && !(x.Direction == inbox.DirectionOut && x.Delivery != inbox.DeliveryFailed) {
				continue
			}
			if thread != "" && x.ThreadKey != thread && !(x.Direction == inbox.DirectionOut && c.sentThread(ctx, x.ExternalID) == thread) {
				continue
			}
			return &x, nil
		}
		if len(msgs) < 100 {
			break
		}
		last := msgs[len(msgs)-1]
		cur = inbox.Cursor{At: last.CreatedAt, ID: last.ID}
	}
	return nil, nil
}

func (c *Connector) sentMailbox(ctx context.Context, messageID string) string {
	var rec sentRecord
	if ok, err := getJSON(ctx, c.deps.State, sentKey(messageID), &rec); err != nil || !ok {
		return ""
	}
	return rec.Mailbox
}

func (c *Connector) sentThread(ctx context.Context, messageID string) string {
	var rec sentRecord
	if ok, err := getJSON(ctx, c.deps.State, sentKey(messageID), &rec); err != nil || !ok {
		return ""
	}
	return rec.ThreadKey
}

// recipientFor picks the address a reply goes to: the one the answered mail came from when it is
// still the customer's and reachable, else the customer's first reachable address.
func recipientFor(cust inbox.Customer, parent *inbox.Message) (string, error) {
	reachable := func(addr string) bool {
		for _, id := range cust.Identities {
			if id.Kind == inbox.KindEmail && id.Value == addr {
				return !id.Unreachable
			}
		}
		return false
	}
	if parent != nil && parent.Direction == inbox.DirectionIn {
		if a := parent.Meta["email.from"]; a != "" && reachable(a) {
			return a, nil
		}
	}
	for _, id := range cust.Identities {
		if id.Kind == inbox.KindEmail && !id.Unreachable {
			return id.Value, nil
		}
	}
	return "", fmt.Errorf("customer %s has no reachable email address: %w", cust.ID, inbox.ErrNoChannel)
}

// fromName shows who answered: "Siti | Example Support".
func fromName(agent, team string) string {
	agent, team = strings.TrimSpace(agent), strings.TrimSpace(team)
	switch {
	case agent == "":
		return team
	case team == "":
		return agent
	}
	return agent + " | " + team
}

func firstNonEmpty(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}

func firstTime(t ...time.Time) time.Time {
	for _, x := range t {
		if !x.IsZero() {
			return x
		}
	}
	return time.Time{}
}

// tlsConfig trusts the system roots plus caFile.
func tlsConfig(host, caFile string) (*tls.Config, error) {
	cfg := &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
	if caFile == "" {
		return cfg, nil
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("read CA file: %w", err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("CA file %s holds no PEM certificate", caFile)
	}
	cfg.RootCAs = pool
	return cfg, nil
}

// sendSMTP delivers raw to the configured server. 5xx replies are permanent; everything else
// (4xx, refused connections, timeouts) is worth another attempt.
func (c *Connector) sendSMTP(ctx context.Context, from string, to []string, raw []byte) error {
	cfg := c.mb.SMTP
	addr := net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port))
	d := net.Dialer{Timeout: 30 * time.Second}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("connect to SMTP %s: %w", addr, err)
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	defer stop()
	var client *smtp.Client
	switch cfg.TLS {
	case TLSImplicit:
		tc, err := tlsConfig(cfg.Host, cfg.CAFile)
		if err != nil {
			conn.Close()
			return inbox.Permanent(err)
		}
		client = smtp.NewClient(tls.Client(conn, tc))
	case TLSStartTLS:
		tc, err := tlsConfig(cfg.Host, cfg.CAFile)
		if err != nil {
			conn.Close()
			return inbox.Permanent(err)
		}
		if client, err = smtp.NewClientStartTLS(conn, tc); err != nil {
			conn.Close()
			return smtpError("STARTTLS", err)
		}
	default:
		client = smtp.NewClient(conn)
	}
	defer client.Close()
	if err := client.Hello(cfg.HeloName); err != nil {
		return smtpError("EHLO", err)
	}
	if cfg.Username != "" {
		if err := client.Auth(sasl.NewPlainClient("", cfg.Username, cfg.Password.Reveal())); err != nil {
			// Not permanent even when the server says 535: an admin can fix the password, and the
			// outbox's retries give them the time to.
			return fmt.Errorf("SMTP AUTH as %s: %w", cfg.Username, err)
		}
	}
	if err := client.SendMail(from, to, strings.NewReader(string(raw))); err != nil {
		return smtpError("send", err)
	}
	if err := client.Quit(); err != nil {
		c.log.Debug("SMTP QUIT failed after the mail was accepted", "err", err)
	}
	return nil
}

func smtpError(step string, err error) error {
	var se *smtp.SMTPError
	if errors.As(err, &se) && se.Code >= 500 && se.Code < 600 {
		return inbox.Permanent(fmt.Errorf("SMTP %s: %w", step, err))
	}
	return fmt.Errorf("SMTP %s: %w", step, err)
}
