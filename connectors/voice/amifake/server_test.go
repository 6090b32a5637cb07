package amifake

import (
	"bufio"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// The fake is only useful if it is as strict as Asterisk: these talk to it over raw TCP.

func dialRaw(t *testing.T, s *Server) (net.Conn, *bufio.Reader) {
	t.Helper()
	nc, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	nc.SetDeadline(time.Now().Add(5 * time.Second))
	br := bufio.NewReader(nc)
	banner, err := br.ReadString('\n')
	if err != nil || banner != "Asterisk Call Manager/7.0.3\r\n" {
		t.Fatalf("banner %q, %v", banner, err)
	}
	return nc, br
}

func readRaw(t *testing.T, br *bufio.Reader) string {
	t.Helper()
	var b strings.Builder
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("read: %v (have %q)", err, b.String())
		}
		if line == "\r\n" {
			return b.String()
		}
		b.WriteString(line)
	}
}

func TestFakeSpeaksTheWireFormat(t *testing.T) {
	s, err := Start(Options{Username: "u", Secret: "s"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	nc, br := dialRaw(t, s)
	io.WriteString(nc, "Action: Ping\r\nActionID: 1\r\n\r\n")
	if got := readRaw(t, br); got != "Response: Error\r\nActionID: 1\r\nMessage: Authentication Required\r\n" {
		t.Fatalf("an action before login: %q", got)
	}
	io.WriteString(nc, "Action: Login\r\nActionID: 2\r\nUsername: u\r\nSecret: s\r\n\r\n")
	if got := readRaw(t, br); got != "Response: Success\r\nActionID: 2\r\nMessage: Authentication accepted\r\n" {
		t.Fatalf("login: %q", got)
	}
	if got := readRaw(t, br); !strings.HasPrefix(got, "Event: FullyBooted\r\n") {
		t.Fatalf("after login: %q", got)
	}
	io.WriteString(nc, "Action: Ping\r\nActionID: 3\r\n\r\n")
	if got := readRaw(t, br); !strings.HasPrefix(got, "Response: Success\r\nActionID: 3\r\nPing: Pong\r\nTimestamp: ") {
		t.Fatalf("ping: %q", got)
	}

	t.Run("a bare LF ends the session", func(t *testing.T) {
		nc, br := dialRaw(t, s)
		io.WriteString(nc, "Action: Login\nUsername: u\nSecret: s\n\n")
		if _, err := br.ReadString('\n'); err == nil {
			t.Fatal("the fake answered an action with LF line ends")
		}
	})
	t.Run("a wrong secret is refused and the session ends", func(t *testing.T) {
		nc, br := dialRaw(t, s)
		io.WriteString(nc, "Action: Login\r\nActionID: 9\r\nUsername: u\r\nSecret: x\r\n\r\n")
		if got := readRaw(t, br); got != "Response: Error\r\nActionID: 9\r\nMessage: Authentication failed\r\n" {
			t.Fatalf("refusal: %q", got)
		}
		if _, err := br.ReadString('\n'); err == nil {
			t.Fatal("the session went on after a refused login")
		}
	})
	if s.Logins() != 1 || len(s.Actions("Login")) != 2 { // the LF-only one was never read as an action
		t.Fatalf("logins %d, login actions %d", s.Logins(), len(s.Actions("Login")))
	}
}
