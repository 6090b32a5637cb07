package inbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/oklog/ulid/v2"

	"github.com/serambi/serambi/bus"
)

// NewID returns a new id: a lower-case ULID, so ids sort by creation time.
func NewID() string { return strings.ToLower(ulid.Make().String()) }

// Metrics is what the inbox reports about its work; the metrics package implements it for Prometheus.
type Metrics interface {
	Ingested(ch Channel, duplicate bool)
	OutboxAttempt(ch Channel, result string)
}

type noMetrics struct{}

func (noMetrics) Ingested(Channel, bool)        {}
func (noMetrics) OutboxAttempt(Channel, string) {}

// Inbox is the core service: every connector, the console and the API go through it.
type Inbox struct {
	store   Store
	events  bus.Publisher
	norm    Normalizer
	now     func() time.Time
	log     *slog.Logger
	metrics Metrics
	// policies let a channel refuse a reply it cannot deliver now (WhatsApp's 24-hour window).
	policies map[Channel]ReplyPolicy
	// wakeOutbox tells the local dispatcher that a job is waiting, so a reply leaves at once
	// rather than at the next poll.
	wakeOutbox func()
	// convIDs remembers customers' conversation ids for Ingest.
	convIDs *idCache
}

// New returns an Inbox. now is the clock (time.Now in production).
func New(store Store, events bus.Publisher, norm Normalizer, now func() time.Time, log *slog.Logger) *Inbox {
	return &Inbox{store: store, events: events, norm: norm, now: func() time.Time { return now().UTC() },
		log: log, metrics: noMetrics{}, wakeOutbox: func() {}, policies: map[Channel]ReplyPolicy{},
		convIDs: newIDCache(50_000)}
}

// SetMetrics sets where the inbox reports its counters.
func (x *Inbox) SetMetrics(m Metrics) { x.metrics = m }

// ReplyPolicy is a channel's own rule about when a reply may leave on it.
type ReplyPolicy interface {
	// CheckReply returns an error wrapping ErrInvalid or ErrNoChannel, saying why, when a reply
	// with this meta (e.g. a template choice) cannot leave on the channel now.
	CheckReply(conv Conversation, meta map[string]string) error
}

// SetReplyPolicy makes Reply consult p before queueing a reply on ch. Call it while wiring, before serving.
func (x *Inbox) SetReplyPolicy(ch Channel, p ReplyPolicy) { x.policies[ch] = p }

// SetOutboxWaker sets the function called after a message is queued for sending.
func (x *Inbox) SetOutboxWaker(wake func()) { x.wakeOutbox = wake }

// Store returns the store the inbox works on, for connectors that keep their own lookups.
func (x *Inbox) Store() Store { return x.store }

// Normalizer returns the identity normalizer in use.
func (x *Inbox) Normalizer() Normalizer { return x.norm }

// IngestResult is what Ingest stored, or found stored already.
type IngestResult struct {
	Message      Message
	Conversation Conversation
	CustomerID   string
	Duplicate    bool
}

const (
	maxTextLen    = 256 << 10 // a longer text is cut, with a marker; the raw source stays with the connector
	maxPreviewLen = 140
)

// Ingest stores an inbound message in its customer's conversation. It is idempotent on
// (Channel, ExternalID): the same message delivered again, or many times at once, is stored once
// and every call returns the same message.
func (x *Inbox) Ingest(ctx context.Context, in Inbound) (IngestResult, error) {
	if !in.Channel.Valid() {
		return IngestResult{}, fmt.Errorf("channel %q: %w", in.Channel, ErrInvalid)
	}
	if in.ExternalID == "" || len(in.ExternalID) > 512 || !utf8.ValidString(in.ExternalID) {
		return IngestResult{}, fmt.Errorf("external id must be 1-512 bytes of UTF-8: %w", ErrInvalid)
	}
	// No look-up of the external id first: new messages are the common case, and InsertMessage
	// finds a repeat itself (a retry then costs the identity reads, and still writes nothing).
	ids, err := x.normalizeFrom(in.From)
	if err != nil {
		return IngestResult{}, err
	}
	now := x.now()
	if in.AnsweredCustomerID != "" {
		if err := x.claimAnswered(ctx, in, ids[0], now); err != nil {
			return IngestResult{}, err
		}
	}
	text := cleanText(in.Text)
	for attempt := 0; ; attempt++ {
		customerID, err := x.resolveCustomer(ctx, in.Name, ids, now)
		if err != nil {
			return IngestResult{}, err
		}
		convID, err := x.conversationOf(ctx, customerID, now)
		if err != nil {
			return IngestResult{}, err
		}
		m := Message{
			ID: NewID(), ConversationID: convID, CustomerID: customerID, Direction: DirectionIn,
			Channel: in.Channel, ExternalID: in.ExternalID, ThreadKey: in.ThreadKey,
			Subject: cleanText(in.Subject), Text: text, HTML: in.HTML, Attachments: in.Attachments,
			AuthorID: customerID, Meta: in.Meta, SentAt: in.SentAt.UTC(), CreatedAt: now,
		}
		stored, after, dup, err := x.store.InsertInbound(ctx, m, x.inboundPatch(m))
		if errors.Is(err, ErrNotFound) && attempt < 2 {
			// The conversation went away since it was remembered: the customer was merged into
			// another (here or on another instance). Resolve again, to the survivor.
			x.convIDs.forget(customerID)
			continue
		}
		if err != nil {
			return IngestResult{}, fmt.Errorf("insert %s message %s: %w", in.Channel, in.ExternalID, err)
		}
		if dup {
			return x.duplicate(ctx, stored)
		}
		if after, err = x.inboundRecorded(ctx, after, stored); err != nil {
			return IngestResult{}, err
		}
		x.metrics.Ingested(in.Channel, false)
		return IngestResult{Message: stored, Conversation: after, CustomerID: customerID}, nil
	}
}

// conversationOf returns the id of the customer's conversation, creating it on their first
// message. A customer has one conversation for life, so the id is remembered; the only way it
// stops being right is a merge that deletes it, which InsertInbound reports.
func (x *Inbox) conversationOf(ctx context.Context, customerID string, now time.Time) (string, error) {
	if id, ok := x.convIDs.get(customerID); ok {
		return id, nil
	}
	conv, err := x.store.EnsureConversation(ctx, Conversation{
		ID: NewID(), CustomerID: customerID, Status: StatusOpen, Tags: []string{},
		Channels: []Channel{}, CreatedAt: now, UpdatedAt: now,
	})
	if err != nil {
		return "", fmt.Errorf("ensure conversation of customer %s: %w", customerID, err)
	}
	x.convIDs.put(customerID, conv.ID)
	return conv.ID, nil
}

// inboundPatch is what an inbound message does to its conversation.
func (x *Inbox) inboundPatch(m Message) ConversationPatch {
	return ConversationPatch{
		Activity: &Activity{MessageID: m.ID, At: m.CreatedAt, Channel: m.Channel,
			Preview: preview(m.Subject, m.Text, len(m.Attachments)), Inbound: true},
		UpdatedAt: x.now(),
	}
}

func (x *Inbox) duplicate(ctx context.Context, m Message) (IngestResult, error) {
	x.metrics.Ingested(m.Channel, true)
	conv, err := x.store.ConversationByID(ctx, m.ConversationID)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return IngestResult{}, fmt.Errorf("load conversation %s: %w", m.ConversationID, err)
	}
	if err == nil && m.Direction == DirectionIn && conv.LastMessageAt.Before(m.CreatedAt) {
		// The message was stored but the step after it (activity, reopen, announcement) never
		// ran: the attempt that stored it failed half-way and this is the caller's retry. Finish
		// the job now, or the conversation would never show the message.
		if conv, err = x.recordInbound(ctx, conv, m); err != nil {
			return IngestResult{}, err
		}
	}
	return IngestResult{Message: m, Conversation: conv, CustomerID: m.CustomerID, Duplicate: true}, nil
}

// recordInbound records a stored inbound message's activity on its conversation, for a message
// whose first attempt stopped after storing it.
func (x *Inbox) recordInbound(ctx context.Context, conv Conversation, m Message) (Conversation, error) {
	_, after, err := x.store.UpdateConversation(ctx, conv.ID, x.inboundPatch(m))
	if errors.Is(err, ErrConflict) {
		// A concurrent delivery of the same message recorded it first, and announced it.
		return x.store.ConversationByID(ctx, conv.ID)
	}
	if err != nil {
		return Conversation{}, fmt.Errorf("record activity on conversation %s: %w", conv.ID, err)
	}
	return x.inboundRecorded(ctx, after, m)
}

// inboundRecorded follows an inbound message's activity: a reopen when the conversation was
// resolved or snoozed, and the events that tell the console.
func (x *Inbox) inboundRecorded(ctx context.Context, after Conversation, m Message) (Conversation, error) {
	if after.Status == StatusResolved || after.Status == StatusSnoozed {
		var err error
		if after, err = x.reopen(ctx, after, x.now()); err != nil {
			return Conversation{}, err
		}
	}
	x.events.Publish(ctx, bus.Event{Topic: bus.MessageAdded, ConversationID: after.ID, CustomerID: m.CustomerID, MessageID: m.ID, At: m.CreatedAt})
	x.events.Publish(ctx, bus.Event{Topic: bus.ConversationChanged, ConversationID: after.ID, CustomerID: m.CustomerID, At: m.CreatedAt})
	return after, nil
}

// reopen moves a resolved or snoozed conversation back to open because the customer wrote, and
// records it in the timeline. Only the caller that wins the conditional update writes the event.
func (x *Inbox) reopen(ctx context.Context, c Conversation, now time.Time) (Conversation, error) {
	open := StatusOpen
	zero := time.Time{}
	before, after, err := x.store.UpdateConversation(ctx, c.ID, ConversationPatch{
		Status: &open, SnoozedUntil: &zero, IfStatus: []Status{StatusResolved, StatusSnoozed}, UpdatedAt: now,
	})
	if errors.Is(err, ErrConflict) {
		return x.store.ConversationByID(ctx, c.ID) // someone else reopened it first
	}
	if err != nil {
		return Conversation{}, fmt.Errorf("reopen conversation %s: %w", c.ID, err)
	}
	if err := x.addEvent(ctx, after, Event{Kind: EventReopened, From: string(before.Status), To: string(StatusOpen)}, now); err != nil {
		return Conversation{}, err
	}
	return after, nil
}

func (x *Inbox) normalizeFrom(from []Identity) ([]Identity, error) {
	var ids []Identity
	for i, id := range from {
		n, err := x.norm.Normalize(id)
		if err != nil {
			if i == 0 {
				return nil, fmt.Errorf("sender: %w (%w)", ErrNoIdentity, err)
			}
			x.log.Info("ignoring an unusable secondary identity", "kind", id.Kind, "err", err)
			continue
		}
		if i == 0 {
			// The channel's own address decides who the customer is: it is what the channel
			// vouches for (the email From, the Telegram user, the widget visitor token).
			n.Verified = true
		}
		if !slices.ContainsFunc(ids, func(o Identity) bool { return o.Key() == n.Key() }) {
			ids = append(ids, n)
		}
	}
	if len(ids) == 0 {
		return nil, ErrNoIdentity
	}
	return ids, nil
}

// resolveCustomer finds the customer the identities belong to, creating one when none does.
// Verified identities that nobody holds yet are linked to that customer; unverified ones are
// kept on it and, where another customer has the same identifier, suggested as a merge.
func (x *Inbox) resolveCustomer(ctx context.Context, name string, ids []Identity, now time.Time) (string, error) {
	for attempt := 0; ; attempt++ {
		owner, others, err := x.ownerOf(ctx, ids)
		if err != nil {
			return "", err
		}
		if owner.ID == "" {
			id, err := x.createCustomer(ctx, name, ids, now)
			var taken *IdentityTakenError
			if errors.As(err, &taken) && attempt < 3 {
				continue // a concurrent ingest created this customer first: join it
			}
			return id, err
		}
		if err := x.linkIdentities(ctx, owner, name, ids, now); err != nil {
			return "", err
		}
		for _, o := range others {
			x.suggest(ctx, owner.ID, o.customerID, o.identity, now)
		}
		return owner.ID, nil
	}
}

// ActionIdentityVerified is the audit action of an identity that Serambi verified on its own
// (a customer answered a mail sent to their address). Data holds the identity's kind and value,
// and the channel and externalId of the answer that proved it.
const ActionIdentityVerified = "identity.verified"

// claimAnswered makes id, the sender's own address, a verified identity of the customer whose
// message at that address they answered (see Inbound.AnsweredCustomerID), so that resolving the
// sender finds that customer. It claims nothing the customer does not already hold: the proof is
// about an address Serambi wrote to on the customer's behalf, so any other address means a
// mistake somewhere, and a wrong claim would put one person's mail in another's conversation.
func (x *Inbox) claimAnswered(ctx context.Context, in Inbound, id Identity, now time.Time) error {
	customerID := in.AnsweredCustomerID
	c, err := x.Customer(ctx, customerID) // follows merges: the address moved with the customer
	if errors.Is(err, ErrNotFound) {
		x.log.Warn("a message answers a customer that does not exist; resolving its sender as usual",
			"customer", customerID, "kind", id.Kind)
		return nil
	}
	if err != nil {
		return err
	}
	have := slices.IndexFunc(c.Identities, func(o Identity) bool { return o.Key() == id.Key() })
	if have < 0 {
		x.log.Warn("a message answers a customer who does not hold its sender's address; claiming nothing",
			"customer", c.ID, "kind", id.Kind)
		return nil
	}
	if c.Identities[have].Verified {
		return nil
	}
	id.Verified, id.AddedAt = true, now
	err = x.store.AddIdentity(ctx, c.ID, id)
	var taken *IdentityTakenError
	if errors.As(err, &taken) {
		// Verified on someone else first: never take it from them. The message goes to them, as
		// it would without the proof; an agent decides whether the two are one person.
		x.suggest(ctx, c.ID, taken.OwnerID, id, now)
		return nil
	}
	if err != nil {
		return fmt.Errorf("verify identity %s of customer %s: %w", id.Key(), c.ID, err)
	}
	x.log.Info("identity verified by an answer to our message", "customer", c.ID, "kind", id.Kind)
	if err := x.store.InsertAudit(ctx, AuditEntry{ID: NewID(), Action: ActionIdentityVerified, CustomerID: c.ID,
		Data: map[string]string{"kind": string(id.Kind), "value": id.Value, "channel": string(in.Channel), "externalId": in.ExternalID},
		At:   now}); err != nil {
		// The claim is made; its explanation is worth a warning, not a lost message.
		x.log.Warn("could not record the verified identity in the audit log", "customer", c.ID, "err", err)
	}
	x.events.Publish(ctx, bus.Event{Topic: bus.CustomerChanged, CustomerID: c.ID, At: now})
	return nil
}

type claimedBy struct {
	customerID string
	identity   Identity
}

// ownerOf returns the customer owning the first claimed verified identity (zero when none is
// claimed), and the other customers that own the rest (conflicts an agent should look at).
func (x *Inbox) ownerOf(ctx context.Context, ids []Identity) (Customer, []claimedBy, error) {
	var owner Customer
	var others []claimedBy
	for _, id := range ids {
		if !id.Verified {
			continue
		}
		cid, err := x.store.CustomerIDByIdentity(ctx, id.Kind, id.Value)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return Customer{}, nil, fmt.Errorf("look up identity %s: %w", id.Key(), err)
		}
		if owner.ID != "" && cid == owner.ID {
			continue
		}
		c, err := x.Customer(ctx, cid)
		if err != nil {
			return Customer{}, nil, err
		}
		switch {
		case owner.ID == "":
			owner = c
		case c.ID != owner.ID:
			others = append(others, claimedBy{c.ID, id})
		}
	}
	return owner, others, nil
}

func (x *Inbox) createCustomer(ctx context.Context, name string, ids []Identity, now time.Time) (string, error) {
	c := Customer{ID: NewID(), Name: displayName(name, ids), CreatedAt: now, UpdatedAt: now}
	for _, id := range ids {
		id.AddedAt = now
		c.Identities = append(c.Identities, id)
	}
	if err := x.store.CreateCustomer(ctx, c); err != nil {
		return "", fmt.Errorf("create customer: %w", err)
	}
	// Someone may have typed one of these identifiers into a form before: suggest them.
	for _, id := range ids {
		holders, err := x.store.CustomersWithIdentity(ctx, id.Kind, id.Value)
		if err != nil {
			return "", fmt.Errorf("look up holders of %s: %w", id.Key(), err)
		}
		for _, h := range holders {
			if h != c.ID {
				x.suggest(ctx, c.ID, h, id, now)
			}
		}
	}
	x.events.Publish(ctx, bus.Event{Topic: bus.CustomerChanged, CustomerID: c.ID, At: now})
	return c.ID, nil
}

func (x *Inbox) linkIdentities(ctx context.Context, c Customer, name string, ids []Identity, now time.Time) error {
	owner := c.ID
	changed := false
	for _, id := range ids {
		if have := slices.IndexFunc(c.Identities, func(o Identity) bool { return o.Key() == id.Key() }); have >= 0 &&
			(c.Identities[have].Verified || !id.Verified) {
			continue
		}
		id.AddedAt = now
		err := x.store.AddIdentity(ctx, owner, id)
		var taken *IdentityTakenError
		if errors.As(err, &taken) {
			x.suggest(ctx, owner, taken.OwnerID, id, now)
			continue
		}
		if err != nil {
			return fmt.Errorf("add identity %s to customer %s: %w", id.Key(), owner, err)
		}
		changed = true
		if !id.Verified {
			holders, err := x.store.CustomersWithIdentity(ctx, id.Kind, id.Value)
			if err != nil {
				return fmt.Errorf("look up holders of %s: %w", id.Key(), err)
			}
			for _, h := range holders {
				if h != owner {
					x.suggest(ctx, owner, h, id, now)
				}
			}
		}
	}
	if c.Name == "" && name != "" {
		if err := x.store.UpdateCustomerProfile(ctx, owner, cleanText(name), "", ""); err != nil {
			return fmt.Errorf("name customer %s: %w", owner, err)
		}
		changed = true
	}
	if changed {
		x.events.Publish(ctx, bus.Event{Topic: bus.CustomerChanged, CustomerID: owner, At: now})
	}
	return nil
}

// suggest records "possibly the same customer"; failing to record a hint never fails an ingest.
func (x *Inbox) suggest(ctx context.Context, customerID, otherID string, reason Identity, now time.Time) {
	otherID, err := x.canonicalID(ctx, otherID)
	if err != nil || otherID == customerID {
		return
	}
	// Stored both ways, so the suggestion shows on whichever of the two an agent opens.
	for _, pair := range [][2]string{{customerID, otherID}, {otherID, customerID}} {
		if err := x.store.AddSuggestion(ctx, MergeSuggestion{CustomerID: pair[0], OtherID: pair[1], Reason: reason, At: now}); err != nil {
			x.log.Warn("could not store merge suggestion", "customer", pair[0], "other", pair[1], "err", err)
		}
	}
}

// canonicalID follows MergedInto links to the customer that survived.
func (x *Inbox) canonicalID(ctx context.Context, id string) (string, error) {
	c, err := x.Customer(ctx, id)
	if err != nil {
		return "", err
	}
	return c.ID, nil
}

// Customer returns a customer by id; the id of a merged-away customer gives the survivor.
func (x *Inbox) Customer(ctx context.Context, id string) (Customer, error) {
	for hops := 0; hops < 8; hops++ {
		c, err := x.store.CustomerByID(ctx, id)
		if err != nil {
			return Customer{}, fmt.Errorf("load customer %s: %w", id, err)
		}
		if c.MergedInto == "" {
			return c, nil
		}
		id = c.MergedInto
	}
	return Customer{}, fmt.Errorf("customer %s: merge chain too long: %w", id, ErrConflict)
}

// Conversation returns a conversation by id.
func (x *Inbox) Conversation(ctx context.Context, id string) (Conversation, error) {
	c, err := x.store.ConversationByID(ctx, id)
	if err != nil {
		return Conversation{}, fmt.Errorf("load conversation %s: %w", id, err)
	}
	return c, nil
}

// ConversationOfCustomer returns the customer's one conversation (following merges).
func (x *Inbox) ConversationOfCustomer(ctx context.Context, customerID string) (Conversation, error) {
	c, err := x.Customer(ctx, customerID)
	if err != nil {
		return Conversation{}, err
	}
	conv, err := x.store.ConversationByCustomer(ctx, c.ID)
	if err != nil {
		return Conversation{}, fmt.Errorf("conversation of customer %s: %w", c.ID, err)
	}
	return conv, nil
}

// MaxPage bounds every list.
const MaxPage = 200

// Conversations lists conversations newest activity first.
func (x *Inbox) Conversations(ctx context.Context, f ConversationFilter) ([]Conversation, error) {
	f.Limit = clampLimit(f.Limit)
	return x.store.ListConversations(ctx, f)
}

// Messages lists a conversation's timeline newest first, before the cursor.
func (x *Inbox) Messages(ctx context.Context, conversationID string, before Cursor, limit int) ([]Message, error) {
	return x.store.ListMessages(ctx, conversationID, before, clampLimit(limit))
}

func clampLimit(n int) int {
	switch {
	case n <= 0:
		return 50
	case n > MaxPage:
		return MaxPage
	}
	return n
}

func displayName(name string, ids []Identity) string {
	if n := strings.TrimSpace(cleanText(name)); n != "" {
		return n
	}
	for _, id := range ids {
		switch id.Kind {
		case KindEmail:
			return id.Value[:strings.IndexByte(id.Value, '@')]
		case KindPhone, KindWhatsApp:
			return id.Value
		}
	}
	return ""
}

// cleanText makes text safe to store: valid UTF-8 (invalid bytes become U+FFFD rather than the
// message being refused), no NULs, and bounded in length.
func cleanText(s string) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	s = strings.ReplaceAll(s, "\x00", "")
	if len(s) > maxTextLen {
		cut := maxTextLen
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "\n[…truncated]"
	}
	return s
}

func preview(subject, text string, attachments int) string {
	p := strings.Join(strings.Fields(text), " ")
	if p == "" {
		p = strings.TrimSpace(subject)
	}
	if p == "" && attachments > 0 {
		p = fmt.Sprintf("📎 %d", attachments)
	}
	if utf8.RuneCountInString(p) > maxPreviewLen {
		r := []rune(p)
		p = string(r[:maxPreviewLen-1]) + "…"
	}
	return p
}
