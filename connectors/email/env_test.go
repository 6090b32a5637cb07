package email

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/serambi/serambi/bus"
	"github.com/serambi/serambi/database/sqlite"
	"github.com/serambi/serambi/inbox"
)

// testEnv is the real inbox on the real SQLite store, as cmd/serambi wires them.
type testEnv struct {
	store *sqlite.Store
	blobs *sqlite.Blobs
	inbox *inbox.Inbox
	bus   *bus.Local
	log   *slog.Logger
}

func testLogger(t testing.TB) *slog.Logger {
	if os.Getenv("EMAIL_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

func newTestEnv(t testing.TB) *testEnv {
	t.Helper()
	dir := t.TempDir()
	log := testLogger(t)
	store, err := sqlite.Open(context.Background(), filepath.Join(dir, "serambi.db"), log)
	if err != nil {
		t.Fatalf("open sqlite: %v", err)
	}
	t.Cleanup(func() { store.Close() })
	blobs, err := sqlite.NewBlobs(filepath.Join(dir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	b := bus.NewLocal(log, 0)
	return &testEnv{store: store, blobs: blobs, bus: b, log: log,
		inbox: inbox.New(store, b, inbox.NewNormalizer("ID"), time.Now, log)}
}

func (e *testEnv) connector(mb Mailbox) *Connector {
	if mb.ID == "" {
		mb.ID = "support"
	}
	if mb.Address == "" {
		mb.Address = "support@example.test"
	}
	return New(mb, Deps{Inbox: e.inbox, Store: e.store, State: e.store, Blobs: e.blobs, Log: e.log})
}

// messages returns every message of a conversation, oldest first.
func (e *testEnv) messages(t testing.TB, conversationID string) []inbox.Message {
	t.Helper()
	var out []inbox.Message
	var cur inbox.Cursor
	for {
		page, err := e.store.ListMessages(context.Background(), conversationID, cur, 200)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, page...)
		if len(page) < 200 {
			break
		}
		cur = inbox.Cursor{At: page[len(page)-1].CreatedAt, ID: page[len(page)-1].ID}
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out
}

// byExternalID loads a stored email message.
func (e *testEnv) byExternalID(t testing.TB, id string) inbox.Message {
	t.Helper()
	m, err := e.store.MessageByExternalID(context.Background(), inbox.ChannelEmail, id)
	if err != nil {
		t.Fatalf("message %s: %v", id, err)
	}
	return m
}

// testMail is a small message for threading tests.
type testMail struct {
	from, to, id, inReplyTo, references, subject, body string
	extra                                              string // more header lines
	date                                               time.Time
}

func (m testMail) bytes() []byte {
	var b strings.Builder
	from := m.from
	if from == "" {
		from = "Siti <siti@example.org>"
	}
	to := m.to
	if to == "" {
		to = "support@example.test"
	}
	fmt.Fprintf(&b, "From: %s\r\nTo: %s\r\n", from, to)
	if m.id != "" {
		fmt.Fprintf(&b, "Message-ID: <%s>\r\n", m.id)
	}
	if m.inReplyTo != "" {
		fmt.Fprintf(&b, "In-Reply-To: <%s>\r\n", m.inReplyTo)
	}
	if m.references != "" {
		refs := strings.Fields(m.references)
		fmt.Fprintf(&b, "References: <%s>\r\n", strings.Join(refs, "> <"))
	}
	subject := m.subject
	if subject == "" {
		subject = "Order 1042"
	}
	date := m.date
	if date.IsZero() {
		date = time.Date(2024, 6, 3, 10, 0, 0, 0, time.UTC)
	}
	fmt.Fprintf(&b, "Subject: %s\r\nDate: %s\r\n%sMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n",
		subject, date.Format(time.RFC1123Z), m.extra)
	body := m.body
	if body == "" {
		body = "Mail " + m.id
	}
	b.WriteString(strings.ReplaceAll(body, "\n", "\r\n") + "\r\n")
	return []byte(b.String())
}
