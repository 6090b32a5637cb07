package ami_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/serambi/serambi/connectors/voice/ami"
	"github.com/serambi/serambi/connectors/voice/amifake"
)

func startFake(t *testing.T, o amifake.Options) *amifake.Server {
	t.Helper()
	if o.Username == "" {
		o.Username, o.Secret = "serambi", "manager-secret"
	}
	s, err := amifake.Start(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// recorder collects the events a Client hands over.
type recorder struct {
	mu     sync.Mutex
	events []ami.Message
	notify chan struct{}
}

func newRecorder() *recorder { return &recorder{notify: make(chan struct{}, 1)} }

func (r *recorder) handle(_ context.Context, m ami.Message) {
	r.mu.Lock()
	r.events = append(r.events, m)
	r.mu.Unlock()
	select {
	case r.notify <- struct{}{}:
	default:
	}
}

// waitFor waits until an event satisfies ok and returns the events seen so far.
func (r *recorder) waitFor(t *testing.T, what string, ok func([]ami.Message) bool) []ami.Message {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		r.mu.Lock()
		evs := append([]ami.Message(nil), r.events...)
		r.mu.Unlock()
		if ok(evs) {
			return evs
		}
		select {
		case <-r.notify:
		case <-deadline:
			t.Fatalf("timed out waiting for %s; have %d events", what, len(evs))
		}
	}
}

func named(evs []ami.Message, name string) []ami.Message {
	var out []ami.Message
	for _, e := range evs {
		if e.Event() == name {
			out = append(out, e)
		}
	}
	return out
}

func fastConfig(addr string) ami.Config {
	return ami.Config{
		Addr: addr, Login: ami.Login{Username: "serambi", Secret: "manager-secret"},
		MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond,
		PingInterval: time.Hour, PingTimeout: time.Second,
	}
}

func runClient(t *testing.T, cfg ami.Config, handle ami.Handler, onConnect func(context.Context, *ami.Conn)) *ami.Client {
	t.Helper()
	c := ami.NewClient(cfg, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx, handle, onConnect) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run returned %v after its context ended, want nil", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Run did not return after its context ended")
		}
	})
	return c
}

func TestClientDeliversBurstsInOrderEvenCutIntoBytes(t *testing.T) {
	srv := startFake(t, amifake.Options{Chunk: 1})
	rec := newRecorder()
	runClient(t, fastConfig(srv.Addr()), rec.handle, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.WaitLogins(ctx, 1); err != nil {
		t.Fatal(err)
	}
	var burst []ami.Message
	for i := range 50 {
		burst = append(burst, ami.NewEvent("VarSet", "Variable", "N", "Value", fmt.Sprint(i)))
	}
	srv.Emit(burst...)
	evs := rec.waitFor(t, "50 VarSet events", func(e []ami.Message) bool { return len(named(e, "VarSet")) == 50 })
	for i, e := range named(evs, "VarSet") {
		if e.Get("Value") != fmt.Sprint(i) {
			t.Fatalf("event %d carries %q: order lost", i, e.Get("Value"))
		}
	}
	if len(named(evs, "FullyBooted")) != 1 {
		t.Fatalf("the FullyBooted event after login should be delivered once, got %d", len(named(evs, "FullyBooted")))
	}
}

func TestClientReconnectsAfterADisconnectInsideAPacket(t *testing.T) {
	srv := startFake(t, amifake.Options{})
	rec := newRecorder()
	var mu sync.Mutex
	connects := 0
	runClient(t, fastConfig(srv.Addr()), rec.handle, func(context.Context, *ami.Conn) {
		mu.Lock()
		connects++
		mu.Unlock()
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.WaitLogins(ctx, 1); err != nil {
		t.Fatal(err)
	}
	srv.Emit(ami.NewEvent("Newchannel", "Channel", "PJSIP/telkom-1", "Linkedid", "1.1"))
	srv.DropMidPacket(ami.NewEvent("Hangup", "Channel", "PJSIP/telkom-1", "Linkedid", "1.1", "Cause", "16"))
	if err := srv.WaitLogins(ctx, 2); err != nil {
		t.Fatalf("no reconnection: %v", err)
	}
	srv.Emit(ami.NewEvent("Newchannel", "Channel", "PJSIP/telkom-2", "Linkedid", "2.2"))
	evs := rec.waitFor(t, "the event after reconnecting", func(e []ami.Message) bool { return len(named(e, "Newchannel")) == 2 })
	if n := len(named(evs, "Hangup")); n != 0 {
		t.Fatalf("half a packet was delivered as an event (%d Hangup)", n)
	}
	// onConnect runs beside the event loop: give it the time to start.
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		n := connects
		mu.Unlock()
		if n == 2 {
			break
		}
		if n > 2 || time.Now().After(deadline) {
			t.Fatalf("onConnect ran %d times, want once per login (2)", n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestClientReconnectsWhenPingsGoUnanswered(t *testing.T) {
	srv := startFake(t, amifake.Options{})
	cfg := fastConfig(srv.Addr())
	cfg.PingInterval, cfg.PingTimeout = 50*time.Millisecond, 100*time.Millisecond
	runClient(t, cfg, func(context.Context, ami.Message) {}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.WaitLogins(ctx, 1); err != nil {
		t.Fatal(err)
	}
	srv.SetSilentPing(true)
	if err := srv.WaitLogins(ctx, 2); err != nil {
		t.Fatalf("a connection whose pings go unanswered was kept: %v", err)
	}
	srv.SetSilentPing(false)
	if len(srv.Actions("Ping")) == 0 {
		t.Fatal("no Ping was sent")
	}
}

func TestClientKeepsRetryingAWrongPasswordAndActionsSayNotConnected(t *testing.T) {
	srv := startFake(t, amifake.Options{})
	cfg := fastConfig(srv.Addr())
	cfg.Login.Secret = "wrong"
	c := runClient(t, cfg, func(context.Context, ami.Message) {}, nil)
	deadline := time.Now().Add(10 * time.Second)
	for len(srv.Actions("Login")) < 3 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := len(srv.Actions("Login")); n < 3 {
		t.Fatalf("%d login attempts, want the client to keep trying", n)
	}
	if srv.Logins() != 0 {
		t.Fatal("a wrong secret was accepted")
	}
	if _, err := c.Action(context.Background(), ami.NewAction("Ping")); !errors.Is(err, ami.ErrNotConnected) {
		t.Fatalf("Action while not connected: %v, want ErrNotConnected", err)
	}
}

func TestClientOriginateAndListChannels(t *testing.T) {
	srv := startFake(t, amifake.Options{})
	// Channels created before the client connects are listed by CoreShowChannels.
	srv.Emit(
		ami.NewEvent("Newchannel", "Channel", "PJSIP/telkom-00000001", "Uniqueid", "1700000000.1", "Linkedid", "1700000000.1"),
		ami.NewEvent("Newchannel", "Channel", "PJSIP/201-00000002", "Uniqueid", "1700000000.2", "Linkedid", "1700000000.1"),
		ami.NewEvent("Newchannel", "Channel", "PJSIP/202-00000003", "Uniqueid", "1700000000.3", "Linkedid", "1700000000.3"),
		ami.NewEvent("Hangup", "Channel", "PJSIP/202-00000003", "Uniqueid", "1700000000.3", "Linkedid", "1700000000.3"),
	)
	listed := make(chan []ami.Message, 1)
	c := runClient(t, fastConfig(srv.Addr()), func(context.Context, ami.Message) {}, func(ctx context.Context, conn *ami.Conn) {
		_, items, err := conn.ActionList(ctx, ami.NewAction("CoreShowChannels"))
		if err != nil {
			t.Errorf("CoreShowChannels: %v", err)
		}
		listed <- items
	})
	items := <-listed
	if len(items) != 2 || items[1].Get("Channel") != "PJSIP/201-00000002" {
		t.Fatalf("listed %v", items)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := c.Action(ctx, ami.NewAction("Originate", "Channel", "PJSIP/201", "Exten", "+6281234567890",
		"Context", "from-internal", "Priority", "1", "Async", "true", "ChannelId", "serambi-1"))
	if err != nil {
		t.Fatal(err)
	}
	if resp.Get("Message") != "Originate successfully queued" {
		t.Fatalf("response %v", resp)
	}
	got := srv.Actions("Originate")
	if len(got) != 1 || got[0].Get("Exten") != "+6281234567890" || got[0].Get("ActionID") == "" {
		t.Fatalf("the server received %v", got)
	}
	if _, err := c.Action(ctx, ami.NewAction("Originate", "Channel", "PJSIP/201")); err == nil {
		t.Fatal("an Originate without Exten/Context/Priority was accepted")
	}
}
