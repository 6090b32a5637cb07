package console

import (
	"encoding/base64"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/serambi/serambi/agents"
	"github.com/serambi/serambi/inbox"
	"github.com/serambi/serambi/templates"
)

// parseListView reads the list the agent asked for from a query string, falling back to sane
// defaults for anything unknown rather than failing: a stale bookmark still opens the inbox.
func parseListView(q url.Values) templates.ListView {
	lv := templates.ListView{View: q.Get("view"), TeamID: q.Get("team"), Status: q.Get("status"),
		Channel: q.Get("channel"), Tag: strings.ToLower(strings.TrimSpace(q.Get("tag")))}
	switch lv.View {
	case "mine", "unassigned", "all":
		lv.TeamID = ""
	case "team":
		if lv.TeamID == "" {
			lv.View = "all"
		}
	default:
		lv.View, lv.TeamID = "mine", ""
	}
	if lv.Status != "any" && !inbox.Status(lv.Status).Valid() {
		lv.Status = "open"
	}
	if !inbox.Channel(lv.Channel).Valid() {
		lv.Channel = ""
	}
	if len(lv.Tag) > 64 {
		lv.Tag = lv.Tag[:64]
	}
	if q.Get("cart") == templates.CartAbandoned {
		lv.Cart = templates.CartAbandoned
	}
	return lv
}

// filterFor is the store filter of a list as agent a sees it.
func filterFor(lv templates.ListView, a agents.Agent) inbox.ConversationFilter {
	f := inbox.ConversationFilter{Channel: inbox.Channel(lv.Channel), Tag: lv.Tag}
	switch lv.View {
	case "mine":
		f.Assignee = a.ID
	case "unassigned":
		f.Assignee = inbox.AssigneeNone
	case "team":
		f.TeamID = lv.TeamID
	}
	switch lv.Status {
	case "any":
	case "":
		f.Statuses = []inbox.Status{inbox.StatusOpen}
	default:
		f.Statuses = []inbox.Status{inbox.Status(lv.Status)}
	}
	return f
}

// matches reports whether c belongs in a list with filter f: the same rules as the stores' queries,
// so the hub can tell which open lists a changed conversation enters or leaves without a query.
func matches(f inbox.ConversationFilter, c inbox.Conversation) bool {
	if len(f.Statuses) > 0 && !slices.Contains(f.Statuses, c.Status) {
		return false
	}
	switch f.Assignee {
	case "":
	case inbox.AssigneeNone:
		if c.AssigneeID != "" {
			return false
		}
	default:
		if c.AssigneeID != f.Assignee {
			return false
		}
	}
	if f.TeamID != "" && c.TeamID != f.TeamID {
		return false
	}
	if f.Channel != "" && !slices.Contains(c.Channels, f.Channel) {
		return false
	}
	if f.Tag != "" && !slices.Contains(c.Tags, f.Tag) {
		return false
	}
	return true
}

// encodeCursor writes a list position as an opaque token for URLs.
func encodeCursor(at time.Time, id string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(at.UnixNano(), 10) + "." + id))
}

func decodeCursor(s string) (inbox.Cursor, error) {
	if s == "" {
		return inbox.Cursor{}, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return inbox.Cursor{}, fmt.Errorf("cursor %q: %w", s, inbox.ErrInvalid)
	}
	ns, id, ok := strings.Cut(string(b), ".")
	n, err := strconv.ParseInt(ns, 10, 64)
	if !ok || err != nil || id == "" {
		return inbox.Cursor{}, fmt.Errorf("cursor %q: %w", s, inbox.ErrInvalid)
	}
	return inbox.Cursor{At: time.Unix(0, n).UTC(), ID: id}, nil
}
