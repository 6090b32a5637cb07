package sqlite

import (
	"context"
	"fmt"
	"time"

	"github.com/serambi/serambi/inbox"
)

// GetState returns the connector state stored under key.
func (s *Store) GetState(ctx context.Context, key string) ([]byte, error) {
	var state []byte
	if err := queryOne(s.reader(ctx), `SELECT state FROM connector_state WHERE key = ?`, []any{key}, &state); err != nil {
		return nil, fmt.Errorf("connector state %s: %w", key, err)
	}
	if state == nil {
		state = []byte{}
	}
	return state, nil
}

// PutState stores state under key, replacing what was there.
func (s *Store) PutState(ctx context.Context, key string, state []byte) error {
	if state == nil {
		state = []byte{}
	}
	return s.write(ctx, func(w *writer) error {
		_, err := w.exec(`INSERT INTO connector_state (key, state) VALUES (?, ?)
			ON CONFLICT (key) DO UPDATE SET state = excluded.state`, key, state)
		return err
	})
}

// AcquireLease takes or renews the lease on key for owner until now+ttl, unless another owner
// holds it unexpired. It is one upsert whose update applies only to the holder or an expired lease.
func (s *Store) AcquireLease(ctx context.Context, key, owner string, now time.Time, ttl time.Duration) (bool, error) {
	if owner == "" {
		return false, fmt.Errorf("lease without an owner: %w", inbox.ErrInvalid)
	}
	var ok bool
	err := s.write(ctx, func(w *writer) error {
		n, err := affected(w.exec(`INSERT INTO leases (key, owner, until) VALUES (?, ?, ?)
			ON CONFLICT (key) DO UPDATE SET owner = excluded.owner, until = excluded.until
			WHERE leases.owner = excluded.owner OR leases.until <= ?`, key, owner, ts(now.Add(ttl)), ts(now)))
		ok = n > 0
		return err
	})
	return ok, err
}

// ReleaseLease gives the lease up if owner holds it.
func (s *Store) ReleaseLease(ctx context.Context, key, owner string) error {
	return s.write(ctx, func(w *writer) error {
		_, err := w.exec(`DELETE FROM leases WHERE key = ? AND owner = ?`, key, owner)
		return err
	})
}
