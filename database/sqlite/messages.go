package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/serambi/serambi/inbox"
)

const msgCols = `id, conversation_id, customer_id, direction, channel, external_id, thread_key, subject, text, html,
	attachments, author_id, author_name, delivery, delivery_error, event, meta, sent_at, created_at, updated_at`

const msgColCount = 20

func msgValues(m inbox.Message) ([]any, error) {
	att, err := jsonText(m.Attachments)
	if err != nil {
		return nil, err
	}
	meta, err := jsonText(m.Meta)
	if err != nil {
		return nil, err
	}
	event := ""
	if m.Event != nil {
		if event, err = jsonText(m.Event); err != nil {
			return nil, err
		}
	}
	return []any{m.ID, m.ConversationID, m.CustomerID, string(m.Direction), string(m.Channel), m.ExternalID, m.ThreadKey,
		m.Subject, m.Text, m.HTML, att, m.AuthorID, m.AuthorName, string(m.Delivery), m.DeliveryError, event, meta,
		ts(m.SentAt), ts(m.CreatedAt), ts(m.UpdatedAt)}, nil
}

func scanMessage(rows *sql.Rows) (inbox.Message, error) {
	var m inbox.Message
	var dir, ch, delivery, att, event, meta string
	var sent, created, updated int64
	if err := rows.Scan(&m.ID, &m.ConversationID, &m.CustomerID, &dir, &ch, &m.ExternalID, &m.ThreadKey, &m.Subject,
		&m.Text, &m.HTML, &att, &m.AuthorID, &m.AuthorName, &delivery, &m.DeliveryError, &event, &meta,
		&sent, &created, &updated); err != nil {
		return m, err
	}
	m.Direction, m.Channel, m.Delivery = inbox.Direction(dir), inbox.Channel(ch), inbox.Delivery(delivery)
	m.SentAt, m.CreatedAt, m.UpdatedAt = fromTS(sent), fromTS(created), fromTS(updated)
	if err := fromJSONText(att, &m.Attachments); err != nil {
		return m, fmt.Errorf("message %s attachments: %w", m.ID, err)
	}
	if err := fromJSONText(meta, &m.Meta); err != nil {
		return m, fmt.Errorf("message %s meta: %w", m.ID, err)
	}
	if event != "" {
		m.Event = &inbox.Event{}
		if err := fromJSONText(event, m.Event); err != nil {
			return m, fmt.Errorf("message %s event: %w", m.ID, err)
		}
	}
	return m, nil
}

func loadMessage(q querier, where string, args ...any) (inbox.Message, error) {
	rows, err := q.query(`SELECT `+msgCols+` FROM messages WHERE `+where, args...)
	if err != nil {
		return inbox.Message{}, err
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return inbox.Message{}, err
		}
		return inbox.Message{}, fmt.Errorf("message %v: %w", args, inbox.ErrNotFound)
	}
	m, err := scanMessage(rows)
	if err != nil {
		return m, err
	}
	return m, rows.Close()
}

// byExternalID repeats the partial index's condition: SQLite uses a partial index only for a
// query whose WHERE implies the index's, and "external_id = ?" alone does not imply "<> ”".
const byExternalID = "channel = ? AND external_id = ? AND external_id <> ''"

func asStored(m inbox.Message) inbox.Message {
	m.SentAt, m.CreatedAt, m.UpdatedAt = utc(m.SentAt), utc(m.CreatedAt), utc(m.UpdatedAt)
	return m
}

// InsertMessage stores m; when (Channel, ExternalID) is stored already it returns that message
// and true.
func (s *Store) InsertMessage(ctx context.Context, m inbox.Message) (inbox.Message, bool, error) {
	vals, err := msgValues(m)
	if err != nil {
		return inbox.Message{}, false, err
	}
	var out inbox.Message
	var dup bool
	err = s.write(ctx, func(w *writer) (err error) {
		out, dup, err = insertMessage(w, m, vals)
		return err
	})
	if err != nil {
		return inbox.Message{}, false, err
	}
	return out, dup, nil
}

// insertMessage inserts m (vals are its column values) unless (Channel, ExternalID) is stored
// already; then it returns the stored message and true.
func insertMessage(w *writer, m inbox.Message, vals []any) (inbox.Message, bool, error) {
	n, err := affected(w.exec(`INSERT INTO messages (`+msgCols+`) VALUES (`+placeholders(msgColCount)+`)
		ON CONFLICT (channel, external_id) WHERE external_id <> '' DO NOTHING`, vals...))
	if err != nil {
		if isConstraint(err) {
			return inbox.Message{}, false, fmt.Errorf("message %s: %w", m.ID, inbox.ErrConflict)
		}
		return inbox.Message{}, false, err
	}
	if n == 0 {
		stored, err := loadMessage(w, byExternalID, string(m.Channel), m.ExternalID)
		return stored, err == nil, err
	}
	return asStored(m), false, nil
}

// InsertInbound stores m and applies p to its conversation in one transaction.
func (s *Store) InsertInbound(ctx context.Context, m inbox.Message, p inbox.ConversationPatch) (inbox.Message, inbox.Conversation, bool, error) {
	vals, err := msgValues(m)
	if err != nil {
		return inbox.Message{}, inbox.Conversation{}, false, err
	}
	var out inbox.Message
	var dup bool
	var after inbox.Conversation
	err = s.write(ctx, func(w *writer) error {
		var err error
		if out, dup, err = insertMessage(w, m, vals); err != nil || dup {
			return err
		}
		// An error from here rolls the insert back with it (the writer's savepoint).
		b, err := loadConversation(w, "c.id = ?", m.ConversationID)
		if err != nil {
			return err
		}
		if p.Activity != nil && p.Activity.MessageID != "" {
			// The message and its activity commit together here, so no duplicate can ever find
			// the one without the other: the applied-activity list (which exists for stores that
			// write them in two steps) would only grow the row that every message rewrites.
			a := *p.Activity
			a.MessageID = ""
			p.Activity = &a
		}
		after = applyPatch(b, p)
		return saveConversation(w, b, after)
	})
	if err != nil {
		return inbox.Message{}, inbox.Conversation{}, false, err
	}
	return out, after, dup, nil
}

// MessageByID returns a message by id.
func (s *Store) MessageByID(ctx context.Context, id string) (inbox.Message, error) {
	return loadMessage(s.lookup(ctx), "id = ?", id)
}

// MessageByExternalID returns the message a channel knows by externalID.
func (s *Store) MessageByExternalID(ctx context.Context, ch inbox.Channel, externalID string) (inbox.Message, error) {
	if externalID == "" {
		return inbox.Message{}, fmt.Errorf("empty external id: %w", inbox.ErrNotFound)
	}
	return loadMessage(s.lookup(ctx), byExternalID, string(ch), externalID)
}

// ListMessages returns a conversation's messages newest first, strictly before the cursor.
func (s *Store) ListMessages(ctx context.Context, conversationID string, before inbox.Cursor, limit int) ([]inbox.Message, error) {
	if limit <= 0 || limit > inbox.MaxPage {
		limit = inbox.MaxPage
	}
	q := `SELECT ` + msgCols + ` FROM messages WHERE conversation_id = ?`
	args := []any{conversationID}
	if !before.IsZero() {
		// A row value, so that the timeline index is read from the cursor on; the id breaks ties
		// between messages stored in the same nanosecond.
		q += ` AND (created_at, id) < (?, ?)`
		args = append(args, ts(before.At), before.ID)
	}
	q += ` ORDER BY created_at DESC, id DESC LIMIT ?`
	args = append(args, limit)
	rows, err := s.reader(ctx).query(q, args...)
	if err != nil {
		return nil, fmt.Errorf("list messages of %s: %w", conversationID, err)
	}
	defer rows.Close()
	out := make([]inbox.Message, 0, min(limit, 64))
	for rows.Next() {
		m, err := scanMessage(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// SetThreadKey moves a conversation's messages of thread oldKey to newKey.
func (s *Store) SetThreadKey(ctx context.Context, conversationID, oldKey, newKey string) (int, error) {
	var n int64
	err := s.write(ctx, func(w *writer) error {
		var err error
		n, err = affected(w.exec(`UPDATE messages SET thread_key = ? WHERE conversation_id = ? AND thread_key = ?`,
			newKey, conversationID, oldKey))
		return err
	})
	return int(n), err
}

// UpdateDelivery moves an outbound message to u.State if it is in a state that precedes it.
func (s *Store) UpdateDelivery(ctx context.Context, messageID string, u inbox.DeliveryUpdate) (bool, error) {
	prec := u.State.Precedes()
	if len(prec) == 0 {
		return false, fmt.Errorf("delivery state %q: %w", u.State, inbox.ErrInvalid)
	}
	set := "delivery = ?, delivery_error = ?, updated_at = ?"
	args := []any{string(u.State), u.Error, ts(u.At)}
	if u.ExternalID != "" {
		set += ", external_id = ?"
		args = append(args, u.ExternalID)
	}
	args = append(args, messageID)
	for _, d := range prec {
		args = append(args, string(d))
	}
	q := `UPDATE messages SET ` + set + ` WHERE id = ? AND delivery IN (` + placeholders(len(prec)) + `)`
	var applied bool
	err := s.write(ctx, func(w *writer) error {
		n, err := affected(w.exec(q, args...))
		if err != nil {
			if isConstraint(err) {
				return fmt.Errorf("external id %s is another message's: %w", u.ExternalID, inbox.ErrConflict)
			}
			return err
		}
		if n == 0 {
			var one int
			if err := queryOne(w, `SELECT 1 FROM messages WHERE id = ?`, []any{messageID}, &one); err != nil {
				if errors.Is(err, inbox.ErrNotFound) {
					return fmt.Errorf("message %s: %w", messageID, inbox.ErrNotFound)
				}
				return err
			}
		}
		applied = n > 0
		return nil
	})
	return applied, err
}

// EnqueueOutbound stores an outbound message, queued, with its outbox job, and its activity on the
// conversation, in one transaction.
func (s *Store) EnqueueOutbound(ctx context.Context, m inbox.Message, job inbox.OutboxJob, p *inbox.ConversationPatch) error {
	m.Delivery = inbox.DeliveryQueued
	vals, err := msgValues(m)
	if err != nil {
		return err
	}
	return s.write(ctx, func(w *writer) error {
		if _, err := w.exec(`INSERT INTO messages (`+msgCols+`) VALUES (`+placeholders(msgColCount)+`)`, vals...); err != nil {
			if isConstraint(err) {
				return fmt.Errorf("message %s: %w", m.ID, inbox.ErrConflict)
			}
			return err
		}
		if _, err := w.exec(`INSERT INTO outbox (id, message_id, channel, attempts, next_attempt_at, lease_owner, lease_until, last_error, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, job.ID, job.MessageID, string(job.Channel), job.Attempts, ts(job.NextAttemptAt),
			job.LeaseOwner, ts(job.LeaseUntil), job.LastError, ts(job.CreatedAt)); err != nil {
			return err
		}
		if p == nil {
			return nil
		}
		b, err := loadConversation(w, "c.id = ?", m.ConversationID)
		if err != nil {
			return err // rolls the message and its job back with it
		}
		return saveConversation(w, b, applyPatch(b, *p))
	})
}
