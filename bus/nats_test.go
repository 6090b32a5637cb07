package bus_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/serambi/serambi/bus"
	"github.com/serambi/serambi/bus/natstest"
)

// logBuffer is slog output captured for assertions; the NATS client logs from its own goroutines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func newLog(t testing.TB) (*slog.Logger, *logBuffer) {
	lb := &logBuffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("bus log:\n%s", lb.String())
		}
	})
	return slog.New(slog.NewTextHandler(lb, &slog.HandlerOptions{Level: slog.LevelDebug})), lb
}

// instance is one Serambi process's bus.
func instance(t testing.TB, url, subject, name string, log *slog.Logger) *bus.NATS {
	t.Helper()
	b, err := bus.NewNATS(context.Background(), bus.NATSConfig{URL: url, Subject: subject, Name: name}, log)
	if err != nil {
		t.Fatalf("NewNATS(%s): %v", name, err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

// recorder keeps every event one subscriber receives.
type recorder struct {
	mu     sync.Mutex
	got    []bus.Event
	cancel func()
}

func record(t testing.TB, s bus.Subscriber) *recorder {
	r := &recorder{}
	r.cancel = s.Subscribe(func(e bus.Event) {
		r.mu.Lock()
		r.got = append(r.got, e)
		r.mu.Unlock()
	})
	t.Cleanup(r.cancel)
	return r
}

func (r *recorder) events() []bus.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]bus.Event(nil), r.got...)
}

func (r *recorder) ids() []string {
	var out []string
	for _, e := range r.events() {
		out = append(out, e.MessageID)
	}
	return out
}

func (r *recorder) has(id string) bool {
	for _, e := range r.events() {
		if e.MessageID == id {
			return true
		}
	}
	return false
}

// waitFor waits until the recorder has an event with message id id.
func (r *recorder) waitFor(t testing.TB, who, id string) {
	t.Helper()
	eventually(t, who+" receives "+id, func() bool { return r.has(id) })
}

func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func event(id string, at time.Time) bus.Event {
	return bus.Event{Topic: bus.MessageAdded, ConversationID: "conv-" + id, CustomerID: "cust-" + id,
		MessageID: id, OtherID: "other-" + id, At: at}
}

func sameEvent(a, b bus.Event) bool {
	return a.Topic == b.Topic && a.ConversationID == b.ConversationID && a.CustomerID == b.CustomerID &&
		a.MessageID == b.MessageID && a.OtherID == b.OtherID && a.At.Equal(b.At)
}

// TestNATSDeliversEveryEventOnceEverywhere is the bus between two instances: what A publishes
// reaches A's own subscribers once (directly, not echoed back by NATS) and B's once, with every
// field and in publish order.
func TestNATSDeliversEveryEventOnceEverywhere(t *testing.T) {
	srv := natstest.Start(t, server.Options{})
	log, _ := newLog(t)
	a := instance(t, srv.URL(""), "", "a", log)
	b := instance(t, srv.URL(""), "", "b", log)
	recs := map[string]*recorder{"A1": record(t, a), "A2": record(t, a), "B1": record(t, b), "B2": record(t, b)}

	at := time.Date(2025, 3, 1, 10, 0, 0, 123456789, time.UTC)
	const n = 200
	var sent []bus.Event
	for i := range n {
		e := event(fmt.Sprintf("m%03d", i), at.Add(time.Duration(i)*time.Millisecond))
		sent = append(sent, e)
		a.Publish(context.Background(), e)
	}
	// B answers once it has all of A's events. Its answer reaches A through the NATS server
	// after anything the server sent A before (an echo of A's own events would come first), and
	// reaches B's subscribers after A's events: once both have it, nothing more can come.
	recs["B1"].waitFor(t, "B1", sent[n-1].MessageID)
	recs["B2"].waitFor(t, "B2", sent[n-1].MessageID)
	end := event("end", at)
	b.Publish(context.Background(), end)
	for name, r := range recs {
		r.waitFor(t, name, "end")
	}

	for name, r := range recs {
		got := r.events()
		want := append(append([]bus.Event(nil), sent...), end)
		if len(got) != len(want) {
			t.Errorf("%s received %d events, want %d (each once): %v", name, len(got), len(want), r.ids())
			continue
		}
		for i := range want {
			if !sameEvent(got[i], want[i]) {
				t.Errorf("%s event %d = %+v, want %+v (order or fields lost)", name, i, got[i], want[i])
				break
			}
		}
	}
}

// TestNATSPublishFillsInTheTime gives both instances the same At when the publisher left it zero.
func TestNATSPublishFillsInTheTime(t *testing.T) {
	srv := natstest.Start(t, server.Options{})
	log, _ := newLog(t)
	a := instance(t, srv.URL(""), "", "a", log)
	b := instance(t, srv.URL(""), "", "b", log)
	ra, rb := record(t, a), record(t, b)
	a.Publish(context.Background(), bus.Event{Topic: bus.ConversationChanged, MessageID: "x"})
	rb.waitFor(t, "B", "x")
	ea, eb := ra.events()[0], rb.events()[0]
	if ea.At.IsZero() || !ea.At.Equal(eb.At) {
		t.Fatalf("A saw At %v, B saw %v; want the same non-zero time", ea.At, eb.At)
	}
}

func TestNATSCancelStopsDeliveryAndCloseIsIdempotent(t *testing.T) {
	srv := natstest.Start(t, server.Options{})
	log, _ := newLog(t)
	a := instance(t, srv.URL(""), "", "a", log)
	b := instance(t, srv.URL(""), "", "b", log)
	gone, stays := record(t, b), record(t, b)

	a.Publish(context.Background(), event("before", time.Now()))
	gone.waitFor(t, "the cancelled subscriber", "before")
	gone.cancel()
	a.Publish(context.Background(), event("after", time.Now()))
	// Both were handed out by one local publish: the one still subscribed getting "after"
	// means the cancelled one would have got it too.
	stays.waitFor(t, "the remaining subscriber", "after")
	if got := gone.ids(); len(got) != 1 || got[0] != "before" {
		t.Fatalf("cancelled subscriber received %v, want only [before]", got)
	}

	if err := b.Close(); err != nil {
		t.Fatalf("first Close: %v", err)
	}
	if err := b.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if b.Connected() || b.Ready(context.Background()) == nil {
		t.Fatal("a closed bus says it is connected")
	}
	// Publishing on a closed bus neither panics nor blocks, and still reaches this process.
	b.Publish(context.Background(), event("local-after-close", time.Now()))
	stays.waitFor(t, "the closed bus's own subscriber", "local-after-close")
	// The other instance carries on.
	ra := record(t, a)
	a.Publish(context.Background(), event("a-alone", time.Now()))
	ra.waitFor(t, "A after B closed", "a-alone")
}

// TestNATSReceivedPayloads: what arrives on the subject comes from other instances, possibly of
// another version. Extra fields are ignored; anything that is not an event is logged briefly and
// skipped, and the events after it still arrive.
func TestNATSReceivedPayloads(t *testing.T) {
	huge := `{"topic":"message.added","messageId":"` + strings.Repeat("x", 200<<10) // unterminated
	tests := []struct {
		name      string
		payload   string
		wantID    string // the event delivered; "" when the payload must be skipped
		wantTopic bus.Topic
	}{
		{name: "unknown fields from a newer instance", wantID: "newer", wantTopic: bus.MessageUpdated,
			payload: `{"topic":"message.updated","messageId":"newer","priority":7,"nested":{"a":[1,2]},"at":"2025-03-01T10:00:00Z"}`},
		{name: "a topic this version does not know is still delivered", wantID: "future", wantTopic: "shift.started",
			payload: `{"topic":"shift.started","messageId":"future"}`},
		{name: "not JSON", payload: `hello`},
		{name: "truncated JSON", payload: `{"topic":"message.added","messageId":"cut`},
		{name: "a JSON array", payload: `[1,2,3]`},
		{name: "no topic", payload: `{"messageId":"orphan"}`},
		{name: "a field of the wrong type", payload: `{"topic":"message.added","messageId":42}`},
		{name: "a huge broken body", payload: huge},
		{name: "empty", payload: ``},
	}
	srv := natstest.Start(t, server.Options{})
	log, logs := newLog(t)
	b := instance(t, srv.URL(""), "", "b", log)
	rec := record(t, b)
	raw, err := nats.Connect(srv.URL(""))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(raw.Close)

	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(rec.events())
			logBefore := len(logs.String())
			if err := raw.Publish(bus.DefaultNATSSubject, []byte(tt.payload)); err != nil {
				t.Fatal(err)
			}
			// A good event after it, from the same connection, arrives after it: by then the
			// payload has been handled.
			marker := fmt.Sprintf("marker-%d", i)
			if err := raw.Publish(bus.DefaultNATSSubject, []byte(`{"topic":"message.added","messageId":"`+marker+`"}`)); err != nil {
				t.Fatal(err)
			}
			rec.waitFor(t, "B", marker)
			got := rec.events()[before:]
			newLogs := logs.String()[logBefore:]
			if tt.wantID == "" {
				if len(got) != 1 {
					t.Fatalf("delivered %+v; want the payload skipped and only the marker", got)
				}
				if !strings.Contains(newLogs, "not a bus event") {
					t.Errorf("no warning logged for the skipped payload; log:\n%s", newLogs)
				}
				if len(newLogs) > 2000 {
					t.Errorf("logged %d bytes for one bad payload; want a short excerpt", len(newLogs))
				}
				return
			}
			if len(got) != 2 || got[0].MessageID != tt.wantID || got[0].Topic != tt.wantTopic {
				t.Fatalf("delivered %+v; want %s (%s) then the marker", got, tt.wantID, tt.wantTopic)
			}
			if strings.Contains(newLogs, "not a bus event") {
				t.Errorf("a valid event was logged as bad:\n%s", newLogs)
			}
		})
	}
}

// TestNATSSurvivesServerRestart: the NATS server goes away and a new one takes its port; both
// instances reconnect by themselves and events flow again both ways. The URL carries credentials,
// and nothing in the whole story logs them.
func TestNATSSurvivesServerRestart(t *testing.T) {
	const user, pass = "serambi-user", "s3cret-Pa55"
	srv := natstest.Start(t, server.Options{Username: user, Password: pass})
	log, logs := newLog(t)
	a := instance(t, srv.URL(user+":"+pass), "", "a", log)
	b := instance(t, srv.URL(user+":"+pass), "", "b", log)
	ra, rb := record(t, a), record(t, b)

	a.Publish(context.Background(), event("before-restart", time.Now()))
	rb.waitFor(t, "B", "before-restart")

	srv.Stop()
	eventually(t, "both buses notice the server is gone", func() bool { return !a.Connected() && !b.Connected() })
	if err := a.Ready(context.Background()); err == nil {
		t.Fatal("Ready is nil while disconnected")
	}
	srv.Start()
	eventually(t, "both buses reconnect", func() bool { return a.Connected() && b.Connected() })
	if err := a.Ready(context.Background()); err != nil {
		t.Fatalf("Ready after reconnecting: %v", err)
	}

	// Each side's subscription is sent again as it reconnects; until the server has both,
	// an event can still be lost (NATS core is at-most-once), so probe until one arrives.
	probe := func(from *bus.NATS, to *recorder, dir string) {
		for i := 0; ; i++ {
			id := fmt.Sprintf("%s-probe-%d", dir, i)
			from.Publish(context.Background(), event(id, time.Now()))
			deadline := time.Now().Add(500 * time.Millisecond)
			for time.Now().Before(deadline) && !to.has(id) {
				time.Sleep(10 * time.Millisecond)
			}
			if to.has(id) {
				return
			}
			if i == 30 {
				t.Fatalf("no %s event arrived after the restart", dir)
			}
		}
	}
	probe(a, rb, "a-to-b")
	probe(b, ra, "b-to-a")
	for i := range 20 {
		a.Publish(context.Background(), event(fmt.Sprintf("after-%d", i), time.Now()))
	}
	rb.waitFor(t, "B", "after-19")
	var seen []string
	for _, id := range rb.ids() {
		if strings.HasPrefix(id, "after-") {
			seen = append(seen, id)
		}
	}
	if len(seen) != 20 {
		t.Errorf("B received %d of the 20 events after the restart: %v", len(seen), seen)
	}

	for _, b := range []*bus.NATS{a, b} {
		if err := b.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	}
	out := logs.String()
	for _, want := range []string{"NATS connection lost", "NATS connection restored", "nats://***@127.0.0.1"} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
	for _, secret := range []string{pass, user} {
		if strings.Contains(out, secret) {
			t.Errorf("log contains the credential %q:\n%s", secret, out)
		}
	}
}

// TestNATSNeverLogsCredentials covers connecting with each kind of credential, and failing to.
func TestNATSNeverLogsCredentials(t *testing.T) {
	const user, pass, token = "serambi-user", "pw-Zq81kd", "tok-Vb33nw9"
	withPass := natstest.Start(t, server.Options{Username: user, Password: pass})
	withToken := natstest.Start(t, server.Options{Authorization: token})
	closed := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	tests := []struct {
		name    string
		url     string
		wantErr bool
		wantIn  string // the redacted server, in the error or the log
	}{
		{name: "user and password", url: withPass.URL(user + ":" + pass),
			wantIn: fmt.Sprintf("nats://***@127.0.0.1:%d", withPass.Port())},
		{name: "token", url: withToken.URL(token),
			wantIn: fmt.Sprintf("nats://***@127.0.0.1:%d", withToken.Port())},
		{name: "wrong password", url: withPass.URL(user + ":" + pass + "-wrong"), wantErr: true,
			wantIn: fmt.Sprintf("nats://***@127.0.0.1:%d", withPass.Port())},
		{name: "nobody listening", url: "nats://" + token + "@" + closed, wantErr: true,
			wantIn: "nats://***@" + closed},
		{name: "a list of servers", url: "nats://" + user + ":" + pass + "@" + closed + ", " + withPass.URL(user+":"+pass),
			wantIn: "nats://***@" + closed + ",nats://***@127.0.0.1:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			log, logs := newLog(t)
			b, err := bus.NewNATS(context.Background(), bus.NATSConfig{URL: tt.url, Name: "creds"}, log)
			if tt.wantErr != (err != nil) {
				t.Fatalf("NewNATS error = %v, want error: %v", err, tt.wantErr)
			}
			if b != nil {
				b.Publish(context.Background(), event("x", time.Now()))
				if err := b.Close(); err != nil {
					t.Fatal(err)
				}
			}
			text := logs.String()
			if err != nil {
				text += "\nerror: " + err.Error()
			}
			if !strings.Contains(text, tt.wantIn) {
				t.Errorf("neither log nor error names the server as %q:\n%s", tt.wantIn, text)
			}
			for _, secret := range []string{user, pass, token} {
				if strings.Contains(text, secret) {
					t.Errorf("the credential %q leaked:\n%s", secret, text)
				}
			}
		})
	}
}

func freePort(t testing.TB) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// TestNATSSubjectSeparatesDeployments: two deployments on one NATS server, each on its own subject,
// never see each other's events.
func TestNATSSubjectSeparatesDeployments(t *testing.T) {
	srv := natstest.Start(t, server.Options{})
	log, _ := newLog(t)
	shop1a := instance(t, srv.URL(""), "shop1.events", "shop1-a", log)
	shop1b := instance(t, srv.URL(""), "shop1.events", "shop1-b", log)
	shop2a := instance(t, srv.URL(""), "shop2.events", "shop2-a", log)
	shop2b := instance(t, srv.URL(""), "shop2.events", "shop2-b", log)
	r1b, r2b := record(t, shop1b), record(t, shop2b)

	// Each event is published after the previous one arrived, so the server handles them in
	// this order: a leak of an earlier event would arrive before the later one.
	shop1a.Publish(context.Background(), event("shop1-first", time.Now()))
	r1b.waitFor(t, "shop1-b", "shop1-first")
	shop2a.Publish(context.Background(), event("shop2-first", time.Now()))
	r2b.waitFor(t, "shop2-b", "shop2-first")
	shop1a.Publish(context.Background(), event("shop1-second", time.Now()))
	r1b.waitFor(t, "shop1-b", "shop1-second")

	if got := strings.Join(r1b.ids(), ","); got != "shop1-first,shop1-second" {
		t.Errorf("shop1-b received %s, want only shop1's events", got)
	}
	if got := strings.Join(r2b.ids(), ","); got != "shop2-first" {
		t.Errorf("shop2-b received %s, want only shop2's event", got)
	}
}

func TestRedactURL(t *testing.T) {
	tests := []struct{ in, want string }{
		{"nats://127.0.0.1:4222", "nats://127.0.0.1:4222"},
		{"nats://user:pass@nats.internal:4222", "nats://***@nats.internal:4222"},
		{"tls://s3cr3tt0ken@nats.internal", "tls://***@nats.internal"},
		{"nats://a:b@n1:4222, nats://n2:4222,tls://t@n3", "nats://***@n1:4222,nats://n2:4222,tls://***@n3"},
		{"user:pass@host:4222", "(unparsable URL)"},
		{"nats://user:p%zz@host", "(unparsable URL)"},
		{"nats://host:4222/path?token=abc", "nats://host:4222"},
	}
	for _, tt := range tests {
		if got := bus.RedactURL(tt.in); got != tt.want {
			t.Errorf("RedactURL(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
