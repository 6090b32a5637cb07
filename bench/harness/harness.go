// Package harness starts a real serambi server for the load tools in bench/: the binary built from
// this checkout, on a fresh data directory and a free loopback port, with an API key.
package harness

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
)

// Server is a running serambi process.
type Server struct {
	URL, Key, DataDir string
	cmd               *exec.Cmd
	logs              bytes.Buffer
}

// Start builds ./cmd/serambi (from the module root) and runs it with env added to SERAMBI_LISTEN and
// SERAMBI_DATA_DIR. dataDir may be an existing directory (a seeded database) or "" for a new one.
func Start(ctx context.Context, dataDir string, env ...string) (*Server, error) {
	tmp, err := os.MkdirTemp("", "serambi-bench-")
	if err != nil {
		return nil, err
	}
	bin := filepath.Join(tmp, "serambi")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/serambi")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		return nil, fmt.Errorf("go build (run from the module root): %w", err)
	}
	if dataDir == "" {
		dataDir = filepath.Join(tmp, "data")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := ln.Addr().String()
	ln.Close()
	s := &Server{URL: "http://" + addr, DataDir: dataDir}
	environ := append(slices.Clone(os.Environ()), "SERAMBI_LISTEN="+addr, "SERAMBI_DATA_DIR="+dataDir, "SERAMBI_LOG_LEVEL=warn")
	environ = append(environ, env...)
	key := exec.CommandContext(ctx, bin, "apikey", "create", "--name", "bench")
	key.Env = environ
	out, err := key.Output()
	if err != nil {
		return nil, fmt.Errorf("serambi apikey create: %w", err)
	}
	s.Key = strings.TrimSpace(string(out))
	s.cmd = exec.Command(bin, "serve")
	s.cmd.Env = environ
	// The server dies with the load tool, even when the tool exits through log.Fatal.
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	s.cmd.Stdout, s.cmd.Stderr = &s.logs, &s.logs
	if err := s.cmd.Start(); err != nil {
		return nil, err
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(s.URL + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s, nil
			}
		}
		if time.Now().After(deadline) {
			s.Stop()
			return nil, fmt.Errorf("server not ready after 60 s:\n%s", s.logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// EnvList splits a -server-env flag's KEY=VALUE,… into Start's env.
func EnvList(flag string) []string {
	if flag == "" {
		return nil
	}
	return strings.Split(flag, ",")
}

// PID is the server's process id, for reading its memory use.
func (s *Server) PID() int { return s.cmd.Process.Pid }

// Stop ends the server with SIGTERM and waits for it.
func (s *Server) Stop() {
	if s.cmd != nil && s.cmd.Process != nil {
		_ = s.cmd.Process.Signal(os.Interrupt)
		_ = s.cmd.Wait()
	}
}
