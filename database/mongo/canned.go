package mongo

import (
	"context"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/serambi/serambi/agents"
	"github.com/serambi/serambi/inbox"
)

var _ agents.CannedStore = (*Store)(nil)

type cannedDoc struct {
	ID        string    `bson:"_id"`
	Shortcut  string    `bson:"shortcut"` // unique index
	Title     string    `bson:"title"`
	Text      string    `bson:"text"`
	CreatedBy string    `bson:"createdBy"`
	CreatedAt time.Time `bson:"createdAt"`
	UpdatedAt time.Time `bson:"updatedAt"`
}

func toCannedDoc(c agents.CannedResponse) cannedDoc {
	return cannedDoc{ID: c.ID, Shortcut: c.Shortcut, Title: c.Title, Text: c.Text, CreatedBy: c.CreatedBy,
		CreatedAt: ms(c.CreatedAt), UpdatedAt: ms(c.UpdatedAt)}
}

// CreateCanned stores a canned response; a taken shortcut is a conflict.
func (s *Store) CreateCanned(ctx context.Context, c agents.CannedResponse) error {
	_, err := s.canned.InsertOne(ctx, toCannedDoc(c))
	if isDuplicateKey(err) {
		return fmt.Errorf("mongo: canned response /%s exists already: %w", c.Shortcut, inbox.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("mongo: insert canned response %s: %w", c.ID, err)
	}
	return nil
}

// UpdateCanned replaces a canned response.
func (s *Store) UpdateCanned(ctx context.Context, c agents.CannedResponse) error {
	unlock := s.exclusive(s.canned)
	defer unlock()
	res, err := s.canned.ReplaceOne(ctx, bson.D{{Key: "_id", Value: c.ID}}, toCannedDoc(c))
	if isDuplicateKey(err) {
		return fmt.Errorf("mongo: canned response /%s exists already: %w", c.Shortcut, inbox.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("mongo: update canned response %s: %w", c.ID, err)
	}
	if res.MatchedCount == 0 {
		return fmt.Errorf("mongo: canned response %s: %w", c.ID, inbox.ErrNotFound)
	}
	return nil
}

// DeleteCanned removes a canned response.
func (s *Store) DeleteCanned(ctx context.Context, id string) error {
	res, err := s.canned.DeleteOne(ctx, bson.D{{Key: "_id", Value: id}})
	if err != nil {
		return fmt.Errorf("mongo: delete canned response %s: %w", id, err)
	}
	if res.DeletedCount == 0 {
		return fmt.Errorf("mongo: canned response %s: %w", id, inbox.ErrNotFound)
	}
	return nil
}

// ListCanned returns the canned responses ordered by shortcut.
func (s *Store) ListCanned(ctx context.Context) ([]agents.CannedResponse, error) {
	docs, err := findAll[cannedDoc](ctx, s.canned, bson.D{}, options.Find().
		SetSort(bson.D{{Key: "shortcut", Value: 1}}).SetLimit(maxAccounts))
	if err != nil {
		return nil, fmt.Errorf("mongo: list canned responses: %w", err)
	}
	out := make([]agents.CannedResponse, 0, len(docs))
	for _, d := range docs {
		out = append(out, agents.CannedResponse{ID: d.ID, Shortcut: d.Shortcut, Title: d.Title, Text: d.Text,
			CreatedBy: d.CreatedBy, CreatedAt: fromDB(d.CreatedAt), UpdatedAt: fromDB(d.UpdatedAt)})
	}
	return out, nil
}
