package widget

import (
	"context"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/serambi/serambi/bus"
	"github.com/serambi/serambi/database/sqlite"
)

// An inbox saved through one instance reaches the other instances sharing the store at once,
// through the bus, not when their cached copy expires: here the clock stands still, so the cache
// never expires and only the bus can make instance B see the new name. Instance C, which shares
// the store but not the bus, keeps its cached copy: the proof that the bus did it.
func TestSettingsSavedOnOneInstanceReachTheOthersThroughTheBus(t *testing.T) {
	ctx := context.Background()
	log := slog.New(slog.DiscardHandler)
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "s.db"), log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	frozen := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	now := func() time.Time { return frozen }
	cfg := Config{Default: Settings{ID: "shop", Name: "Toko Sekar", AllowedOrigins: []string{"https://shop.example"}, Source: SourceEnv}}
	shared, apart := bus.NewLocal(log, 0), bus.NewLocal(log, 0)
	start := func(events *bus.Local) *Connector {
		c := New(cfg, Deps{Store: st, State: st, Events: events, Subscriber: events, Log: log, Now: now})
		runCtx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { defer close(done); _ = c.Run(runCtx) }()
		t.Cleanup(func() { cancel(); <-done })
		select {
		case <-c.Ready():
		case <-time.After(5 * time.Second):
			t.Fatal("the connector did not start")
		}
		return c
	}
	a, b, c := start(shared), start(shared), start(apart)
	for _, x := range []*Connector{b, c} { // both read, and cache, the inbox
		if s, err := x.inboxSettings(ctx, "shop"); err != nil || s.Name != "Toko Sekar" {
			t.Fatalf("before the save: %q, %v", s.Name, err)
		}
	}

	edited, err := a.Settings().Get(ctx, "shop")
	if err != nil {
		t.Fatal(err)
	}
	edited.Name, edited.Source = "Toko Sekar Baru", SourceConsole
	if err := a.Settings().Put(ctx, edited); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		s, err := b.inboxSettings(ctx, "shop")
		if err == nil && s.Name == "Toko Sekar Baru" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("instance B still serves %q (%v) after the save on A", s.Name, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if s, _ := c.inboxSettings(ctx, "shop"); s.Name != "Toko Sekar" {
		t.Fatalf("instance C, on another bus, serves %q: its cache should still hold the old name", s.Name)
	}

	if err := a.Settings().Delete(ctx, "blog"); err != nil { // deleting another inbox leaves "shop" alone
		t.Fatal(err)
	}
	if err := a.Settings().Delete(ctx, "shop"); err != nil {
		t.Fatal(err)
	}
	for {
		// A deleted environment inbox falls back to the environment's settings.
		s, err := b.inboxSettings(ctx, "shop")
		if err == nil && s.Name == "Toko Sekar" {
			break
		}
		if time.Now().After(deadline.Add(5 * time.Second)) {
			t.Fatalf("instance B still serves %q (%v) after the delete on A", s.Name, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
