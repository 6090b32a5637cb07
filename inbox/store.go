package inbox

import (
	"context"
	"io"
	"time"
)

// Store is what the inbox needs from storage. database/sqlite and database/mongo implement it and
// both pass database/storetest. No method may need a multi-document transaction: each is one
// atomic write, or a sequence of idempotent steps that a retry completes.
type Store interface {
	// CreateCustomer stores c and claims its verified identities. If any verified identity is
	// already claimed by another customer nothing is stored and the error is an *IdentityTakenError.
	CreateCustomer(ctx context.Context, c Customer) error
	// CustomerByID returns the customer as stored, MergedInto included; ErrNotFound when absent.
	CustomerByID(ctx context.Context, id string) (Customer, error)
	// CustomerIDByIdentity returns the owner of a claimed (verified) identity; ErrNotFound when unclaimed.
	CustomerIDByIdentity(ctx context.Context, kind IdentityKind, value string) (string, error)
	// CustomersWithIdentity lists customers holding kind:value, verified or not.
	CustomersWithIdentity(ctx context.Context, kind IdentityKind, value string) ([]string, error)
	// AddIdentity adds id to the customer, claiming it when verified. Adding an identity the
	// customer already has is a no-op, except that it upgrades an unverified one to verified.
	// A verified identity claimed by another customer gives an *IdentityTakenError.
	AddIdentity(ctx context.Context, customerID string, id Identity) error
	// SetIdentityUnreachable flags (or clears) that a channel cannot deliver to this identity.
	SetIdentityUnreachable(ctx context.Context, customerID string, kind IdentityKind, value string, unreachable bool) error
	// UpdateCustomerProfile sets name, avatar and locale where the given values are not empty.
	UpdateCustomerProfile(ctx context.Context, id, name, avatar, locale string) error

	// EnsureConversation stores c unless its customer already has a conversation, and returns
	// the customer's one conversation either way.
	EnsureConversation(ctx context.Context, c Conversation) (Conversation, error)
	ConversationByID(ctx context.Context, id string) (Conversation, error)
	ConversationByCustomer(ctx context.Context, customerID string) (Conversation, error)
	// UpdateConversation applies p atomically and returns the conversation before and after.
	// When p.IfStatus is set and the conversation's status is not among them, nothing changes
	// and the error is ErrConflict. An Activity with a MessageID is applied once: when that id is
	// in AppliedActivity nothing changes and the error is ErrConflict; otherwise the id is
	// appended, keeping the last MaxAppliedActivity.
	UpdateConversation(ctx context.Context, id string, p ConversationPatch) (before, after Conversation, err error)
	// ListConversations returns conversations newest activity first, after f.After.
	ListConversations(ctx context.Context, f ConversationFilter) ([]Conversation, error)
	// CountConversations counts what f matches, ignoring After and Limit.
	CountConversations(ctx context.Context, f ConversationFilter) (int, error)

	// InsertMessage stores m. When m.ExternalID is set and (Channel, ExternalID) is stored
	// already, it returns the stored message and true and stores nothing.
	InsertMessage(ctx context.Context, m Message) (Message, bool, error)
	// InsertInbound stores an inbound message and applies p (its activity) to its conversation,
	// m.ConversationID, as one step where the store can: SQLite does both in one transaction;
	// MongoDB inserts, then updates, and a crash between the two is finished by Ingest's retry
	// (which finds the message stored and its activity missing). A repeat of (Channel,
	// ExternalID) stores and changes nothing and returns the stored message with dup true; so
	// does a two-step store whose activity a racing duplicate recorded between the steps. When
	// the conversation does not exist, nothing is stored and the error is ErrNotFound.
	InsertInbound(ctx context.Context, m Message, p ConversationPatch) (stored Message, after Conversation, dup bool, err error)
	MessageByID(ctx context.Context, id string) (Message, error)
	MessageByExternalID(ctx context.Context, ch Channel, externalID string) (Message, error)
	// ListMessages returns a conversation's messages newest first, strictly before the cursor.
	ListMessages(ctx context.Context, conversationID string, before Cursor, limit int) ([]Message, error)
	// SetThreadKey moves every message of a conversation whose ThreadKey is oldKey to newKey and
	// returns how many moved (an email reply that arrived before its parent joins the parent's thread).
	SetThreadKey(ctx context.Context, conversationID, oldKey, newKey string) (int, error)
	// UpdateDelivery moves an outbound message to u.State if it is in one of u.State.Precedes();
	// it returns false when the message was already further along.
	UpdateDelivery(ctx context.Context, messageID string, u DeliveryUpdate) (bool, error)

	// EnqueueOutbound stores an outbound message with delivery queued and its outbox job, so that
	// a crash between the two loses neither, and applies p (the reply's activity) to the
	// message's conversation when p is not nil: SQLite in the same transaction, MongoDB right
	// after. Nothing is stored when the conversation does not exist (ErrNotFound) on SQLite.
	EnqueueOutbound(ctx context.Context, m Message, job OutboxJob, p *ConversationPatch) error
	// ClaimOutbox leases up to limit jobs that are due (NextAttemptAt <= now) and not leased by a
	// live owner. Two concurrent claimers never get the same job.
	ClaimOutbox(ctx context.Context, owner string, now time.Time, lease time.Duration, limit int) ([]OutboxJob, error)
	// CompleteOutbox removes a job its owner has finished, sent or given up on.
	CompleteOutbox(ctx context.Context, jobID, owner string) error
	// RetryOutbox records a failed attempt and releases the lease until next.
	RetryOutbox(ctx context.Context, jobID, owner string, next time.Time, lastErr string) error
	// ReleaseOutbox gives up every lease owner holds, so another instance can take over at once.
	ReleaseOutbox(ctx context.Context, owner string) error
	// OutboxDepth counts jobs waiting.
	OutboxDepth(ctx context.Context) (int, error)

	// MergeCustomers moves the loser's identities (claims included), merge suggestions and timeline
	// to the survivor and marks the loser MergedInto survivor. When the survivor has no
	// conversation the loser's becomes the survivor's; otherwise the loser's messages move into the
	// survivor's conversation, whose activity (LastMessageAt, Preview, LastChannel, Channels,
	// Unread, LastInboundAt) then covers both, and the loser's conversation is deleted. It is a
	// sequence of idempotent steps: calling it again after a crash finishes the merge.
	MergeCustomers(ctx context.Context, survivorID, loserID string, at time.Time) error
	InsertAudit(ctx context.Context, e AuditEntry) error
	ListAudit(ctx context.Context, customerID string, limit int) ([]AuditEntry, error)
	// AddSuggestion stores a merge suggestion once per (customer, other) pair.
	AddSuggestion(ctx context.Context, s MergeSuggestion) error
	ListSuggestions(ctx context.Context, customerID string) ([]MergeSuggestion, error)
	DeleteSuggestion(ctx context.Context, customerID, otherID string) error
}

// Blobs stores attachment bytes, once per content (content-addressed by SHA-256).
type Blobs interface {
	// Put reads r to the end, stores it and returns its SHA-256 (hex) and size. A body longer than
	// limit bytes is not stored and the error is ErrTooLarge.
	Put(ctx context.Context, r io.Reader, limit int64) (sha string, size int64, err error)
	// Open returns the stored bytes; ErrNotFound when absent.
	Open(ctx context.Context, sha string) (io.ReadCloser, error)
}

// Cursor is a position in a list ordered newest first: (At, ID) of the last item seen.
type Cursor struct {
	At time.Time
	ID string
}

// IsZero reports whether the cursor is the start of the list.
func (c Cursor) IsZero() bool { return c.At.IsZero() && c.ID == "" }

// ConversationFilter selects conversations for a list. Empty fields match everything.
type ConversationFilter struct {
	Statuses []Status
	// Assignee: "" any, AssigneeNone unassigned, otherwise an agent id.
	Assignee string
	TeamID   string
	Channel  Channel
	Tag      string
	After    Cursor
	Limit    int
}

// AssigneeNone in a ConversationFilter selects unassigned conversations.
const AssigneeNone = "-"

// ConversationPatch is a set of changes to one conversation, applied atomically. Nil fields stay.
type ConversationPatch struct {
	Status       *Status
	AssigneeID   *string
	TeamID       *string
	Tags         *[]string
	Priority     *Priority
	SnoozedUntil *time.Time
	// Activity records a new timeline entry: the channel is added to Channels, an inbound entry
	// bumps Unread and LastInboundAt (to the later of the two), and unless the entry is older than
	// LastMessageAt (a backfilled email) it becomes LastMessageAt, Preview and LastChannel.
	Activity *Activity
	// MarkRead sets Unread to zero.
	MarkRead bool
	// IfStatus makes the patch conditional on the current status.
	IfStatus  []Status
	UpdatedAt time.Time
}

// Activity is a new timeline entry as the conversation row sees it.
type Activity struct {
	// MessageID makes the activity apply once per message (see UpdateConversation).
	MessageID string
	At        time.Time
	Channel   Channel // empty for notes and events: they do not change LastChannel
	Preview   string
	Inbound   bool
}

// DeliveryUpdate is a step in an outbound message's delivery.
type DeliveryUpdate struct {
	State      Delivery
	Error      string
	ExternalID string // set when the channel gave the sent message an id
	At         time.Time
}
