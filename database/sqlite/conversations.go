package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/serambi/serambi/inbox"
)

const convCols = `c.id, c.customer_id, c.status, c.assignee_id, c.team_id, c.tags, c.priority, c.channels, c.last_channel,
	c.last_message_at, c.last_inbound_at, c.preview, c.unread, c.snoozed_until, c.sla_due_at, c.created_at, c.updated_at, c.applied_activity,
	c.last_inbound`

// convColumns names the columns of convValues, in order.
var convColumns = []string{"id", "customer_id", "status", "assignee_id", "team_id", "tags", "priority", "channels",
	"last_channel", "last_message_at", "last_inbound_at", "preview", "unread", "snoozed_until", "sla_due_at", "created_at", "updated_at", "applied_activity", "last_inbound"}

// convValues is c as column values, in convColumns order.
func convValues(c inbox.Conversation) ([]any, error) {
	tags := c.Tags
	if tags == nil {
		tags = []string{}
	}
	channels := c.Channels
	if channels == nil {
		channels = []inbox.Channel{}
	}
	tj, err := json.Marshal(tags)
	if err != nil {
		return nil, err
	}
	cj, err := json.Marshal(channels)
	if err != nil {
		return nil, err
	}
	applied := c.AppliedActivity
	if applied == nil {
		applied = []string{}
	}
	aj, err := json.Marshal(applied)
	if err != nil {
		return nil, err
	}
	// Channel → time as ts() numbers; encoding/json sorts map keys, so equal maps encode equally
	// and saveConversation sees no change.
	li := make(map[inbox.Channel]int64, len(c.LastInbound))
	for ch, t := range c.LastInbound {
		li[ch] = ts(t)
	}
	lj, err := json.Marshal(li)
	if err != nil {
		return nil, err
	}
	return []any{c.ID, c.CustomerID, string(c.Status), c.AssigneeID, c.TeamID, string(tj), string(c.Priority), string(cj),
		string(c.LastChannel), ts(c.LastMessageAt), ts(c.LastInboundAt), c.Preview, int64(c.Unread), ts(c.SnoozedUntil),
		ts(c.SLADueAt), ts(c.CreatedAt), ts(c.UpdatedAt), string(aj), string(lj)}, nil
}

func scanConversation(rows *sql.Rows) (inbox.Conversation, error) {
	var c inbox.Conversation
	var status, tags, prio, channels, lastCh, applied, lastIn string
	var lma, lia, snooze, sla, created, updated int64
	if err := rows.Scan(&c.ID, &c.CustomerID, &status, &c.AssigneeID, &c.TeamID, &tags, &prio, &channels, &lastCh,
		&lma, &lia, &c.Preview, &c.Unread, &snooze, &sla, &created, &updated, &applied, &lastIn); err != nil {
		return c, err
	}
	c.Status, c.Priority, c.LastChannel = inbox.Status(status), inbox.Priority(prio), inbox.Channel(lastCh)
	c.LastMessageAt, c.LastInboundAt, c.SnoozedUntil, c.SLADueAt = fromTS(lma), fromTS(lia), fromTS(snooze), fromTS(sla)
	c.CreatedAt, c.UpdatedAt = fromTS(created), fromTS(updated)
	var err error
	if c.Tags, err = decodeStrings[string](tags); err != nil {
		return c, fmt.Errorf("conversation %s tags: %w", c.ID, err)
	}
	if c.Channels, err = decodeStrings[inbox.Channel](channels); err != nil {
		return c, fmt.Errorf("conversation %s channels: %w", c.ID, err)
	}
	if c.AppliedActivity, err = decodeStrings[string](applied); err != nil {
		return c, fmt.Errorf("conversation %s applied activity: %w", c.ID, err)
	}
	if lastIn != "" && lastIn != "{}" {
		var li map[inbox.Channel]int64
		if err := json.Unmarshal([]byte(lastIn), &li); err != nil {
			return c, fmt.Errorf("conversation %s last inbound: %w", c.ID, err)
		}
		c.LastInbound = make(map[inbox.Channel]time.Time, len(li))
		for ch, n := range li {
			c.LastInbound[ch] = fromTS(n)
		}
	}
	return c, nil
}

// decodeStrings decodes a JSON array of strings. Tags and channels are plain words, decoded here
// without encoding/json, which was a sixth of the cost of a list page; anything with an escape
// goes to encoding/json.
func decodeStrings[T ~string](s string) ([]T, error) {
	out := []T{}
	if strings.IndexByte(s, '\\') >= 0 || len(s) < 2 || s[0] != '[' || s[len(s)-1] != ']' {
		err := json.Unmarshal([]byte(s), &out)
		return out, err
	}
	rest := strings.TrimSpace(s[1 : len(s)-1])
	for rest != "" {
		if rest[0] != '"' {
			err := json.Unmarshal([]byte(s), &out)
			return out, err
		}
		end := strings.IndexByte(rest[1:], '"')
		if end < 0 {
			return nil, fmt.Errorf("unterminated string in %q", s)
		}
		out = append(out, T(rest[1:1+end]))
		rest = strings.TrimSpace(rest[2+end:])
		if rest == "" {
			break
		}
		if rest[0] != ',' {
			return nil, fmt.Errorf("malformed array %q", s)
		}
		rest = strings.TrimSpace(rest[1:])
		if rest == "" {
			return nil, fmt.Errorf("malformed array %q", s)
		}
	}
	return out, nil
}

func loadConversation(q querier, where string, arg any) (inbox.Conversation, error) {
	rows, err := q.query(`SELECT `+convCols+` FROM conversations c WHERE `+where, arg)
	if err != nil {
		return inbox.Conversation{}, err
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return inbox.Conversation{}, err
		}
		return inbox.Conversation{}, fmt.Errorf("conversation with %s %v: %w", strings.TrimSuffix(where, " = ?"), arg, inbox.ErrNotFound)
	}
	c, err := scanConversation(rows)
	if err != nil {
		return c, err
	}
	return c, rows.Close()
}

// EnsureConversation stores c unless its customer has a conversation, and returns the one.
func (s *Store) EnsureConversation(ctx context.Context, c inbox.Conversation) (inbox.Conversation, error) {
	// Almost always the conversation exists: answer from the read pool without queueing a write.
	got, err := loadConversation(s.lookup(ctx), "c.customer_id = ?", c.CustomerID)
	if !errors.Is(err, inbox.ErrNotFound) {
		return got, err
	}
	vals, err := convValues(c)
	if err != nil {
		return inbox.Conversation{}, err
	}
	err = s.write(ctx, func(w *writer) error {
		n, err := affected(w.exec(`INSERT INTO conversations (`+strings.Join(convColumns, ", ")+`) VALUES (`+
			placeholders(len(convColumns))+`) ON CONFLICT (customer_id) DO NOTHING`, vals...))
		if err != nil {
			return err
		}
		if n == 1 {
			if err := writeLabels(w, c, c.Tags, c.Channels); err != nil {
				return err
			}
		}
		got, err = loadConversation(w, "c.customer_id = ?", c.CustomerID)
		return err
	})
	return got, err
}

// ConversationByID returns a conversation by id.
func (s *Store) ConversationByID(ctx context.Context, id string) (inbox.Conversation, error) {
	return loadConversation(s.lookup(ctx), "c.id = ?", id)
}

// ConversationByCustomer returns a customer's conversation.
func (s *Store) ConversationByCustomer(ctx context.Context, customerID string) (inbox.Conversation, error) {
	return loadConversation(s.lookup(ctx), "c.customer_id = ?", customerID)
}

// UpdateConversation applies p atomically and returns the conversation before and after.
func (s *Store) UpdateConversation(ctx context.Context, id string, p inbox.ConversationPatch) (before, after inbox.Conversation, err error) {
	err = s.write(ctx, func(w *writer) error {
		b, err := loadConversation(w, "c.id = ?", id)
		if err != nil {
			return err
		}
		if len(p.IfStatus) > 0 && !slices.Contains(p.IfStatus, b.Status) {
			return fmt.Errorf("conversation %s is %s, not %v: %w", id, b.Status, p.IfStatus, inbox.ErrConflict)
		}
		if a := p.Activity; a != nil && a.MessageID != "" && slices.Contains(b.AppliedActivity, a.MessageID) {
			return fmt.Errorf("activity of message %s is recorded already: %w", a.MessageID, inbox.ErrConflict)
		}
		a := applyPatch(b, p)
		if err := saveConversation(w, b, a); err != nil {
			return err
		}
		before, after = b, a
		return nil
	})
	return before, after, err
}

// applyPatch returns c with p applied; see inbox.ConversationPatch for the rules.
func applyPatch(c inbox.Conversation, p inbox.ConversationPatch) inbox.Conversation {
	c.Tags, c.Channels, c.AppliedActivity = slices.Clone(c.Tags), slices.Clone(c.Channels), slices.Clone(c.AppliedActivity)
	c.LastInbound = maps.Clone(c.LastInbound)
	if p.Status != nil {
		c.Status = *p.Status
	}
	if p.AssigneeID != nil {
		c.AssigneeID = *p.AssigneeID
	}
	if p.TeamID != nil {
		c.TeamID = *p.TeamID
	}
	if p.Tags != nil {
		c.Tags = slices.Clone(*p.Tags)
		if c.Tags == nil {
			c.Tags = []string{}
		}
	}
	if p.Priority != nil {
		c.Priority = *p.Priority
	}
	if p.SnoozedUntil != nil {
		c.SnoozedUntil = utc(*p.SnoozedUntil)
	}
	if a := p.Activity; a != nil {
		at := utc(a.At)
		if a.MessageID != "" {
			c.AppliedActivity = append(c.AppliedActivity, a.MessageID)
			if n := len(c.AppliedActivity); n > inbox.MaxAppliedActivity {
				c.AppliedActivity = c.AppliedActivity[n-inbox.MaxAppliedActivity:]
			}
		}
		if a.Channel != "" && !slices.Contains(c.Channels, a.Channel) {
			c.Channels = append(c.Channels, a.Channel)
		}
		if a.Inbound {
			c.Unread++
			if at.After(c.LastInboundAt) {
				c.LastInboundAt = at
			}
			c.NoteInbound(a.Channel, at)
		}
		if !at.Before(c.LastMessageAt) {
			c.LastMessageAt, c.Preview = at, a.Preview
			if a.Channel != "" {
				c.LastChannel = a.Channel
			}
		}
	}
	if p.MarkRead {
		c.Unread = 0
	}
	if !p.UpdatedAt.IsZero() {
		c.UpdatedAt = utc(p.UpdatedAt)
	}
	return c
}

// saveConversation writes the columns that differ between before and after, and keeps the label
// side table in step. Only changed columns are assigned, because SQLite rewrites an index entry
// for every indexed column a statement assigns, changed or not.
func saveConversation(w *writer, before, after inbox.Conversation) error {
	bv, err := convValues(before)
	if err != nil {
		return err
	}
	av, err := convValues(after)
	if err != nil {
		return err
	}
	var set []string
	var args []any
	for i, col := range convColumns {
		if col == "id" || bv[i] == av[i] {
			continue
		}
		set = append(set, col+" = ?")
		args = append(args, av[i])
	}
	if len(set) == 0 {
		return nil
	}
	args = append(args, before.ID)
	if _, err := w.exec(`UPDATE conversations SET `+strings.Join(set, ", ")+` WHERE id = ?`, args...); err != nil {
		return err
	}
	if before.Status != after.Status || !before.LastMessageAt.Equal(after.LastMessageAt) {
		if _, err := w.exec(`UPDATE conversation_labels SET status = ?, last_message_at = ? WHERE conversation_id = ? AND kind = 'tag'`,
			string(after.Status), ts(after.LastMessageAt), after.ID); err != nil {
			return err
		}
	}
	var tags []string
	if !slices.Equal(before.Tags, after.Tags) {
		if _, err := w.exec(`DELETE FROM conversation_labels WHERE conversation_id = ? AND kind = 'tag'`, after.ID); err != nil {
			return err
		}
		tags = after.Tags
	}
	var channels []inbox.Channel
	for _, ch := range after.Channels {
		if !slices.Contains(before.Channels, ch) {
			channels = append(channels, ch)
		}
	}
	return writeLabels(w, after, tags, channels)
}

// writeLabels adds label rows. Tag rows carry their conversation's status and activity time, kept
// in step on every change, so that a tag's list is an ordered index range. Channel rows do not:
// every conversation has channels and every message would then rewrite them, a cost on the ingest
// path that the channel filter (answered by walking the activity order and checking this table's
// primary key) does not justify.
func writeLabels(w *writer, c inbox.Conversation, tags []string, channels []inbox.Channel) error {
	add := func(kind, label, status string, at int64) error {
		_, err := w.exec(`INSERT OR IGNORE INTO conversation_labels (conversation_id, kind, label, status, last_message_at)
			VALUES (?, ?, ?, ?, ?)`, c.ID, kind, label, status, at)
		return err
	}
	for _, t := range tags {
		if err := add("tag", t, string(c.Status), ts(c.LastMessageAt)); err != nil {
			return err
		}
	}
	for _, ch := range channels {
		if err := add("channel", string(ch), "", 0); err != nil {
			return err
		}
	}
	return nil
}

var allStatuses = []inbox.Status{inbox.StatusOpen, inbox.StatusPending, inbox.StatusSnoozed, inbox.StatusResolved}

// listPlan is how a filter is answered: which index range drives the scan and which statuses
// each ordered branch covers.
type listPlan struct {
	f        inbox.ConversationFilter
	tag      string // when set, the tag's label rows drive the scan
	channel  string
	statuses []inbox.Status
}

func planList(f inbox.ConversationFilter) listPlan {
	p := listPlan{f: f, tag: f.Tag, channel: string(f.Channel)}
	for _, st := range f.Statuses {
		if !slices.Contains(p.statuses, st) {
			p.statuses = append(p.statuses, st)
		}
	}
	// The indexes are ordered by activity within a status: with no status asked for, ask for
	// each one and merge.
	if len(p.statuses) == 0 {
		p.statuses = allStatuses
	}
	return p
}

// where returns the conditions other than status and cursor.
func (p listPlan) where() (string, []any) {
	var conds []string
	var args []any
	if p.tag != "" {
		conds = append(conds, "l.kind = 'tag' AND l.label = ?")
		args = append(args, p.tag)
	}
	if p.channel != "" {
		conds = append(conds, `EXISTS (SELECT 1 FROM conversation_labels x WHERE x.conversation_id = c.id AND x.kind = 'channel' AND x.label = ?)`)
		args = append(args, p.channel)
	}
	switch p.f.Assignee {
	case "":
	case inbox.AssigneeNone:
		conds = append(conds, "c.assignee_id = ''")
	default:
		conds = append(conds, "c.assignee_id = ?")
		args = append(args, p.f.Assignee)
	}
	if p.f.TeamID != "" {
		// The second term lets SQLite use the partial team index (it cannot know that the
		// parameter is not empty).
		conds = append(conds, "c.team_id = ? AND c.team_id <> ''")
		args = append(args, p.f.TeamID)
	}
	return strings.Join(conds, " AND "), args
}

func (p listPlan) from() string {
	if p.tag != "" {
		return "conversation_labels l JOIN conversations c ON c.id = l.conversation_id"
	}
	return "conversations c"
}

// sortCols are the columns of the driving index: the label copy when a tag drives.
func (p listPlan) sortCols() (at, id, status string) {
	if p.tag != "" {
		return "l.last_message_at", "l.conversation_id", "l.status"
	}
	return "c.last_message_at", "c.id", "c.status"
}

// branch selects cols from one ordered index range.
func (p listPlan) branch(cols string, status inbox.Status, hasStatus bool, limit int) (string, []any) {
	where, args := p.where()
	conds := []string{}
	if where != "" {
		conds = append(conds, where)
	}
	at, id, st := p.sortCols()
	if hasStatus {
		conds = append(conds, st+" = ?")
		args = append(args, string(status))
	}
	if !p.f.After.IsZero() {
		// Keyset pagination: strictly after (older than) the last row seen, ties broken by id.
		// A row value, so that SQLite starts the index range exactly at the cursor.
		conds = append(conds, fmt.Sprintf("(%s, %s) < (?, ?)", at, id))
		args = append(args, ts(p.f.After.At), p.f.After.ID)
	}
	q := "SELECT " + cols + " FROM " + p.from()
	if len(conds) > 0 {
		q += " WHERE " + strings.Join(conds, " AND ")
	}
	q += fmt.Sprintf(" ORDER BY %s DESC, %s DESC LIMIT ?", at, id)
	args = append(args, limit)
	return q, args
}

// query is one ordered range, or, for several statuses, the merge of one range per status. The
// merge takes only the sort keys from each range (read from the index alone where it covers the
// filter) and fetches the whole rows of the page it keeps.
func (p listPlan) query(limit int) (string, []any) {
	if len(p.statuses) == 0 {
		return p.branch(convCols, "", false, limit)
	}
	if len(p.statuses) == 1 {
		return p.branch(convCols, p.statuses[0], true, limit)
	}
	at, id, _ := p.sortCols()
	keys := id + " AS id, " + at + " AS last_message_at"
	var parts []string
	var args []any
	for _, st := range p.statuses {
		q, a := p.branch(keys, st, true, limit)
		parts = append(parts, "SELECT * FROM ("+q+")")
		args = append(args, a...)
	}
	args = append(args, limit)
	return "SELECT " + convCols + " FROM (" + strings.Join(parts, " UNION ALL ") +
		" ORDER BY last_message_at DESC, id DESC LIMIT ?) k JOIN conversations c ON c.id = k.id" +
		" ORDER BY k.last_message_at DESC, k.id DESC", args
}

func (p listPlan) count() (string, []any) {
	where, args := p.where()
	conds := []string{}
	if where != "" {
		conds = append(conds, where)
	}
	if len(p.f.Statuses) > 0 {
		_, _, st := p.sortCols()
		conds = append(conds, st+" IN ("+placeholders(len(p.statuses))+")")
		for _, s := range p.statuses {
			args = append(args, string(s))
		}
	}
	q := "SELECT COUNT(*) FROM " + p.from()
	if len(conds) > 0 {
		q += " WHERE " + strings.Join(conds, " AND ")
	}
	return q, args
}

// ListConversations returns conversations newest activity first, after f.After.
func (s *Store) ListConversations(ctx context.Context, f inbox.ConversationFilter) ([]inbox.Conversation, error) {
	limit := f.Limit
	if limit <= 0 || limit > inbox.MaxPage {
		limit = inbox.MaxPage
	}
	q, args := planList(f).query(limit)
	rows, err := s.reader(ctx).query(q, args...)
	if err != nil {
		return nil, fmt.Errorf("list conversations: %w", err)
	}
	defer rows.Close()
	out := make([]inbox.Conversation, 0, limit)
	for rows.Next() {
		c, err := scanConversation(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// CountConversations counts what f matches, ignoring After and Limit.
func (s *Store) CountConversations(ctx context.Context, f inbox.ConversationFilter) (int, error) {
	q, args := planList(f).count()
	var n int
	if err := queryOne(s.reader(ctx), q, args, &n); err != nil {
		return 0, fmt.Errorf("count conversations: %w", err)
	}
	return n, nil
}
