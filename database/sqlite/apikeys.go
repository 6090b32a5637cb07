package sqlite

import (
	"context"

	"fmt"

	"github.com/serambi/serambi/agents"
	"github.com/serambi/serambi/inbox"
)

// CreateAPIKey stores k; a second key with the same hash is a conflict.
func (s *Store) CreateAPIKey(ctx context.Context, k agents.APIKey) error {
	return s.write(ctx, func(w *writer) error {
		_, err := w.exec(`INSERT INTO api_keys (id, name, hash, created_at, last_used, revoked) VALUES (?, ?, ?, ?, ?, ?)`,
			k.ID, k.Name, k.Hash, ts(k.CreatedAt), ts(k.LastUsed), b2i(k.Revoked))
		if isConstraint(err) {
			return fmt.Errorf("api key %s: id or hash exists: %w", k.ID, inbox.ErrConflict)
		}
		return err
	})
}

const keyCols = `id, name, hash, created_at, last_used, revoked`

func scanKey(q querier, where string, args ...any) ([]agents.APIKey, error) {
	rows, err := q.query(`SELECT `+keyCols+` FROM api_keys `+where, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []agents.APIKey
	for rows.Next() {
		var k agents.APIKey
		var created, used int64
		var revoked int
		if err := rows.Scan(&k.ID, &k.Name, &k.Hash, &created, &used, &revoked); err != nil {
			return nil, err
		}
		k.CreatedAt, k.LastUsed, k.Revoked = fromTS(created), fromTS(used), revoked == 1
		out = append(out, k)
	}
	return out, rows.Err()
}

// APIKeyByHash returns the key with that hash, revoked or not.
func (s *Store) APIKeyByHash(ctx context.Context, hash string) (agents.APIKey, error) {
	keys, err := scanKey(s.lookup(ctx), `WHERE hash = ?`, hash)
	if err != nil {
		return agents.APIKey{}, err
	}
	if len(keys) == 0 {
		return agents.APIKey{}, fmt.Errorf("api key: %w", inbox.ErrNotFound)
	}
	return keys[0], nil
}

// ListAPIKeys lists every key, oldest first.
func (s *Store) ListAPIKeys(ctx context.Context) ([]agents.APIKey, error) {
	return scanKey(s.reader(ctx), `ORDER BY created_at, id LIMIT 10000`)
}

// RevokeAPIKey marks a key revoked.
func (s *Store) RevokeAPIKey(ctx context.Context, id string) error {
	return s.write(ctx, func(w *writer) error {
		n, err := affected(w.exec(`UPDATE api_keys SET revoked = 1 WHERE id = ?`, id))
		if err != nil {
			return err
		}
		if n == 0 {
			return fmt.Errorf("api key %s: %w", id, inbox.ErrNotFound)
		}
		return nil
	})
}
