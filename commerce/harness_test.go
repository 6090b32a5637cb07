package commerce_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/serambi/serambi/bus"
	"github.com/serambi/serambi/commerce"
	"github.com/serambi/serambi/database/sqlite"
	"github.com/serambi/serambi/database/storetest"
	"github.com/serambi/serambi/inbox"
)

// harness is a commerce service on a real SQLite store, with the real inbox beside it, its HTTP
// routes mounted on an echo server, and every published event recorded.
type harness struct {
	t      testing.TB
	store  *sqlite.Store
	inbox  *inbox.Inbox
	svc    *commerce.Service
	e      *echo.Echo
	events *recorder
	clock  *storetest.Clock
	cfg    commerce.Config
}

// recorder is a bus.Publisher that keeps what was published, in order.
type recorder struct {
	mu     sync.Mutex
	events []bus.Event
}

func (r *recorder) Publish(_ context.Context, e bus.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
}

// changed lists the customers TopicChanged was published for, in order, and forgets them.
func (r *recorder) changed() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, e := range r.events {
		if e.Topic == commerce.TopicChanged {
			out = append(out, e.CustomerID)
		}
	}
	r.events = nil
	return out
}

const (
	shopifySecret = "shpss_test_secret"
	wooSecret     = "wc_test_secret"
)

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func newHarness(t *testing.T, configure ...func(*commerce.Config)) *harness {
	t.Helper()
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "serambi.db"), quietLog())
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	return newHarnessOn(t, st, configure...)
}

func newHarnessOn(t testing.TB, st *sqlite.Store, configure ...func(*commerce.Config)) *harness {
	t.Helper()
	h := &harness{t: t, store: st, events: &recorder{}, clock: storetest.NewClock(storetest.Base())}
	h.cfg = commerce.Config{
		Currency:    "IDR",
		Shopify:     commerce.ShopifyConfig{WebhookSecret: shopifySecret, Shop: "toko-batik.myshopify.com"},
		WooCommerce: commerce.WooConfig{WebhookSecret: wooSecret, StoreURL: "https://toko.example.id"},
		ActionTeams: []string{"Refunds"},
	}
	for _, c := range configure {
		c(&h.cfg)
	}
	h.inbox = inbox.New(st, h.events, inbox.NewNormalizer("ID"), h.clock.Now, quietLog())
	var err error
	h.svc, err = commerce.New(h.cfg, commerce.Deps{Store: st, Customers: st, Timeline: h.inbox, Events: h.events,
		Normalizer: inbox.NewNormalizer("ID"), Now: h.clock.Now, Log: quietLog()})
	if err != nil {
		t.Fatalf("commerce.New: %v", err)
	}
	h.e = echo.New()
	h.svc.RegisterAPI(h.e.Group("/api/v1"))
	h.svc.RegisterWebhooks(h.e.Group("/webhooks"))
	return h
}

// do sends a request to the harness's routes.
func (h *harness) do(method, path string, body []byte, header http.Header) *httptest.ResponseRecorder {
	h.t.Helper()
	req := httptest.NewRequest(method, path, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header[k] = v
	}
	rec := httptest.NewRecorder()
	h.e.ServeHTTP(rec, req)
	return rec
}

func testdata(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// decode reads a JSON answer into a generic map.
func decode(t *testing.T, rec *httptest.ResponseRecorder) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil {
		t.Fatalf("answer is not JSON: %v: %s", err, rec.Body.String())
	}
	return m
}

// field reads a dotted path ("error.code", "results.0.id") out of a decoded answer.
func field(m map[string]any, path string) any {
	var cur any = m
	for _, p := range strings.Split(path, ".") {
		switch v := cur.(type) {
		case map[string]any:
			cur = v[p]
		case []any:
			i := int(p[0] - '0')
			if i >= len(v) {
				return nil
			}
			cur = v[i]
		default:
			return nil
		}
	}
	return cur
}

// customerByEmail is the customer holding a verified email, "" when nobody does.
func (h *harness) customerByEmail(email string) string {
	id, err := h.store.CustomerIDByIdentity(h.t.Context(), inbox.KindEmail, email)
	if err != nil {
		return ""
	}
	return id
}

func (h *harness) order(id string) commerce.Order {
	h.t.Helper()
	o, err := h.store.OrderByID(h.t.Context(), id)
	if err != nil {
		h.t.Fatalf("order %s: %v", id, err)
	}
	return o
}

func (h *harness) hasOrder(id string) bool {
	_, err := h.store.OrderByID(h.t.Context(), id)
	return err == nil
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

func at(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t.UTC()
}

func sortedCopy(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}
