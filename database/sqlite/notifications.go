package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/serambi/serambi/inbox"
	"github.com/serambi/serambi/notifications"
)

var _ notifications.Store = (*Store)(nil)

const notifCols = `id, agent_id, kind, conversation_id, customer_id, message_id, actor_id, excerpt, created_at, read_at`

func scanNotifications(rows *sql.Rows, err error) ([]notifications.Notification, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []notifications.Notification{}
	for rows.Next() {
		var n notifications.Notification
		var kind string
		var created, read int64
		if err := rows.Scan(&n.ID, &n.AgentID, &kind, &n.ConversationID, &n.CustomerID, &n.MessageID, &n.ActorID,
			&n.Excerpt, &created, &read); err != nil {
			return nil, err
		}
		n.Kind, n.CreatedAt, n.ReadAt = notifications.Kind(kind), fromTS(created), fromTS(read)
		out = append(out, n)
	}
	return out, rows.Err()
}

// AddNotification stores n unless the agent has one of this kind for this message already.
func (s *Store) AddNotification(ctx context.Context, n notifications.Notification) (notifications.Notification, bool, error) {
	n.CreatedAt, n.ReadAt = utc(n.CreatedAt), utc(n.ReadAt)
	out, dup := n, false
	err := s.write(ctx, func(w *writer) error {
		added, err := affected(w.exec(`INSERT INTO notifications (`+notifCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (agent_id, kind, message_id) DO NOTHING`,
			n.ID, n.AgentID, string(n.Kind), n.ConversationID, n.CustomerID, n.MessageID, n.ActorID, n.Excerpt,
			ts(n.CreatedAt), ts(n.ReadAt)))
		if isConstraint(err) {
			return fmt.Errorf("notification %s: %w", n.ID, inbox.ErrConflict) // the id, not the natural key
		}
		if err != nil || added == 1 {
			return err
		}
		list, err := scanNotifications(w.query(`SELECT `+notifCols+` FROM notifications
			WHERE agent_id = ? AND kind = ? AND message_id = ?`, n.AgentID, string(n.Kind), n.MessageID))
		if err != nil {
			return err
		}
		if len(list) == 0 {
			return fmt.Errorf("notification of %s for %s: neither stored nor found", n.AgentID, n.MessageID)
		}
		out, dup = list[0], true
		return nil
	})
	if err != nil {
		return notifications.Notification{}, false, fmt.Errorf("add notification: %w", err)
	}
	return out, dup, nil
}

// NotificationByID returns the agent's notification id.
func (s *Store) NotificationByID(ctx context.Context, agentID, id string) (notifications.Notification, error) {
	list, err := scanNotifications(s.reader(ctx).query(`SELECT `+notifCols+` FROM notifications WHERE id = ? AND agent_id = ?`, id, agentID))
	if err != nil {
		return notifications.Notification{}, fmt.Errorf("load notification %s: %w", id, err)
	}
	if len(list) == 0 {
		return notifications.Notification{}, fmt.Errorf("notification %s: %w", id, inbox.ErrNotFound)
	}
	return list[0], nil
}

// ListNotifications returns the agent's notifications newest first, after the cursor.
func (s *Store) ListNotifications(ctx context.Context, agentID string, after notifications.Cursor, limit int) ([]notifications.Notification, error) {
	if limit <= 0 || limit > notifications.MaxPage {
		limit = notifications.MaxPage
	}
	q := `SELECT ` + notifCols + ` FROM notifications WHERE agent_id = ?`
	args := []any{agentID}
	if !after.IsZero() {
		q += ` AND (created_at, id) < (?, ?)`
		args = append(args, ts(after.At), after.ID)
	}
	q += ` ORDER BY created_at DESC, id DESC LIMIT ?`
	list, err := scanNotifications(s.reader(ctx).query(q, append(args, limit)...))
	if err != nil {
		return nil, fmt.Errorf("list notifications of %s: %w", agentID, err)
	}
	return list, nil
}

// CountUnreadNotifications counts the agent's unread notifications, up to limit.
func (s *Store) CountUnreadNotifications(ctx context.Context, agentID string, limit int) (int, error) {
	var n int
	err := queryOne(s.reader(ctx), `SELECT count(*) FROM (SELECT 1 FROM notifications WHERE agent_id = ? AND read_at = 0 LIMIT ?)`,
		[]any{agentID, limit}, &n)
	if err != nil {
		return 0, fmt.Errorf("count unread notifications of %s: %w", agentID, err)
	}
	return n, nil
}

// MarkNotificationsRead marks those of ids that are the agent's and unread as read at at.
func (s *Store) MarkNotificationsRead(ctx context.Context, agentID string, ids []string, at time.Time) (int, error) {
	if len(ids) == 0 {
		return 0, nil
	}
	args := []any{ts(at), agentID}
	for _, id := range ids {
		args = append(args, id)
	}
	var n int64
	err := s.write(ctx, func(w *writer) error {
		var err error
		n, err = affected(w.exec(`UPDATE notifications SET read_at = ? WHERE agent_id = ? AND read_at = 0 AND id IN (`+
			placeholders(len(ids))+`)`, args...))
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("mark notifications of %s read: %w", agentID, err)
	}
	return int(n), nil
}

// MarkAllNotificationsRead marks every unread notification of the agent read at at.
func (s *Store) MarkAllNotificationsRead(ctx context.Context, agentID string, at time.Time) (int, error) {
	var n int64
	err := s.write(ctx, func(w *writer) error {
		var err error
		n, err = affected(w.exec(`UPDATE notifications SET read_at = ? WHERE agent_id = ? AND read_at = 0`, ts(at), agentID))
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("mark all notifications of %s read: %w", agentID, err)
	}
	return int(n), nil
}

// PruneNotifications deletes up to limit of the agent's read notifications created before before.
func (s *Store) PruneNotifications(ctx context.Context, agentID string, before time.Time, limit int) (int, error) {
	var n int64
	err := s.write(ctx, func(w *writer) error {
		var err error
		n, err = affected(w.exec(`DELETE FROM notifications WHERE id IN (SELECT id FROM notifications
			WHERE agent_id = ? AND created_at < ? AND read_at <> 0 ORDER BY created_at LIMIT ?)`, agentID, ts(before), limit))
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("prune notifications of %s: %w", agentID, err)
	}
	return int(n), nil
}
