package metrics_test

import (
	"context"
	"errors"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/serambi/serambi/inbox"
	"github.com/serambi/serambi/metrics"
)

func scrape(t *testing.T, m *metrics.Metrics) string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	b, _ := io.ReadAll(rec.Body)
	return string(b)
}

func TestExposition(t *testing.T) {
	m := metrics.New(func(context.Context) (int, error) { return 7, nil })
	m.Ingested(inbox.ChannelAPI, false)
	m.Ingested(inbox.ChannelAPI, false)
	m.Ingested(inbox.ChannelAPI, true)
	m.OutboxAttempt(inbox.ChannelEmail, "retry")
	m.ObserveHTTP("GET", "/api/v1/conversations/:id", 200, 30*time.Millisecond)
	out := scrape(t, m)
	for _, want := range []string{
		`serambi_messages_ingested_total{channel="api",duplicate="false"} 2`,
		`serambi_messages_ingested_total{channel="api",duplicate="true"} 1`,
		`serambi_outbox_attempts_total{channel="email",result="retry"} 1`,
		`serambi_outbox_depth 7`,
		`serambi_http_request_duration_seconds_count{method="GET",route="/api/v1/conversations/:id",status="200"} 1`,
		`serambi_http_request_duration_seconds_bucket{method="GET",route="/api/v1/conversations/:id",status="200",le="0.05"} 1`,
		`serambi_http_request_duration_seconds_bucket{method="GET",route="/api/v1/conversations/:id",status="200",le="0.025"} 0`,
		`go_goroutines`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("exposition lacks %q", want)
		}
	}
}

func TestDepthOfAnUnreachableStore(t *testing.T) {
	m := metrics.New(func(context.Context) (int, error) { return 0, errors.New("down") })
	if out := scrape(t, m); !strings.Contains(out, "serambi_outbox_depth -1") {
		t.Errorf("outbox depth with a failing store not reported as -1:\n%s", out)
	}
}

func TestRegistriesAreIndependent(t *testing.T) {
	a, b := metrics.New(nil), metrics.New(nil)
	a.Ingested(inbox.ChannelEmail, false)
	if out := scrape(t, b); strings.Contains(out, `channel="email"`) {
		t.Error("a count on one registry shows in another; want no shared global state")
	}
	if out := scrape(t, a); strings.Contains(out, "serambi_outbox_depth") {
		t.Error("depth gauge registered without a depth function")
	}
}
