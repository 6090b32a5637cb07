// Package notifications keeps what an agent should know about when they come back: a note that
// @mentions them, a conversation someone else assigned to them. The console's live toast reaches
// only the consoles open at that moment; a notification is stored, so an agent who was offline
// (or on another instance) finds it under the bell, unread until they open it.
//
// Notifications are created where the note or the assignment is stored, in the same request,
// not from a bus event that an instance might miss. Creation is idempotent on (agent, kind,
// message): processing the same note twice, or both from the request and from a later repair,
// gives one notification.
package notifications

import (
	"context"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/serambi/serambi/bus"
	"github.com/serambi/serambi/inbox"
)

// Kind is what a notification is about.
type Kind string

const (
	// KindMention: ActorID mentioned the agent in the note MessageID.
	KindMention Kind = "mention"
	// KindAssigned: ActorID assigned the conversation to the agent; MessageID is the timeline's
	// assignment event.
	KindAssigned Kind = "assigned"
)

// Valid reports whether k is a known kind.
func (k Kind) Valid() bool { return k == KindMention || k == KindAssigned }

// TopicChanged is published when an agent's notifications changed (one was created, some were
// read); OtherID is the agent's id. Consoles update that agent's bell.
const TopicChanged bus.Topic = "notification.changed"

// Notification is one thing an agent is told about.
type Notification struct {
	ID             string    `json:"id"`
	AgentID        string    `json:"agentId"` // whose notification it is
	Kind           Kind      `json:"kind"`
	ConversationID string    `json:"conversationId"`
	CustomerID     string    `json:"customerId,omitempty"` // to name the conversation, and find it after a merge
	MessageID      string    `json:"messageId"`            // the note or the assignment event
	ActorID        string    `json:"actorId,omitempty"`    // who mentioned or assigned
	Excerpt        string    `json:"excerpt,omitempty"`
	CreatedAt      time.Time `json:"createdAt"`
	ReadAt         time.Time `json:"readAt,omitzero"` // zero while unread
}

// Read reports whether the agent has seen it.
func (n Notification) Read() bool { return !n.ReadAt.IsZero() }

// Cursor marks a place in an agent's list, newest first: the entry with CreatedAt At and ID.
type Cursor struct {
	At time.Time
	ID string
}

// IsZero reports whether the cursor is the start of the list.
func (c Cursor) IsZero() bool { return c.At.IsZero() && c.ID == "" }

// Limits that keep every request bounded.
const (
	// MaxPage is the most notifications one List returns.
	MaxPage = 100
	// MaxMarkRead is the most ids one MarkRead takes.
	MaxMarkRead = 100
	// UnreadCap is where counting stops: the bell shows "99+" beyond 99, so nobody needs to
	// know whether it is 1,000 or 1,001, and the count stays one short index range.
	UnreadCap = 100
	// maxExcerpt is how many characters of a note a notification keeps.
	maxExcerpt = 160
	// retention is how long a read notification is kept.
	retention = 30 * 24 * time.Hour
	// pruneBatch bounds one prune.
	pruneBatch = 500
)

// Store is what notifications need from storage; database/sqlite and database/mongo implement it
// and pass database/storetest.RunNotifications. Every method takes the agent's id and touches
// only that agent's notifications: an id of someone else's notification is ErrNotFound.
type Store interface {
	// AddNotification stores n unless a notification with the same AgentID, Kind and MessageID
	// exists; then it returns that one and true, and stores nothing.
	AddNotification(ctx context.Context, n Notification) (Notification, bool, error)
	// NotificationByID returns the agent's notification id; inbox.ErrNotFound when absent or
	// someone else's.
	NotificationByID(ctx context.Context, agentID, id string) (Notification, error)
	// ListNotifications returns the agent's notifications newest first (CreatedAt, then ID, both
	// descending), strictly after the cursor, at most limit.
	ListNotifications(ctx context.Context, agentID string, after Cursor, limit int) ([]Notification, error)
	// CountUnreadNotifications counts the agent's unread notifications, stopping at limit.
	CountUnreadNotifications(ctx context.Context, agentID string, limit int) (int, error)
	// MarkNotificationsRead sets ReadAt to at on those of ids that are the agent's and unread,
	// and returns how many changed.
	MarkNotificationsRead(ctx context.Context, agentID string, ids []string, at time.Time) (int, error)
	// MarkAllNotificationsRead sets ReadAt to at on every unread notification of the agent and
	// returns how many changed.
	MarkAllNotificationsRead(ctx context.Context, agentID string, at time.Time) (int, error)
	// PruneNotifications deletes up to limit of the agent's read notifications created before
	// before, and returns how many went.
	PruneNotifications(ctx context.Context, agentID string, before time.Time, limit int) (int, error)
}

// Timeline is how the service finds the event an assignment wrote; *inbox.Inbox implements it.
type Timeline interface {
	Messages(ctx context.Context, conversationID string, before inbox.Cursor, limit int) ([]inbox.Message, error)
}

// Service creates and reads notifications.
type Service struct {
	store    Store
	timeline Timeline
	events   bus.Publisher
	now      func() time.Time
}

// New returns the service. events may be nil (nothing is published then).
func New(store Store, timeline Timeline, events bus.Publisher, now func() time.Time) *Service {
	if now == nil {
		now = time.Now
	}
	return &Service{store: store, timeline: timeline, events: events, now: now}
}

// Mentioned notifies every agent a stored note mentions (Meta["mentions"], as inbox.Note
// stores it), except its author. It returns the notifications created now; those created
// before for the same note are not repeated.
func (s *Service) Mentioned(ctx context.Context, note inbox.Message) ([]Notification, error) {
	if note.Direction != inbox.DirectionNote || note.Meta["mentions"] == "" {
		return nil, nil
	}
	var out []Notification
	seen := map[string]bool{}
	for _, id := range strings.Split(note.Meta["mentions"], ",") {
		id = strings.TrimSpace(id)
		if id == "" || id == note.AuthorID || seen[id] {
			continue
		}
		seen[id] = true
		n, created, err := s.add(ctx, Notification{AgentID: id, Kind: KindMention, ConversationID: note.ConversationID,
			CustomerID: note.CustomerID, MessageID: note.ID, ActorID: note.AuthorID, Excerpt: Excerpt(note.Text)})
		if err != nil {
			return out, err
		}
		if created {
			out = append(out, n)
		}
	}
	return out, nil
}

// assignmentLookback is how many of the newest timeline entries are searched for the event an
// assignment just wrote.
const assignmentLookback = 20

// Assigned notifies the new assignee of a conversation that someone else assigned it to them,
// when the assignee changed (previous is the assignee before the change, actorID who changed
// it). The timeline's assignment event is the notification's message and names the actor, so
// repeating the call for the same change, or two requests racing, create one notification. It
// returns whether a notification was created now.
func (s *Service) Assigned(ctx context.Context, conv inbox.Conversation, previous, actorID string) (bool, error) {
	to := conv.AssigneeID
	if to == "" || to == previous || to == actorID {
		return false, nil
	}
	msgs, err := s.timeline.Messages(ctx, conv.ID, inbox.Cursor{}, assignmentLookback)
	if err != nil {
		return false, fmt.Errorf("find the assignment of conversation %s: %w", conv.ID, err)
	}
	for _, m := range msgs {
		e := m.Event
		if m.Direction != inbox.DirectionEvent || e == nil || e.Kind != inbox.EventAssigned {
			continue
		}
		if e.To != to || e.ActorID == to {
			// The newest assignment is to someone else (this change was overtaken: the agent
			// no longer has the conversation), or the agent took it themselves.
			return false, nil
		}
		_, created, err := s.add(ctx, Notification{AgentID: to, Kind: KindAssigned, ConversationID: conv.ID,
			CustomerID: conv.CustomerID, MessageID: m.ID, ActorID: e.ActorID, Excerpt: Excerpt(conv.Preview)})
		return created, err
	}
	return false, fmt.Errorf("the assignment of conversation %s to %s is not in its timeline: %w", conv.ID, to, inbox.ErrNotFound)
}

func (s *Service) add(ctx context.Context, n Notification) (Notification, bool, error) {
	if n.AgentID == "" || n.MessageID == "" || n.ConversationID == "" || !n.Kind.Valid() {
		return Notification{}, false, fmt.Errorf("a notification needs an agent, a known kind, a conversation and a message: %w", inbox.ErrInvalid)
	}
	n.ID = inbox.NewID()
	n.CreatedAt = s.now().UTC()
	stored, dup, err := s.store.AddNotification(ctx, n)
	if err != nil {
		return Notification{}, false, fmt.Errorf("notify agent %s of %s %s: %w", n.AgentID, n.Kind, n.MessageID, err)
	}
	if !dup {
		s.publish(ctx, n.AgentID)
	}
	return stored, !dup, nil
}

func (s *Service) publish(ctx context.Context, agentID string) {
	if s.events != nil {
		s.events.Publish(ctx, bus.Event{Topic: TopicChanged, OtherID: agentID, At: s.now().UTC()})
	}
}

// List returns a page of the agent's notifications, newest first, after the cursor.
func (s *Service) List(ctx context.Context, agentID string, after Cursor, limit int) ([]Notification, error) {
	if limit <= 0 || limit > MaxPage {
		limit = MaxPage
	}
	return s.store.ListNotifications(ctx, agentID, after, limit)
}

// Get returns the agent's notification id; inbox.ErrNotFound for anyone else's.
func (s *Service) Get(ctx context.Context, agentID, id string) (Notification, error) {
	return s.store.NotificationByID(ctx, agentID, id)
}

// UnreadCount counts the agent's unread notifications, up to UnreadCap.
func (s *Service) UnreadCount(ctx context.Context, agentID string) (int, error) {
	return s.store.CountUnreadNotifications(ctx, agentID, UnreadCap)
}

// MarkRead marks the agent's notifications ids read. Ids that are not the agent's change nothing.
func (s *Service) MarkRead(ctx context.Context, agentID string, ids ...string) (int, error) {
	if len(ids) > MaxMarkRead {
		return 0, fmt.Errorf("at most %d notifications at once: %w", MaxMarkRead, inbox.ErrInvalid)
	}
	n, err := s.store.MarkNotificationsRead(ctx, agentID, ids, s.now().UTC())
	if err != nil {
		return 0, fmt.Errorf("mark notifications of agent %s read: %w", agentID, err)
	}
	if n > 0 {
		s.publish(ctx, agentID)
	}
	return n, nil
}

// MarkAllRead marks every notification of the agent read, and forgets read ones older than
// the retention while at it: it is the moment the agent has just cleared their list.
func (s *Service) MarkAllRead(ctx context.Context, agentID string) (int, error) {
	now := s.now().UTC()
	n, err := s.store.MarkAllNotificationsRead(ctx, agentID, now)
	if err != nil {
		return 0, fmt.Errorf("mark all notifications of agent %s read: %w", agentID, err)
	}
	if n > 0 {
		s.publish(ctx, agentID)
	}
	if _, err := s.store.PruneNotifications(ctx, agentID, now.Add(-retention), pruneBatch); err != nil {
		return n, fmt.Errorf("prune notifications of agent %s: %w", agentID, err)
	}
	return n, nil
}

// Excerpt is the start of a text as one line, at most maxExcerpt characters.
func Excerpt(text string) string {
	s := strings.Join(strings.Fields(text), " ")
	if utf8.RuneCountInString(s) > maxExcerpt {
		r := []rune(s)
		s = string(r[:maxExcerpt-1]) + "…"
	}
	return s
}
