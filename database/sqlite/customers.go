package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/serambi/serambi/inbox"
)

// CreateCustomer stores c and claims its verified identities, or stores nothing.
func (s *Store) CreateCustomer(ctx context.Context, c inbox.Customer) error {
	ids := dedupeIdentities(c.Identities)
	return s.write(ctx, func(w *writer) error {
		for _, id := range ids {
			if !id.Verified {
				continue
			}
			owner, err := claimOwner(w, id.Kind, id.Value)
			if err == nil {
				return &inbox.IdentityTakenError{Identity: id, OwnerID: owner}
			}
			if !errors.Is(err, inbox.ErrNotFound) {
				return err
			}
		}
		if _, err := w.exec(`INSERT INTO customers (id, name, avatar, locale, merged_into, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?)`, c.ID, c.Name, c.Avatar, c.Locale, c.MergedInto, ts(c.CreatedAt), ts(c.UpdatedAt)); err != nil {
			if isConstraint(err) {
				return fmt.Errorf("customer %s exists: %w", c.ID, inbox.ErrConflict)
			}
			return err
		}
		for _, id := range ids {
			if err := insertIdentity(w, c.ID, id); err != nil {
				return err
			}
		}
		return nil
	})
}

// dedupeIdentities keeps one entry per kind:value, verified if any copy is.
func dedupeIdentities(in []inbox.Identity) []inbox.Identity {
	var out []inbox.Identity
	at := map[string]int{}
	for _, id := range in {
		if i, ok := at[id.Key()]; ok {
			out[i].Verified = out[i].Verified || id.Verified
			continue
		}
		at[id.Key()] = len(out)
		out = append(out, id)
	}
	return out
}

func insertIdentity(w *writer, customerID string, id inbox.Identity) error {
	_, err := w.exec(`INSERT INTO identities (customer_id, kind, value, verified, unreachable, added_at) VALUES (?, ?, ?, ?, ?, ?)`,
		customerID, string(id.Kind), id.Value, b2i(id.Verified), b2i(id.Unreachable), ts(id.AddedAt))
	if err != nil && isConstraint(err) {
		// Only a claim racing past claimOwner gets here, which the single writer rules out;
		// still, report it as what it is.
		return fmt.Errorf("identity %s: %w", id.Key(), inbox.ErrConflict)
	}
	return err
}

func claimOwner(q querier, kind inbox.IdentityKind, value string) (string, error) {
	var owner string
	err := queryOne(q, `SELECT customer_id FROM identities WHERE kind = ? AND value = ? AND verified = 1`,
		[]any{string(kind), value}, &owner)
	return owner, err
}

const customerQuery = `SELECT c.id, c.name, c.avatar, c.locale, c.merged_into, c.created_at, c.updated_at,
	i.kind, i.value, i.verified, i.unreachable, i.added_at
	FROM customers c LEFT JOIN identities i ON i.customer_id = c.id
	WHERE c.id = ?`

// loadCustomer reads a customer and its identities in one statement, so that both come from one
// snapshot.
func loadCustomer(q querier, id string) (inbox.Customer, error) {
	rows, err := q.query(customerQuery, id)
	if err != nil {
		return inbox.Customer{}, err
	}
	defer rows.Close()
	var c inbox.Customer
	found := false
	for rows.Next() {
		var created, updated int64
		var kind, value sql.NullString
		var verified, unreachable, added sql.NullInt64
		if err := rows.Scan(&c.ID, &c.Name, &c.Avatar, &c.Locale, &c.MergedInto, &created, &updated,
			&kind, &value, &verified, &unreachable, &added); err != nil {
			return inbox.Customer{}, err
		}
		found = true
		c.CreatedAt, c.UpdatedAt = fromTS(created), fromTS(updated)
		if kind.Valid {
			c.Identities = append(c.Identities, inbox.Identity{Kind: inbox.IdentityKind(kind.String), Value: value.String,
				Verified: verified.Int64 == 1, Unreachable: unreachable.Int64 == 1, AddedAt: fromTS(added.Int64)})
		}
	}
	if err := rows.Err(); err != nil {
		return inbox.Customer{}, err
	}
	if !found {
		return inbox.Customer{}, fmt.Errorf("customer %s: %w", id, inbox.ErrNotFound)
	}
	if c.Identities == nil {
		c.Identities = []inbox.Identity{}
	}
	// Oldest first, so that Customer.Identity gives the first address a customer used. Sorted
	// here rather than in SQL, which would add a sorter to the most frequent read.
	slices.SortStableFunc(c.Identities, func(a, b inbox.Identity) int { return a.AddedAt.Compare(b.AddedAt) })
	return c, nil
}

// CustomerByID returns the customer as stored, MergedInto included.
func (s *Store) CustomerByID(ctx context.Context, id string) (inbox.Customer, error) {
	return loadCustomer(s.lookup(ctx), id)
}

// CustomerIDByIdentity returns the owner of a claimed identity.
func (s *Store) CustomerIDByIdentity(ctx context.Context, kind inbox.IdentityKind, value string) (string, error) {
	owner, err := claimOwner(s.lookup(ctx), kind, value)
	if errors.Is(err, inbox.ErrNotFound) {
		return "", fmt.Errorf("identity %s:%s: %w", kind, value, inbox.ErrNotFound)
	}
	return owner, err
}

// CustomersWithIdentity lists every customer holding kind:value, verified or not.
func (s *Store) CustomersWithIdentity(ctx context.Context, kind inbox.IdentityKind, value string) ([]string, error) {
	rows, err := s.lookup(ctx).query(`SELECT customer_id FROM identities WHERE kind = ? AND value = ? ORDER BY customer_id`, string(kind), value)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out = append(out, id)
	}
	return out, rows.Err()
}

func customerExists(w *writer, id string) error {
	var one int
	if err := queryOne(w, `SELECT 1 FROM customers WHERE id = ?`, []any{id}, &one); err != nil {
		if errors.Is(err, inbox.ErrNotFound) {
			return fmt.Errorf("customer %s: %w", id, inbox.ErrNotFound)
		}
		return err
	}
	return nil
}

// AddIdentity adds id to the customer, claiming it when verified.
func (s *Store) AddIdentity(ctx context.Context, customerID string, id inbox.Identity) error {
	return s.write(ctx, func(w *writer) error {
		if err := customerExists(w, customerID); err != nil {
			return err
		}
		var verified int
		err := queryOne(w, `SELECT verified FROM identities WHERE customer_id = ? AND kind = ? AND value = ?`,
			[]any{customerID, string(id.Kind), id.Value}, &verified)
		switch {
		case errors.Is(err, inbox.ErrNotFound):
		case err != nil:
			return err
		case verified == 1 || !id.Verified:
			return nil // has it already, as verified as asked
		}
		if id.Verified {
			owner, err := claimOwner(w, id.Kind, id.Value)
			if err == nil && owner != customerID {
				return &inbox.IdentityTakenError{Identity: id, OwnerID: owner}
			}
			if err != nil && !errors.Is(err, inbox.ErrNotFound) {
				return err
			}
		}
		if verified == 0 && err == nil {
			_, err := w.exec(`UPDATE identities SET verified = 1 WHERE customer_id = ? AND kind = ? AND value = ?`,
				customerID, string(id.Kind), id.Value)
			return err
		}
		return insertIdentity(w, customerID, id)
	})
}

// SetIdentityUnreachable flags or clears that a channel cannot deliver to this identity.
func (s *Store) SetIdentityUnreachable(ctx context.Context, customerID string, kind inbox.IdentityKind, value string, unreachable bool) error {
	return s.write(ctx, func(w *writer) error {
		n, err := affected(w.exec(`UPDATE identities SET unreachable = ? WHERE customer_id = ? AND kind = ? AND value = ?`,
			b2i(unreachable), customerID, string(kind), value))
		if err != nil {
			return err
		}
		if n == 0 {
			return fmt.Errorf("identity %s:%s of customer %s: %w", kind, value, customerID, inbox.ErrNotFound)
		}
		return nil
	})
}

// UpdateCustomerProfile sets name, avatar and locale where the given values are not empty.
func (s *Store) UpdateCustomerProfile(ctx context.Context, id, name, avatar, locale string) error {
	return s.write(ctx, func(w *writer) error {
		n, err := affected(w.exec(`UPDATE customers SET
			name = CASE WHEN ?1 <> '' THEN ?1 ELSE name END,
			avatar = CASE WHEN ?2 <> '' THEN ?2 ELSE avatar END,
			locale = CASE WHEN ?3 <> '' THEN ?3 ELSE locale END
			WHERE id = ?4`, name, avatar, locale, id))
		if err != nil {
			return err
		}
		if n == 0 {
			return fmt.Errorf("customer %s: %w", id, inbox.ErrNotFound)
		}
		return nil
	})
}

// InsertAudit stores an audit entry.
func (s *Store) InsertAudit(ctx context.Context, e inbox.AuditEntry) error {
	data, err := jsonText(e.Data)
	if err != nil {
		return err
	}
	return s.write(ctx, func(w *writer) error {
		_, err := w.exec(`INSERT INTO audit (id, actor_id, action, customer_id, data, at) VALUES (?, ?, ?, ?, ?, ?)`,
			e.ID, e.ActorID, e.Action, e.CustomerID, data, ts(e.At))
		return err
	})
}

// ListAudit lists a customer's audit entries newest first.
func (s *Store) ListAudit(ctx context.Context, customerID string, limit int) ([]inbox.AuditEntry, error) {
	if limit <= 0 || limit > 1000 {
		limit = min(max(limit, 50), 1000)
	}
	rows, err := s.reader(ctx).query(`SELECT id, actor_id, action, customer_id, data, at FROM audit
		WHERE customer_id = ? ORDER BY at DESC, id DESC LIMIT ?`, customerID, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []inbox.AuditEntry
	for rows.Next() {
		var e inbox.AuditEntry
		var data string
		var at int64
		if err := rows.Scan(&e.ID, &e.ActorID, &e.Action, &e.CustomerID, &data, &at); err != nil {
			return nil, err
		}
		e.At = fromTS(at)
		if err := fromJSONText(data, &e.Data); err != nil {
			return nil, fmt.Errorf("audit %s data: %w", e.ID, err)
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// AddSuggestion stores a merge suggestion once per (customer, other) pair.
func (s *Store) AddSuggestion(ctx context.Context, sg inbox.MergeSuggestion) error {
	reason, err := json.Marshal(sg.Reason)
	if err != nil {
		return err
	}
	return s.write(ctx, func(w *writer) error {
		_, err := w.exec(`INSERT INTO suggestions (customer_id, other_id, reason, at) VALUES (?, ?, ?, ?)
			ON CONFLICT (customer_id, other_id) DO NOTHING`, sg.CustomerID, sg.OtherID, string(reason), ts(sg.At))
		return err
	})
}

// ListSuggestions lists the suggestions stored for customerID, oldest first.
func (s *Store) ListSuggestions(ctx context.Context, customerID string) ([]inbox.MergeSuggestion, error) {
	rows, err := s.reader(ctx).query(`SELECT customer_id, other_id, reason, at FROM suggestions
		WHERE customer_id = ? ORDER BY at, other_id LIMIT 1000`, customerID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []inbox.MergeSuggestion
	for rows.Next() {
		var sg inbox.MergeSuggestion
		var reason string
		var at int64
		if err := rows.Scan(&sg.CustomerID, &sg.OtherID, &reason, &at); err != nil {
			return nil, err
		}
		sg.At = fromTS(at)
		if err := json.Unmarshal([]byte(reason), &sg.Reason); err != nil {
			return nil, fmt.Errorf("suggestion reason: %w", err)
		}
		sg.Reason.AddedAt = sg.Reason.AddedAt.UTC()
		out = append(out, sg)
	}
	return out, rows.Err()
}

// DeleteSuggestion removes one suggestion; ErrNotFound when there was none.
func (s *Store) DeleteSuggestion(ctx context.Context, customerID, otherID string) error {
	return s.write(ctx, func(w *writer) error {
		n, err := affected(w.exec(`DELETE FROM suggestions WHERE customer_id = ? AND other_id = ?`, customerID, otherID))
		if err != nil {
			return err
		}
		if n == 0 {
			return fmt.Errorf("suggestion %s/%s: %w", customerID, otherID, inbox.ErrNotFound)
		}
		return nil
	})
}

// jsonText encodes v for a JSON column; empty maps and slices are stored as ”.
func jsonText[T any](v T) (string, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	switch string(b) {
	case "null", "{}", "[]":
		return "", nil
	}
	return string(b), nil
}

func fromJSONText(s string, v any) error {
	if s == "" {
		return nil
	}
	return json.Unmarshal([]byte(s), v)
}

// FindCustomers implements inbox.CustomerFinder. It reads every customer and identity row once (a
// LIKE with a leading wildcard uses no index; the identities are matched in one pass, not one
// look-up per customer, which was 2.5 times slower): ~40 ms at a hundred thousand customers
// (docs/BENCHMARKS.md), which an agent's search can afford and the ingest path never pays. SQLite's LIKE ignores the case of
// ASCII letters only, which covers names written in Latin letters.
func (s *Store) FindCustomers(ctx context.Context, text string, limit int) ([]inbox.Customer, error) {
	if limit <= 0 || limit > inbox.MaxFound {
		limit = inbox.MaxFound
	}
	pattern := "%" + likeEscaper.Replace(text) + "%"
	rows, err := s.reader(ctx).query(`SELECT c.id FROM customers c
		WHERE c.merged_into = '' AND (c.name LIKE ?1 ESCAPE '\' OR c.id IN (
			SELECT customer_id FROM identities WHERE value LIKE ?1 ESCAPE '\'))
		ORDER BY c.updated_at DESC, c.id DESC LIMIT ?2`, pattern, limit)
	if err != nil {
		return nil, fmt.Errorf("find customers: %w", err)
	}
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, fmt.Errorf("find customers: %w", err)
		}
		ids = append(ids, id)
	}
	err = rows.Err()
	rows.Close()
	if err != nil {
		return nil, fmt.Errorf("find customers: %w", err)
	}
	out := make([]inbox.Customer, 0, len(ids))
	for _, id := range ids {
		c, err := s.CustomerByID(ctx, id)
		if errors.Is(err, inbox.ErrNotFound) {
			continue // merged or gone between the two reads
		}
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

// likeEscaper makes text literal inside a LIKE pattern with ESCAPE '\'.
var likeEscaper = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
