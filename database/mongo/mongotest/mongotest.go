// Package mongotest starts an embedded FerretDB for tests that need a MongoDB server over the
// wire. FerretDB is only the test stand-in: production runs on MongoDB (see ARCHITECTURE.md).
package mongotest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/FerretDB/FerretDB/ferretdb"
)

// newMu serialises ferretdb.New, which writes a package variable of FerretDB's own
// (version.Get().Package = "embedded") on every call: parallel tests starting FerretDB at once
// would otherwise race. It is the package's only state and holds nothing but the lock.
var newMu sync.Mutex

// Start starts an embedded FerretDB v1.24.0 (SQLite backend in a temporary directory, listening on
// a free port of 127.0.0.1) and returns a mongodb:// URI naming a fresh database of its own.
// Everything is stopped and removed when t ends.
//
// Each call starts its own FerretDB rather than sharing one per test binary: a start costs a few
// milliseconds, and an instance per test keeps tests independent (no shared state, parallel tests
// cannot see each other's data) and lets FerretDB's log go to the test that caused it.
func Start(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	// FerretDB's SQLite backend keeps one SQLite file per database in this directory; the URI
	// must name an existing directory and end in a slash.
	data := filepath.Join(dir, "data") + string(filepath.Separator)
	if err := os.Mkdir(data, 0o700); err != nil {
		t.Fatalf("mongotest: create data directory: %v", err)
	}
	logs := newTestLog(t)
	// synchronous(OFF): a test database need not survive a power cut, and every write would
	// otherwise wait for an fsync.
	// ferretdb.Config has no telemetry switch: ferretdb.New disables telemetry itself (and
	// locks it off) for embedded use, and the state file is not written (empty name).
	newMu.Lock()
	f, err := ferretdb.New(&ferretdb.Config{
		Listener:  ferretdb.ListenerConfig{TCP: "127.0.0.1:0"},
		Logger:    slog.New(logs),
		Handler:   "sqlite",
		SQLiteURL: (&url.URL{Scheme: "file", Path: filepath.ToSlash(data), RawQuery: "_pragma=synchronous(OFF)"}).String(),
	})
	newMu.Unlock()
	if err != nil {
		t.Fatalf("mongotest: create FerretDB: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()
	t.Cleanup(func() {
		logs.stopping()
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("mongotest: FerretDB stopped with an error: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Errorf("mongotest: FerretDB did not stop within 30s")
		}
		logs.close()
	})

	// MongoDBURI waits until the listener is up (Run has bound the port).
	u, err := url.Parse(f.MongoDBURI())
	if err != nil {
		t.Fatalf("mongotest: FerretDB URI: %v", err)
	}
	u.Path = "/" + DatabaseName(t)
	return u.String()
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9_]+`)

// DatabaseName returns a database name unique to this call that still says which test it is for.
// MongoDB database names are at most 63 bytes and may not contain /\. "$ or spaces.
func DatabaseName(t testing.TB) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	name := strings.Trim(unsafeName.ReplaceAllString(t.Name(), "_"), "_")
	if len(name) > 40 {
		name = name[len(name)-40:]
	}
	return fmt.Sprintf("t_%s_%s", name, hex.EncodeToString(b[:]))
}

// testLog is the slog handler FerretDB logs to: warnings and errors go to the test log at once,
// the rest is kept (the last maxKept records) and shown only when the test fails. Debug records
// are not even produced: FerretDB would format every request and response for them.
type testLog struct {
	t     testing.TB
	attrs []slog.Attr
	group string
	state *logState
}

type logState struct {
	mu   sync.Mutex
	kept []string
	// stopping: FerretDB is being shut down, and warns about every client connection it has to
	// cut (a client that did not disconnect). That is the test ending, not a problem to show.
	stopping bool
	closed   bool // after the test, t.Log would panic: drop late records instead
}

const maxKept = 500

func newTestLog(t testing.TB) *testLog {
	l := &testLog{t: t, state: &logState{}}
	t.Cleanup(func() {
		l.state.mu.Lock()
		defer l.state.mu.Unlock()
		if t.Failed() && len(l.state.kept) > 0 {
			t.Logf("mongotest: FerretDB log before the failure:\n%s", strings.Join(l.state.kept, "\n"))
		}
		l.state.kept = nil
	})
	return l
}

func (l *testLog) stopping() {
	l.state.mu.Lock()
	l.state.stopping = true
	l.state.mu.Unlock()
}

func (l *testLog) close() {
	l.state.mu.Lock()
	l.state.closed = true
	l.state.mu.Unlock()
}

func (l *testLog) Enabled(_ context.Context, level slog.Level) bool { return level >= slog.LevelInfo }

func (l *testLog) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s %s", r.Time.Format("15:04:05.000"), r.Level, r.Message)
	for _, a := range l.attrs {
		fmt.Fprintf(&b, " %s", a)
	}
	r.Attrs(func(a slog.Attr) bool {
		if l.group != "" {
			a.Key = l.group + "." + a.Key
		}
		fmt.Fprintf(&b, " %s", a)
		return true
	})
	line := b.String()
	l.state.mu.Lock()
	defer l.state.mu.Unlock()
	if l.state.closed {
		return nil
	}
	// FerretDB logs every command that answers ok:0 as a warning ("Response header: ...",
	// "Response message: ..."): a duplicate key the store expects, the driver's endSessions that
	// FerretDB does not know. The client sees those errors itself, so they are kept, not shown.
	commandError := r.Level == slog.LevelWarn && strings.HasPrefix(r.Message, "Response ")
	if r.Level >= slog.LevelWarn && !commandError && !l.state.stopping {
		l.t.Log("ferretdb: " + line)
		return nil
	}
	if len(l.state.kept) == maxKept {
		l.state.kept = l.state.kept[1:]
	}
	l.state.kept = append(l.state.kept, line)
	return nil
}

func (l *testLog) WithAttrs(attrs []slog.Attr) slog.Handler {
	n := *l
	n.attrs = append(append([]slog.Attr(nil), l.attrs...), attrs...)
	return &n
}

func (l *testLog) WithGroup(name string) slog.Handler {
	n := *l
	if n.group != "" {
		name = n.group + "." + name
	}
	n.group = name
	return &n
}
