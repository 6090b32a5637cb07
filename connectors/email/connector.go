// Package email is the email channel: IMAP in (IDLE, or polling), SMTP out through the outbox,
// MIME parsing, and threading that neither splits a thread nor glues unrelated mail.
//
// One Connector serves one Mailbox. Run imports the mailbox and keeps importing (only one instance
// at a time, under a lease); Send is the inbox.Sender of ChannelEmail for that mailbox.
//
// What an incoming message looks like in the inbox:
//   - ExternalID is its Message-ID without brackets; a mail without one gets "sha256:<hex of the
//     raw bytes>"; a second, different mail reusing a stored Message-ID gets "<id>#<fingerprint>".
//   - ThreadKey is the Message-ID of its thread's root (see threadFor for the rules).
//   - HTML is sanitised. Inline images are Attachments with Inline and ContentID, and the HTML
//     refers to them as src="cid:<sha256>"; remote images keep their address in data-remote-src
//     until an agent loads them; quoted history starts at the element marked data-serambi-quote.
//   - Meta holds the mail's headers the console and the replies need: email.messageId,
//     email.inReplyTo, email.references, email.from, email.to, email.cc, email.replyTo,
//     email.quoteAt (byte offset of quoted history in Text), email.quoted, email.remoteImages,
//     email.threadBy, email.auto, email.raw (blob of the source), email.mailbox.
//   - AnsweredCustomerID names the customer when the mail answers one we sent to its From address
//     (see answeredCustomer): the address is then theirs, verified, even if they had only typed it
//     into the chat widget, and the answer joins their conversation.
//
// Automatic mail (bounces, out-of-office replies, read receipts) is never a message to answer:
// it becomes an event on the conversation of the mail it is about.
package email

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/serambi/serambi/connectors"
	"github.com/serambi/serambi/inbox"
)

// Inbox is what the connector needs from the inbox service; *inbox.Inbox implements it.
type Inbox interface {
	connectors.Ingester
	// AddChannelEvent records a bounce or an auto-reply once, keyed by the automatic mail's id.
	AddChannelEvent(ctx context.Context, conversationID string, ch inbox.Channel, externalID string, e inbox.Event) (inbox.Message, bool, error)
	RecordDelivery(ctx context.Context, ch inbox.Channel, externalID string, u inbox.DeliveryUpdate) error
	// SetUnreachable marks an address that bounces (and clears it when the customer writes).
	SetUnreachable(ctx context.Context, customerID string, kind inbox.IdentityKind, value string, unreachable bool) error
}

// Store is the part of inbox.Store the connector reads for threading and replies.
type Store interface {
	MessageByID(ctx context.Context, id string) (inbox.Message, error)
	MessageByExternalID(ctx context.Context, ch inbox.Channel, externalID string) (inbox.Message, error)
	ListMessages(ctx context.Context, conversationID string, before inbox.Cursor, limit int) ([]inbox.Message, error)
	SetThreadKey(ctx context.Context, conversationID, oldKey, newKey string) (int, error)
	CustomerIDByIdentity(ctx context.Context, kind inbox.IdentityKind, value string) (string, error)
	CustomerByID(ctx context.Context, id string) (inbox.Customer, error)
	ConversationByCustomer(ctx context.Context, customerID string) (inbox.Conversation, error)
}

// Deps are the connector's collaborators.
type Deps struct {
	Inbox Inbox
	Store Store
	State connectors.StateStore
	Blobs inbox.Blobs
	Log   *slog.Logger
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// Owner names this instance in the mailbox lease; it must differ between instances. A random
	// id when empty.
	Owner string
}

// Event kinds the connector records.
const (
	EventBounce    inbox.EventKind = "email_bounce"
	EventAutoReply inbox.EventKind = "email_auto_reply"
)

// Connector imports one mailbox and sends its replies.
type Connector struct {
	mb     Mailbox
	deps   Deps
	log    *slog.Logger
	now    func() time.Time
	owner  string
	parser *Parser

	mu          sync.Mutex
	status      Status
	tokenSecret []byte

	// wake is signalled by the IMAP client when the server reports new mail.
	wake chan struct{}
}

// New returns a connector for mb (defaults applied). It does nothing until Run or Send is called.
func New(mb Mailbox, deps Deps) *Connector {
	mb = mb.WithDefaults()
	if deps.Now == nil {
		deps.Now = time.Now
	}
	if deps.Log == nil {
		deps.Log = slog.New(slog.DiscardHandler)
	}
	if deps.Owner == "" {
		deps.Owner = inbox.NewID()
	}
	c := &Connector{
		mb: mb, deps: deps, log: deps.Log.With("mailbox", mb.ID), now: func() time.Time { return deps.Now().UTC() },
		owner: deps.Owner, parser: NewParser(), wake: make(chan struct{}, 1),
	}
	c.status.Mailbox = mb.ID
	c.status.Address = mb.Address
	return c
}

// Mailbox returns the connector's configuration (secrets print redacted).
func (c *Connector) Mailbox() Mailbox { return c.mb }

// Status is what an admin sees of a mailbox.
type Status struct {
	Mailbox   string `json:"mailbox"`
	Address   string `json:"address"`
	Connected bool   `json:"connected"`
	// Idle: the server pushes new mail (IMAP IDLE); otherwise the folder is polled.
	Idle bool `json:"idle"`
	// Standby: another instance holds the lease and reads this mailbox.
	Standby     bool      `json:"standby"`
	LastSync    time.Time `json:"lastSync,omitzero"`
	LastError   string    `json:"lastError,omitempty"`
	LastErrorAt time.Time `json:"lastErrorAt,omitzero"`
	UIDValidity uint32    `json:"uidValidity"`
	LastUID     uint32    `json:"lastUid"`
	// Imported counts mails stored as messages, Events those recorded as events, Skipped those
	// left out (unreadable, no sender, our own, automatic mail about nothing we know); since start.
	Imported int64 `json:"imported"`
	// Duplicates counts mails imported again that were stored already (re-syncs), included in Imported.
	Duplicates int64 `json:"duplicates"`
	Events     int64 `json:"events"`
	Skipped    int64 `json:"skipped"`
}

// Status returns a snapshot of the connector's state.
func (c *Connector) Status() Status {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.status
}

func (c *Connector) setStatus(f func(s *Status)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	f(&c.status)
}

func (c *Connector) recordError(err error) {
	c.setStatus(func(s *Status) { s.LastError = err.Error(); s.LastErrorAt = c.now() })
}

// IngestRaw takes one raw mail into the inbox: parsed, threaded, its files stored, and either
// ingested as the customer's message or recorded as an event. It is idempotent. arrived is when
// the server received it (IMAP INTERNALDATE), used when the Date header is missing. An error
// means a dependency failed and the mail should be tried again; a mail that cannot be taken in
// (unreadable, no sender) is logged and skipped without error.
func (c *Connector) IngestRaw(ctx context.Context, raw []byte, arrived time.Time) error {
	return c.ingestPrepared(ctx, c.prepare(ctx, raw, arrived))
}

func (c *Connector) skip(msg string, args ...any) {
	c.log.Warn(msg, args...)
	c.setStatus(func(s *Status) { s.Skipped++ })
}

// prepared is a mail after the work that needs no order: parsing and storing its files. Mails are
// prepared in parallel (the blob store syncs each file to disk, which overlaps well) and then
// ingested one by one in arrival order.
type prepared struct {
	raw     []byte
	arrived time.Time
	p       *Parsed
	// parseErr: the mail is unreadable and will be skipped.
	parseErr error
	atts     []inbox.Attachment
	// skipped lists files over the size limit.
	skipped []string
	rawSHA  string
	// err: a dependency (the blob store) failed; the mail must be tried again.
	err error
}

func (c *Connector) prepare(ctx context.Context, raw []byte, arrived time.Time) *prepared {
	pr := &prepared{raw: raw, arrived: arrived}
	pr.p, pr.parseErr = c.parser.Parse(raw)
	if pr.parseErr != nil || !c.wantsMessage(pr.p) {
		return pr
	}
	pr.atts, pr.skipped, pr.err = c.storeParts(ctx, pr.p)
	if pr.err == nil && c.storeRaw(pr.p) {
		sha, _, err := c.deps.Blobs.Put(ctx, bytes.NewReader(raw), int64(len(raw))+1)
		if err != nil {
			pr.err = fmt.Errorf("store the source of %s: %w", pr.p.MessageID, err)
		}
		pr.rawSHA = sha
	}
	return pr
}

// wantsMessage reports whether a parsed mail becomes a message (rather than being skipped or
// recorded as an event): only then are its files worth storing.
func (c *Connector) wantsMessage(p *Parsed) bool {
	if p.From.Addr == "" || isOwnAddress(p.From.Addr, c.mb.Address) {
		return false
	}
	switch p.Auto {
	case AutoBounce, AutoReply, AutoReceipt:
		return false
	}
	return true
}

// storeRaw says whether to keep the mail's source: always, never, or when parsing had to repair
// something (the default), which is when a later, better parser could make more of it.
func (c *Connector) storeRaw(p *Parsed) bool {
	switch c.mb.StoreRaw {
	case StoreRawAlways:
		return true
	case StoreRawNever:
		return false
	}
	for _, w := range p.Warnings {
		if !strings.Contains(w, "Plain Text from HTML") {
			return true
		}
	}
	return false
}

func (c *Connector) ingestPrepared(ctx context.Context, pr *prepared) error {
	if pr.parseErr != nil {
		c.skip("unreadable mail skipped", "err", pr.parseErr, "bytes", len(pr.raw))
		return nil
	}
	if pr.err != nil {
		return pr.err
	}
	p := pr.p
	if p.From.Addr == "" {
		c.skip("mail without a usable sender skipped", "messageId", p.MessageID, "subject", p.Subject)
		return nil
	}
	if isOwnAddress(p.From.Addr, c.mb.Address) {
		// Our own mail (a Bcc or a client saving sent mail into the inbox): never import it, or we
		// would answer ourselves.
		c.setStatus(func(s *Status) { s.Skipped++ })
		return nil
	}
	switch p.Auto {
	case AutoBounce, AutoReply, AutoReceipt:
		return c.recordAuto(ctx, pr.raw, p)
	}
	externalID, err := c.externalID(ctx, pr.raw, p)
	if err != nil {
		return err
	}
	tokens, err := c.tokensOf(ctx, p)
	if err != nil {
		return err
	}
	td, err := c.threadFor(ctx, p, externalID, tokens)
	if err != nil {
		return err
	}
	answered, err := c.answeredCustomer(ctx, p, tokens)
	if err != nil {
		return err
	}
	meta := c.meta(p, td)
	if len(pr.skipped) > 0 {
		meta["email.skippedAttachments"] = strings.Join(pr.skipped, ", ")
	}
	if pr.rawSHA != "" {
		meta["email.raw"] = pr.rawSHA
	}
	sent := p.Date
	if sent.IsZero() {
		sent = pr.arrived
	}
	from := []inbox.Identity{{Kind: inbox.KindEmail, Value: p.From.Addr, Verified: true}}
	for _, r := range p.ReplyTo {
		if r.Addr != p.From.Addr && !isOwnAddress(r.Addr, c.mb.Address) {
			// A Reply-To elsewhere may be the same person (or a form relaying for them): an agent
			// decides, through the merge suggestion an unverified identity produces.
			from = append(from, inbox.Identity{Kind: inbox.KindEmail, Value: r.Addr})
		}
	}
	res, err := c.deps.Inbox.Ingest(ctx, inbox.Inbound{
		Channel: inbox.ChannelEmail, ExternalID: externalID, From: from, Name: p.From.Name,
		Subject: p.Subject, Text: p.Text, HTML: p.HTML, Attachments: pr.atts, ThreadKey: td.Key,
		Meta: meta, SentAt: sent, AnsweredCustomerID: answered,
	})
	if err != nil {
		if errors.Is(err, inbox.ErrInvalid) || errors.Is(err, inbox.ErrNoIdentity) || errors.Is(err, inbox.ErrTooLarge) {
			c.skip("mail refused by the inbox", "messageId", p.MessageID, "err", err)
			return nil
		}
		return fmt.Errorf("ingest %s: %w", externalID, err)
	}
	if externalID == p.MessageID {
		if err := c.joinEarlyReplies(ctx, res.Message.ConversationID, p.MessageID, res.Message.ThreadKey); err != nil {
			return err
		}
	}
	if !res.Duplicate {
		if err := c.clearUnreachable(ctx, res.CustomerID, p.From.Addr); err != nil {
			return err
		}
	}
	c.setStatus(func(s *Status) {
		s.Imported++
		if res.Duplicate {
			s.Duplicates++
		}
	})
	return nil
}

// externalID is the mail's idempotency key: its Message-ID; a hash of the bytes when it has
// none; and, when a different mail already uses the same Message-ID (broken mailers, forged or
// recycled ids), the id with this mail's fingerprint, so neither mail is lost or glued to the
// other.
func (c *Connector) externalID(ctx context.Context, raw []byte, p *Parsed) (string, error) {
	if p.MessageID == "" {
		return "sha256:" + sha256Hex(raw), nil
	}
	m, err := c.deps.Store.MessageByExternalID(ctx, inbox.ChannelEmail, p.MessageID)
	if errors.Is(err, inbox.ErrNotFound) {
		return p.MessageID, nil
	}
	if err != nil {
		return "", fmt.Errorf("look up %s: %w", p.MessageID, err)
	}
	if m.Direction == inbox.DirectionIn && m.Meta["email.fingerprint"] == p.Fingerprint {
		return p.MessageID, nil // the same mail again
	}
	return p.MessageID + "#" + p.Fingerprint, nil
}

const maxMetaIDs = 40

func (c *Connector) meta(p *Parsed, td threadDecision) map[string]string {
	m := map[string]string{
		"email.mailbox":     c.mb.ID,
		"email.from":        p.From.Addr,
		"email.threadBy":    td.By,
		"email.fingerprint": p.Fingerprint,
	}
	set := func(k, v string) {
		if v != "" {
			m[k] = v
		}
	}
	set("email.messageId", p.MessageID)
	set("email.inReplyTo", strings.Join(p.InReplyTo, " "))
	refs := p.References
	if len(refs) > maxMetaIDs {
		// Keep the root and the newest: what a reply's References needs (RFC 5322 3.6.4).
		refs = append([]string{refs[0]}, refs[len(refs)-maxMetaIDs+1:]...)
	}
	set("email.references", strings.Join(refs, " "))
	set("email.to", joinAddrs(p.To))
	set("email.cc", joinAddrs(p.Cc))
	set("email.replyTo", joinAddrs(p.ReplyTo))
	if p.QuoteAt >= 0 {
		m["email.quoteAt"] = strconv.Itoa(p.QuoteAt)
	}
	if p.HTMLQuoted {
		m["email.quoted"] = "1"
	}
	if p.RemoteImages > 0 {
		m["email.remoteImages"] = strconv.Itoa(p.RemoteImages)
	}
	if p.Auto != AutoNone {
		m["email.auto"] = string(p.Auto)
	}
	if len(p.Warnings) > 0 {
		w := strings.Join(p.Warnings, "; ")
		if len(w) > 1000 {
			w = w[:1000]
		}
		m["email.warnings"] = strings.ToValidUTF8(w, "")
	}
	return m
}

func joinAddrs(as []Address) string {
	s := make([]string, len(as))
	for i, a := range as {
		s[i] = a.Addr
	}
	return strings.Join(s, ", ")
}

// storeParts puts each file in the blob store. A file over the size limit is not stored; its
// name is returned so that Meta "email.skippedAttachments" tells the agent to look in the mailbox.
func (c *Connector) storeParts(ctx context.Context, p *Parsed) ([]inbox.Attachment, []string, error) {
	var out []inbox.Attachment
	var skipped []string
	for _, part := range p.Parts {
		if int64(len(part.Data)) > c.mb.MaxAttachmentBytes {
			skipped = append(skipped, part.Name)
			continue
		}
		sha, size, err := c.deps.Blobs.Put(ctx, bytes.NewReader(part.Data), c.mb.MaxAttachmentBytes)
		if errors.Is(err, inbox.ErrTooLarge) {
			skipped = append(skipped, part.Name)
			continue
		}
		if err != nil {
			return nil, nil, fmt.Errorf("store attachment %q: %w", part.Name, err)
		}
		if sha != part.SHA256 {
			// The HTML points at part.SHA256; a store that keys differently would break the links.
			return nil, nil, fmt.Errorf("blob store keyed attachment %q as %s, expected its SHA-256 %s", part.Name, sha, part.SHA256)
		}
		out = append(out, inbox.Attachment{
			SHA256: sha, Name: part.Name, ContentType: part.ContentType, Size: size,
			ContentID: part.ContentID, Inline: part.Inline,
		})
	}
	return out, skipped, nil
}

// clearUnreachable lifts a bounce's "unreachable" flag when the customer writes from the address.
func (c *Connector) clearUnreachable(ctx context.Context, customerID, addr string) error {
	cust, err := c.deps.Store.CustomerByID(ctx, customerID)
	if err != nil {
		return fmt.Errorf("load customer %s: %w", customerID, err)
	}
	for _, id := range cust.Identities {
		if id.Kind == inbox.KindEmail && id.Value == addr && id.Unreachable {
			if err := c.deps.Inbox.SetUnreachable(ctx, customerID, inbox.KindEmail, addr, false); err != nil {
				return fmt.Errorf("clear unreachable %s: %w", addr, err)
			}
		}
	}
	return nil
}
