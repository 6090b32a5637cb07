package sqlite

import (
	"strings"
	"testing"

	"github.com/serambi/serambi/database/storetest"
	"github.com/serambi/serambi/notifications"
)

func TestNotificationsStore(t *testing.T) {
	storetest.RunNotifications(t, func(t *testing.T) notifications.Store { return openTemp(t) })
}

// The bell is read on every page: its queries must search an index, never scan the table.
func TestNotificationQueriesSearchIndexes(t *testing.T) {
	s := openTemp(t)
	queries := map[string]string{
		"list after a cursor": `SELECT ` + notifCols + ` FROM notifications WHERE agent_id = ? AND (created_at, id) < (?, ?) ORDER BY created_at DESC, id DESC LIMIT ?`,
		"unread count":        `SELECT count(*) FROM (SELECT 1 FROM notifications WHERE agent_id = ? AND read_at = 0 LIMIT ?)`,
		"mark all read":       `UPDATE notifications SET read_at = ? WHERE agent_id = ? AND read_at = 0`,
		"prune":               `DELETE FROM notifications WHERE id IN (SELECT id FROM notifications WHERE agent_id = ? AND created_at < ? AND read_at <> 0 ORDER BY created_at LIMIT ?)`,
	}
	args := map[string][]any{
		"list after a cursor": {"a", 1, "x", 50},
		"unread count":        {"a", 100},
		"mark all read":       {1, "a"},
		"prune":               {"a", 1, 500},
	}
	for name, q := range queries {
		plan := explain(t, s, q, args[name]...)
		if strings.Contains(plan, "SCAN notifications") && !strings.Contains(plan, "USING") {
			t.Errorf("%s scans the table:\n%s", name, plan)
		}
		if !strings.Contains(plan, "SEARCH") {
			t.Errorf("%s uses no index:\n%s", name, plan)
		}
	}
}
