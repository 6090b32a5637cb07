package whatsapp

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/serambi/serambi/bus"
	"github.com/serambi/serambi/connectors"
	"github.com/serambi/serambi/connectors/whatsapp/whatsappfake"
	"github.com/serambi/serambi/database/sqlite"
	"github.com/serambi/serambi/inbox"
)

const (
	testToken     = "EAAGm0PX4ZCpsBAMSECRETTOKENxyz"
	testAppSecret = "6a1b2c3d4e5f60718293a4b5c6d7e8f9"
	testVerify    = "serambi-verify-123"
	testPhoneID   = "106540352242922"
)

// testEnv is a number wired to the real SQLite store and inbox, talking to the fake Graph API,
// with its webhook served through echo on a real HTTP server.
type testEnv struct {
	t      testing.TB
	store  *sqlite.Store
	blobs  *sqlite.Blobs
	inbox  *inbox.Inbox
	events *bus.Local
	fake   *whatsappfake.Server
	conn   *Connector
	hook   string
	log    *slog.Logger
	ingest *countingIngester
	clock  *clock
}

func newEnv(t testing.TB, mutate ...func(*Config)) *testEnv {
	t.Helper()
	logs := &syncBuffer{}
	level := slog.LevelDebug
	if _, bench := t.(*testing.B); bench {
		level = slog.LevelWarn
	}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: level}))
	dir := t.TempDir()
	store, err := sqlite.Open(context.Background(), filepath.Join(dir, "serambi.db"), log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	blobs, err := sqlite.NewBlobs(filepath.Join(dir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	events := bus.NewLocal(log, 0)
	clk := &clock{now: time.Date(2025, 6, 8, 21, 0, 0, 0, time.UTC)} // the fixtures' day
	ib := inbox.New(store, events, inbox.NewNormalizer("ID"), clk.Now, log)
	fake := whatsappfake.New(t, testToken, testPhoneID)
	cfg := Config{AccessToken: testToken, AppSecret: testAppSecret, VerifyToken: testVerify, PhoneNumberID: testPhoneID,
		GraphBase: fake.URL(), Templates: []Template{{Name: "order_update", Language: "id", Params: 2, Text: "Pesanan {{1}} sudah {{2}}."}}}
	for _, m := range mutate {
		m(&cfg)
	}
	ing := &countingIngester{inner: ib}
	conn := New(cfg, Deps{Ingester: ing, Deliveries: ib, Blobs: blobs, Log: log, Now: clk.Now})
	ec := echo.New()
	conn.Register(ec.Group("/hooks"))
	srv := httptest.NewServer(ec)
	t.Cleanup(srv.Close)
	t.Cleanup(func() {
		out := logs.String()
		for _, s := range []string{testToken, testAppSecret, testVerify} {
			if strings.Contains(out, s) {
				t.Errorf("secret %q reached the logs", s[:6])
			}
		}
	})
	return &testEnv{t: t, store: store, blobs: blobs, inbox: ib, events: events, fake: fake, conn: conn,
		hook: srv.URL + "/hooks" + conn.Config().WebhookPath, log: log, ingest: ing, clock: clk}
}

// deliver posts body to the webhook signed with the app secret, or with signature when given.
func (e *testEnv) deliver(body []byte, signature ...string) (int, string) {
	e.t.Helper()
	status, msg, err := whatsappfake.Deliver(context.Background(), http.DefaultClient, e.hook, testAppSecret, body, signature...)
	if err != nil {
		e.t.Fatal(err)
	}
	return status, msg
}

func (e *testEnv) message(wamid string) (inbox.Message, bool) {
	e.t.Helper()
	m, err := e.store.MessageByExternalID(context.Background(), inbox.ChannelWhatsApp, wamid)
	if errors.Is(err, inbox.ErrNotFound) {
		return inbox.Message{}, false
	}
	if err != nil {
		e.t.Fatal(err)
	}
	return m, true
}

func (e *testEnv) mustMessage(wamid string) inbox.Message {
	e.t.Helper()
	m, ok := e.message(wamid)
	if !ok {
		e.t.Fatalf("message %s was not stored", wamid)
	}
	return m
}

func (e *testEnv) blob(sha string) []byte {
	e.t.Helper()
	rc, err := e.blobs.Open(context.Background(), sha)
	if err != nil {
		e.t.Fatal(err)
	}
	defer rc.Close()
	b, _ := io.ReadAll(rc)
	return b
}

func (e *testEnv) attachment(name, contentType string, data []byte) inbox.Attachment {
	e.t.Helper()
	sha, size, err := e.blobs.Put(context.Background(), bytes.NewReader(data), 1<<30)
	if err != nil {
		e.t.Fatal(err)
	}
	return inbox.Attachment{SHA256: sha, Name: name, ContentType: contentType, Size: size}
}

type countingIngester struct {
	inner      connectors.Ingester
	stored     atomic.Int64
	duplicates atomic.Int64
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
