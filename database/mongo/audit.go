package mongo

import (
	"context"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/serambi/serambi/inbox"
)

type auditDoc struct {
	ID         string    `bson:"_id"`
	ActorID    string    `bson:"actorId"`
	Action     string    `bson:"action"`
	CustomerID string    `bson:"customerId"`
	Data       []pair    `bson:"data,omitempty"`
	At         time.Time `bson:"at"`
}

// InsertAudit stores an audit entry; storing the same entry again is a no-op.
func (s *Store) InsertAudit(ctx context.Context, e inbox.AuditEntry) error {
	_, err := s.audit.InsertOne(ctx, auditDoc{ID: e.ID, ActorID: e.ActorID, Action: e.Action, CustomerID: e.CustomerID,
		Data: toPairs(e.Data), At: ms(e.At)})
	if err != nil && !isDuplicateKey(err) {
		return fmt.Errorf("mongo: insert audit entry %s: %w", e.ID, err)
	}
	return nil
}

// ListAudit returns a customer's audit entries, newest first.
func (s *Store) ListAudit(ctx context.Context, customerID string, limit int) ([]inbox.AuditEntry, error) {
	docs, err := findAll[auditDoc](ctx, s.audit, bson.D{{Key: "customerId", Value: customerID}}, options.Find().
		SetSort(bson.D{{Key: "at", Value: -1}, {Key: "_id", Value: -1}}).SetLimit(clamp(limit, 50)))
	if err != nil {
		return nil, fmt.Errorf("mongo: list audit of customer %s: %w", customerID, err)
	}
	out := make([]inbox.AuditEntry, 0, len(docs))
	for _, d := range docs {
		out = append(out, inbox.AuditEntry{ID: d.ID, ActorID: d.ActorID, Action: d.Action, CustomerID: d.CustomerID,
			Data: fromPairs(d.Data), At: fromDB(d.At)})
	}
	return out, nil
}

// suggestionDoc's _id is the pair "customerId/otherId": a suggestion is stored once per pair
// because the second insert is a duplicate key.
type suggestionDoc struct {
	ID         string      `bson:"_id"`
	CustomerID string      `bson:"customerId"`
	OtherID    string      `bson:"otherId"`
	Reason     identityDoc `bson:"reason"`
	At         time.Time   `bson:"at"`
}

func suggestionID(customerID, otherID string) string { return customerID + "/" + otherID }

func (d suggestionDoc) suggestion() inbox.MergeSuggestion {
	return inbox.MergeSuggestion{CustomerID: d.CustomerID, OtherID: d.OtherID, Reason: d.Reason.identity(), At: fromDB(d.At)}
}

// AddSuggestion stores a merge suggestion unless the pair has one.
func (s *Store) AddSuggestion(ctx context.Context, sg inbox.MergeSuggestion) error {
	_, err := s.suggestions.InsertOne(ctx, suggestionDoc{ID: suggestionID(sg.CustomerID, sg.OtherID), CustomerID: sg.CustomerID,
		OtherID: sg.OtherID, Reason: toIdentityDoc(sg.Reason), At: ms(sg.At)})
	if err != nil && !isDuplicateKey(err) {
		return fmt.Errorf("mongo: insert merge suggestion %s/%s: %w", sg.CustomerID, sg.OtherID, err)
	}
	return nil
}

// ListSuggestions returns the suggestions about customerID, newest first.
func (s *Store) ListSuggestions(ctx context.Context, customerID string) ([]inbox.MergeSuggestion, error) {
	docs, err := findAll[suggestionDoc](ctx, s.suggestions, bson.D{{Key: "customerId", Value: customerID}}, options.Find().
		SetSort(bson.D{{Key: "at", Value: -1}, {Key: "_id", Value: 1}}).SetLimit(maxHolders))
	if err != nil {
		return nil, fmt.Errorf("mongo: list merge suggestions of %s: %w", customerID, err)
	}
	out := make([]inbox.MergeSuggestion, 0, len(docs))
	for _, d := range docs {
		out = append(out, d.suggestion())
	}
	return out, nil
}

// DeleteSuggestion removes the suggestion of the pair; ErrNotFound when there is none.
func (s *Store) DeleteSuggestion(ctx context.Context, customerID, otherID string) error {
	res, err := s.suggestions.DeleteOne(ctx, bson.D{{Key: "_id", Value: suggestionID(customerID, otherID)}})
	if err != nil {
		return fmt.Errorf("mongo: delete merge suggestion %s/%s: %w", customerID, otherID, err)
	}
	if res.DeletedCount == 0 {
		return fmt.Errorf("mongo: merge suggestion %s/%s: %w", customerID, otherID, inbox.ErrNotFound)
	}
	return nil
}
