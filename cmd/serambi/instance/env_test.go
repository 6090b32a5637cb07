package instance_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/serambi/serambi/cmd/serambi/instance"
	"github.com/serambi/serambi/config"
	apiconn "github.com/serambi/serambi/connectors/api"
	"github.com/serambi/serambi/database/mongo/mongotest"
)

const (
	callbackSecret = "callback-secret-for-tests"
	secretKey      = "secret-key-for-tests-0123456789abcdef"
	maxBody        = 4096
	maxAttachment  = 64 << 10
)

// env is one real Serambi, started in-process on a free port over a real store.
type env struct {
	t        testing.TB
	in       *instance.Instance
	base     string
	key      string
	revoked  string
	receiver *receiver
	vars     map[string]string
}

// receiver is the shop's callback endpoint: it verifies every signature, and answers with the
// statuses queued in plan (then 200).
type receiver struct {
	mu       sync.Mutex
	plan     []int
	got      []apiconn.Callback
	badSigns int
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	defer r.mu.Unlock()
	if !apiconn.Verify([]byte(callbackSecret), body, req.Header.Get(apiconn.SignatureHeader)) {
		r.badSigns++
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	var cb apiconn.Callback
	if err := json.Unmarshal(body, &cb); err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	r.got = append(r.got, cb)
	status := http.StatusOK
	if len(r.plan) > 0 {
		status, r.plan = r.plan[0], r.plan[1:]
	}
	if status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "1")
	}
	w.WriteHeader(status)
}

func (r *receiver) deliveries() []apiconn.Callback {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]apiconn.Callback(nil), r.got...)
}

var backends = []string{"sqlite", "mongo"}

// startEnv starts Serambi on backend with small limits, so that "too large" is cheap to test.
func startEnv(t *testing.T, backend string) *env {
	t.Helper()
	return startEnvWith(t, backend, nil)
}

// startEnvWith starts the server with extra settings (a connector's SERAMBI_<CHANNEL>_* variables).
func startEnvWith(t testing.TB, backend string, extra map[string]string) *env {
	t.Helper()
	rcv := &receiver{}
	hook := httptest.NewServer(rcv)
	t.Cleanup(hook.Close)
	vars := map[string]string{
		"SERAMBI_LISTEN":               "127.0.0.1:0",
		"SERAMBI_DATA_DIR":             t.TempDir(),
		"SERAMBI_API_CALLBACK_URL":     hook.URL + "/hook",
		"SERAMBI_API_CALLBACK_SECRET":  callbackSecret,
		"SERAMBI_SECRET_KEY":           secretKey,
		"SERAMBI_MAX_BODY_BYTES":       fmt.Sprint(maxBody),
		"SERAMBI_MAX_ATTACHMENT_BYTES": fmt.Sprint(maxAttachment),
		"SERAMBI_LOG_LEVEL":            "warn",
		"SERAMBI_INSTANCE_ID":          "test-" + backend,
	}
	if backend == "mongo" {
		vars["SERAMBI_MONGODB_URI"] = mongotest.Start(t)
	}
	for k, v := range extra {
		vars[k] = v
	}
	cfg, err := config.Load(func(k string) string { return vars[k] })
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	ctx := context.Background()
	in, err := instance.Start(ctx, cfg, slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err != nil {
		t.Fatalf("start serambi on %s: %v", backend, err)
	}
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := in.Shutdown(sctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	_, key, err := in.Keys.Create(ctx, "test")
	if err != nil {
		t.Fatal(err)
	}
	old, revoked, err := in.Keys.Create(ctx, "old")
	if err != nil {
		t.Fatal(err)
	}
	if err := in.Keys.Revoke(ctx, old.ID); err != nil {
		t.Fatal(err)
	}
	return &env{t: t, in: in, base: in.URL(), key: key, revoked: revoked, receiver: rcv, vars: map[string]string{"revoked": revoked}}
}

// testWriter sends the server's log lines to the test's log, shown when the test fails.
type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("answer is not a JSON object: %v\n%s", err, r.body)
	}
	return m
}

// expand replaces {name} with values the scenario's setup recorded.
func (e *env) expand(s string) string {
	for k, v := range e.vars {
		s = strings.ReplaceAll(s, "{"+k+"}", v)
	}
	return s
}

// do sends a request with the valid API key unless headers say otherwise.
func (e *env) do(method, path string, body io.Reader, headers map[string]string) response {
	e.t.Helper()
	req, err := http.NewRequest(method, e.base+e.expand(path), body)
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+e.key)
	req.Header.Set("Content-Type", "application/json")
	for k, v := range headers {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

func (e *env) call(method, path, body string) response {
	e.t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(e.expand(body))
	}
	return e.do(method, path, r, nil)
}

// must calls and fails the test unless the status is want; it returns the JSON answer.
func (e *env) must(want int, method, path, body string) map[string]any {
	e.t.Helper()
	r := e.call(method, path, body)
	if r.status != want {
		e.t.Fatalf("%s %s = %d, want %d: %s", method, path, r.status, want, r.body)
	}
	if len(r.body) == 0 {
		return nil
	}
	return r.json(e.t)
}

// ingest posts a customer message and records its ids as {prefix.message}, {prefix.customer}
// and {prefix.conversation}.
func (e *env) ingest(prefix, externalID, from, text string) {
	e.t.Helper()
	got := e.must(201, "POST", "/api/v1/messages",
		fmt.Sprintf(`{"externalId":%q,"from":%s,"text":%q}`, externalID, from, text))
	e.vars[prefix+".message"] = got["messageId"].(string)
	e.vars[prefix+".customer"] = got["customerId"].(string)
	e.vars[prefix+".conversation"] = got["conversationId"].(string)
}

// upload stores bytes as an attachment and records its SHA-256 as {name}.
func (e *env) upload(name string, data []byte, query string) {
	e.t.Helper()
	r := e.do("POST", "/api/v1/attachments"+query, bytes.NewReader(data), map[string]string{"Content-Type": "application/octet-stream"})
	if r.status != 201 {
		e.t.Fatalf("upload %s = %d: %s", name, r.status, r.body)
	}
	e.vars[name] = r.json(e.t)["sha256"].(string)
}

// eventually polls cond for up to 20 s: the dispatcher works in the background.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// subset reports where got differs from want, looking only at what want names.
func subset(got, want any, path string) []string {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return []string{fmt.Sprintf("%s: got %v, want an object", path, got)}
		}
		var diffs []string
		for k, wv := range w {
			gv, present := g[k]
			if !present {
				diffs = append(diffs, fmt.Sprintf("%s.%s: missing", path, k))
				continue
			}
			diffs = append(diffs, subset(gv, wv, path+"."+k)...)
		}
		return diffs
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return []string{fmt.Sprintf("%s: got %v, want %d items", path, got, len(w))}
		}
		var diffs []string
		for i := range w {
			diffs = append(diffs, subset(g[i], w[i], fmt.Sprintf("%s[%d]", path, i))...)
		}
		return diffs
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		return []string{fmt.Sprintf("%s: got %v, want %v", path, got, want)}
	}
	return nil
}
