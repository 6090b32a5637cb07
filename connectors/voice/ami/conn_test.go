package ami

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"
)

// scriptedServer runs fn as the server side of a pipe after sending the banner and accepting
// the login, and returns the client side.
func scriptedServer(t *testing.T, fn func(r *Reader, w net.Conn)) net.Conn {
	t.Helper()
	client, server := net.Pipe()
	t.Cleanup(func() { client.Close(); server.Close() })
	go func() {
		defer server.Close()
		if _, err := server.Write([]byte("Asterisk Call Manager/5.0.1\r\n")); err != nil {
			return
		}
		r := NewReader(server)
		login, err := r.ReadMessage()
		if err != nil || login.Get("Action") != "Login" {
			return
		}
		if _, err := server.Write([]byte("Response: Success\r\nActionID: " + login.Get("ActionID") + "\r\nMessage: Authentication accepted\r\n\r\n")); err != nil {
			return
		}
		fn(r, server)
	}()
	return client
}

func TestResponsesFindTheirActionWhateverTheOrder(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	nc := scriptedServer(t, func(r *Reader, w net.Conn) {
		a, err1 := r.ReadMessage()
		b, err2 := r.ReadMessage()
		if err1 != nil || err2 != nil {
			return
		}
		// The second action is answered first, with an event in between.
		w.Write([]byte("Response: Success\r\nActionID: " + b.Get("ActionID") + "\r\nEcho: " + b.Get("Action") + "\r\n\r\n" +
			"Event: Newchannel\r\nChannel: PJSIP/201-00000001\r\n\r\n" +
			"Response: Success\r\nActionID: " + a.Get("ActionID") + "\r\nEcho: " + a.Get("Action") + "\r\n\r\n"))
		time.Sleep(time.Second) // keep the connection up while the client reads
	})
	c, err := Handshake(ctx, nc, Login{Username: "u", Secret: "s"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	type res struct {
		sent string
		got  Message
		err  error
	}
	out := make(chan res, 2)
	for _, name := range []string{"CoreStatus", "Ping"} {
		go func() {
			m, err := c.Action(ctx, NewAction(name))
			out <- res{name, m, err}
		}()
	}
	for range 2 {
		r := <-out
		if r.err != nil {
			t.Fatalf("%s: %v", r.sent, r.err)
		}
		if r.got.Get("Echo") != r.sent {
			t.Fatalf("the answer to %s was the answer to %s", r.sent, r.got.Get("Echo"))
		}
	}
	select {
	case e := <-c.Events():
		if e.Event() != "Newchannel" {
			t.Fatalf("event = %v", e)
		}
	case <-ctx.Done():
		t.Fatal("the event between the responses never arrived")
	}
}

func TestErrorResponseAndEventList(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	nc := scriptedServer(t, func(r *Reader, w net.Conn) {
		a, err := r.ReadMessage()
		if err != nil {
			return
		}
		w.Write([]byte("Response: Error\r\nActionID: " + a.Get("ActionID") + "\r\nMessage: Invalid/unknown command\r\n\r\n"))
		l, err := r.ReadMessage()
		if err != nil {
			return
		}
		id := l.Get("ActionID")
		w.Write([]byte("Response: Success\r\nActionID: " + id + "\r\nEventList: start\r\nMessage: Channels will follow\r\n\r\n" +
			"Event: CoreShowChannel\r\nActionID: " + id + "\r\nChannel: PJSIP/201-1\r\nLinkedid: 1.1\r\n\r\n" +
			"Event: Hangup\r\nChannel: PJSIP/9-1\r\n\r\n" + // an ordinary event in the middle of the list
			"Event: CoreShowChannel\r\nActionID: " + id + "\r\nChannel: PJSIP/telkom-2\r\nLinkedid: 1.1\r\n\r\n" +
			"Event: CoreShowChannelsComplete\r\nActionID: " + id + "\r\nEventList: Complete\r\nListItems: 2\r\n\r\n"))
		time.Sleep(time.Second)
	})
	c, err := Handshake(ctx, nc, Login{Username: "u", Secret: "s"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, err = c.Action(ctx, NewAction("Bogus"))
	var ae *ActionError
	if !errors.As(err, &ae) || ae.Message != "Invalid/unknown command" || ae.Action != "Bogus" {
		t.Fatalf("error response: err = %v", err)
	}
	resp, items, err := c.ActionList(ctx, NewAction("CoreShowChannels"))
	if err != nil {
		t.Fatal(err)
	}
	if resp.Get("Message") != "Channels will follow" || len(items) != 2 ||
		items[0].Get("Channel") != "PJSIP/201-1" || items[1].Get("Channel") != "PJSIP/telkom-2" {
		t.Fatalf("list: resp %v, items %v", resp, items)
	}
	if e := <-c.Events(); e.Event() != "Hangup" {
		t.Fatalf("the unrelated event should reach Events, got %v", e)
	}
}

func TestActionValuesAreNeverInjected(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	got := make(chan Message, 4)
	nc := scriptedServer(t, func(r *Reader, w net.Conn) {
		for {
			m, err := r.ReadMessage()
			if err != nil {
				close(got)
				return
			}
			got <- m
			w.Write([]byte("Response: Success\r\nActionID: " + m.Get("ActionID") + "\r\n\r\n"))
		}
	})
	c, err := Handshake(ctx, nc, Login{Username: "u", Secret: "s"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Action(ctx, NewAction("Originate", "Exten", "1\r\n\r\nAction: Command\r\nCommand: core stop now")); err == nil {
		t.Fatal("an action with a line break in a value was sent")
	}
	if _, err := c.Action(ctx, NewAction("Ping")); err != nil {
		t.Fatal(err)
	}
	c.Close()
	for m := range got {
		if m.Get("Action") != "Ping" {
			t.Fatalf("the server received %v", m)
		}
	}
}

func TestLoginRefusedAndWrongBanner(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	client, server := net.Pipe()
	go func() {
		defer server.Close()
		server.Write([]byte("Asterisk Call Manager/5.0.1\r\n"))
		r := NewReader(server)
		m, err := r.ReadMessage()
		if err != nil {
			return
		}
		server.Write([]byte("Response: Error\r\nActionID: " + m.Get("ActionID") + "\r\nMessage: Authentication failed\r\n\r\n"))
	}()
	if _, err := Handshake(ctx, client, Login{Username: "u", Secret: "wrong"}); !errors.Is(err, ErrAuth) {
		t.Fatalf("refused login: err = %v, want ErrAuth", err)
	}

	client2, server2 := net.Pipe()
	go func() {
		defer server2.Close()
		server2.Write([]byte("+OK POP3 server ready\r\n"))
	}()
	if _, err := Handshake(ctx, client2, Login{}); !errors.Is(err, ErrProtocol) {
		t.Fatalf("wrong banner: err = %v, want ErrProtocol", err)
	}
}

func TestBackoffGrowsAndIsBounded(t *testing.T) {
	c := Config{MinBackoff: 100 * time.Millisecond, MaxBackoff: time.Second}.withDefaults()
	b := c.MinBackoff
	var seen []time.Duration
	for range 6 {
		seen = append(seen, b)
		b = c.next(b)
	}
	want := []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond, 800 * time.Millisecond, time.Second, time.Second}
	for i := range want {
		if seen[i] != want[i] {
			t.Fatalf("backoff sequence %v, want %v", seen, want)
		}
	}
	for range 1000 {
		if j := jitter(time.Second); j < 800*time.Millisecond || j > 1200*time.Millisecond {
			t.Fatalf("jitter(1s) = %v, outside ±20%%", j)
		}
	}
}
