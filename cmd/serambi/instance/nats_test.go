package instance_test

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/nats-io/nats-server/v2/server"

	"github.com/serambi/serambi/agents"
	"github.com/serambi/serambi/bus/natstest"
	"github.com/serambi/serambi/cmd/serambi/instance"
	"github.com/serambi/serambi/config"
	"github.com/serambi/serambi/database/mongo/mongotest"
)

// twoInstances starts instances A and B on one MongoDB store (embedded FerretDB), with a NATS
// server between them when withNATS is set, and an admin, dewi@toko.id, who can sign in on either.
func twoInstances(t *testing.T, withNATS bool) (a, b *env) {
	t.Helper()
	shared := map[string]string{"SERAMBI_MONGODB_URI": mongotest.Start(t)}
	if withNATS {
		shared["SERAMBI_NATS_URL"] = natstest.Start(t, server.Options{}).URL("")
	}
	with := func(id string) map[string]string {
		vars := map[string]string{"SERAMBI_INSTANCE_ID": id}
		for k, v := range shared {
			vars[k] = v
		}
		return vars
	}
	a = startEnvWith(t, "mongo", with("instance-a"))
	b = startEnvWith(t, "mongo", with("instance-b"))
	if _, err := a.in.Agents.Create(t.Context(), agents.NewAgent{Email: "dewi@toko.id", Name: "Dewi",
		Password: "correct horse battery", Role: agents.RoleAdmin}); err != nil {
		t.Fatal(err)
	}
	return a, b
}

// TestInstancesShareEventsOverNATS is the reason for the NATS bus: two instances behind a load
// balancer, one MongoDB store. A message that comes in through instance A's API shows up, live,
// in the console of an agent connected to instance B. Without NATS each instance only hears
// itself, and B's console stays quiet: the control case, which shows the test can tell.
func TestInstancesShareEventsOverNATS(t *testing.T) {
	tests := []struct {
		name     string
		nats     bool
		wantLive bool
	}{
		{name: "NATS carries A's message to B's console", nats: true, wantLive: true},
		{name: "two in-process buses do not", nats: false, wantLive: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b := twoInstances(t, tt.nats)
			console := openConsole(t, b.base, "dewi@toko.id", "correct horse battery")

			a.ingest("fromA", "ext-a-1", `{"email":"siti@example.id","name":"Siti"}`, "Paket saya lewat instance A")
			// B's own traffic, after A's: B's console certainly shows this one.
			b.ingest("fromB", "ext-b-1", `{"email":"rudi@example.id","name":"Rudi"}`, "Pesan lewat instance B")

			rowA, rowB := "row-"+a.vars["fromA.conversation"], "row-"+b.vars["fromB.conversation"]
			sawA := false
			console.until(t, "B's console shows "+rowB, func(f consoleFrame) bool {
				if f.has(rowA, "lewat instance A") {
					sawA = true
				}
				return f.has(rowB, "lewat instance B")
			})
			if tt.wantLive && !sawA {
				console.until(t, "B's console shows A's message ("+rowA+")", func(f consoleFrame) bool {
					return f.has(rowA, "lewat instance A")
				})
				sawA = true
			}
			if sawA != tt.wantLive {
				t.Fatalf("B's console showed A's message live: %v, want %v", sawA, tt.wantLive)
			}
		})
	}
}

// TestWidgetTypingCrossesInstancesOverNATS: a chat visitor connected to instance A types, and the
// agent who has the conversation open on instance B sees it: the widget publishes on the shared bus
// as the inbox does. Without NATS, B's console hears only B (the control): a message B stores in
// the same conversation arrives there and the typing never does.
func TestWidgetTypingCrossesInstancesOverNATS(t *testing.T) {
	for _, withNATS := range []bool{true, false} {
		t.Run(fmt.Sprintf("nats=%v", withNATS), func(t *testing.T) {
			a, b := twoInstances(t, withNATS)

			visitor, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(a.base, "http")+"/widget/ws?inbox=default",
				http.Header{"Origin": {a.base}})
			if err != nil {
				t.Fatalf("dial A's widget socket: %v", err)
			}
			t.Cleanup(func() { visitor.Close() })
			read := func(want string) {
				t.Helper()
				_ = visitor.SetReadDeadline(time.Now().Add(10 * time.Second))
				for {
					var f map[string]any
					if err := visitor.ReadJSON(&f); err != nil {
						t.Fatalf("waiting for the widget's %q frame: %v", want, err)
					}
					if f["t"] == want {
						return
					}
				}
			}
			send := func(v map[string]any) {
				t.Helper()
				if err := visitor.WriteJSON(v); err != nil {
					t.Fatal(err)
				}
			}
			send(map[string]any{"t": "hello", "inbox": "default"})
			read("welcome")
			send(map[string]any{"t": "msg", "cid": "visitor-msg-0001", "text": "Apakah ukuran M masih ada?"})
			read("ack")
			convs := conversations(t, a)
			if len(convs) != 1 {
				t.Fatalf("%d conversations after the visitor's message, want 1", len(convs))
			}
			conv := convs[0].ID

			console := openConsole(t, b.base, "dewi@toko.id", "correct horse battery")
			console.open(t, conv)
			console.until(t, "the conversation is open on B", func(f consoleFrame) bool { return len(f.Ops) == 0 && f.Seq >= console.seq })
			send(map[string]any{"t": "typing", "on": true})

			typingID := "visitor-typing-" + conv
			typing := func(f consoleFrame) bool {
				for _, o := range f.Ops {
					if o.Op == "replace" && o.ID == typingID && strings.TrimSpace(o.HTML) != "" {
						return true
					}
				}
				return false
			}
			if withNATS {
				console.until(t, "B shows the visitor on A typing", typing)
				return
			}
			b.vars["c"] = conv
			b.must(201, "POST", "/api/v1/conversations/{c}/messages", `{"text":"cek stok ukuran M di gudang","note":true}`)
			console.until(t, "B's own note reaches B's console", func(f consoleFrame) bool {
				if typing(f) {
					t.Fatal("B showed the typing of a visitor on A without a bus between them")
				}
				for _, o := range f.Ops {
					if o.Op == "msg" && strings.Contains(o.HTML, "cek stok ukuran M") {
						return true
					}
				}
				return false
			})
		})
	}
}

// TestReadyzFollowsTheNATSConnection: an instance cut off from NATS no longer shares events with
// the others, so the load balancer is told to stop sending it traffic until it is back.
func TestReadyzFollowsTheNATSConnection(t *testing.T) {
	n := natstest.Start(t, server.Options{})
	e := startEnvWith(t, "mongo", map[string]string{"SERAMBI_NATS_URL": n.URL("")})
	readyz := func() int {
		res, err := http.Get(e.base + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	steps := []struct {
		name   string
		do     func()
		status int
	}{
		{"connected", func() {}, http.StatusOK},
		{"NATS server gone", n.Stop, http.StatusServiceUnavailable},
		{"NATS server back on its address", n.Start, http.StatusOK},
	}
	for _, s := range steps {
		s.do()
		eventually(t, fmt.Sprintf("/readyz answers %d once %s", s.status, s.name), func() bool { return readyz() == s.status })
	}
}

// TestStartNamesTheNATSServerItCannotReach: a NATS server that does not answer at start stops
// start-up with an error that names it, without the password in its URL.
func TestStartNamesTheNATSServerItCannotReach(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	cfg, err := config.Load(func(k string) string {
		return map[string]string{"SERAMBI_LISTEN": "127.0.0.1:0", "SERAMBI_DATA_DIR": t.TempDir(),
			"SERAMBI_SECRET_KEY": secretKey, "SERAMBI_MONGODB_URI": mongotest.Start(t),
			"SERAMBI_NATS_URL": "nats://serambi:pw-Kq2m7x@" + addr}[k]
	})
	if err != nil {
		t.Fatal(err)
	}
	in, err := instance.Start(t.Context(), cfg, slog.New(slog.NewTextHandler(testWriter{t}, nil)))
	if err == nil {
		_ = in.Shutdown(t.Context())
		t.Fatal("started without its NATS server")
	}
	if msg := err.Error(); !strings.Contains(msg, "SERAMBI_NATS_URL") || !strings.Contains(msg, "nats://***@"+addr) ||
		strings.Contains(msg, "pw-Kq2m7x") {
		t.Fatalf("error %q; want it to name SERAMBI_NATS_URL and nats://***@%s, without the password", msg, addr)
	}
}

// consoleSocket is a console tab's WebSocket, speaking what console.js speaks.
type consoleSocket struct {
	conn *websocket.Conn
	hub  string
	seq  uint64 // the last sequence number a frame carried
}

type consoleFrame struct {
	Seq uint64 `json:"seq"`
	Ops []struct {
		Op   string `json:"op"`
		ID   string `json:"id"`
		HTML string `json:"html"`
	} `json:"ops"`
}

// has reports whether the frame updates the list row id with html containing text.
func (f consoleFrame) has(id, text string) bool {
	for _, o := range f.Ops {
		if o.Op == "row" && o.ID == id && strings.Contains(o.HTML, text) {
			return true
		}
	}
	return false
}

var (
	csrfField = regexp.MustCompile(`name="_csrf" value="([^"]+)"`)
	hubAttrs  = regexp.MustCompile(`data-hub="([^"]+)" data-seq="([0-9]+)"`)
)

// openConsole signs in on base through the form, as a browser does, opens the inbox page and its
// socket, shows the list of all conversations and waits until the socket is caught up.
func openConsole(t *testing.T, base, email, password string) *consoleSocket {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(path string) (int, string) {
		res, err := hc.Get(base + path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	_, page := get("/login")
	m := csrfField.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("login page has no CSRF field:\n%s", page)
	}
	res, err := hc.PostForm(base+"/login", url.Values{"email": {email}, "password": {password}, "_csrf": {m[1]}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign in: status %d", res.StatusCode)
	}
	status, page := get("/")
	h := hubAttrs.FindStringSubmatch(page)
	if status != http.StatusOK || h == nil {
		t.Fatalf("inbox page (status %d) has no hub id and sequence:\n%s", status, page)
	}
	u, _ := url.Parse(base)
	header := http.Header{"Origin": {base}}
	for _, ck := range jar.Cookies(u) {
		header.Add("Cookie", ck.Name+"="+ck.Value)
	}
	conn, res, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(base, "http")+"/ws", header)
	if err != nil {
		status := 0
		if res != nil {
			status = res.StatusCode
		}
		t.Fatalf("console socket: %v (status %d)", err, status)
	}
	t.Cleanup(func() { conn.Close() })
	since, err := strconv.ParseUint(h[2], 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	if err := conn.WriteJSON(map[string]any{"t": "view", "hub": h[1], "conv": "", "list": "view=all", "since": since}); err != nil {
		t.Fatal(err)
	}
	s := &consoleSocket{conn: conn, hub: h[1], seq: since}
	s.until(t, "the socket is caught up", func(f consoleFrame) bool { return len(f.Ops) == 0 && f.Seq >= since })
	return s
}

// open shows conversation conv beside the list, as clicking its row does.
func (s *consoleSocket) open(t *testing.T, conv string) {
	t.Helper()
	if err := s.conn.WriteJSON(map[string]any{"t": "view", "hub": s.hub, "conv": conv, "list": "view=all", "since": s.seq}); err != nil {
		t.Fatal(err)
	}
}

// until reads frames until match accepts one.
func (s *consoleSocket) until(t *testing.T, what string, match func(consoleFrame) bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		_ = s.conn.SetReadDeadline(deadline)
		_, b, err := s.conn.ReadMessage()
		if err != nil {
			t.Fatalf("waiting until %s: %v", what, err)
		}
		var f consoleFrame
		if err := json.Unmarshal(b, &f); err != nil {
			t.Fatalf("console frame %s: %v", b, err)
		}
		s.seq = max(s.seq, f.Seq)
		for _, o := range f.Ops {
			if o.Op == "reload" {
				t.Fatalf("waiting until %s: the console was told to reload", what)
			}
		}
		if match(f) {
			return
		}
	}
}
