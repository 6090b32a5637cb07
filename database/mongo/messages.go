package mongo

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/serambi/serambi/inbox"
)

type messageDoc struct {
	ID             string `bson:"_id"`
	ConversationID string `bson:"conversationId"`
	CustomerID     string `bson:"customerId"`
	Direction      string `bson:"direction"`
	Channel        string `bson:"channel"`
	ExternalID     string `bson:"externalId,omitempty"`
	// DedupeKey is "channel:externalId" under a unique index, absent when there is no external
	// id: it is what makes ingest idempotent.
	DedupeKey     string          `bson:"dedupeKey,omitempty"`
	ThreadKey     string          `bson:"threadKey,omitempty"`
	Subject       string          `bson:"subject,omitempty"`
	Text          string          `bson:"text"`
	HTML          string          `bson:"html,omitempty"`
	Attachments   []attachmentDoc `bson:"attachments,omitempty"`
	AuthorID      string          `bson:"authorId,omitempty"`
	AuthorName    string          `bson:"authorName,omitempty"`
	Delivery      string          `bson:"delivery,omitempty"`
	DeliveryError string          `bson:"deliveryError,omitempty"`
	Event         *eventDoc       `bson:"event,omitempty"`
	Meta          []pair          `bson:"meta,omitempty"`
	SentAt        time.Time       `bson:"sentAt,omitempty"`
	CreatedAt     time.Time       `bson:"createdAt"`
	UpdatedAt     time.Time       `bson:"updatedAt,omitempty"`
}

type attachmentDoc struct {
	SHA256      string `bson:"sha256"`
	Name        string `bson:"name"`
	ContentType string `bson:"contentType"`
	Size        int64  `bson:"size"`
	ContentID   string `bson:"contentId,omitempty"`
	Inline      bool   `bson:"inlined,omitempty"` // not "inline": the driver reads that key as its inline flag
}

type eventDoc struct {
	Kind    string `bson:"kind"`
	ActorID string `bson:"actorId,omitempty"`
	From    string `bson:"from,omitempty"`
	To      string `bson:"to,omitempty"`
	Data    []pair `bson:"data,omitempty"`
}

func dedupeKey(ch inbox.Channel, externalID string) string { return string(ch) + ":" + externalID }

func toMessageDoc(m inbox.Message) messageDoc {
	d := messageDoc{
		ID: m.ID, ConversationID: m.ConversationID, CustomerID: m.CustomerID, Direction: string(m.Direction),
		Channel: string(m.Channel), ExternalID: m.ExternalID, ThreadKey: m.ThreadKey, Subject: m.Subject, Text: m.Text,
		HTML: m.HTML, AuthorID: m.AuthorID, AuthorName: m.AuthorName, Delivery: string(m.Delivery),
		DeliveryError: m.DeliveryError, Meta: toPairs(m.Meta), SentAt: ms(m.SentAt), CreatedAt: ms(m.CreatedAt),
		UpdatedAt: ms(m.UpdatedAt),
	}
	if m.ExternalID != "" {
		d.DedupeKey = dedupeKey(m.Channel, m.ExternalID)
	}
	for _, a := range m.Attachments {
		d.Attachments = append(d.Attachments, attachmentDoc(a))
	}
	if e := m.Event; e != nil {
		d.Event = &eventDoc{Kind: string(e.Kind), ActorID: e.ActorID, From: e.From, To: e.To, Data: toPairs(e.Data)}
	}
	return d
}

func (d messageDoc) message() inbox.Message {
	m := inbox.Message{
		ID: d.ID, ConversationID: d.ConversationID, CustomerID: d.CustomerID, Direction: inbox.Direction(d.Direction),
		Channel: inbox.Channel(d.Channel), ExternalID: d.ExternalID, ThreadKey: d.ThreadKey, Subject: d.Subject,
		Text: d.Text, HTML: d.HTML, AuthorID: d.AuthorID, AuthorName: d.AuthorName, Delivery: inbox.Delivery(d.Delivery),
		DeliveryError: d.DeliveryError, Meta: fromPairs(d.Meta), SentAt: fromDB(d.SentAt), CreatedAt: fromDB(d.CreatedAt),
		UpdatedAt: fromDB(d.UpdatedAt),
	}
	for _, a := range d.Attachments {
		m.Attachments = append(m.Attachments, inbox.Attachment(a))
	}
	if e := d.Event; e != nil {
		m.Event = &inbox.Event{Kind: inbox.EventKind(e.Kind), ActorID: e.ActorID, From: e.From, To: e.To, Data: fromPairs(e.Data)}
	}
	return m
}

// InsertMessage stores m. A duplicate (channel, externalId) is not an error: the stored message
// is returned with true. So is a message whose id is stored already (a retried write).
func (s *Store) InsertMessage(ctx context.Context, m inbox.Message) (inbox.Message, bool, error) {
	d := toMessageDoc(m)
	_, err := s.messages.InsertOne(ctx, d)
	if err == nil {
		return d.message(), false, nil
	}
	if !isDuplicateKey(err) {
		return inbox.Message{}, false, fmt.Errorf("mongo: insert message %s: %w", m.ID, err)
	}
	if d.DedupeKey != "" {
		stored, ferr := s.messageDoc(ctx, bson.D{{Key: "dedupeKey", Value: d.DedupeKey}})
		if ferr == nil {
			return stored.message(), true, nil
		}
		if !errors.Is(ferr, inbox.ErrNotFound) {
			return inbox.Message{}, false, ferr
		}
	}
	stored, ferr := s.messageDoc(ctx, bson.D{{Key: "_id", Value: m.ID}})
	if ferr != nil {
		return inbox.Message{}, false, fmt.Errorf("mongo: message %s was a duplicate but is gone: %w", m.ID, ferr)
	}
	return stored.message(), true, nil
}

// InsertInbound inserts m, then applies p to its conversation. FerretDB has no transactions, so
// these are two writes: when the conversation is gone the message is taken out again, and a
// crash between them leaves a stored message without its activity, which inbox.Ingest's retry
// completes (it sees the duplicate and a conversation that has not caught up).
func (s *Store) InsertInbound(ctx context.Context, m inbox.Message, p inbox.ConversationPatch) (inbox.Message, inbox.Conversation, bool, error) {
	stored, dup, err := s.InsertMessage(ctx, m)
	if err != nil || dup {
		return stored, inbox.Conversation{}, dup, err
	}
	_, after, err := s.UpdateConversation(ctx, m.ConversationID, p)
	if errors.Is(err, inbox.ErrConflict) {
		// A duplicate delivery found the message without its activity and recorded it first.
		after, err = s.ConversationByID(ctx, m.ConversationID)
		return stored, after, true, err
	}
	if errors.Is(err, inbox.ErrNotFound) {
		if _, derr := s.messages.DeleteOne(context.WithoutCancel(ctx), bson.D{{Key: "_id", Value: m.ID}}); derr != nil {
			return inbox.Message{}, inbox.Conversation{}, false, fmt.Errorf("mongo: take back message %s of missing conversation %s: %w", m.ID, m.ConversationID, derr)
		}
	}
	if err != nil {
		return inbox.Message{}, inbox.Conversation{}, false, err
	}
	return stored, after, false, nil
}

func (s *Store) messageDoc(ctx context.Context, filter bson.D) (messageDoc, error) {
	var d messageDoc
	if err := s.messages.FindOne(ctx, filter).Decode(&d); err != nil {
		return d, fmt.Errorf("mongo: message %v: %w", filter, notFound(err))
	}
	return d, nil
}

// MessageByID returns a message.
func (s *Store) MessageByID(ctx context.Context, id string) (inbox.Message, error) {
	d, err := s.messageDoc(ctx, bson.D{{Key: "_id", Value: id}})
	if err != nil {
		return inbox.Message{}, err
	}
	return d.message(), nil
}

// MessageByExternalID returns the message a channel knows by externalID.
func (s *Store) MessageByExternalID(ctx context.Context, ch inbox.Channel, externalID string) (inbox.Message, error) {
	d, err := s.messageDoc(ctx, bson.D{{Key: "dedupeKey", Value: dedupeKey(ch, externalID)}})
	if err != nil {
		return inbox.Message{}, err
	}
	return d.message(), nil
}

// ListMessages pages a timeline by (createdAt, _id), newest first.
func (s *Store) ListMessages(ctx context.Context, conversationID string, cur inbox.Cursor, limit int) ([]inbox.Message, error) {
	q := bson.D{{Key: "conversationId", Value: conversationID}}
	if !cur.IsZero() {
		q = append(q, before("createdAt", cur))
	}
	docs, err := findAll[messageDoc](ctx, s.messages, q, options.Find().
		SetSort(bson.D{{Key: "createdAt", Value: -1}, {Key: "_id", Value: -1}}).SetLimit(clamp(limit, 50)))
	if err != nil {
		return nil, fmt.Errorf("mongo: list messages of conversation %s: %w", conversationID, err)
	}
	out := make([]inbox.Message, 0, len(docs))
	for _, d := range docs {
		out = append(out, d.message())
	}
	return out, nil
}

// SetThreadKey moves a conversation's messages from one thread key to another.
func (s *Store) SetThreadKey(ctx context.Context, conversationID, oldKey, newKey string) (int, error) {
	if oldKey == newKey {
		return 0, nil
	}
	unlock := s.exclusive(s.messages)
	defer unlock()
	res, err := s.messages.UpdateMany(ctx, bson.D{{Key: "conversationId", Value: conversationID}, {Key: "threadKey", Value: oldKey}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "threadKey", Value: newKey}}}})
	if err != nil {
		return 0, fmt.Errorf("mongo: move thread %s of conversation %s: %w", oldKey, conversationID, err)
	}
	return int(res.ModifiedCount), nil
}

// UpdateDelivery moves a message forward: the filter only matches while the message is in one of
// the states that precede u.State, so a late receipt cannot move it back.
func (s *Store) UpdateDelivery(ctx context.Context, messageID string, u inbox.DeliveryUpdate) (bool, error) {
	from := u.State.Precedes()
	if len(from) == 0 {
		return false, fmt.Errorf("mongo: %q is not a delivery state a message can move to: %w", u.State, inbox.ErrInvalid)
	}
	states := make([]string, 0, len(from))
	for _, st := range from {
		states = append(states, string(st))
	}
	unlock := s.exclusive(s.messages)
	defer unlock()
	set := bson.D{{Key: "delivery", Value: string(u.State)}}
	if !u.At.IsZero() {
		set = append(set, bson.E{Key: "updatedAt", Value: ms(u.At)})
	}
	if u.Error != "" {
		set = append(set, bson.E{Key: "deliveryError", Value: u.Error})
	}
	if u.ExternalID != "" {
		// The dedupe key needs the channel, which only the stored message knows.
		m, err := s.messageDoc(ctx, bson.D{{Key: "_id", Value: messageID}})
		if err != nil {
			return false, err
		}
		set = append(set, bson.E{Key: "externalId", Value: u.ExternalID},
			bson.E{Key: "dedupeKey", Value: dedupeKey(inbox.Channel(m.Channel), u.ExternalID)})
	}
	res, err := s.messages.UpdateOne(ctx, bson.D{{Key: "_id", Value: messageID}, {Key: "delivery", Value: bson.D{{Key: "$in", Value: states}}}},
		bson.D{{Key: "$set", Value: set}})
	if isDuplicateKey(err) {
		return false, fmt.Errorf("mongo: message %s: external id %s belongs to another message: %w", messageID, u.ExternalID, inbox.ErrConflict)
	}
	if err != nil {
		return false, fmt.Errorf("mongo: update delivery of message %s: %w", messageID, err)
	}
	if res.MatchedCount == 1 {
		return true, nil
	}
	if err := s.messages.FindOne(ctx, bson.D{{Key: "_id", Value: messageID}}, options.FindOne().SetProjection(bson.D{{Key: "_id", Value: 1}})).Err(); err != nil {
		if errors.Is(err, mongo.ErrNoDocuments) {
			return false, fmt.Errorf("mongo: message %s: %w", messageID, inbox.ErrNotFound)
		}
		return false, fmt.Errorf("mongo: message %s: %w", messageID, err)
	}
	return false, nil
}
