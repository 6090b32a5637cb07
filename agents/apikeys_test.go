package agents_test

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/serambi/serambi/agents"
	"github.com/serambi/serambi/database/mongo"
	"github.com/serambi/serambi/database/mongo/mongotest"
	"github.com/serambi/serambi/database/sqlite"
	"github.com/serambi/serambi/inbox"
)

func stores(t *testing.T) map[string]func(t *testing.T) agents.Store {
	return map[string]func(t *testing.T) agents.Store{
		"sqlite": func(t *testing.T) agents.Store {
			st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "serambi.db"), slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			return st
		},
		"mongo": func(t *testing.T) agents.Store {
			st, err := mongo.Open(context.Background(), mongotest.Start(t), slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close(context.Background()) })
			return st
		},
	}
}

func TestAPIKeys(t *testing.T) {
	for name, open := range stores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			store := open(t)
			now := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
			keys := agents.NewAPIKeys(store, func() time.Time { return now })

			key, secret, err := keys.Create(ctx, "  shop backend ")
			if err != nil {
				t.Fatalf("Create: %v", err)
			}
			if !strings.HasPrefix(secret, agents.KeyPrefix) || len(secret) != len(agents.KeyPrefix)+43 {
				t.Errorf("secret %q; want srb_ and 43 base64url characters (256 bits)", secret)
			}
			if key.Name != "shop backend" || !key.CreatedAt.Equal(now) || key.ID == "" {
				t.Errorf("key %+v; want the trimmed name, the clock's time and an id", key)
			}
			if strings.Contains(key.Hash, secret) || len(key.Hash) != 64 {
				t.Errorf("hash %q; want 64 hex digits of SHA-256, never the secret", key.Hash)
			}
			_, other, err := keys.Create(ctx, "second")
			if err != nil || other == secret {
				t.Fatalf("second key %q, %v; want a different secret", other, err)
			}
			listed, err := keys.List(ctx)
			if err != nil || len(listed) != 2 {
				t.Fatalf("List = %d keys, %v; want 2", len(listed), err)
			}

			got, err := keys.Verify(ctx, secret)
			if err != nil || got.ID != key.ID {
				t.Fatalf("Verify(own secret) = %+v, %v", got, err)
			}
			invalid := []struct{ name, secret string }{
				{"empty", ""},
				{"no prefix", strings.TrimPrefix(secret, agents.KeyPrefix)},
				{"one character changed", secret[:len(secret)-1] + flip(secret[len(secret)-1])},
				{"truncated", secret[:len(secret)-2]},
				{"the stored hash itself", key.Hash},
				{"well-formed but never issued", agents.KeyPrefix + strings.Repeat("A", 43)},
			}
			for _, tt := range invalid {
				if _, err := keys.Verify(ctx, tt.secret); !errors.Is(err, agents.ErrInvalidKey) {
					t.Errorf("Verify(%s) = %v, want ErrInvalidKey", tt.name, err)
				}
			}

			if err := keys.Revoke(ctx, key.ID); err != nil {
				t.Fatalf("Revoke: %v", err)
			}
			if _, err := keys.Verify(ctx, secret); !errors.Is(err, agents.ErrInvalidKey) {
				t.Errorf("Verify after revoke = %v, want ErrInvalidKey", err)
			}
			if _, err := keys.Verify(ctx, other); err != nil {
				t.Errorf("revoking one key broke another: %v", err)
			}
		})
	}
}

func TestCreateNeedsAName(t *testing.T) {
	keys := agents.NewAPIKeys(stores(t)["sqlite"](t), time.Now)
	for _, name := range []string{"", "   ", strings.Repeat("x", 101), "bad\xff"} {
		if _, _, err := keys.Create(context.Background(), name); !errors.Is(err, inbox.ErrInvalid) {
			t.Errorf("Create(%q) = %v, want ErrInvalid", name, err)
		}
	}
}

func flip(c byte) string {
	if c == 'A' {
		return "B"
	}
	return "A"
}

// A key revoked on another instance stops working there within the cache's lifetime, and a
// revocation on the same instance at once (the main test above).
func TestRevocationElsewhereEndsWithinTheCacheLifetime(t *testing.T) {
	st := stores(t)["sqlite"](t)
	now := time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	here, elsewhere := agents.NewAPIKeys(st, clock), agents.NewAPIKeys(st, clock)
	ctx := context.Background()
	key, secret, err := here.Create(ctx, "shop")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := here.Verify(ctx, secret); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if err := elsewhere.Revoke(ctx, key.ID); err != nil {
		t.Fatal(err)
	}
	now = now.Add(11 * time.Second)
	if _, err := here.Verify(ctx, secret); !errors.Is(err, agents.ErrInvalidKey) {
		t.Fatalf("Verify 11 s after a revocation on another instance = %v, want ErrInvalidKey", err)
	}
}
