package voice

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/serambi/serambi/bus"
	"github.com/serambi/serambi/database/sqlite"
	"github.com/serambi/serambi/database/storetest"
	"github.com/serambi/serambi/inbox"
)

const (
	testCTIToken    = "cti-0123456789abcdef0123456789"
	testTwilioToken = "twilio-auth-token-5e1bb0f2ab6f4d0a"
	testAMISecret   = "ami-secret-9f8e7d6c"
	testPublicURL   = "https://support.example.com"
)

// testEnv is the connector on the real SQLite store and inbox, with the bus events recorded.
type testEnv struct {
	t      testing.TB
	store  *sqlite.Store
	inbox  *inbox.Inbox
	bus    *bus.Local
	events *eventLog
	clock  *storetest.Clock
	cfg    Config
	log    *slog.Logger
	logs   *syncBuffer
	c      *Connector
	echo   *echo.Echo
}

func newEnv(t testing.TB, mutate ...func(*Config)) *testEnv {
	t.Helper()
	logs := &syncBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	store, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "serambi.db"), log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	clock := storetest.NewClock(storetest.Base())
	b := bus.NewLocal(log, 0)
	events := &eventLog{}
	t.Cleanup(b.Subscribe(events.add))
	cfg := Config{PublicURL: testPublicURL, CTIToken: testCTIToken, TwilioAuthToken: testTwilioToken}
	for _, m := range mutate {
		m(&cfg)
	}
	e := &testEnv{t: t, store: store, bus: b, events: events, clock: clock, cfg: cfg, log: log, logs: logs,
		inbox: inbox.New(store, b, inbox.NewNormalizer("ID"), clock.Now, log)}
	e.c = e.connector("instance-a")
	e.echo = echo.New()
	e.c.Register(e.echo.Group("/api/v1"))
	t.Cleanup(func() {
		out := logs.String()
		for _, s := range []string{testCTIToken, testTwilioToken, testAMISecret} {
			if strings.Contains(out, s) {
				t.Errorf("a secret reached the logs:\n%s", out)
			}
		}
	})
	return e
}

// connector returns another connector instance on the same store, as a second process would be.
func (e *testEnv) connector(instance string) *Connector {
	return New(e.cfg, Deps{Inbox: e.inbox, State: e.store, Events: e.bus, Now: e.clock.Now, Log: e.log, Instance: instance})
}

func (e *testEnv) serve(h http.Handler, method, target, contentType, body string, header map[string]string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, target, strings.NewReader(body))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// cti posts a JSON CTI event with the right token.
func (e *testEnv) cti(body string) *httptest.ResponseRecorder {
	return e.serve(e.echo, http.MethodPost, "/api/v1/voice/cti/"+testCTIToken, "application/json", body, nil)
}

// twilio posts a form callback to path, signed as Twilio signs it for the public URL.
func (e *testEnv) twilio(path string, form url.Values) *httptest.ResponseRecorder {
	sig := docSign(testTwilioToken, testPublicURL+path, flat(form))
	return e.serve(e.echo, http.MethodPost, path, "application/x-www-form-urlencoded", form.Encode(), map[string]string{TwilioSignatureHeader: sig})
}

func flat(v url.Values) map[string]string {
	m := map[string]string{}
	for k := range v {
		m[k] = v.Get(k)
	}
	return m
}

// timeline returns a conversation's entries of the voice channel as "kind|text", oldest first;
// the ingested first entry of a call shows as "in|<text>".
func (e *testEnv) timeline(convID string) []string {
	e.t.Helper()
	msgs, err := e.store.ListMessages(context.Background(), convID, inbox.Cursor{}, 200)
	if err != nil {
		e.t.Fatal(err)
	}
	var out []string
	for _, m := range slices.Backward(msgs) {
		switch {
		case m.Direction == inbox.DirectionIn:
			out = append(out, "in|"+m.Text)
		case m.Event != nil && m.Channel == inbox.ChannelVoice:
			out = append(out, string(m.Event.Kind)+"|"+m.Text)
		case m.Event != nil:
			out = append(out, string(m.Event.Kind))
		}
	}
	return out
}

func (e *testEnv) call(id string) Call {
	e.t.Helper()
	v, err := e.c.Call(context.Background(), id)
	if err != nil {
		e.t.Fatalf("call %s: %v", id, err)
	}
	return v.Call
}

// nothingStored checks that no trace of the call exists.
func (e *testEnv) nothingStored(callID string) {
	e.t.Helper()
	ctx := context.Background()
	if _, err := e.c.Call(ctx, callID); !errors.Is(err, inbox.ErrNotFound) {
		e.t.Fatalf("call %s was stored (err %v)", callID, err)
	}
	if _, err := e.store.MessageByExternalID(ctx, inbox.ChannelVoice, callID); !errors.Is(err, inbox.ErrNotFound) {
		e.t.Fatalf("a timeline entry of %s was stored (err %v)", callID, err)
	}
	if n, err := e.store.CountConversations(ctx, inbox.ConversationFilter{}); err != nil || n != 0 {
		e.t.Fatalf("%d conversations exist (err %v)", n, err)
	}
}

func (e *testEnv) customerByPhone(number string) string {
	e.t.Helper()
	id, err := e.store.CustomerIDByIdentity(context.Background(), inbox.KindPhone, number)
	if err != nil {
		e.t.Fatalf("customer with %s: %v", number, err)
	}
	return id
}

// eventLog records bus events.
type eventLog struct {
	mu  sync.Mutex
	all []bus.Event
}

func (l *eventLog) add(e bus.Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.all = append(l.all, e)
}

func (l *eventLog) topic(t bus.Topic) []bus.Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []bus.Event
	for _, e := range l.all {
		if e.Topic == t {
			out = append(out, e)
		}
	}
	return out
}

// waitFor polls cond until it holds; bus delivery and the AMI reader are asynchronous.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
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
