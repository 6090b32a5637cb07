package sqlite

import (
	"regexp"
	"strings"
	"testing"

	"github.com/serambi/serambi/database/storetest"
	"github.com/serambi/serambi/inbox"
)

// explain returns SQLite's query plan for q, one step per line.
func explain(t *testing.T, s *Store, q string, args ...any) string {
	t.Helper()
	rows, err := s.rdb.QueryContext(t.Context(), "EXPLAIN QUERY PLAN "+q, args...)
	if err != nil {
		t.Fatalf("explain %s: %v", q, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id, parent, notused int
		var detail string
		if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
			t.Fatal(err)
		}
		out = append(out, detail)
	}
	return strings.Join(out, "\n")
}

// A list page must read only the rows it returns: every table access is an index search, never a
// scan of a table.
var fullScan = regexp.MustCompile(`(?m)^SCAN (c|l|conversations|conversation_labels|messages)\b(?: USING (?:COVERING )?INDEX (\w+))?`)

func TestListQueriesReadOnlyIndexRanges(t *testing.T) {
	s := openTemp(t)
	at := inbox.Cursor{At: storetest.Base(), ID: "01k"}
	open, pending := inbox.StatusOpen, inbox.StatusPending
	filters := map[string]inbox.ConversationFilter{
		"everything":                   {},
		"everything after a cursor":    {After: at},
		"open after a cursor":          {Statuses: []inbox.Status{open}, After: at},
		"open or pending":              {Statuses: []inbox.Status{open, pending}, After: at},
		"one assignee":                 {Assignee: "agent-1", After: at},
		"unassigned and open":          {Assignee: inbox.AssigneeNone, Statuses: []inbox.Status{open}},
		"a team's open conversations":  {TeamID: "team-1", Statuses: []inbox.Status{open}},
		"a tag":                        {Tag: "vip", After: at},
		"a channel, open":              {Channel: inbox.ChannelEmail, Statuses: []inbox.Status{open}},
		"tag, channel and assignee":    {Tag: "vip", Channel: inbox.ChannelEmail, Assignee: "agent-1", After: at},
		"assignee and team, two kinds": {Assignee: "agent-1", TeamID: "team-1", Statuses: []inbox.Status{open, pending}},
	}
	for name, f := range filters {
		q, args := planList(f).query(50)
		plan := explain(t, s, q, args...)
		if m := fullScan.FindString(plan); m != "" {
			t.Errorf("%s: the plan scans %s:\n%s", name, m, plan)
		}
		if !strings.Contains(plan, "SEARCH") {
			t.Errorf("%s: the plan uses no index:\n%s", name, plan)
		}
	}
	timeline := explain(t, s, `SELECT `+msgCols+` FROM messages WHERE conversation_id = ? AND (created_at, id) < (?, ?)
		ORDER BY created_at DESC, id DESC LIMIT ?`, "c", 1, "x", 50)
	if !strings.Contains(timeline, "USING INDEX messages_timeline (conversation_id=? AND (created_at,id)<(?,?))") ||
		strings.Contains(timeline, "TEMP B-TREE") {
		t.Errorf("the timeline page does not read the timeline index from the cursor on:\n%s", timeline)
	}

	lookups := map[string]struct{ q, index string }{
		"customer with identities": {customerQuery, "PRIMARY KEY"},
		"message by external id":   {`SELECT id FROM messages WHERE ` + byExternalID, "INDEX messages_external"},
		"identity claim":           {`SELECT customer_id FROM identities WHERE kind = ? AND value = ? AND verified = 1`, "INDEX identities_"},
		"release leases":           {`UPDATE outbox SET lease_owner = '' WHERE lease_owner = ? AND lease_owner <> ''`, "INDEX outbox_owner"},
		"due jobs":                 {`SELECT id FROM outbox WHERE next_attempt_at <= ? AND (lease_owner = '' OR lease_until <= ?) ORDER BY next_attempt_at, id LIMIT 5`, "INDEX outbox_due"},
	}
	for name, l := range lookups {
		n := strings.Count(l.q, "?")
		args := make([]any, n)
		for i := range args {
			args[i] = "x"
		}
		if plan := explain(t, s, l.q, args...); !strings.Contains(plan, l.index) || strings.Contains(plan, "TEMP B-TREE") {
			t.Errorf("%s does not use %s:\n%s", name, l.index, plan)
		}
	}
}
