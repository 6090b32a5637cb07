package mongo

import (
	"context"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/serambi/serambi/inbox"
	"github.com/serambi/serambi/notifications"
)

var _ notifications.Store = (*Store)(nil)

// collNotifications holds agents' notifications: unique (agentId, kind, messageId) makes adding
// one idempotent; (agentId, createdAt, _id) serves the list and (agentId, unread) the bell.
//
// Its updates only ever set unread=false and readAt on documents of one agent, so FerretDB's
// non-atomic updates (see ferret.go) can at worst record a slightly later readAt or count a
// notification read twice; they are not serialised.
const collNotifications = "notifications"

type notificationDoc struct {
	ID             string    `bson:"_id"`
	AgentID        string    `bson:"agentId"`
	Kind           string    `bson:"kind"`
	ConversationID string    `bson:"conversationId"`
	CustomerID     string    `bson:"customerId,omitempty"`
	MessageID      string    `bson:"messageId"`
	ActorID        string    `bson:"actorId,omitempty"`
	Excerpt        string    `bson:"excerpt,omitempty"`
	CreatedAt      time.Time `bson:"createdAt"`
	ReadAt         time.Time `bson:"readAt,omitempty"`
	// Unread is stored rather than derived from readAt: an equality on a boolean is what an
	// index serves well, on MongoDB and FerretDB alike, where "readAt absent" is not.
	Unread bool `bson:"unread"`
}

func (d notificationDoc) notification() notifications.Notification {
	return notifications.Notification{ID: d.ID, AgentID: d.AgentID, Kind: notifications.Kind(d.Kind),
		ConversationID: d.ConversationID, CustomerID: d.CustomerID, MessageID: d.MessageID, ActorID: d.ActorID,
		Excerpt: d.Excerpt, CreatedAt: fromDB(d.CreatedAt), ReadAt: fromDB(d.ReadAt)}
}

func (s *Store) notifs() *mongo.Collection { return s.db.Collection(collNotifications) }

// AddNotification stores n unless the agent has one of this kind for this message already.
func (s *Store) AddNotification(ctx context.Context, n notifications.Notification) (notifications.Notification, bool, error) {
	d := notificationDoc{ID: n.ID, AgentID: n.AgentID, Kind: string(n.Kind), ConversationID: n.ConversationID,
		CustomerID: n.CustomerID, MessageID: n.MessageID, ActorID: n.ActorID, Excerpt: n.Excerpt,
		CreatedAt: ms(n.CreatedAt), ReadAt: ms(n.ReadAt), Unread: n.ReadAt.IsZero()}
	_, err := s.notifs().InsertOne(ctx, d)
	if err == nil {
		return d.notification(), false, nil
	}
	if !isDuplicateKey(err) {
		return notifications.Notification{}, false, fmt.Errorf("mongo: insert notification %s: %w", n.ID, err)
	}
	var stored notificationDoc
	err = s.notifs().FindOne(ctx, bson.D{{Key: "agentId", Value: n.AgentID}, {Key: "kind", Value: string(n.Kind)},
		{Key: "messageId", Value: n.MessageID}}).Decode(&stored)
	if err != nil {
		// A duplicate that is not the natural key is the id itself: a caller's bug, not a repeat.
		return notifications.Notification{}, false, fmt.Errorf("mongo: notification %s: %w", n.ID, inbox.ErrConflict)
	}
	return stored.notification(), true, nil
}

// NotificationByID returns the agent's notification id.
func (s *Store) NotificationByID(ctx context.Context, agentID, id string) (notifications.Notification, error) {
	var d notificationDoc
	if err := s.notifs().FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&d); err != nil {
		return notifications.Notification{}, fmt.Errorf("mongo: notification %s: %w", id, notFound(err))
	}
	if d.AgentID != agentID {
		return notifications.Notification{}, fmt.Errorf("mongo: notification %s: %w", id, inbox.ErrNotFound)
	}
	return d.notification(), nil
}

// ListNotifications returns the agent's notifications newest first, after the cursor.
func (s *Store) ListNotifications(ctx context.Context, agentID string, after notifications.Cursor, limit int) ([]notifications.Notification, error) {
	if limit <= 0 || limit > notifications.MaxPage {
		limit = notifications.MaxPage
	}
	q := bson.D{{Key: "agentId", Value: agentID}}
	if !after.IsZero() {
		q = append(q, before("createdAt", inbox.Cursor{At: after.At, ID: after.ID}))
	}
	docs, err := findAll[notificationDoc](ctx, s.notifs(), q, options.Find().
		SetSort(bson.D{{Key: "createdAt", Value: -1}, {Key: "_id", Value: -1}}).SetLimit(int64(limit)))
	if err != nil {
		return nil, fmt.Errorf("mongo: list notifications of %s: %w", agentID, err)
	}
	out := make([]notifications.Notification, 0, len(docs))
	for _, d := range docs {
		out = append(out, d.notification())
	}
	return out, nil
}

func unreadOf(agentID string) bson.D {
	return bson.D{{Key: "agentId", Value: agentID}, {Key: "unread", Value: true}}
}

// CountUnreadNotifications counts the agent's unread notifications, up to limit.
func (s *Store) CountUnreadNotifications(ctx context.Context, agentID string, limit int) (int, error) {
	n, err := s.notifs().CountDocuments(ctx, unreadOf(agentID), options.Count().SetLimit(int64(limit)))
	if err != nil {
		return 0, fmt.Errorf("mongo: count unread notifications of %s: %w", agentID, err)
	}
	return int(n), nil
}

func markRead(at time.Time) bson.D {
	return bson.D{{Key: "$set", Value: bson.D{{Key: "unread", Value: false}, {Key: "readAt", Value: ms(at)}}}}
}

// MarkNotificationsRead marks those of ids that are the agent's and unread as read at at.
func (s *Store) MarkNotificationsRead(ctx context.Context, agentID string, ids []string, at time.Time) (int, error) {
	if len(ids) == 0 {
		return 0, nil
	}
	q := append(unreadOf(agentID), bson.E{Key: "_id", Value: bson.D{{Key: "$in", Value: ids}}})
	res, err := s.notifs().UpdateMany(ctx, q, markRead(at))
	if err != nil {
		return 0, fmt.Errorf("mongo: mark notifications of %s read: %w", agentID, err)
	}
	return int(res.ModifiedCount), nil
}

// MarkAllNotificationsRead marks every unread notification of the agent read at at.
func (s *Store) MarkAllNotificationsRead(ctx context.Context, agentID string, at time.Time) (int, error) {
	res, err := s.notifs().UpdateMany(ctx, unreadOf(agentID), markRead(at))
	if err != nil {
		return 0, fmt.Errorf("mongo: mark all notifications of %s read: %w", agentID, err)
	}
	return int(res.ModifiedCount), nil
}

// PruneNotifications deletes up to limit of the agent's read notifications created before
// before. DeleteMany has no limit, so the ids are read first (oldest first), then deleted.
func (s *Store) PruneNotifications(ctx context.Context, agentID string, olderThan time.Time, limit int) (int, error) {
	q := bson.D{{Key: "agentId", Value: agentID}, {Key: "createdAt", Value: bson.D{{Key: "$lt", Value: ms(olderThan)}}},
		{Key: "unread", Value: false}}
	docs, err := findAll[struct {
		ID string `bson:"_id"`
	}](ctx, s.notifs(), q, options.Find().SetSort(bson.D{{Key: "createdAt", Value: 1}}).
		SetProjection(bson.D{{Key: "_id", Value: 1}}).SetLimit(int64(limit)))
	if err != nil {
		return 0, fmt.Errorf("mongo: find old notifications of %s: %w", agentID, err)
	}
	if len(docs) == 0 {
		return 0, nil
	}
	ids := make([]string, 0, len(docs))
	for _, d := range docs {
		ids = append(ids, d.ID)
	}
	res, err := s.notifs().DeleteMany(ctx, bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: ids}}},
		{Key: "agentId", Value: agentID}})
	if err != nil {
		return 0, fmt.Errorf("mongo: prune notifications of %s: %w", agentID, err)
	}
	return int(res.DeletedCount), nil
}
