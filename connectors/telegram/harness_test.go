package telegram

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/serambi/serambi/bus"
	"github.com/serambi/serambi/connectors"
	"github.com/serambi/serambi/connectors/telegram/telegramfake"
	"github.com/serambi/serambi/database/sqlite"
	"github.com/serambi/serambi/inbox"
)

// testEnv is a bot wired to the real SQLite store and inbox, talking to the fake Bot API.
type testEnv struct {
	t      testing.TB
	store  *sqlite.Store
	blobs  *sqlite.Blobs
	inbox  *inbox.Inbox
	events *bus.Local
	fake   *telegramfake.Server
	cfg    Config
	log    *slog.Logger
	logs   *syncBuffer
	ingest *countingIngester
	clock  *clock
}

func newEnv(t testing.TB, mutate ...func(*Config)) *testEnv {
	t.Helper()
	logs := &syncBuffer{}
	level := slog.LevelDebug // every line is checked for secrets
	if _, bench := t.(*testing.B); bench {
		level = slog.LevelWarn // as in production, where per-message lines are off
	}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: level}))
	dir := t.TempDir()
	ctx := context.Background()
	store, err := sqlite.Open(ctx, filepath.Join(dir, "serambi.db"), log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	blobs, err := sqlite.NewBlobs(filepath.Join(dir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	events := bus.NewLocal(log, 0)
	clk := &clock{now: time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)}
	ib := inbox.New(store, events, inbox.NewNormalizer("ID"), clk.Now, log)
	fake := telegramfake.New(t, secretToken)
	cfg := Config{Token: secretToken, APIBase: fake.URL(), PollTimeout: time.Second, LeaseTTL: 30 * time.Second,
		WebhookSecret: secretWebhook, WebhookURL: "https://shop.example/hooks/telegram", Instance: "test-a"}
	for _, m := range mutate {
		m(&cfg)
	}
	e := &testEnv{t: t, store: store, blobs: blobs, inbox: ib, events: events, fake: fake, cfg: cfg, log: log, logs: logs,
		ingest: &countingIngester{inner: ib}, clock: clk}
	t.Cleanup(func() {
		// Whatever happened, the token and the webhook secret never reached the logs.
		if out := logs.String(); strings.Contains(out, "AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw") || strings.Contains(out, secretWebhook) {
			t.Errorf("a secret reached the logs:\n%s", out)
		}
	})
	return e
}

// connector returns a new connector instance on the same store (a process start).
func (e *testEnv) connector(mutate ...func(*Config)) *Connector {
	cfg := e.cfg
	for _, m := range mutate {
		m(&cfg)
	}
	c := New(cfg, Deps{Ingester: e.ingest, Blobs: e.blobs, State: e.store, Identities: e.inbox, Log: e.log})
	// Retries wait as asked, scaled down so that tests of flood control stay quick.
	c.sleep = func(ctx context.Context, d time.Duration) error {
		e.ingest.recordWait(d)
		return sleepCtx(ctx, d/100)
	}
	return c
}

// run starts c.Run and returns a stop function that cancels it and waits for it to return.
func (e *testEnv) run(c *Connector) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	return func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				e.t.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			e.t.Fatal("Run did not return after its context was cancelled")
		}
	}
}

// message returns the stored message with a Telegram external id; ok false when there is none.
func (e *testEnv) message(externalID string) (inbox.Message, bool) {
	e.t.Helper()
	m, err := e.store.MessageByExternalID(context.Background(), inbox.ChannelTelegram, externalID)
	if errors.Is(err, inbox.ErrNotFound) {
		return inbox.Message{}, false
	}
	if err != nil {
		e.t.Fatal(err)
	}
	return m, true
}

func (e *testEnv) mustMessage(externalID string) inbox.Message {
	e.t.Helper()
	m, ok := e.message(externalID)
	if !ok {
		e.t.Fatalf("message %s was not stored", externalID)
	}
	return m
}

// timeline returns every message of the conversation, oldest first.
func (e *testEnv) timeline(conversationID string) []inbox.Message {
	e.t.Helper()
	ms, err := e.store.ListMessages(context.Background(), conversationID, inbox.Cursor{}, inbox.MaxPage)
	if err != nil {
		e.t.Fatal(err)
	}
	for i, j := 0, len(ms)-1; i < j; i, j = i+1, j-1 {
		ms[i], ms[j] = ms[j], ms[i]
	}
	return ms
}

func (e *testEnv) blob(sha string) []byte {
	e.t.Helper()
	rc, err := e.blobs.Open(context.Background(), sha)
	if err != nil {
		e.t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		e.t.Fatal(err)
	}
	return b
}

func (e *testEnv) offset(c *Connector) int64 {
	e.t.Helper()
	n, err := c.Offset(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	return n
}

// waitFor polls cond until it holds; the generous limit only keeps a broken test from hanging.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// countingIngester passes everything to the real inbox and counts what it stored.
type countingIngester struct {
	inner      connectors.Ingester
	stored     atomic.Int64
	duplicates atomic.Int64
	mu         sync.Mutex
	waits      []time.Duration
}

func (c *countingIngester) Ingest(ctx context.Context, in inbox.Inbound) (inbox.IngestResult, error) {
	res, err := c.inner.Ingest(ctx, in)
	if err == nil {
		if res.Duplicate {
			c.duplicates.Add(1)
		} else {
			c.stored.Add(1)
		}
	}
	return res, err
}

func (c *countingIngester) recordWait(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.waits = append(c.waits, d)
}

func (c *countingIngester) waited() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.waits...)
}

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
