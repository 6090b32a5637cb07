package console_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/serambi/serambi/agents"
	"github.com/serambi/serambi/bus"
	"github.com/serambi/serambi/database/sqlite"
	"github.com/serambi/serambi/i18n"
	"github.com/serambi/serambi/inbox"
	"github.com/serambi/serambi/web/console"
)

// env is a whole console on a real SQLite file: store, bus, inbox, accounts, the console mounted
// on echo and served over HTTP, its hub running.
type env struct {
	t       testing.TB
	srv     *httptest.Server
	store   *sqlite.Store
	blobs   *sqlite.Blobs
	inbox   *inbox.Inbox
	agents  *agents.Service
	console *console.Console
	bus     *bus.Local
	admin   agents.Agent
	agent   agents.Agent

	wsBlocked atomic.Bool
	// handler is the echo server itself, for benchmarks that time the server without the network.
	handler http.Handler
}

const password = "correct horse battery"

// cheapArgon keeps logins fast in tests; the format and checks are those of production.
var cheapArgon = agents.Argon2idParams{Memory: 64, Time: 1, Threads: 1, KeyLen: 32, SaltLen: 16}

type envOption func(*console.Options, *agents.Config)

func newEnv(t testing.TB, opts ...envOption) *env {
	t.Helper()
	return newEnvWith(t, nil, opts...)
}

// newEnvWith is newEnv with more of the console's dependencies: deps fills them in from the
// env's store, bus and inbox (a call center, WhatsApp templates) before the console is built.
func newEnvWith(t testing.TB, deps func(e *env, d *console.Deps), opts ...envOption) *env {
	t.Helper()
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	dir := t.TempDir()
	st, err := sqlite.Open(ctx, filepath.Join(dir, "serambi.db"), log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	blobs, err := sqlite.NewBlobs(filepath.Join(dir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	b := bus.NewLocal(log, 0)
	x := inbox.New(st, b, inbox.NewNormalizer("ID"), time.Now, log)
	cfg := agents.DefaultConfig()
	cfg.Argon2id = cheapArgon
	copt := console.Options{CountsEvery: 200 * time.Millisecond, TypingFor: 3 * time.Second, RecheckSessions: time.Second}
	for _, o := range opts {
		o(&copt, &cfg)
	}
	as, err := agents.New(st, cfg, time.Now, log)
	if err != nil {
		t.Fatal(err)
	}
	cat, err := i18n.New()
	if err != nil {
		t.Fatal(err)
	}
	en := &env{t: t, store: st, blobs: blobs, inbox: x, agents: as, bus: b}
	d := console.Deps{Inbox: x, Agents: as, Events: b, Blobs: blobs, Catalog: cat, Log: log, Options: copt}
	if deps != nil {
		deps(en, &d)
	}
	c, err := console.New(d)
	if err != nil {
		t.Fatal(err)
	}
	e := echo.New()
	c.Register(e)
	runCtx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); _ = c.Run(runCtx) }()
	en.console, en.handler = c, e
	// The gate lets a test keep browsers from reconnecting, to make events happen while they
	// are offline.
	en.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/ws" && en.wsBlocked.Load() {
			http.Error(w, "blocked by the test", http.StatusServiceUnavailable)
			return
		}
		e.ServeHTTP(w, r)
	}))
	t.Cleanup(func() { en.srv.Close(); stop(); wg.Wait() })
	return en
}

// withAgents creates an admin (Dewi) and an agent (Budi).
func (e *env) withAgents() *env {
	e.t.Helper()
	ctx := context.Background()
	var err error
	if e.admin, err = e.agents.Create(ctx, agents.NewAgent{Email: "dewi@toko.id", Name: "Dewi Lestari", Password: password, Role: agents.RoleAdmin}); err != nil {
		e.t.Fatal(err)
	}
	if e.agent, err = e.agents.Create(ctx, agents.NewAgent{Email: "budi@toko.id", Name: "Budi Santoso", Password: password, Role: agents.RoleAgent}); err != nil {
		e.t.Fatal(err)
	}
	return e
}

// client is a browser without script: a cookie jar, no redirects followed.
type client struct {
	e    *env
	http *http.Client
	csrf string
}

func (e *env) anon() *client {
	jar, _ := cookiejar.New(nil)
	return &client{e: e, http: &http.Client{Jar: jar, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

var csrfRE = regexp.MustCompile(`name="_csrf" value="([^"]+)"`)

// login signs in through the form, as a browser would, and keeps the session's CSRF token.
func (e *env) login(email string) *client {
	e.t.Helper()
	c := e.anon()
	page := c.get("/login", nil)
	m := csrfRE.FindStringSubmatch(page.body)
	if m == nil {
		e.t.Fatalf("login page has no CSRF field: %s", page.body)
	}
	r := c.post("/login", url.Values{"email": {email}, "password": {password}, "_csrf": {m[1]}}, nil)
	if r.status != http.StatusSeeOther {
		e.t.Fatalf("login as %s: status %d: %s", email, r.status, r.body)
	}
	home := c.get("/", nil)
	m = csrfRE.FindStringSubmatch(home.body)
	if m == nil {
		e.t.Fatalf("console page has no CSRF token (status %d)", home.status)
	}
	c.csrf = m[1]
	return c
}

type response struct {
	status int
	header http.Header
	body   string
}

func (c *client) do(method, path string, body io.Reader, header map[string]string) response {
	c.e.t.Helper()
	req, err := http.NewRequest(method, c.e.srv.URL+path, body)
	if err != nil {
		c.e.t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	res, err := c.http.Do(req)
	if err != nil {
		c.e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return response{status: res.StatusCode, header: res.Header, body: string(b)}
}

func (c *client) get(path string, header map[string]string) response {
	return c.do(http.MethodGet, path, nil, header)
}

func (c *client) post(path string, form url.Values, header map[string]string) response {
	h := map[string]string{"Content-Type": "application/x-www-form-urlencoded"}
	for k, v := range header {
		h[k] = v
	}
	return c.do(http.MethodPost, path, strings.NewReader(form.Encode()), h)
}

// htmx posts like htmx does: the CSRF token in the header.
func (c *client) htmx(path string, form url.Values) response {
	return c.post(path, form, map[string]string{"HX-Request": "true", "X-CSRF-Token": c.csrf})
}

// ingest stores an inbound message as a connector would.
func (e *env) ingest(channel inbox.Channel, externalID string, from inbox.Identity, name, text string) inbox.IngestResult {
	e.t.Helper()
	res, err := e.inbox.Ingest(context.Background(), inbox.Inbound{Channel: channel, ExternalID: externalID,
		From: []inbox.Identity{from}, Name: name, Text: text})
	if err != nil {
		e.t.Fatal(err)
	}
	return res
}

func email(addr string) inbox.Identity { return inbox.Identity{Kind: inbox.KindEmail, Value: addr} }
func whatsapp(n string) inbox.Identity { return inbox.Identity{Kind: inbox.KindWhatsApp, Value: n} }

// eventually polls cond until it holds or the deadline passes; tests wait on the hub this way
// instead of sleeping a guessed time.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

func regexpMust(p string) *regexp.Regexp { return regexp.MustCompile(p) }
