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

type apiKeyDoc struct {
	ID        string    `bson:"_id"`
	Name      string    `bson:"name"`
	Hash      string    `bson:"hash"` // unique index: the lookup key of every API request
	CreatedAt time.Time `bson:"createdAt"`
	LastUsed  time.Time `bson:"lastUsed,omitempty"`
	Revoked   bool      `bson:"revoked"`
}

func (d apiKeyDoc) key() agents.APIKey {
	return agents.APIKey{ID: d.ID, Name: d.Name, Hash: d.Hash, CreatedAt: fromDB(d.CreatedAt), LastUsed: fromDB(d.LastUsed), Revoked: d.Revoked}
}

// CreateAPIKey stores k; a second key with the same id or hash is a conflict.
func (s *Store) CreateAPIKey(ctx context.Context, k agents.APIKey) error {
	_, err := s.apiKeys.InsertOne(ctx, apiKeyDoc{ID: k.ID, Name: k.Name, Hash: k.Hash, CreatedAt: ms(k.CreatedAt),
		LastUsed: ms(k.LastUsed), Revoked: k.Revoked})
	if isDuplicateKey(err) {
		return fmt.Errorf("mongo: API key %s exists already: %w", k.ID, inbox.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("mongo: insert API key %s: %w", k.ID, err)
	}
	return nil
}

// APIKeyByHash returns the key whose secret hashes to hash.
func (s *Store) APIKeyByHash(ctx context.Context, hash string) (agents.APIKey, error) {
	var d apiKeyDoc
	if err := s.apiKeys.FindOne(ctx, bson.D{{Key: "hash", Value: hash}}).Decode(&d); err != nil {
		// The hash is a credential's fingerprint: it stays out of the message.
		return agents.APIKey{}, fmt.Errorf("mongo: API key by hash: %w", notFound(err))
	}
	return d.key(), nil
}

// maxAPIKeys bounds the list of keys: an installation has a handful.
const maxAPIKeys = 1000

// ListAPIKeys returns the keys, newest first.
func (s *Store) ListAPIKeys(ctx context.Context) ([]agents.APIKey, error) {
	docs, err := findAll[apiKeyDoc](ctx, s.apiKeys, bson.D{}, options.Find().
		SetSort(bson.D{{Key: "createdAt", Value: -1}, {Key: "_id", Value: -1}}).SetLimit(maxAPIKeys))
	if err != nil {
		return nil, fmt.Errorf("mongo: list API keys: %w", err)
	}
	out := make([]agents.APIKey, 0, len(docs))
	for _, d := range docs {
		out = append(out, d.key())
	}
	return out, nil
}

// RevokeAPIKey marks a key revoked.
func (s *Store) RevokeAPIKey(ctx context.Context, id string) error {
	unlock := s.exclusive(s.apiKeys)
	defer unlock()
	res, err := s.apiKeys.UpdateOne(ctx, bson.D{{Key: "_id", Value: id}}, bson.D{{Key: "$set", Value: bson.D{{Key: "revoked", Value: true}}}})
	if err != nil {
		return fmt.Errorf("mongo: revoke API key %s: %w", id, err)
	}
	if res.MatchedCount == 0 {
		return fmt.Errorf("mongo: API key %s: %w", id, inbox.ErrNotFound)
	}
	return nil
}
