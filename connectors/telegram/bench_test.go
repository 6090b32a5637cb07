package telegram

import (
	"bytes"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkWebhookIngest posts distinct updates to the webhook from 50 concurrent senders, as
// Telegram does with max_connections=50, through a real HTTP server and echo, with the secret
// check, into the real SQLite store. 1,000 customers write; each update is a new message.
// It reports messages per second and the 99th percentile latency of a delivery.
func BenchmarkWebhookIngest(b *testing.B) {
	const senders, customers = 50, 1000
	e := newEnv(b, func(c *Config) { c.Mode = ModeWebhook })
	hook := webhookServer(b, e.connector())
	client := &http.Client{Transport: &http.Transport{MaxIdleConns: senders, MaxIdleConnsPerHost: senders}}
	lat := make([]time.Duration, b.N)
	var next atomic.Int64
	var failed atomic.Int64
	b.ResetTimer()
	cpu0 := cpuTime()
	start := time.Now()
	var wg sync.WaitGroup
	for range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= b.N {
					return
				}
				user := 1_000_000 + i%customers
				body := fmt.Appendf(nil, `{"update_id":%d,"message":{"message_id":%d,"from":{"id":%d,"is_bot":false,"first_name":"Pelanggan","last_name":"%d","language_code":"id"},"chat":{"id":%d,"first_name":"Pelanggan","type":"private"},"date":1732400000,"text":"Halo, pesanan saya nomor %d belum sampai, bisa dicek?"}}`,
					i+1, i+1, user, user, user, i)
				req, _ := http.NewRequest(http.MethodPost, hook, bytes.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set(SecretHeader, secretWebhook)
				t0 := time.Now()
				resp, err := client.Do(req)
				if err != nil || resp.StatusCode != http.StatusOK {
					failed.Add(1)
				}
				if resp != nil {
					resp.Body.Close()
				}
				lat[i] = time.Since(t0)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	cpu := cpuTime() - cpu0
	b.StopTimer()
	if n := failed.Load(); n > 0 {
		b.Fatalf("%d deliveries failed", n)
	}
	if got := e.ingest.stored.Load(); got != int64(b.N) {
		b.Fatalf("stored %d of %d", got, b.N)
	}
	slices.Sort(lat)
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msgs/s")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	// CPU per message, client and server together (both run in this process).
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/msg")
}
