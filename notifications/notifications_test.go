package notifications_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/serambi/serambi/bus"
	"github.com/serambi/serambi/database/sqlite"
	"github.com/serambi/serambi/database/storetest"
	"github.com/serambi/serambi/inbox"
	"github.com/serambi/serambi/notifications"
)

// recorder is a bus publisher that remembers what was published.
type recorder struct {
	mu     sync.Mutex
	events []bus.Event
}

func (r *recorder) Publish(_ context.Context, e bus.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
}

// bells lists the agents whose notifications changed, in order.
func (r *recorder) bells() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, e := range r.events {
		if e.Topic == notifications.TopicChanged {
			out = append(out, e.OtherID)
		}
	}
	return out
}

type fixture struct {
	inbox  *inbox.Inbox
	svc    *notifications.Service
	events *recorder
	conv   inbox.Conversation
}

// newFixture is the service on a real SQLite store and inbox, with one customer's conversation.
func newFixture(t *testing.T) *fixture {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "serambi.db"), log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	clock := storetest.NewClock(storetest.Base())
	rec := &recorder{}
	x := inbox.New(st, rec, inbox.NewNormalizer("ID"), clock.Now, log)
	res, err := x.Ingest(t.Context(), inbox.Inbound{Channel: inbox.ChannelEmail, ExternalID: "<m1@example.id>",
		From: []inbox.Identity{{Kind: inbox.KindEmail, Value: "siti@example.id"}}, Name: "Siti", Text: "Where is my order?"})
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{inbox: x, svc: notifications.New(st, x, rec, clock.Now), events: rec, conv: res.Conversation}
}

func kinds(list []notifications.Notification) []string {
	var out []string
	for _, n := range list {
		out = append(out, string(n.Kind)+":"+n.ActorID)
	}
	return out
}

func TestMentioned(t *testing.T) {
	tests := []struct {
		name     string
		author   string
		mentions []string
		want     map[string][]string // agent → "kind:actor" of their notifications
	}{
		{name: "a mentioned agent is notified", author: "budi", mentions: []string{"dewi"},
			want: map[string][]string{"dewi": {"mention:budi"}, "budi": nil}},
		{name: "every mentioned agent, once each", author: "budi", mentions: []string{"dewi", "rina"},
			want: map[string][]string{"dewi": {"mention:budi"}, "rina": {"mention:budi"}}},
		{name: "mentioning oneself notifies nobody", author: "dewi", mentions: []string{"dewi"},
			want: map[string][]string{"dewi": nil}},
		{name: "a note without mentions notifies nobody", author: "budi",
			want: map[string][]string{"dewi": nil, "budi": nil}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			ctx := t.Context()
			note, err := f.inbox.Note(ctx, inbox.NoteRequest{ConversationID: f.conv.ID, AgentID: tt.author, AgentName: tt.author,
				Text: "please   check\nstock", Mentions: tt.mentions})
			if err != nil {
				t.Fatal(err)
			}
			first, err := f.svc.Mentioned(ctx, note)
			if err != nil {
				t.Fatal(err)
			}
			again, err := f.svc.Mentioned(ctx, note)
			if err != nil {
				t.Fatal(err)
			}
			if len(again) != 0 {
				t.Errorf("processing the same note again created %d notifications", len(again))
			}
			created := 0
			for agent, want := range tt.want {
				list, err := f.svc.List(ctx, agent, notifications.Cursor{}, 10)
				if err != nil {
					t.Fatal(err)
				}
				if got := kinds(list); !slices.Equal(got, want) {
					t.Errorf("%s's notifications = %v, want %v", agent, got, want)
				}
				for _, n := range list {
					created++
					if n.MessageID != note.ID || n.ConversationID != f.conv.ID || n.CustomerID != f.conv.CustomerID || n.Read() {
						t.Errorf("notification %+v does not point at the unread note %s", n, note.ID)
					}
					if n.Excerpt != "please check stock" {
						t.Errorf("excerpt = %q", n.Excerpt)
					}
				}
			}
			if len(first) != created {
				t.Errorf("Mentioned returned %d notifications, %d are stored", len(first), created)
			}
			if got := len(f.events.bells()); got != created {
				t.Errorf("%d bell events published for %d notifications", got, created)
			}
		})
	}
}

func TestAssigned(t *testing.T) {
	ptr := func(s string) *string { return &s }
	tests := []struct {
		name     string
		before   string // assignee before the change
		actor    string
		assignee string
		want     []string // Dewi's notifications
	}{
		{name: "assigned by someone else", actor: "budi", assignee: "dewi", want: []string{"assigned:budi"}},
		{name: "reassigned to her by someone else", before: "rina", actor: "budi", assignee: "dewi", want: []string{"assigned:budi"}},
		{name: "taking it oneself", actor: "dewi", assignee: "dewi"},
		{name: "already hers", before: "dewi", actor: "budi", assignee: "dewi"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			ctx := t.Context()
			if tt.before != "" {
				if _, err := f.inbox.Update(ctx, f.conv.ID, "admin", inbox.Change{AssigneeID: ptr(tt.before)}); err != nil {
					t.Fatal(err)
				}
			}
			after, err := f.inbox.Update(ctx, f.conv.ID, tt.actor, inbox.Change{AssigneeID: ptr(tt.assignee)})
			if err != nil {
				t.Fatal(err)
			}
			for range 2 { // a repeat of the same change notifies once
				if _, err := f.svc.Assigned(ctx, after, tt.before, tt.actor); err != nil {
					t.Fatal(err)
				}
			}
			list, err := f.svc.List(ctx, "dewi", notifications.Cursor{}, 10)
			if err != nil {
				t.Fatal(err)
			}
			if got := kinds(list); !slices.Equal(got, tt.want) {
				t.Errorf("Dewi's notifications = %v, want %v", got, tt.want)
			}
			for _, n := range list {
				if n.ConversationID != f.conv.ID || !strings.Contains(n.Excerpt, "Where is my order?") {
					t.Errorf("notification %+v does not describe the conversation", n)
				}
			}
		})
	}
}

func TestAssignedOvertakenNotifiesNobody(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	dewi, rina := "dewi", "rina"
	toDewi, err := f.inbox.Update(ctx, f.conv.ID, "budi", inbox.Change{AssigneeID: &dewi})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.inbox.Update(ctx, f.conv.ID, "budi", inbox.Change{AssigneeID: &rina}); err != nil {
		t.Fatal(err)
	}
	// The first change is processed late, after the conversation moved on to Rina.
	created, err := f.svc.Assigned(ctx, toDewi, "", "budi")
	if err != nil {
		t.Fatal(err)
	}
	if created {
		t.Errorf("Dewi was notified of an assignment she no longer has")
	}
}

func TestMarkRead(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	for _, text := range []string{"one @dewi", "two @dewi"} {
		note, err := f.inbox.Note(ctx, inbox.NoteRequest{ConversationID: f.conv.ID, AgentID: "budi", Text: text, Mentions: []string{"dewi"}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.Mentioned(ctx, note); err != nil {
			t.Fatal(err)
		}
	}
	count := func(want int) {
		t.Helper()
		n, err := f.svc.UnreadCount(ctx, "dewi")
		if err != nil {
			t.Fatal(err)
		}
		if n != want {
			t.Errorf("unread = %d, want %d", n, want)
		}
	}
	count(2)
	list, err := f.svc.List(ctx, "dewi", notifications.Cursor{}, 10)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := f.svc.MarkRead(ctx, "budi", list[0].ID); err != nil || n != 0 {
		t.Errorf("Budi marking Dewi's notification read = %d, %v; want 0, nil", n, err)
	}
	count(2)
	if _, err := f.svc.Get(ctx, "budi", list[0].ID); !errors.Is(err, inbox.ErrNotFound) {
		t.Errorf("Budi reading Dewi's notification: err = %v, want ErrNotFound", err)
	}
	bells := len(f.events.bells())
	if n, err := f.svc.MarkRead(ctx, "dewi", list[0].ID); err != nil || n != 1 {
		t.Errorf("MarkRead = %d, %v", n, err)
	}
	count(1)
	if got := f.events.bells()[bells:]; !slices.Equal(got, []string{"dewi"}) {
		t.Errorf("marking read published bell events for %v, want [dewi]", got)
	}
	if n, err := f.svc.MarkAllRead(ctx, "dewi"); err != nil || n != 1 {
		t.Errorf("MarkAllRead = %d, %v", n, err)
	}
	count(0)
	if n, err := f.svc.MarkAllRead(ctx, "dewi"); err != nil || n != 0 {
		t.Errorf("MarkAllRead with nothing unread = %d, %v", n, err)
	}
	if got := len(f.events.bells()); got != bells+2 {
		t.Errorf("%d bell events after two changes and one no-op, want %d", got-bells, 2)
	}
	many := make([]string, notifications.MaxMarkRead+1)
	if _, err := f.svc.MarkRead(ctx, "dewi", many...); !errors.Is(err, inbox.ErrInvalid) {
		t.Errorf("marking %d ids at once: err = %v, want ErrInvalid", len(many), err)
	}
}

func TestExcerpt(t *testing.T) {
	long := strings.Repeat("ab ", 100)
	tests := []struct{ in, want string }{
		{"  check\n\tstock  in BDG ", "check stock in BDG"},
		{"", ""},
		{long, strings.TrimSpace(long)[:159] + "…"},
	}
	for _, tt := range tests {
		if got := notifications.Excerpt(tt.in); got != tt.want {
			t.Errorf("Excerpt(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
