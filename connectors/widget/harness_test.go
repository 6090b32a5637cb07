package widget_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/labstack/echo/v4"

	"github.com/serambi/serambi/bus"
	"github.com/serambi/serambi/connectors/widget"
	"github.com/serambi/serambi/database/sqlite"
	"github.com/serambi/serambi/inbox"
)

// The protocol tests run the real connector on a real HTTP server, over the real SQLite store,
// inbox and outbox dispatcher. The agent side is the inbox API (Reply) and the bus.

const (
	shopOrigin = "https://shop.example"
	jwtSecret  = widget.Secret("test-secret-0123456789abcdef0123456789abcdef")
)

// clock is real time plus an offset the test can jump forward.
type clock struct {
	mu     sync.Mutex
	offset time.Duration
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.offset += d
	c.mu.Unlock()
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

type env struct {
	t      *testing.T
	dir    string
	store  *sqlite.Store
	blobs  *sqlite.Blobs
	events *bus.Local
	inbox  *inbox.Inbox
	clock  *clock
	log    *slog.Logger
	logs   *syncBuffer
	cfg    widget.Config
	deps   widget.Deps
	conn   *widget.Connector
	srv    *httptest.Server
	addr   string
	stop   func()
	disp   *inbox.Dispatcher
	// manualOutbox leaves the outbox to the test (dispatch), instead of a running dispatcher.
	manualOutbox bool
	online       bool
	mu           sync.Mutex
}

type option func(e *env)

func withConfig(f func(*widget.Config)) option { return func(e *env) { f(&e.cfg) } }
func withDeps(f func(*widget.Deps)) option     { return func(e *env) { f(&e.deps) } }
func withManualOutbox() option                 { return func(e *env) { e.manualOutbox = true } }

func newEnv(t *testing.T, opts ...option) *env {
	t.Helper()
	logs := &syncBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
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
	e := &env{t: t, dir: dir, store: store, blobs: blobs, events: bus.NewLocal(log, 0), clock: &clock{}, log: log, logs: logs}
	e.inbox = inbox.New(store, e.events, inbox.NewNormalizer("ID"), e.clock.Now, log)
	e.cfg = widget.Config{
		Default: widget.Settings{ID: "shop", Name: "Toko Sekar", Color: "#9a3412", AllowedOrigins: []string{shopOrigin},
			JWTSecret: jwtSecret, OfflineEmail: true, Uploads: true, Source: widget.SourceEnv},
		VisitorRate: widget.Rate{Count: 1000, Per: time.Minute}, IPRate: widget.Rate{Count: 1000, Per: time.Minute},
		StatusEvery: 50 * time.Millisecond,
	}
	e.deps = widget.Deps{
		Ingester: e.inbox, Deliveries: e.inbox, Store: store, State: store, Blobs: blobs, Events: e.events,
		Subscriber: e.events, Log: log, Now: e.clock.Now, AgentsOnline: e.agentsOnline,
		AttachmentURL: func(a inbox.Attachment) string { return "https://files.example/" + a.SHA256 },
	}
	for _, o := range opts {
		o(e)
	}
	t.Cleanup(func() {
		if out := logs.String(); strings.Contains(out, jwtSecret.Reveal()) {
			t.Errorf("the JWT secret reached the logs:\n%s", out)
		}
	})
	e.start("127.0.0.1:0")
	return e
}

func (e *env) agentsOnline() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.online
}

func (e *env) setOnline(on bool) {
	e.mu.Lock()
	e.online = on
	e.mu.Unlock()
}

// start runs a connector, an outbox dispatcher and an HTTP server on addr: a process start.
func (e *env) start(addr string) {
	e.t.Helper()
	conn := widget.New(e.cfg, e.deps)
	if err := conn.Settings().Seed(context.Background(), e.cfg.WithDefaults().Default); err != nil {
		e.t.Fatal(err)
	}
	d := inbox.NewDispatcher(e.store, map[inbox.Channel]inbox.Sender{inbox.ChannelWidget: conn}, e.events,
		inbox.DispatcherConfig{Poll: 20 * time.Millisecond, BaseBackoff: 20 * time.Millisecond, MaxBackoff: 100 * time.Millisecond},
		e.clock.Now, e.log)
	e.inbox.SetOutboxWaker(d.Wake)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	if !e.manualOutbox {
		wg.Add(1)
		go func() { defer wg.Done(); _ = d.Run(ctx) }()
	}
	go func() {
		defer wg.Done()
		if err := conn.Run(ctx); err != nil {
			e.t.Errorf("Run: %v", err)
		}
	}()
	select {
	case <-conn.Ready():
	case <-time.After(5 * time.Second):
		e.t.Fatal("the connector did not start")
	}
	ec := echo.New()
	conn.Register(ec)
	srv := httptest.NewUnstartedServer(ec)
	if addr != "127.0.0.1:0" {
		srv.Listener.Close()
		ln, err := listenRetry(addr)
		if err != nil {
			e.t.Fatal(err)
		}
		srv.Listener = ln
	}
	srv.Start()
	e.conn, e.srv, e.addr, e.disp = conn, srv, srv.Listener.Addr().String(), d
	stopped := false
	e.stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		wg.Wait()
		srv.Close()
	}
	e.t.Cleanup(e.stop)
}

// restart stops the connector (closing every socket) and starts a new one on the same address
// and store, as a process restart would.
func (e *env) restart(between func()) {
	e.t.Helper()
	addr := e.addr
	e.stop()
	if between != nil {
		between()
	}
	e.start(addr)
}

func (e *env) wsURL(inboxID string) string {
	return "ws://" + e.addr + "/widget/ws?inbox=" + inboxID
}

// client is a visitor's tab speaking the frame protocol.
type client struct {
	t      *testing.T
	ws     *websocket.Conn
	mu     sync.Mutex
	frames []frame
	more   chan struct{}
	closed chan struct{}
	code   int
	token  string
}

// frame is any server frame, decoded into the union of their fields.
type frame struct {
	T          string `json:"t"`
	Token      string `json:"token"`
	Visitor    string `json:"visitor"`
	Identified bool   `json:"identified"`
	Online     bool   `json:"online"`
	Name       string `json:"name"`
	Email      string `json:"email"`
	Settings   struct {
		ID, Name, Color, Position string
		Uploads, OfflineEmail     bool
		Limits                    struct{ MaxChars int }
	} `json:"settings"`
	Reset   bool   `json:"reset"`
	Msgs    []wire `json:"msgs"`
	Dup     bool   `json:"dup"`
	Msg     wire   `json:"msg"`
	On      bool   `json:"on"`
	Code    string `json:"code"`
	Message string `json:"message"`
	RetryMs int64  `json:"retryMs"`
	wire
}

type wire struct {
	Seq   string `json:"seq"`
	ID    string `json:"id"`
	CID   string `json:"cid"`
	From  string `json:"from"`
	Kind  string `json:"kind"`
	Text  string `json:"text"`
	Agent *struct {
		Name, Avatar string
	} `json:"agent"`
	Att []struct {
		Name, Type, URL string
		Size            int64
	} `json:"att"`
	Card map[string]any `json:"card"`
}

func (e *env) dial(inboxID, origin string) (*websocket.Conn, *http.Response, error) {
	h := http.Header{}
	if origin != "" {
		h.Set("Origin", origin)
	}
	return websocket.DefaultDialer.Dial(e.wsURL(inboxID), h)
}

// connect opens a tab and says hello with the given fields (token, since, jwt).
func (e *env) connect(hello map[string]any) *client {
	e.t.Helper()
	ws, resp, err := e.dial("shop", shopOrigin)
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		e.t.Fatalf("dial: %v (HTTP %d)", err, status)
	}
	c := newClient(e.t, ws)
	h := map[string]any{"t": "hello", "inbox": "shop"}
	for k, v := range hello {
		h[k] = v
	}
	c.send(h)
	w := c.waitFor("welcome", func(f frame) bool { return f.T == "welcome" })
	c.token = w.Token
	return c
}

func newClient(t *testing.T, ws *websocket.Conn) *client {
	c := &client{t: t, ws: ws, more: make(chan struct{}, 1), closed: make(chan struct{})}
	go func() {
		defer close(c.closed)
		for {
			_, b, err := ws.ReadMessage()
			if err != nil {
				var ce *websocket.CloseError
				if errors.As(err, &ce) {
					c.mu.Lock()
					c.code = ce.Code
					c.mu.Unlock()
				}
				return
			}
			var f frame
			if err := json.Unmarshal(b, &f); err != nil {
				t.Errorf("server sent a frame that is not JSON: %s", b)
				return
			}
			c.mu.Lock()
			c.frames = append(c.frames, f)
			c.mu.Unlock()
			select {
			case c.more <- struct{}{}:
			default:
			}
		}
	}()
	t.Cleanup(func() { ws.Close() })
	return c
}

func (c *client) send(v any) {
	c.t.Helper()
	if err := c.ws.WriteJSON(v); err != nil {
		c.t.Fatalf("send %v: %v", v, err)
	}
}

func (c *client) sendRaw(b string) {
	c.t.Helper()
	if err := c.ws.WriteMessage(websocket.TextMessage, []byte(b)); err != nil {
		c.t.Fatal(err)
	}
}

// waitFor returns the first frame (received so far or within 5 s) that matches.
func (c *client) waitFor(what string, match func(frame) bool) frame {
	c.t.Helper()
	return c.waitFrom(0, what, match)
}

// mark is the number of frames received so far, for waitFrom.
func (c *client) mark() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.frames)
}

// waitFrom is waitFor among the frames received after mark.
func (c *client) waitFrom(from int, what string, match func(frame) bool) frame {
	c.t.Helper()
	deadline := time.After(5 * time.Second)
	find := func() (frame, bool) {
		c.mu.Lock()
		defer c.mu.Unlock()
		for _, f := range c.frames[min(from, len(c.frames)):] {
			if match(f) {
				return f, true
			}
		}
		return frame{}, false
	}
	for {
		if f, ok := find(); ok {
			return f
		}
		select {
		case <-c.more:
		case <-c.closed:
			if f, ok := find(); ok {
				return f
			}
			c.t.Fatalf("socket closed (code %d) before %s; frames: %+v", c.closeCode(), what, c.all())
		case <-deadline:
			c.t.Fatalf("no %s within 5 s; frames: %+v", what, c.all())
		}
	}
}

func (c *client) all() []frame {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]frame(nil), c.frames...)
}

func (c *client) closeCode() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.code
}

// waitClosed waits for the server to close the socket and returns the close code.
func (c *client) waitClosed() int {
	c.t.Helper()
	select {
	case <-c.closed:
		return c.closeCode()
	case <-time.After(5 * time.Second):
		c.t.Fatal("the server did not close the socket")
		return 0
	}
}

// say sends a visitor message and waits for its ack.
func (c *client) say(cid, text string) frame {
	c.t.Helper()
	from := c.mark()
	c.send(map[string]any{"t": "msg", "cid": cid, "text": text})
	return c.waitFrom(from, "ack of "+cid, func(f frame) bool { return f.T == "ack" && f.CID == cid })
}

// ackOrError waits for the ack or the error frame about cid.
func (c *client) ackOrError(cid string) frame {
	c.t.Helper()
	return c.waitFor("answer to "+cid, func(f frame) bool { return (f.T == "ack" || f.T == "error") && f.CID == cid })
}

// agentMsg waits for an agent message with this text.
func (c *client) agentMsg(text string) frame {
	c.t.Helper()
	return c.waitFor("agent message "+text, func(f frame) bool { return f.T == "msg" && f.From == "agent" && f.Text == text })
}

// count counts received frames that match.
func (c *client) count(match func(frame) bool) int {
	n := 0
	for _, f := range c.all() {
		if match(f) {
			n++
		}
	}
	return n
}

// reply answers as an agent through the inbox (the outbox dispatcher sends it).
func (e *env) reply(conversationID, text string) inbox.Message {
	e.t.Helper()
	m, err := e.inbox.Reply(context.Background(), inbox.ReplyRequest{ConversationID: conversationID, AgentID: "agent-dewi",
		AgentName: "Dewi", Text: text, Channel: inbox.ChannelWidget})
	if err != nil {
		e.t.Fatalf("reply: %v", err)
	}
	return m
}

// dispatch runs the outbox once (with withManualOutbox).
func (e *env) dispatch() int {
	e.t.Helper()
	n, err := e.disp.RunOnce(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	return n
}

// message returns a stored message.
func (e *env) message(id string) inbox.Message {
	e.t.Helper()
	m, err := e.store.MessageByID(context.Background(), id)
	if err != nil {
		e.t.Fatal(err)
	}
	return m
}

func (e *env) timeline(conversationID string) []inbox.Message {
	e.t.Helper()
	ms, err := e.store.ListMessages(context.Background(), conversationID, inbox.Cursor{}, 200)
	if err != nil {
		e.t.Fatal(err)
	}
	return ms
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 5 s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func cid(n int) string { return fmt.Sprintf("client-%04d", n) }

// listenRetry listens on addr, retrying while the previous listener's port is released.
func listenRetry(addr string) (net.Listener, error) {
	var err error
	for i := 0; i < 50; i++ {
		var ln net.Listener
		if ln, err = net.Listen("tcp", addr); err == nil {
			return ln, nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return nil, err
}
