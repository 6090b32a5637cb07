package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// buildBinary compiles the serambi command the way an operator gets it.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "serambi")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("go build: %v", err)
	}
	return bin
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

type server struct {
	bin  string
	env  []string
	addr string
	cmd  *exec.Cmd
	// logs collects what every run of the server wrote; one runs at a time.
	logs *bytes.Buffer
}

// start runs the server and waits until it is ready. It returns an error rather than failing
// the test, because the killer goroutine calls it.
func (s *server) start() error {
	cmd := exec.Command(s.bin, "serve")
	cmd.Env = s.env
	cmd.Stdout, cmd.Stderr = s.logs, s.logs
	if err := cmd.Start(); err != nil {
		return err
	}
	s.cmd = cmd
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get("http://" + s.addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("server did not become ready within 30 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (s *server) kill() {
	_ = s.cmd.Process.Signal(syscall.SIGKILL)
	_ = s.cmd.Wait()
}

func TestExactlyOnceUnderCrashes(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and SIGKILLs it mid-stream; skipped with -short")
	}
	bin := buildBinary(t)
	addr := freePort(t)
	env := append(os.Environ(),
		"SERAMBI_LISTEN="+addr,
		"SERAMBI_DATA_DIR="+filepath.Join(t.TempDir(), "data"),
		"SERAMBI_LOG_LEVEL=warn",
	)
	create := exec.Command(bin, "apikey", "create", "--name", "crash-test")
	create.Env = env
	var stderr bytes.Buffer
	create.Stderr = &stderr
	out, err := create.Output()
	if err != nil {
		t.Fatalf("serambi apikey create: %v\n%s", err, stderr.String())
	}
	key := strings.TrimSpace(string(out))
	if !strings.HasPrefix(key, "srb_") || strings.Contains(key, "\n") {
		t.Fatalf("apikey create printed %q; want the key alone on stdout", out)
	}

	srv := &server{bin: bin, env: env, addr: addr, logs: &bytes.Buffer{}}
	if err := srv.start(); err != nil {
		t.Fatalf("%v; log:\n%s", err, srv.logs)
	}

	const total, customers, workers = 2000, 25, 8
	jobs := make(chan int)
	var done atomic.Int64
	var wg sync.WaitGroup
	client := &http.Client{Timeout: 10 * time.Second}
	post := func(i int) (int, error) {
		body := fmt.Sprintf(`{"externalId":"crash-%d","from":{"email":"c%d@example.id"},"text":"message %d"}`, i, i%customers, i)
		req, _ := http.NewRequest("POST", "http://"+addr+"/api/v1/messages", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, resp.Body)
		return resp.StatusCode, nil
	}
	var failures sync.Map
	var duplicates, retries atomic.Int64
	var giveUp atomic.Bool // set when the server cannot be restarted: clients stop retrying
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				for attempt := 0; ; attempt++ {
					status, err := post(i)
					if err == nil && (status == 200 || status == 201) {
						if status == 200 {
							duplicates.Add(1) // stored before a crash cut the answer off
						}
						break
					}
					if err != nil {
						retries.Add(1)
					}
					if err == nil && status < 500 {
						failures.Store(i, status) // a 4xx is a bug, not a crash: do not retry it
						break
					}
					if attempt > 2000 || giveUp.Load() {
						failures.Store(i, -1)
						break
					}
					time.Sleep(10 * time.Millisecond)
				}
				done.Add(1)
			}
		}()
	}
	// The killer waits for progress, not for time, so both crashes land mid-stream on any machine.
	var killedAt []int64
	var restartErr error
	killerDone := make(chan struct{})
	go func() {
		defer close(killerDone)
		for _, at := range []int64{total / 4, total * 3 / 5} {
			for done.Load() < at {
				time.Sleep(time.Millisecond)
			}
			srv.kill()
			killedAt = append(killedAt, done.Load())
			time.Sleep(100 * time.Millisecond) // clients pile up retries against a dead port
			if restartErr = srv.start(); restartErr != nil {
				giveUp.Store(true)
				return
			}
		}
	}()
	for i := range total {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	<-killerDone
	if restartErr != nil {
		t.Fatalf("restart: %v; log:\n%s", restartErr, srv.logs)
	}
	failures.Range(func(k, v any) bool {
		t.Errorf("message %v ended with %v", k, v)
		return true
	})
	t.Logf("killed after %v of %d messages; %d requests failed and were retried, %d answered as duplicates",
		killedAt, total, retries.Load(), duplicates.Load())
	if len(killedAt) != 2 || killedAt[1] >= total {
		t.Fatalf("kills at %v; want two, both before the last message", killedAt)
	}

	// Every message is stored exactly once: read every timeline through the API.
	get := func(path string) map[string]any {
		req, _ := http.NewRequest("GET", "http://"+addr+path, nil)
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&m); err != nil || resp.StatusCode != 200 {
			t.Fatalf("GET %s: %d %v", path, resp.StatusCode, err)
		}
		return m
	}
	seen := map[string]int{}
	stored := 0
	var convs []string
	for cursor := ""; ; {
		page := get("/api/v1/conversations?limit=100&cursor=" + cursor)
		for _, it := range page["items"].([]any) {
			convs = append(convs, it.(map[string]any)["id"].(string))
		}
		if cursor, _ = page["nextCursor"].(string); cursor == "" {
			break
		}
	}
	for _, c := range convs {
		for before := ""; ; {
			page := get("/api/v1/conversations/" + c + "/messages?limit=100&before=" + before)
			for _, it := range page["items"].([]any) {
				m := it.(map[string]any)
				if m["direction"] == "in" {
					seen[m["externalId"].(string)]++
					stored++
				}
			}
			if before, _ = page["nextCursor"].(string); before == "" {
				break
			}
		}
	}
	if len(convs) != customers {
		t.Errorf("%d conversations, want %d (one per customer)", len(convs), customers)
	}
	if stored != total || len(seen) != total {
		t.Errorf("%d messages stored under %d external ids; want exactly %d of each", stored, len(seen), total)
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("%s stored %d times", id, n)
		}
	}

	// SIGTERM is a graceful stop: exit status 0.
	if err := srv.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitErr := make(chan error, 1)
	go func() { waitErr <- srv.cmd.Wait() }()
	select {
	case err := <-waitErr:
		if err != nil {
			t.Errorf("serambi exited with %v after SIGTERM; want 0\n%s", err, srv.logs)
		}
	case <-time.After(30 * time.Second):
		srv.kill()
		t.Error("serambi did not stop within 30 s of SIGTERM")
	}
	if t.Failed() {
		t.Logf("server log:\n%s", srv.logs)
	}
}
