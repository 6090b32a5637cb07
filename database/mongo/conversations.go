package mongo

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/serambi/serambi/inbox"
)

type conversationDoc struct {
	ID         string   `bson:"_id"`
	CustomerID string   `bson:"customerId"`
	Status     string   `bson:"status"`
	AssigneeID string   `bson:"assigneeId"` // "" when unassigned: the filter for unassigned matches it
	TeamID     string   `bson:"teamId"`
	Tags       []string `bson:"tags"`
	Priority   string   `bson:"priority"`
	Channels   []string `bson:"channels"`
	// LastChannel, LastMessageAt and Preview describe the newest timeline entry. LastMessageAt is
	// stored even when zero (as the zero date), so that the list's cursor comparisons see it.
	LastChannel   string    `bson:"lastChannel"`
	LastMessageAt time.Time `bson:"lastMessageAt"`
	LastInboundAt time.Time `bson:"lastInboundAt,omitempty"`
	Preview       string    `bson:"preview"`
	Unread        int       `bson:"unread"`
	SnoozedUntil  time.Time `bson:"snoozedUntil,omitempty"`
	SLADueAt      time.Time `bson:"slaDueAt,omitempty"`
	CreatedAt     time.Time `bson:"createdAt"`
	UpdatedAt     time.Time `bson:"updatedAt"`
	// Rev counts changes: every update is computed in Go from the stored document and written
	// back only if Rev is unchanged (see UpdateConversation).
	Rev int64 `bson:"rev"`
	// Absorbed lists the conversations merged into this one, so that a merge run again after a
	// crash does not add their unread count twice.
	Absorbed []string `bson:"absorbed,omitempty"`
	// Applied is inbox.Conversation.AppliedActivity.
	Applied []string `bson:"applied,omitempty"`
	// LastInbound is inbox.Conversation.LastInbound, channel → time.
	LastInbound map[string]time.Time `bson:"lastInbound,omitempty"`
}

func toConversationDoc(c inbox.Conversation) conversationDoc {
	d := conversationDoc{
		ID: c.ID, CustomerID: c.CustomerID, Status: string(c.Status), AssigneeID: c.AssigneeID, TeamID: c.TeamID,
		Tags: slices.Clone(c.Tags), Priority: string(c.Priority), Channels: make([]string, 0, len(c.Channels)),
		LastChannel: string(c.LastChannel), LastMessageAt: ms(c.LastMessageAt), LastInboundAt: ms(c.LastInboundAt),
		Preview: c.Preview, Unread: c.Unread, SnoozedUntil: ms(c.SnoozedUntil), SLADueAt: ms(c.SLADueAt),
		CreatedAt: ms(c.CreatedAt), UpdatedAt: ms(c.UpdatedAt), Applied: slices.Clone(c.AppliedActivity),
	}
	if d.Tags == nil {
		d.Tags = []string{}
	}
	for ch, t := range c.LastInbound {
		if d.LastInbound == nil {
			d.LastInbound = map[string]time.Time{}
		}
		d.LastInbound[string(ch)] = ms(t)
	}
	for _, ch := range c.Channels {
		if !slices.Contains(d.Channels, string(ch)) {
			d.Channels = append(d.Channels, string(ch))
		}
	}
	return d
}

func (d conversationDoc) conversation() inbox.Conversation {
	c := inbox.Conversation{
		ID: d.ID, CustomerID: d.CustomerID, Status: inbox.Status(d.Status), AssigneeID: d.AssigneeID, TeamID: d.TeamID,
		Tags: slices.Clone(d.Tags), Priority: inbox.Priority(d.Priority), Channels: make([]inbox.Channel, 0, len(d.Channels)),
		LastChannel: inbox.Channel(d.LastChannel), LastMessageAt: fromDB(d.LastMessageAt), LastInboundAt: fromDB(d.LastInboundAt),
		Preview: d.Preview, Unread: d.Unread, SnoozedUntil: fromDB(d.SnoozedUntil), SLADueAt: fromDB(d.SLADueAt),
		CreatedAt: fromDB(d.CreatedAt), UpdatedAt: fromDB(d.UpdatedAt), AppliedActivity: slices.Clone(d.Applied),
	}
	if c.Tags == nil {
		c.Tags = []string{}
	}
	for ch, t := range d.LastInbound {
		c.NoteInbound(inbox.Channel(ch), fromDB(t))
	}
	for _, ch := range d.Channels {
		c.Channels = append(c.Channels, inbox.Channel(ch))
	}
	return c
}

// EnsureConversation returns the customer's conversation, inserting c when there is none. The
// unique index on customerId decides between concurrent first inserts: the losers get a duplicate
// key and return the winner's. Reading first spares the common case (every ingest of a known
// customer calls this) a failing insert.
func (s *Store) EnsureConversation(ctx context.Context, c inbox.Conversation) (inbox.Conversation, error) {
	d := toConversationDoc(c)
	if stored, err := s.conversationDoc(ctx, bson.D{{Key: "customerId", Value: c.CustomerID}}); err == nil {
		return stored.conversation(), nil
	} else if !errors.Is(err, inbox.ErrNotFound) {
		return inbox.Conversation{}, err
	}
	for range 3 {
		_, err := s.conversations.InsertOne(ctx, d)
		if err == nil {
			return d.conversation(), nil
		}
		if !isDuplicateKey(err) {
			return inbox.Conversation{}, fmt.Errorf("mongo: insert conversation of customer %s: %w", c.CustomerID, err)
		}
		stored, err := s.conversationDoc(ctx, bson.D{{Key: "customerId", Value: c.CustomerID}})
		if err == nil {
			return stored.conversation(), nil
		}
		if !errors.Is(err, inbox.ErrNotFound) {
			return inbox.Conversation{}, err
		}
		// The duplicate was on _id (this id names another customer's conversation), or a
		// merge moved the conversation away in between: try again, then give up.
	}
	return inbox.Conversation{}, fmt.Errorf("mongo: conversation %s of customer %s: id taken: %w", c.ID, c.CustomerID, inbox.ErrConflict)
}

func (s *Store) conversationDoc(ctx context.Context, filter bson.D) (conversationDoc, error) {
	var d conversationDoc
	if err := s.conversations.FindOne(ctx, filter).Decode(&d); err != nil {
		return d, fmt.Errorf("mongo: conversation %v: %w", filter, notFound(err))
	}
	return d, nil
}

// ConversationByID returns a conversation.
func (s *Store) ConversationByID(ctx context.Context, id string) (inbox.Conversation, error) {
	d, err := s.conversationDoc(ctx, bson.D{{Key: "_id", Value: id}})
	if err != nil {
		return inbox.Conversation{}, err
	}
	return d.conversation(), nil
}

// ConversationByCustomer returns the customer's one conversation.
func (s *Store) ConversationByCustomer(ctx context.Context, customerID string) (inbox.Conversation, error) {
	d, err := s.conversationDoc(ctx, bson.D{{Key: "customerId", Value: customerID}})
	if err != nil {
		return inbox.Conversation{}, err
	}
	return d.conversation(), nil
}

// UpdateConversation applies p as a compare-and-set: read the document, compute the new one in Go
// and replace it only if its revision is unchanged, else start over. An update pipeline could do
// the conditional parts (a backfilled entry must not become the preview) in one command, but
// FerretDB has none; the compare-and-set is atomic on MongoDB and gives before and after exactly.
func (s *Store) UpdateConversation(ctx context.Context, id string, p inbox.ConversationPatch) (before, after inbox.Conversation, err error) {
	for range maxCASAttempts {
		var done bool
		before, after, done, err = s.updateConversationOnce(ctx, id, func(cur conversationDoc) (conversationDoc, error) {
			if len(p.IfStatus) > 0 && !slices.Contains(p.IfStatus, inbox.Status(cur.Status)) {
				return cur, fmt.Errorf("mongo: conversation %s is %s, not %v: %w", id, cur.Status, p.IfStatus, inbox.ErrConflict)
			}
			if a := p.Activity; a != nil && a.MessageID != "" && slices.Contains(cur.Applied, a.MessageID) {
				return cur, fmt.Errorf("mongo: activity of message %s is recorded already: %w", a.MessageID, inbox.ErrConflict)
			}
			return applyPatch(cur, p), nil
		})
		if err != nil || done {
			return before, after, err
		}
	}
	return before, after, fmt.Errorf("mongo: conversation %s keeps changing: %w", id, inbox.ErrConflict)
}

// updateConversationOnce is one round of a compare-and-set on a conversation; done is false when
// another writer changed it in between.
func (s *Store) updateConversationOnce(ctx context.Context, id string, change func(conversationDoc) (conversationDoc, error)) (before, after inbox.Conversation, done bool, err error) {
	unlock := s.exclusive(s.conversations)
	defer unlock()
	cur, err := s.conversationDoc(ctx, bson.D{{Key: "_id", Value: id}})
	if err != nil {
		return before, after, false, err
	}
	// change gets its own copy: the slices must not be shared with cur, which becomes "before".
	next, err := change(cloneConversationDoc(cur))
	if err != nil {
		return before, after, false, err
	}
	next.Rev = cur.Rev + 1
	res, err := s.conversations.ReplaceOne(ctx, bson.D{{Key: "_id", Value: id}, {Key: "rev", Value: cur.Rev}}, next)
	if err != nil {
		return before, after, false, fmt.Errorf("mongo: update conversation %s: %w", id, err)
	}
	return cur.conversation(), next.conversation(), res.MatchedCount == 1, nil
}

func cloneConversationDoc(d conversationDoc) conversationDoc {
	d.Tags, d.Channels, d.Absorbed, d.Applied = slices.Clone(d.Tags), slices.Clone(d.Channels), slices.Clone(d.Absorbed), slices.Clone(d.Applied)
	d.LastInbound = maps.Clone(d.LastInbound)
	return d
}

func applyPatch(d conversationDoc, p inbox.ConversationPatch) conversationDoc {
	if p.Status != nil {
		d.Status = string(*p.Status)
	}
	if p.AssigneeID != nil {
		d.AssigneeID = *p.AssigneeID
	}
	if p.TeamID != nil {
		d.TeamID = *p.TeamID
	}
	if p.Tags != nil {
		d.Tags = slices.Clone(*p.Tags)
		if d.Tags == nil {
			d.Tags = []string{}
		}
	}
	if p.Priority != nil {
		d.Priority = string(*p.Priority)
	}
	if p.SnoozedUntil != nil {
		d.SnoozedUntil = ms(*p.SnoozedUntil)
	}
	if a := p.Activity; a != nil {
		if a.MessageID != "" {
			d.Applied = append(d.Applied, a.MessageID)
			if n := len(d.Applied); n > inbox.MaxAppliedActivity {
				d.Applied = d.Applied[n-inbox.MaxAppliedActivity:]
			}
		}
		at := ms(a.At)
		if a.Channel != "" && !slices.Contains(d.Channels, string(a.Channel)) {
			d.Channels = append(d.Channels, string(a.Channel))
		}
		if a.Inbound {
			d.Unread++
			if at.After(d.LastInboundAt) {
				d.LastInboundAt = at
			}
			d.noteInbound(string(a.Channel), at)
		}
		if !at.Before(d.LastMessageAt) {
			d.LastMessageAt, d.Preview = at, a.Preview
			if a.Channel != "" {
				d.LastChannel = string(a.Channel)
			}
		}
	}
	if p.MarkRead {
		d.Unread = 0
	}
	if !p.UpdatedAt.IsZero() {
		d.UpdatedAt = ms(p.UpdatedAt)
	}
	if d.Channels == nil {
		d.Channels = []string{}
	}
	return d
}

// maxList bounds any list, whatever limit the caller asks for.
const maxList = 1000

func clamp(limit, def int) int64 {
	switch {
	case limit <= 0:
		return int64(def)
	case limit > maxList:
		return maxList
	}
	return int64(limit)
}

func conversationFilter(f inbox.ConversationFilter) bson.D {
	q := bson.D{}
	if len(f.Statuses) > 0 {
		st := make([]string, 0, len(f.Statuses))
		for _, s := range f.Statuses {
			st = append(st, string(s))
		}
		q = append(q, bson.E{Key: "status", Value: bson.D{{Key: "$in", Value: st}}})
	}
	switch f.Assignee {
	case "":
	case inbox.AssigneeNone:
		q = append(q, bson.E{Key: "assigneeId", Value: ""})
	default:
		q = append(q, bson.E{Key: "assigneeId", Value: f.Assignee})
	}
	if f.TeamID != "" {
		q = append(q, bson.E{Key: "teamId", Value: f.TeamID})
	}
	if f.Channel != "" {
		q = append(q, bson.E{Key: "channels", Value: string(f.Channel)}) // the array holds it
	}
	if f.Tag != "" {
		q = append(q, bson.E{Key: "tags", Value: f.Tag})
	}
	return q
}

// before selects what sorts after the cursor in newest-first order of (field, _id): an older
// time, or the same time and a smaller id. A cursor without an id means strictly before its time.
func before(field string, c inbox.Cursor) bson.E {
	at := ms(c.At)
	return bson.E{Key: "$or", Value: bson.A{
		bson.D{{Key: field, Value: bson.D{{Key: "$lt", Value: at}}}},
		bson.D{{Key: field, Value: at}, {Key: "_id", Value: bson.D{{Key: "$lt", Value: c.ID}}}},
	}}
}

// ListConversations pages by (lastMessageAt, _id), newest first: keyset pagination, never skip.
func (s *Store) ListConversations(ctx context.Context, f inbox.ConversationFilter) ([]inbox.Conversation, error) {
	q := conversationFilter(f)
	if !f.After.IsZero() {
		q = append(q, before("lastMessageAt", f.After))
	}
	docs, err := findAll[conversationDoc](ctx, s.conversations, q, options.Find().
		SetSort(bson.D{{Key: "lastMessageAt", Value: -1}, {Key: "_id", Value: -1}}).SetLimit(clamp(f.Limit, 50)))
	if err != nil {
		return nil, fmt.Errorf("mongo: list conversations: %w", err)
	}
	out := make([]inbox.Conversation, 0, len(docs))
	for _, d := range docs {
		out = append(out, d.conversation())
	}
	return out, nil
}

// CountConversations counts what f matches, ignoring its cursor and limit.
func (s *Store) CountConversations(ctx context.Context, f inbox.ConversationFilter) (int, error) {
	n, err := s.conversations.CountDocuments(ctx, conversationFilter(f))
	if err != nil {
		return 0, fmt.Errorf("mongo: count conversations: %w", err)
	}
	return int(n), nil
}

// noteInbound is inbox.Conversation.NoteInbound on the document.
func (d *conversationDoc) noteInbound(ch string, t time.Time) {
	if ch == "" || t.IsZero() {
		return
	}
	if d.LastInbound == nil {
		d.LastInbound = map[string]time.Time{}
	}
	if t.After(d.LastInbound[ch]) {
		d.LastInbound[ch] = t
	}
}
