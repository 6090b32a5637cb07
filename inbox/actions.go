package inbox

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/serambi/serambi/bus"
)

// ReplyRequest is an agent's answer to a customer.
type ReplyRequest struct {
	ConversationID string
	AgentID        string
	AgentName      string
	// MessageID is optional: an id the caller chose in advance (see NewID), which makes the
	// request idempotent. The console's composer carries one, so a form sent twice (a double
	// press, a retried request) stores and sends one reply.
	MessageID string
	// Channel to leave on; empty means the conversation's last channel.
	Channel     Channel
	Text        string
	HTML        string // already sanitised by the caller
	Subject     string
	Attachments []Attachment
	// ThreadKey names the thread the reply answers (an email thread); empty means the newest.
	ThreadKey string
	Meta      map[string]string
}

// NoteRequest is an internal note between agents.
type NoteRequest struct {
	ConversationID string
	AgentID        string
	AgentName      string
	// MessageID makes the request idempotent, as ReplyRequest.MessageID.
	MessageID   string
	Text        string
	Attachments []Attachment
	// Mentions are the agent ids named with @ in the text; the console notifies them.
	Mentions []string
}

// identityFor says which identity a channel delivers to; the API channel delivers to a callback
// and needs none.
var identityFor = map[Channel]IdentityKind{
	ChannelEmail: KindEmail, ChannelWidget: KindWidget, ChannelTelegram: KindTelegram, ChannelWhatsApp: KindWhatsApp,
}

// ReplyChannels lists the channels a reply to c can leave on, the last used first.
func ReplyChannels(c Customer, conv Conversation) []Channel {
	var out []Channel
	add := func(ch Channel) {
		if ch.Valid() && ch != ChannelVoice && !slices.Contains(out, ch) && Reachable(c, conv, ch) {
			out = append(out, ch)
		}
	}
	add(conv.LastChannel)
	for _, ch := range conv.Channels {
		add(ch)
	}
	for _, ch := range []Channel{ChannelWhatsApp, ChannelEmail, ChannelTelegram, ChannelWidget} {
		add(ch)
	}
	return out
}

// Reachable reports whether a reply to c can leave on ch.
func Reachable(c Customer, conv Conversation, ch Channel) bool {
	if ch == ChannelAPI {
		return slices.Contains(conv.Channels, ChannelAPI)
	}
	kind, ok := identityFor[ch]
	if !ok {
		return false
	}
	for _, id := range c.Identities {
		if id.Kind == kind && !id.Unreachable {
			return true
		}
	}
	return false
}

// Reply stores an agent's reply as queued together with its outbox job; the dispatcher sends it.
func (x *Inbox) Reply(ctx context.Context, r ReplyRequest) (Message, error) {
	text := cleanText(r.Text)
	if strings.TrimSpace(text) == "" && len(r.Attachments) == 0 {
		return Message{}, fmt.Errorf("a reply needs text or an attachment: %w", ErrInvalid)
	}
	conv, err := x.Conversation(ctx, r.ConversationID)
	if err != nil {
		return Message{}, err
	}
	cust, err := x.Customer(ctx, conv.CustomerID)
	if err != nil {
		return Message{}, err
	}
	ch := r.Channel
	if ch == "" {
		ch = conv.LastChannel
	}
	if !Reachable(cust, conv, ch) {
		return Message{}, fmt.Errorf("reply on %q: %w", ch, ErrNoChannel)
	}
	if p, ok := x.policies[ch]; ok {
		if err := p.CheckReply(conv, r.Meta); err != nil {
			return Message{}, fmt.Errorf("reply on %s: %w", ch, err)
		}
	}
	if prev, done, err := x.earlier(ctx, r.MessageID, conv.ID, r.AgentID, DirectionOut); done || err != nil {
		return prev, err
	}
	if ch != ChannelEmail && ch != ChannelAPI {
		// Chat channels have no subject. The composer sends the email thread's subject along
		// even when the agent switched the reply to WhatsApp; it must not show on that message.
		r.Subject = ""
	}
	now := x.now()
	m := Message{
		ID: NewID(), ConversationID: conv.ID, CustomerID: cust.ID, Direction: DirectionOut, Channel: ch,
		Subject: cleanText(r.Subject), Text: text, HTML: r.HTML, Attachments: r.Attachments, ThreadKey: r.ThreadKey,
		AuthorID: r.AgentID, AuthorName: r.AgentName, Delivery: DeliveryQueued, Meta: r.Meta, CreatedAt: now,
	}
	if r.MessageID != "" {
		m.ID = r.MessageID
	}
	job := OutboxJob{ID: m.ID, MessageID: m.ID, Channel: ch, NextAttemptAt: now, CreatedAt: now}
	activity := &ConversationPatch{
		Activity: &Activity{At: now, Channel: ch, Preview: preview(r.Subject, text, len(r.Attachments))},
		MarkRead: true, UpdatedAt: now,
	}
	if err := x.store.EnqueueOutbound(ctx, m, job, activity); err != nil {
		if prev, done, perr := x.earlier(ctx, r.MessageID, conv.ID, r.AgentID, DirectionOut); done || perr != nil {
			return prev, perr // the same request, racing this one, stored it first
		}
		return Message{}, fmt.Errorf("queue reply on conversation %s: %w", conv.ID, err)
	}
	x.wakeOutbox()
	x.events.Publish(ctx, bus.Event{Topic: bus.MessageAdded, ConversationID: conv.ID, CustomerID: cust.ID, MessageID: m.ID, At: now})
	x.events.Publish(ctx, bus.Event{Topic: bus.ConversationChanged, ConversationID: conv.ID, CustomerID: cust.ID, At: now})
	return m, nil
}

// Note adds an internal note to the timeline. Notes never leave Serambi and do not reorder the list.
func (x *Inbox) Note(ctx context.Context, r NoteRequest) (Message, error) {
	text := cleanText(r.Text)
	if strings.TrimSpace(text) == "" && len(r.Attachments) == 0 {
		return Message{}, fmt.Errorf("a note needs text or an attachment: %w", ErrInvalid)
	}
	conv, err := x.Conversation(ctx, r.ConversationID)
	if err != nil {
		return Message{}, err
	}
	if prev, done, err := x.earlier(ctx, r.MessageID, conv.ID, r.AgentID, DirectionNote); done || err != nil {
		return prev, err
	}
	now := x.now()
	id := NewID()
	if r.MessageID != "" {
		id = r.MessageID
	}
	m := Message{
		ID: id, ConversationID: conv.ID, CustomerID: conv.CustomerID, Direction: DirectionNote,
		Channel: ChannelInternal, Text: text, Attachments: r.Attachments, AuthorID: r.AgentID,
		AuthorName: r.AgentName, CreatedAt: now,
	}
	if len(r.Mentions) > 0 {
		m.Meta = map[string]string{"mentions": strings.Join(r.Mentions, ",")}
	}
	if stored, dup, err := x.store.InsertMessage(ctx, m); err != nil || dup {
		if prev, done, perr := x.earlier(ctx, r.MessageID, conv.ID, r.AgentID, DirectionNote); done || perr != nil {
			return prev, perr
		}
		if err == nil {
			return stored, nil
		}
		return Message{}, fmt.Errorf("insert note on conversation %s: %w", conv.ID, err)
	}
	x.events.Publish(ctx, bus.Event{Topic: bus.MessageAdded, ConversationID: conv.ID, CustomerID: conv.CustomerID, MessageID: m.ID, At: now})
	return m, nil
}

// Change is what an agent changes on a conversation; nil fields stay as they are.
type Change struct {
	Status       *Status
	SnoozedUntil *time.Time
	AssigneeID   *string
	TeamID       *string
	Tags         *[]string
	Priority     *Priority
}

// Update applies an agent's change to a conversation and records each effective change as an
// event in the timeline.
func (x *Inbox) Update(ctx context.Context, conversationID, actorID string, ch Change) (Conversation, error) {
	p := ConversationPatch{Status: ch.Status, AssigneeID: ch.AssigneeID, TeamID: ch.TeamID, Priority: ch.Priority}
	if ch.Status != nil {
		if !ch.Status.Valid() {
			return Conversation{}, fmt.Errorf("status %q: %w", *ch.Status, ErrInvalid)
		}
		var until time.Time
		if *ch.Status == StatusSnoozed {
			if ch.SnoozedUntil == nil || !ch.SnoozedUntil.After(x.now()) {
				return Conversation{}, fmt.Errorf("snoozing needs a time in the future: %w", ErrInvalid)
			}
			until = ch.SnoozedUntil.UTC()
		}
		p.SnoozedUntil = &until
	}
	if ch.Priority != nil && !ch.Priority.Valid() {
		return Conversation{}, fmt.Errorf("priority %q: %w", *ch.Priority, ErrInvalid)
	}
	if ch.Tags != nil {
		tags, err := NormalizeTags(*ch.Tags)
		if err != nil {
			return Conversation{}, err
		}
		p.Tags = &tags
	}
	now := x.now()
	p.UpdatedAt = now
	before, after, err := x.store.UpdateConversation(ctx, conversationID, p)
	if err != nil {
		return Conversation{}, fmt.Errorf("update conversation %s: %w", conversationID, err)
	}
	var events []Event
	if before.Status != after.Status {
		events = append(events, Event{Kind: EventStatusChanged, From: string(before.Status), To: string(after.Status)})
	}
	if before.AssigneeID != after.AssigneeID {
		events = append(events, Event{Kind: EventAssigned, From: before.AssigneeID, To: after.AssigneeID})
	}
	if before.TeamID != after.TeamID {
		events = append(events, Event{Kind: EventTeamChanged, From: before.TeamID, To: after.TeamID})
	}
	if before.Priority != after.Priority {
		events = append(events, Event{Kind: EventPriority, From: string(before.Priority), To: string(after.Priority)})
	}
	if !slices.Equal(before.Tags, after.Tags) {
		events = append(events, Event{Kind: EventTagged, From: strings.Join(before.Tags, ","), To: strings.Join(after.Tags, ",")})
	}
	for _, e := range events {
		e.ActorID = actorID
		if err := x.addEvent(ctx, after, e, now); err != nil {
			return Conversation{}, err
		}
	}
	if len(events) > 0 {
		x.events.Publish(ctx, bus.Event{Topic: bus.ConversationChanged, ConversationID: after.ID, CustomerID: after.CustomerID, At: now})
	}
	return after, nil
}

// MarkRead clears the unread count when an agent opens the conversation.
func (x *Inbox) MarkRead(ctx context.Context, conversationID string) error {
	before, _, err := x.store.UpdateConversation(ctx, conversationID, ConversationPatch{MarkRead: true, UpdatedAt: x.now()})
	if err != nil {
		return fmt.Errorf("mark conversation %s read: %w", conversationID, err)
	}
	if before.Unread > 0 {
		x.events.Publish(ctx, bus.Event{Topic: bus.ConversationChanged, ConversationID: before.ID, CustomerID: before.CustomerID, At: x.now()})
	}
	return nil
}

const maxTags, maxTagLen = 32, 64

// NormalizeTags lower-cases, trims, de-duplicates and sorts tags.
func NormalizeTags(tags []string) ([]string, error) {
	out := []string{}
	for _, t := range tags {
		t = strings.ToLower(strings.TrimSpace(t))
		if t == "" {
			continue
		}
		if !utf8.ValidString(t) || len(t) > maxTagLen || strings.ContainsAny(t, ",\n") {
			return nil, fmt.Errorf("tag %q must be at most %d bytes of text without commas: %w", t, maxTagLen, ErrInvalid)
		}
		if !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	if len(out) > maxTags {
		return nil, fmt.Errorf("at most %d tags: %w", maxTags, ErrInvalid)
	}
	slices.Sort(out)
	return out, nil
}

// AddEvent records something that happened (a bounce, a call, an auto-reply) in a conversation's
// timeline without changing its status or order.
func (x *Inbox) AddEvent(ctx context.Context, conversationID string, e Event) (Message, error) {
	c, err := x.Conversation(ctx, conversationID)
	if err != nil {
		return Message{}, err
	}
	now := x.now()
	m := eventMessage(c, e, now)
	if _, _, err := x.store.InsertMessage(ctx, m); err != nil {
		return Message{}, fmt.Errorf("record %s event on conversation %s: %w", e.Kind, c.ID, err)
	}
	x.events.Publish(ctx, bus.Event{Topic: bus.MessageAdded, ConversationID: c.ID, CustomerID: c.CustomerID, MessageID: m.ID, At: now})
	return m, nil
}

// AddChannelEvent records an event that a channel reported (a call ringing, answered, ended)
// exactly once: (ch, externalID) is unique like an inbound message's, so a provider's retried
// callback adds nothing. It returns the stored entry and whether it was there already.
func (x *Inbox) AddChannelEvent(ctx context.Context, conversationID string, ch Channel, externalID string, e Event) (Message, bool, error) {
	if !ch.Valid() || externalID == "" {
		return Message{}, false, fmt.Errorf("a channel event needs a channel and an external id: %w", ErrInvalid)
	}
	c, err := x.Conversation(ctx, conversationID)
	if err != nil {
		return Message{}, false, err
	}
	now := x.now()
	m := eventMessage(c, e, now)
	m.Channel, m.ExternalID = ch, externalID
	stored, dup, err := x.store.InsertMessage(ctx, m)
	if err != nil {
		return Message{}, false, fmt.Errorf("record %s event on conversation %s: %w", e.Kind, c.ID, err)
	}
	if !dup {
		x.events.Publish(ctx, bus.Event{Topic: bus.MessageAdded, ConversationID: c.ID, CustomerID: c.CustomerID, MessageID: m.ID, At: now})
	}
	return stored, dup, nil
}

func eventMessage(c Conversation, e Event, now time.Time) Message {
	return Message{
		ID: NewID(), ConversationID: c.ID, CustomerID: c.CustomerID, Direction: DirectionEvent,
		Channel: ChannelInternal, Text: eventText(e), AuthorID: e.ActorID, Event: &e, CreatedAt: now,
	}
}

func (x *Inbox) addEvent(ctx context.Context, c Conversation, e Event, now time.Time) error {
	m := eventMessage(c, e, now)
	if _, _, err := x.store.InsertMessage(ctx, m); err != nil {
		return fmt.Errorf("record %s event on conversation %s: %w", e.Kind, c.ID, err)
	}
	x.events.Publish(ctx, bus.Event{Topic: bus.MessageAdded, ConversationID: c.ID, CustomerID: c.CustomerID, MessageID: m.ID, At: now})
	return nil
}

// eventText is the plain fallback of an event for API clients; the console renders events itself.
func eventText(e Event) string {
	if t := e.Data["text"]; t != "" {
		return t // connectors' own events (a bounce, a call) bring their words
	}
	switch e.Kind {
	case EventReopened:
		return "Reopened by a new message from the customer"
	case EventStatusChanged:
		return fmt.Sprintf("Status changed from %s to %s", e.From, e.To)
	case EventAssigned:
		if e.To == "" {
			return "Unassigned"
		}
		return "Assigned to " + e.To
	case EventTeamChanged:
		return "Team changed to " + e.To
	case EventPriority:
		return "Priority changed to " + e.To
	case EventTagged:
		return "Tags: " + e.To
	case EventMerged:
		return "Merged customer " + e.Data["loserName"] + " into this one"
	}
	return string(e.Kind)
}

// Merge makes one customer of two: the loser's identities and timeline move to the survivor.
func (x *Inbox) Merge(ctx context.Context, survivorID, loserID, actorID string) (Customer, error) {
	survivor, err := x.Customer(ctx, survivorID)
	if err != nil {
		return Customer{}, err
	}
	loser, err := x.Customer(ctx, loserID)
	if err != nil {
		return Customer{}, err
	}
	if survivor.ID == loser.ID {
		return Customer{}, fmt.Errorf("customer %s cannot be merged into itself: %w", survivor.ID, ErrInvalid)
	}
	now := x.now()
	// The audit entry comes first: if the merge is interrupted, the record of who started it exists.
	if err := x.store.InsertAudit(ctx, AuditEntry{
		ID: NewID(), ActorID: actorID, Action: "customer.merge", CustomerID: survivor.ID,
		Data: map[string]string{"loserId": loser.ID, "loserName": loser.Name}, At: now,
	}); err != nil {
		return Customer{}, fmt.Errorf("audit merge: %w", err)
	}
	if err := x.store.MergeCustomers(ctx, survivor.ID, loser.ID, now); err != nil {
		return Customer{}, fmt.Errorf("merge %s into %s: %w", loser.ID, survivor.ID, err)
	}
	x.convIDs.forget(loser.ID)
	x.convIDs.forget(survivor.ID)
	for _, pair := range [][2]string{{survivor.ID, loser.ID}, {loser.ID, survivor.ID}} {
		if err := x.store.DeleteSuggestion(ctx, pair[0], pair[1]); err != nil && !errors.Is(err, ErrNotFound) {
			x.log.Warn("could not drop merge suggestion", "customer", pair[0], "other", pair[1], "err", err)
		}
	}
	if conv, err := x.store.ConversationByCustomer(ctx, survivor.ID); err == nil {
		e := Event{Kind: EventMerged, ActorID: actorID, From: loser.ID, To: survivor.ID, Data: map[string]string{"loserName": loser.Name}}
		if err := x.addEvent(ctx, conv, e, now); err != nil {
			return Customer{}, err
		}
		x.events.Publish(ctx, bus.Event{Topic: bus.ConversationChanged, ConversationID: conv.ID, CustomerID: survivor.ID, At: now})
	}
	x.events.Publish(ctx, bus.Event{Topic: bus.CustomerMerged, CustomerID: survivor.ID, OtherID: loser.ID, At: now})
	return x.Customer(ctx, survivor.ID)
}

// RecordDelivery applies a channel's delivery receipt (WhatsApp statuses, widget read receipts)
// to the outbound message it names. Receipts that arrive out of order never move a message back.
func (x *Inbox) RecordDelivery(ctx context.Context, ch Channel, externalID string, u DeliveryUpdate) error {
	m, err := x.store.MessageByExternalID(ctx, ch, externalID)
	if err != nil {
		return fmt.Errorf("receipt for %s message %s: %w", ch, externalID, err)
	}
	if u.At.IsZero() {
		u.At = x.now()
	}
	u.ExternalID = ""
	changed, err := x.store.UpdateDelivery(ctx, m.ID, u)
	if err != nil {
		return fmt.Errorf("record %s on message %s: %w", u.State, m.ID, err)
	}
	if changed {
		x.events.Publish(ctx, bus.Event{Topic: bus.MessageUpdated, ConversationID: m.ConversationID, CustomerID: m.CustomerID, MessageID: m.ID, At: x.now()})
	}
	return nil
}

// SetUnreachable records that a channel can (no longer) deliver to one of a customer's
// identities (an address that bounces, a user who blocked the bot), and tells the console.
func (x *Inbox) SetUnreachable(ctx context.Context, customerID string, kind IdentityKind, value string, unreachable bool) error {
	if err := x.store.SetIdentityUnreachable(ctx, customerID, kind, value, unreachable); err != nil {
		return fmt.Errorf("mark %s:%s of customer %s: %w", kind, value, customerID, err)
	}
	x.events.Publish(ctx, bus.Event{Topic: bus.CustomerChanged, CustomerID: customerID, At: x.now()})
	return nil
}

// CustomerIDByIdentity returns the customer who holds a verified identity, following merges;
// ErrNotFound when nobody does.
func (x *Inbox) CustomerIDByIdentity(ctx context.Context, kind IdentityKind, value string) (string, error) {
	id, err := x.norm.Normalize(Identity{Kind: kind, Value: value})
	if err != nil {
		return "", err
	}
	owner, err := x.store.CustomerIDByIdentity(ctx, id.Kind, id.Value)
	if err != nil {
		return "", err
	}
	return x.canonicalID(ctx, owner)
}

// earlier finds the message a caller-chosen id already names: the same request sent again. done
// is true when there is one and it is that request's (same conversation, author and kind); an id
// naming anything else is refused.
func (x *Inbox) earlier(ctx context.Context, id, conversationID, authorID string, dir Direction) (Message, bool, error) {
	if id == "" {
		return Message{}, false, nil
	}
	if !validID(id) {
		return Message{}, false, fmt.Errorf("message id %q is not one from NewID: %w", id, ErrInvalid)
	}
	m, err := x.store.MessageByID(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return Message{}, false, nil
	}
	if err != nil {
		return Message{}, false, fmt.Errorf("look up message %s: %w", id, err)
	}
	if m.ConversationID != conversationID || m.AuthorID != authorID || m.Direction != dir {
		return Message{}, false, fmt.Errorf("message id %s names another message: %w", id, ErrConflict)
	}
	return m, true, nil
}

// validID reports whether s looks like an id from NewID: 26 characters of lower-case Crockford
// base32 (a ULID).
func validID(s string) bool {
	if len(s) != 26 {
		return false
	}
	for _, c := range s {
		if !strings.ContainsRune("0123456789abcdefghjkmnpqrstvwxyz", c) {
			return false
		}
	}
	return true
}
