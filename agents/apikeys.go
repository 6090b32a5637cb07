package agents

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/serambi/serambi/inbox"
)

// ErrInvalidKey is the answer to every key that does not let its holder in: unknown, malformed or
// revoked. One error for all of them, so a caller learns nothing about which.
var ErrInvalidKey = errors.New("invalid API key")

// KeyPrefix starts every API key, so a leaked key is recognisable to secret scanners.
const KeyPrefix = "srb_"

// keyLen is the length of a key: the prefix and 32 random bytes in unpadded base64url (43 characters).
const keyLen = len(KeyPrefix) + 43

// APIKeys issues and checks the bearer keys of the REST API.
type APIKeys struct {
	store Store
	now   func() time.Time
	// valid remembers keys found valid for keyCacheTTL, so that a busy integration does not cost
	// a store read per request. A revocation on this instance clears it at once; on another
	// instance it takes effect within keyCacheTTL.
	mu    sync.Mutex
	valid map[string]cachedKey
}

type cachedKey struct {
	key     APIKey
	expires time.Time
}

// keyCacheTTL bounds how long a revoked key may still work on an instance that did not revoke it.
const keyCacheTTL = 10 * time.Second

// NewAPIKeys returns the API key service on store; now is the clock.
func NewAPIKeys(store Store, now func() time.Time) *APIKeys {
	return &APIKeys{store: store, now: now, valid: map[string]cachedKey{}}
}

// Create issues a key named name. The secret is returned once and never stored: only its SHA-256.
func (k *APIKeys) Create(ctx context.Context, name string) (APIKey, string, error) {
	name = strings.TrimSpace(name)
	if name == "" || len(name) > 100 || !utf8.ValidString(name) {
		return APIKey{}, "", fmt.Errorf("an API key needs a name of 1-100 bytes of text: %w", inbox.ErrInvalid)
	}
	raw := make([]byte, 32)
	_, _ = rand.Read(raw) // crypto/rand.Read never fails
	secret := KeyPrefix + base64.RawURLEncoding.EncodeToString(raw)
	key := APIKey{ID: inbox.NewID(), Name: name, Hash: hashKey(secret), CreatedAt: k.now().UTC()}
	if err := k.store.CreateAPIKey(ctx, key); err != nil {
		return APIKey{}, "", fmt.Errorf("store API key %q: %w", name, err)
	}
	return key, secret, nil
}

// Verify returns the key that secret belongs to. Unknown, malformed and revoked keys give
// ErrInvalidKey; any other error means the store could not be asked.
func (k *APIKeys) Verify(ctx context.Context, secret string) (APIKey, error) {
	if len(secret) != keyLen || !strings.HasPrefix(secret, KeyPrefix) {
		return APIKey{}, ErrInvalidKey
	}
	h := hashKey(secret)
	now := k.now()
	k.mu.Lock()
	c, ok := k.valid[h]
	k.mu.Unlock()
	if ok && now.Before(c.expires) {
		return c.key, nil
	}
	key, err := k.store.APIKeyByHash(ctx, h)
	if errors.Is(err, inbox.ErrNotFound) {
		return APIKey{}, ErrInvalidKey
	}
	if err != nil {
		return APIKey{}, fmt.Errorf("look up API key: %w", err)
	}
	// The lookup is by hash, so it leaks nothing about the secret; the constant-time compare
	// guards against a store whose lookup is looser than equality (a prefix or case-folding index).
	if subtle.ConstantTimeCompare([]byte(key.Hash), []byte(h)) != 1 || key.Revoked {
		return APIKey{}, ErrInvalidKey
	}
	k.mu.Lock()
	if len(k.valid) > 10_000 { // bounded: only valid keys get here, but be safe
		clear(k.valid)
	}
	k.valid[h] = cachedKey{key: key, expires: now.Add(keyCacheTTL)}
	k.mu.Unlock()
	return key, nil
}

// List returns every key, revoked ones included, without secrets.
func (k *APIKeys) List(ctx context.Context) ([]APIKey, error) { return k.store.ListAPIKeys(ctx) }

// Revoke stops a key from working.
func (k *APIKeys) Revoke(ctx context.Context, id string) error {
	if err := k.store.RevokeAPIKey(ctx, id); err != nil {
		return fmt.Errorf("revoke API key %s: %w", id, err)
	}
	k.mu.Lock()
	for h, c := range k.valid {
		if c.key.ID == id {
			delete(k.valid, h)
		}
	}
	k.mu.Unlock()
	return nil
}

// hashKey is a fast hash on purpose: keys are 256-bit random tokens, which no one guesses, so a
// slow password hash would cost every request and protect nothing.
func hashKey(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}
