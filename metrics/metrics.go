// Package metrics exposes Serambi's counters to Prometheus. Each process builds its own registry
// (nothing is registered globally), so tests and several instances in one process never collide.
package metrics

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/serambi/serambi/inbox"
)

// Metrics implements inbox.Metrics and the web server's latency observer.
type Metrics struct {
	reg       *prometheus.Registry
	ingested  *prometheus.CounterVec
	attempts  *prometheus.CounterVec
	latency   *prometheus.HistogramVec
	depthFunc func(ctx context.Context) (int, error)
}

var _ inbox.Metrics = (*Metrics)(nil)

// New returns a registry with Serambi's metrics and the Go runtime and process collectors.
// depth reports the outbox depth at scrape time; nil leaves the gauge out.
func New(depth func(ctx context.Context) (int, error)) *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		ingested: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "serambi_messages_ingested_total",
			Help: "Inbound messages handed to the inbox, by channel; duplicate=true counts repeats that stored nothing.",
		}, []string{"channel", "duplicate"}),
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "serambi_outbox_attempts_total",
			Help: "Outbound send attempts, by channel and result (sent, retry, failed).",
		}, []string{"channel", "result"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "serambi_http_request_duration_seconds",
			Help:    "HTTP request latency, by method, route pattern and status code.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"method", "route", "status"}),
		depthFunc: depth,
	}
	m.reg.MustRegister(m.ingested, m.attempts, m.latency,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if depth != nil {
		m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "serambi_outbox_depth",
			Help: "Outbound messages waiting in the outbox (read from the store at scrape time).",
		}, m.depth))
	}
	return m
}

// depth is read at scrape time rather than kept as a counter, because several instances share
// one outbox and only the store knows its size. A store that does not answer shows as -1.
func (m *Metrics) depth() float64 {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	n, err := m.depthFunc(ctx)
	if err != nil {
		return -1
	}
	return float64(n)
}

// Ingested counts an inbound message.
func (m *Metrics) Ingested(ch inbox.Channel, duplicate bool) {
	m.ingested.WithLabelValues(string(ch), strconv.FormatBool(duplicate)).Inc()
}

// OutboxAttempt counts a send attempt.
func (m *Metrics) OutboxAttempt(ch inbox.Channel, result string) {
	m.attempts.WithLabelValues(string(ch), result).Inc()
}

// ObserveHTTP records one request. route is the pattern (/api/v1/conversations/:id), never the
// raw path, so that ids do not explode the number of series.
func (m *Metrics) ObserveHTTP(method, route string, status int, d time.Duration) {
	m.latency.WithLabelValues(method, route, strconv.Itoa(status)).Observe(d.Seconds())
}

// Handler serves the registry in the Prometheus exposition format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// Registry returns the registry, for other parts that add their own collectors.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }
