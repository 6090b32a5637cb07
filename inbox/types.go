// Package inbox is the core of Serambi: customers and their identities, the one conversation each
// customer has, the messages in its timeline, and the outbox of replies waiting to leave.
// Connectors feed it Inbound messages; the console and the API read and act on it.
package inbox

import (
	"time"
)

// Channel is the door a message came in by or leaves through.
type Channel string

const (
	ChannelEmail    Channel = "email"
	ChannelWidget   Channel = "widget"
	ChannelTelegram Channel = "telegram"
	ChannelWhatsApp Channel = "whatsapp"
	ChannelVoice    Channel = "voice"
	// ChannelAPI is the generic channel of POST /api/v1/messages; replies go to a signed callback URL.
	ChannelAPI Channel = "api"
	// ChannelInternal marks notes and events, which never leave Serambi.
	ChannelInternal Channel = "internal"
)

// Valid reports whether c is a channel a customer can be reached on.
func (c Channel) Valid() bool {
	switch c {
	case ChannelEmail, ChannelWidget, ChannelTelegram, ChannelWhatsApp, ChannelVoice, ChannelAPI:
		return true
	}
	return false
}

// IdentityKind names what an identifier is: an email address, a phone number, an account on a channel.
type IdentityKind string

const (
	KindEmail    IdentityKind = "email"
	KindPhone    IdentityKind = "phone"
	KindTelegram IdentityKind = "telegram"
	KindWhatsApp IdentityKind = "whatsapp"
	KindWidget   IdentityKind = "widget"
	KindShop     IdentityKind = "shop"
)

// Identity is one way to recognise a customer. Only verified identities are claimed: a verified
// identity belongs to exactly one customer, so the next message carrying it joins that customer.
// An unverified one (an email typed into a form) is kept on the customer but only ever produces a
// merge suggestion.
type Identity struct {
	Kind     IdentityKind `json:"kind"`
	Value    string       `json:"value"`
	Verified bool         `json:"verified"`
	AddedAt  time.Time    `json:"addedAt"`
	// Unreachable is set when the channel told us it can no longer deliver to this identity
	// (a Telegram user blocked the bot, an email address bounces).
	Unreachable bool `json:"unreachable,omitempty"`
}

// Key is the identity's natural unique key, "kind:value".
func (i Identity) Key() string { return string(i.Kind) + ":" + i.Value }

// Customer is one person, however many doors they use.
type Customer struct {
	ID         string     `json:"id"`
	Name       string     `json:"name"`
	Avatar     string     `json:"avatar,omitempty"`
	Locale     string     `json:"locale,omitempty"`
	Identities []Identity `json:"identities"`
	// MergedInto is set on the customer that lost a merge; reads follow it to the survivor.
	MergedInto string    `json:"mergedInto,omitempty"`
	CreatedAt  time.Time `json:"createdAt"`
	UpdatedAt  time.Time `json:"updatedAt"`
}

// Identity returns the customer's first identity of kind k.
func (c Customer) Identity(k IdentityKind) (Identity, bool) {
	for _, id := range c.Identities {
		if id.Kind == k {
			return id, true
		}
	}
	return Identity{}, false
}

// Status is where a conversation stands.
type Status string

const (
	StatusOpen     Status = "open"
	StatusPending  Status = "pending"
	StatusSnoozed  Status = "snoozed"
	StatusResolved Status = "resolved"
)

// Valid reports whether s is a known status.
func (s Status) Valid() bool {
	switch s {
	case StatusOpen, StatusPending, StatusSnoozed, StatusResolved:
		return true
	}
	return false
}

// Priority orders work within a view.
type Priority string

const (
	PriorityNone   Priority = ""
	PriorityLow    Priority = "low"
	PriorityMedium Priority = "medium"
	PriorityHigh   Priority = "high"
	PriorityUrgent Priority = "urgent"
)

// Valid reports whether p is a known priority.
func (p Priority) Valid() bool {
	switch p {
	case PriorityNone, PriorityLow, PriorityMedium, PriorityHigh, PriorityUrgent:
		return true
	}
	return false
}

// Conversation is a customer's whole timeline across channels; there is exactly one per customer.
// It is what the inbox list reads, so it carries everything a list row shows.
type Conversation struct {
	ID         string   `json:"id"`
	CustomerID string   `json:"customerId"`
	Status     Status   `json:"status"`
	AssigneeID string   `json:"assigneeId"`
	TeamID     string   `json:"teamId"`
	Tags       []string `json:"tags"`
	Priority   Priority `json:"priority"`
	// Channels lists every channel the timeline has used, for the list's channel icons.
	Channels      []Channel `json:"channels"`
	LastChannel   Channel   `json:"lastChannel"`
	LastMessageAt time.Time `json:"lastMessageAt"`
	// LastInboundAt is when the customer last wrote, on any channel: waiting time.
	LastInboundAt time.Time `json:"lastInboundAt,omitzero"`
	// LastInbound is when the customer last wrote on each channel: WhatsApp's 24-hour window
	// opens only with a WhatsApp message. Read it with LastInboundOn.
	LastInbound  map[Channel]time.Time `json:"lastInbound,omitempty"`
	Preview      string                `json:"preview"`
	Unread       int                   `json:"unread"`
	SnoozedUntil time.Time             `json:"snoozedUntil,omitzero"`
	SLADueAt     time.Time             `json:"slaDueAt,omitzero"`
	CreatedAt    time.Time             `json:"createdAt"`
	UpdatedAt    time.Time             `json:"updatedAt"`
	// AppliedActivity holds the ids of the last messages whose Activity was applied (at most
	// MaxAppliedActivity), so that a duplicate delivery racing the first one cannot count the
	// same message twice. Stores keep it; nobody else needs to read it.
	AppliedActivity []string `json:"-"`
}

// MaxAppliedActivity bounds Conversation.AppliedActivity.
const MaxAppliedActivity = 32

// Direction says who a timeline entry is from and who can see it.
type Direction string

const (
	DirectionIn    Direction = "in"    // from the customer
	DirectionOut   Direction = "out"   // to the customer
	DirectionNote  Direction = "note"  // between agents only
	DirectionEvent Direction = "event" // something that happened: status, assignment, merge, call
)

// Delivery is an outbound message's progress. States only move forward, except to failed.
type Delivery string

const (
	DeliveryNone      Delivery = "" // inbound messages, notes and events
	DeliveryQueued    Delivery = "queued"
	DeliverySent      Delivery = "sent"
	DeliveryDelivered Delivery = "delivered"
	DeliveryRead      Delivery = "read"
	DeliveryFailed    Delivery = "failed"
)

// Precedes lists the states a message may be in for an update to d to apply: a "delivered" receipt
// that arrives after "read" must not move the message back.
func (d Delivery) Precedes() []Delivery {
	switch d {
	case DeliverySent:
		return []Delivery{DeliveryQueued}
	case DeliveryDelivered:
		return []Delivery{DeliveryQueued, DeliverySent}
	case DeliveryRead:
		return []Delivery{DeliveryQueued, DeliverySent, DeliveryDelivered}
	case DeliveryFailed:
		return []Delivery{DeliveryQueued, DeliverySent}
	}
	return nil
}

// Attachment is a file on a message. Its bytes are stored once, addressed by their SHA-256.
type Attachment struct {
	SHA256      string `json:"sha256"`
	Name        string `json:"name"`
	ContentType string `json:"contentType"`
	Size        int64  `json:"size"`
	// ContentID is the MIME Content-ID of an inline image, so cid: links can be rewritten.
	ContentID string `json:"contentId,omitempty"`
	Inline    bool   `json:"inline,omitempty"`
}

// Event describes a timeline entry of direction event.
type Event struct {
	Kind EventKind `json:"kind"`
	// ActorID is the agent who did it; empty when Serambi did it (a reopen on a new message).
	ActorID string            `json:"actorId,omitempty"`
	From    string            `json:"from,omitempty"`
	To      string            `json:"to,omitempty"`
	Data    map[string]string `json:"data,omitempty"`
}

// EventKind names what happened.
type EventKind string

const (
	EventStatusChanged EventKind = "status_changed"
	EventReopened      EventKind = "reopened"
	EventAssigned      EventKind = "assigned"
	EventTeamChanged   EventKind = "team_changed"
	EventMerged        EventKind = "merged"
	EventTagged        EventKind = "tagged"
	EventPriority      EventKind = "priority_changed"
)

// Message is one entry of a conversation's timeline.
type Message struct {
	ID             string    `json:"id"`
	ConversationID string    `json:"conversationId"`
	CustomerID     string    `json:"customerId"`
	Direction      Direction `json:"direction"`
	Channel        Channel   `json:"channel"`
	// ExternalID is the channel's own id (email Message-ID, Telegram message id, wamid, the API
	// caller's externalId). (Channel, ExternalID) is unique: ingest is idempotent on it.
	ExternalID string `json:"externalId,omitempty"`
	// ThreadKey groups messages of one thread inside the conversation (an email thread's root
	// Message-ID), so a reply carries the right headers.
	ThreadKey   string       `json:"threadKey,omitempty"`
	Subject     string       `json:"subject,omitempty"`
	Text        string       `json:"text"`
	HTML        string       `json:"html,omitempty"` // always sanitised before it is stored
	Attachments []Attachment `json:"attachments,omitempty"`
	// AuthorID is the agent id for out/note/event entries, the customer id for inbound ones.
	AuthorID      string   `json:"authorId,omitempty"`
	AuthorName    string   `json:"authorName,omitempty"`
	Delivery      Delivery `json:"delivery,omitempty"`
	DeliveryError string   `json:"deliveryError,omitempty"`
	Event         *Event   `json:"event,omitempty"`
	// Meta holds channel details that have no column of their own (email headers, call ids).
	Meta      map[string]string `json:"meta,omitempty"`
	SentAt    time.Time         `json:"sentAt,omitzero"` // when the customer sent it, by their clock
	CreatedAt time.Time         `json:"createdAt"`       // when Serambi stored it; the timeline order
	UpdatedAt time.Time         `json:"updatedAt,omitzero"`
}

// Inbound is a message as a connector hands it over, before it belongs to anyone.
type Inbound struct {
	Channel    Channel
	ExternalID string
	// From lists what the message tells about its sender. The first identity is the channel's own
	// address and decides who the customer is; the others are linked when verified and turned
	// into merge suggestions when not.
	From        []Identity
	Name        string
	Subject     string
	Text        string
	HTML        string
	Attachments []Attachment
	ThreadKey   string
	Meta        map[string]string
	SentAt      time.Time
	// AnsweredCustomerID, when set, is the customer to whose From[0] address Serambi sent the
	// message this one answers. A connector sets it only on proof that a recipient of that
	// message wrote this one: the email connector when In-Reply-To or References names a
	// Message-ID we sent to that address, or when the mail came to a plus-address token we
	// issued to it; never on a subject or a header anyone could make up. Answering proves the
	// sender controls the address, so Ingest makes it a verified identity of that customer
	// (upgrading the unverified one a visitor typed into the widget) and the message joins that
	// customer's conversation. An address already verified on another customer stays theirs:
	// the message goes there, as without the field, and the two customers are suggested as a
	// merge. The customer must hold the address (verified or not), or nothing is claimed.
	AnsweredCustomerID string
}

// Outbound is what a channel's sender gets: the message and the customer it goes to.
type Outbound struct {
	Message      Message
	Customer     Customer
	Conversation Conversation
	Attempt      int
}

// AuditEntry records who did what to which customer.
type AuditEntry struct {
	ID         string            `json:"id"`
	ActorID    string            `json:"actorId"`
	Action     string            `json:"action"`
	CustomerID string            `json:"customerId"`
	Data       map[string]string `json:"data,omitempty"`
	At         time.Time         `json:"at"`
}

// MergeSuggestion says two customers may be one person, because an unverified identity of one
// matches an identity of the other. An agent confirms it by merging.
type MergeSuggestion struct {
	CustomerID string    `json:"customerId"`
	OtherID    string    `json:"otherId"`
	Reason     Identity  `json:"reason"`
	At         time.Time `json:"at"`
}

// OutboxJob is one outbound message waiting to be sent. Several instances may run dispatchers;
// a lease makes sure only one of them works on a job at a time.
type OutboxJob struct {
	ID            string    `json:"id"`
	MessageID     string    `json:"messageId"`
	Channel       Channel   `json:"channel"`
	Attempts      int       `json:"attempts"`
	NextAttemptAt time.Time `json:"nextAttemptAt"`
	LeaseOwner    string    `json:"leaseOwner,omitempty"`
	LeaseUntil    time.Time `json:"leaseUntil,omitzero"`
	LastError     string    `json:"lastError,omitempty"`
	CreatedAt     time.Time `json:"createdAt"`
}

// LastInboundOn is when the customer last wrote on ch. A conversation recorded before
// LastInbound existed has only LastInboundAt, which stands in for every channel then.
func (c Conversation) LastInboundOn(ch Channel) time.Time {
	if len(c.LastInbound) == 0 {
		return c.LastInboundAt
	}
	return c.LastInbound[ch]
}

// NoteInbound records an inbound message on ch at t in the per-channel times (the stores call
// it when they apply an Activity, and when they merge conversations).
func (c *Conversation) NoteInbound(ch Channel, t time.Time) {
	if ch == "" || t.IsZero() {
		return
	}
	if c.LastInbound == nil {
		c.LastInbound = map[Channel]time.Time{}
	}
	if t.After(c.LastInbound[ch]) {
		c.LastInbound[ch] = t
	}
}
