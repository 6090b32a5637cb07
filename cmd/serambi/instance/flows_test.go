package instance_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// pages walks a list to its end and returns every item's id; it fails on a page over limit.
func pages(t *testing.T, e *env, path, cursorParam string, limit int) (ids []string, pageSizes []int) {
	t.Helper()
	cursor := ""
	for n := 0; ; n++ {
		if n > 100 {
			t.Fatal("the list never ends")
		}
		p := fmt.Sprintf("%s%slimit=%d", path, map[bool]string{true: "&", false: "?"}[strings.Contains(path, "?")], limit)
		if cursor != "" {
			p += "&" + cursorParam + "=" + cursor
		}
		got := e.must(200, "GET", p, "")
		items := got["items"].([]any)
		if len(items) > limit {
			t.Fatalf("page of %d items, limit %d", len(items), limit)
		}
		pageSizes = append(pageSizes, len(items))
		for _, it := range items {
			ids = append(ids, it.(map[string]any)["id"].(string))
		}
		next, _ := got["nextCursor"].(string)
		if next == "" {
			return ids, pageSizes
		}
		cursor = next
	}
}

func TestPagination(t *testing.T) {
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			e := startEnv(t, backend)
			var convs []string
			for i := range 7 {
				e.ingest("c", fmt.Sprintf("p%d", i), fmt.Sprintf(`{"email":"c%d@example.id"}`, i), "hi")
				convs = append(convs, e.vars["c.conversation"])
			}
			slices.Reverse(convs) // newest activity first
			got, sizes := pages(t, e, "/api/v1/conversations", "cursor", 3)
			if !slices.Equal(got, convs) {
				t.Errorf("conversations over pages %v\nwant %v (every one once, newest first)", got, convs)
			}
			if !slices.Equal(sizes, []int{3, 3, 1}) {
				t.Errorf("page sizes %v, want [3 3 1] with no cursor on the last", sizes)
			}
			// An exact multiple ends without an empty page.
			if _, sizes := pages(t, e, "/api/v1/conversations", "cursor", 7); !slices.Equal(sizes, []int{7}) {
				t.Errorf("page sizes with limit 7: %v, want [7]", sizes)
			}

			// A conversation's timeline, with a message arriving between pages.
			e.ingest("t", "t0", `{"email":"t@example.id"}`, "m0")
			for i := 1; i < 5; i++ {
				e.must(201, "POST", "/api/v1/messages", fmt.Sprintf(`{"externalId":"t%d","from":{"email":"t@example.id"},"text":"m%d"}`, i, i))
			}
			conv := e.vars["t.conversation"]
			first := e.must(200, "GET", "/api/v1/conversations/"+conv+"/messages?limit=2", "")
			e.must(201, "POST", "/api/v1/messages", `{"externalId":"t5","from":{"email":"t@example.id"},"text":"m5"}`)
			var texts []string
			for _, it := range first["items"].([]any) {
				texts = append(texts, it.(map[string]any)["text"].(string))
			}
			cursor := first["nextCursor"].(string)
			for cursor != "" {
				page := e.must(200, "GET", "/api/v1/conversations/"+conv+"/messages?limit=2&before="+cursor, "")
				for _, it := range page["items"].([]any) {
					texts = append(texts, it.(map[string]any)["text"].(string))
				}
				cursor, _ = page["nextCursor"].(string)
			}
			if want := []string{"m4", "m3", "m2", "m1", "m0"}; !slices.Equal(texts, want) {
				t.Errorf("timeline over pages %v, want %v (no gap, no repeat)", texts, want)
			}
		})
	}
}

// TestCallbackDelivery: a reply goes to the callback URL signed; a 503 with Retry-After is
// retried, and the message ends as sent.
func TestCallbackDelivery(t *testing.T) {
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			e := startEnv(t, backend)
			e.receiver.plan = []int{http.StatusServiceUnavailable, http.StatusInternalServerError}
			e.ingest("c", "cb1", `{"email":"siti@example.id","name":"Siti"}`, "Halo")
			reply := e.must(201, "POST", "/api/v1/conversations/{c.conversation}/messages", `{"text":"Pesanan sudah dikirim"}`)
			id := reply["id"].(string)
			eventually(t, "the callback got three deliveries", func() bool { return len(e.receiver.deliveries()) >= 3 })
			eventually(t, "the reply is marked sent", func() bool {
				for _, m := range timeline(t, e, e.vars["c.conversation"]) {
					if m["id"] == id {
						return m["delivery"] == "sent"
					}
				}
				return false
			})
			got := e.receiver.deliveries()
			e.receiver.mu.Lock()
			bad := e.receiver.badSigns
			e.receiver.mu.Unlock()
			if bad != 0 {
				t.Errorf("%d deliveries had a bad signature", bad)
			}
			for i, cb := range got {
				if cb.Event != "message.created" || cb.Message.ID != id || cb.Message.Text != "Pesanan sudah dikirim" ||
					cb.Customer.ID != e.vars["c.customer"] || cb.Attempt != i+1 {
					t.Errorf("delivery %d: %+v", i, cb)
				}
			}
			if len(got) != 3 {
				t.Errorf("%d deliveries, want 3 (two refused, one accepted)", len(got))
			}
			r := e.do("GET", "/metrics", nil, nil)
			for _, want := range []string{
				`serambi_outbox_attempts_total{channel="api",result="retry"} 2`,
				`serambi_outbox_attempts_total{channel="api",result="sent"} 1`,
				`serambi_outbox_depth 0`,
			} {
				if !strings.Contains(string(r.body), want) {
					t.Errorf("/metrics lacks %q", want)
				}
			}
		})
	}
}

// TestCallbackRefusalIsPermanent: a 4xx other than 408/429 fails the reply at once, with the reason.
func TestCallbackRefusalIsPermanent(t *testing.T) {
	e := startEnv(t, "sqlite")
	e.receiver.plan = []int{http.StatusUnprocessableEntity}
	e.ingest("c", "cb2", `{"email":"siti@example.id"}`, "Halo")
	reply := e.must(201, "POST", "/api/v1/conversations/{c.conversation}/messages", `{"text":"x"}`)
	eventually(t, "the reply is marked failed", func() bool {
		for _, m := range timeline(t, e, e.vars["c.conversation"]) {
			if m["id"] == reply["id"] {
				return m["delivery"] == "failed" && strings.Contains(fmt.Sprint(m["deliveryError"]), "422")
			}
		}
		return false
	})
	if n := len(e.receiver.deliveries()); n != 1 {
		t.Errorf("%d deliveries, want 1: a refusal is not retried", n)
	}
}

// TestGracefulShutdown: requests in flight when shutdown starts finish; new ones are refused.
func TestGracefulShutdown(t *testing.T) {
	e := startEnv(t, "sqlite")
	const n = 20
	var wg sync.WaitGroup
	statuses := make(chan int, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := http.NewRequest("POST", e.base+"/api/v1/messages",
				strings.NewReader(fmt.Sprintf(`{"externalId":"s%d","from":{"email":"s%d@example.id"},"text":"x"}`, i, i)))
			if err != nil {
				t.Error(err)
				return
			}
			r.Header.Set("Authorization", "Bearer "+e.key)
			resp, err := http.DefaultClient.Do(r)
			if err != nil {
				statuses <- 0 // refused: shutdown had begun before it connected
				return
			}
			resp.Body.Close()
			statuses <- resp.StatusCode
		}()
	}
	time.Sleep(5 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.in.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	wg.Wait()
	close(statuses)
	for s := range statuses {
		if s != 0 && s != 201 {
			t.Errorf("a request during shutdown got %d; want 201, or a refused connection", s)
		}
	}
	if _, err := http.Get(e.base + "/healthz"); err == nil {
		t.Error("the server still answers after shutdown")
	}
}
