package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/serambi/serambi/inbox"
)

const jobCols = `id, message_id, channel, attempts, next_attempt_at, lease_owner, lease_until, last_error, created_at`

func scanJob(rows *sql.Rows) (inbox.OutboxJob, error) {
	var j inbox.OutboxJob
	var ch string
	var next, until, created int64
	err := rows.Scan(&j.ID, &j.MessageID, &ch, &j.Attempts, &next, &j.LeaseOwner, &until, &j.LastError, &created)
	j.Channel, j.NextAttemptAt, j.LeaseUntil, j.CreatedAt = inbox.Channel(ch), fromTS(next), fromTS(until), fromTS(created)
	return j, err
}

// ClaimOutbox leases up to limit due jobs that no live lease holds. The single writer makes the
// select-and-lease one step: two claimers can never take the same job.
func (s *Store) ClaimOutbox(ctx context.Context, owner string, now time.Time, lease time.Duration, limit int) ([]inbox.OutboxJob, error) {
	if owner == "" {
		return nil, fmt.Errorf("claim without an owner: %w", inbox.ErrInvalid)
	}
	var jobs []inbox.OutboxJob
	err := s.write(ctx, func(w *writer) error {
		jobs = jobs[:0]
		n := ts(now)
		rows, err := w.query(`UPDATE outbox SET lease_owner = ?, lease_until = ?
			WHERE id IN (SELECT id FROM outbox WHERE next_attempt_at <= ? AND (lease_owner = '' OR lease_until <= ?)
				ORDER BY next_attempt_at, id LIMIT ?)
			RETURNING `+jobCols, owner, ts(now.Add(lease)), n, n, limit)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			j, err := scanJob(rows)
			if err != nil {
				return err
			}
			jobs = append(jobs, j)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("claim outbox: %w", err)
	}
	return jobs, nil
}

// ownJob explains why a statement on (jobID, owner) changed nothing.
func ownJob(w *writer, jobID, owner string) error {
	var holder string
	if err := queryOne(w, `SELECT lease_owner FROM outbox WHERE id = ?`, []any{jobID}, &holder); err != nil {
		if errors.Is(err, inbox.ErrNotFound) {
			return fmt.Errorf("outbox job %s: %w", jobID, inbox.ErrNotFound)
		}
		return err
	}
	return fmt.Errorf("outbox job %s is leased by %q, not %q: %w", jobID, holder, owner, inbox.ErrConflict)
}

// CompleteOutbox removes a job its owner has finished.
func (s *Store) CompleteOutbox(ctx context.Context, jobID, owner string) error {
	return s.write(ctx, func(w *writer) error {
		n, err := affected(w.exec(`DELETE FROM outbox WHERE id = ? AND lease_owner = ?`, jobID, owner))
		if err != nil || n > 0 {
			return err
		}
		return ownJob(w, jobID, owner)
	})
}

// RetryOutbox records a failed attempt and releases the lease until next.
func (s *Store) RetryOutbox(ctx context.Context, jobID, owner string, next time.Time, lastErr string) error {
	return s.write(ctx, func(w *writer) error {
		n, err := affected(w.exec(`UPDATE outbox SET attempts = attempts + 1, next_attempt_at = ?, last_error = ?,
			lease_owner = '', lease_until = 0 WHERE id = ? AND lease_owner = ?`, ts(next), lastErr, jobID, owner))
		if err != nil || n > 0 {
			return err
		}
		return ownJob(w, jobID, owner)
	})
}

// ReleaseOutbox gives up every lease owner holds.
func (s *Store) ReleaseOutbox(ctx context.Context, owner string) error {
	return s.write(ctx, func(w *writer) error {
		_, err := w.exec(`UPDATE outbox SET lease_owner = '', lease_until = 0 WHERE lease_owner = ? AND lease_owner <> ''`, owner)
		return err
	})
}

// OutboxDepth counts jobs waiting, leased or not.
func (s *Store) OutboxDepth(ctx context.Context) (int, error) {
	var n int
	err := queryOne(s.reader(ctx), `SELECT COUNT(*) FROM outbox`, nil, &n)
	return n, err
}
