package mongotest

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// fakeTB records what the log handler does with a test.
type fakeTB struct {
	testing.TB // nil: only the methods below are called
	logged     []string
	cleanups   []func()
	failed     bool
}

func (f *fakeTB) Helper()           {}
func (f *fakeTB) Failed() bool      { return f.failed }
func (f *fakeTB) Cleanup(fn func()) { f.cleanups = append(f.cleanups, fn) }
func (f *fakeTB) Log(args ...any)   { f.logged = append(f.logged, args[0].(string)) }
func (f *fakeTB) Logf(format string, a ...any) {
	f.logged = append(f.logged, fmt.Sprintf(format, a...))
}

func (f *fakeTB) end() {
	for i := len(f.cleanups) - 1; i >= 0; i-- {
		f.cleanups[i]()
	}
}

func TestFerretDBLogReachesTheTestOnlyWhenItMatters(t *testing.T) {
	record := func(h slog.Handler, level slog.Level, msg string) {
		if h.Enabled(context.Background(), level) {
			_ = h.Handle(context.Background(), slog.NewRecord(time.Now(), level, msg, 0))
		}
	}
	cases := []struct {
		name                    string
		level                   slog.Level
		msg                     string
		stopping                bool
		failed                  bool
		shownAtOnce, shownAtEnd bool
	}{
		{"a warning", slog.LevelWarn, "Capped collection cleanup failed", false, false, true, false},
		{"an error", slog.LevelError, "listener failed", false, false, true, false},
		{"an info line of a passing test", slog.LevelInfo, "Connection started", false, false, false, false},
		{"an info line of a failing test", slog.LevelInfo, "Connection started", false, true, false, true},
		{"a command answering ok:0 (a duplicate key the store expects)", slog.LevelWarn, "Response message: E11000", false, false, false, false},
		{"the same in a failing test", slog.LevelWarn, "Response message: E11000", false, true, false, true},
		{"a warning while FerretDB is being stopped", slog.LevelWarn, "Connection stopped: i/o timeout", true, false, false, false},
		{"a debug line, even of a failing test", slog.LevelDebug, "Request header", false, true, false, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tb := &fakeTB{}
			l := newTestLog(tb)
			if tc.stopping {
				l.stopping()
			}
			record(l.WithAttrs([]slog.Attr{slog.String("name", "listener")}), tc.level, tc.msg)
			atOnce := strings.Contains(strings.Join(tb.logged, "\n"), tc.msg)
			tb.failed = tc.failed
			l.close()
			record(l, slog.LevelError, "after the test")
			tb.end()
			all := strings.Join(tb.logged, "\n")
			atEnd := !atOnce && strings.Contains(all, tc.msg)
			if atOnce != tc.shownAtOnce || atEnd != tc.shownAtEnd {
				t.Errorf("shown at once %v, at the end %v; want %v, %v (log: %q)", atOnce, atEnd, tc.shownAtOnce, tc.shownAtEnd, tb.logged)
			}
			if strings.Contains(all, "after the test") {
				t.Errorf("a record after the test reached t.Log (it would panic)")
			}
		})
	}
}
