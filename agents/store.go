// Package agents holds who may use Serambi: agent accounts, sessions, roles and teams, and the
// API keys that programs use.
package agents

import (
	"context"
	"time"
)

// APIKey is a key for the REST API. Only the SHA-256 of the secret is stored: keys are random
// 256-bit tokens, so a fast hash is as safe as a slow one and costs nothing per request.
type APIKey struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Hash      string    `json:"-"` // hex SHA-256 of the secret
	CreatedAt time.Time `json:"createdAt"`
	LastUsed  time.Time `json:"lastUsed,omitzero"`
	Revoked   bool      `json:"revoked"`
}

// Store is what the agents package needs from storage.
type Store interface {
	CreateAPIKey(ctx context.Context, k APIKey) error
	// APIKeyByHash returns the key with that hash; inbox.ErrNotFound when none.
	APIKeyByHash(ctx context.Context, hash string) (APIKey, error)
	ListAPIKeys(ctx context.Context) ([]APIKey, error)
	RevokeAPIKey(ctx context.Context, id string) error
}
