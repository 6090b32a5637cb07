// Package natstest is test support: a real NATS server (nats-server, embedded) in the test process,
// on a free port of 127.0.0.1, for the tests of the NATS bus and of instances sharing events over
// it. Only tests import it.
package natstest

import (
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Server is one test's NATS server. It can be stopped and started again on the same port, which
// is how a client's reconnecting is tested.
type Server struct {
	t       testing.TB
	opts    server.Options
	srv     *server.Server
	port    int
	running bool
}

// Start starts a server with opts (authentication, say; host, port and logging are set here) and
// stops it when t ends.
func Start(t testing.TB, opts server.Options) *Server {
	t.Helper()
	opts.Host, opts.Port, opts.NoLog, opts.NoSigs = "127.0.0.1", -1, true, true
	s := &Server{t: t, opts: opts}
	s.Start()
	s.port = s.srv.Addr().(*net.TCPAddr).Port
	t.Cleanup(s.Stop)
	return s
}

// Start starts the server again after Stop, on the port it had.
func (s *Server) Start() {
	s.t.Helper()
	if s.running {
		return
	}
	opts := s.opts
	if s.port != 0 {
		opts.Port = s.port
	}
	srv, err := server.NewServer(&opts)
	if err != nil {
		s.t.Fatalf("nats server: %v", err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		s.t.Fatal("nats server not ready within 10s")
	}
	s.srv, s.running = srv, true
}

// Stop shuts the server down; its clients see the connection drop.
func (s *Server) Stop() {
	if !s.running {
		return
	}
	s.srv.Shutdown()
	s.srv.WaitForShutdown()
	s.running = false
}

// Restart stops the server and starts a new one on the same port: clients must reconnect.
func (s *Server) Restart() {
	s.t.Helper()
	s.Stop()
	s.Start()
}

// Port is the port the server listens on.
func (s *Server) Port() int { return s.port }

// URL is the server's URL, with userinfo ("user:pass" or a token) when it is not empty.
func (s *Server) URL(userinfo string) string {
	if userinfo != "" {
		userinfo += "@"
	}
	return fmt.Sprintf("nats://%s127.0.0.1:%d", userinfo, s.port)
}
