package main

import (
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/serambi/serambi/demo"
)

func TestDemoFlags(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{name: "unknown flag", args: []string{"demo", "--sim"}, wantErr: "flag provided but not defined: -sim"},
		{name: "stray argument", args: []string{"demo", "now"}, wantErr: "demo takes only flags"},
		{name: "interval too short", args: []string{"demo", "--interval", "1ms"}, wantErr: "--interval must be at least 100ms"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := run(context.Background(), tt.args, func(string) string { return "" }, io.Discard, io.Discard)
			var u usageError
			if !errors.As(err, &u) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("run: %v, want a usage error saying %q", err, tt.wantErr)
			}
		})
	}
}

// readyWriter cancels the demo once it has printed its banner, as Ctrl-C would.
type readyWriter struct {
	mu     sync.Mutex
	buf    strings.Builder
	cancel context.CancelFunc
}

func (w *readyWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if strings.Contains(w.buf.String(), "Press Ctrl-C to stop.") {
		w.cancel()
	}
	return len(p), nil
}

// `serambi demo` prints where to go and how to log in, then stops cleanly when interrupted.
func TestDemoCommandPrintsTheTourAndStops(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out := &readyWriter{cancel: cancel}
	err := run(ctx, []string{"demo", "--dir", t.TempDir(), "--listen", "127.0.0.1:0", "--no-simulation"},
		func(string) string { return "" }, out, io.Discard)
	if err != nil {
		t.Fatalf("demo: %v", err)
	}
	text := out.buf.String()
	want := []string{"Serambi demo ready", "/widget/demo", "Stopping the demo"}
	for _, l := range demo.Logins() {
		want = append(want, l.Email, l.Password)
	}
	for _, w := range want {
		if !strings.Contains(text, w) {
			t.Errorf("the demo's output lacks %q:\n%s", w, text)
		}
	}
	if strings.Contains(text, "Simulated customers") {
		t.Error("--no-simulation still announces the simulation")
	}
	for _, line := range strings.Split(text, "\n") {
		if strings.Contains(line, "ready in") {
			t.Log(line)
		}
	}
}
