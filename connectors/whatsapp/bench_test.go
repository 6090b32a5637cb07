package whatsapp

import (
	"bytes"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/serambi/serambi/connectors/whatsapp/whatsappfake"
)

// BenchmarkWebhookIngest posts distinct signed deliveries (one text message each, as Meta sends
// them) from 50 concurrent senders through a real HTTP server and echo into the real SQLite
// store: signature check, decode, identity resolution, storage, 200. 1,000 customers write.
// It reports messages per second and the 99th percentile latency of a delivery.
func BenchmarkWebhookIngest(b *testing.B) {
	const senders, customers = 50, 1000
	e := newEnv(b)
	client := &http.Client{Transport: &http.Transport{MaxIdleConns: senders, MaxIdleConnsPerHost: senders}}
	// Bodies are built and signed before the clock starts: Meta's side of the work.
	bodies := make([][]byte, b.N)
	sigs := make([]string, b.N)
	for i := range b.N {
		wa := fmt.Sprintf("62812%08d", i%customers)
		bodies[i] = fmt.Appendf(nil, `{"object":"whatsapp_business_account","entry":[{"id":"102290129340398","changes":[{"value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550783881","phone_number_id":"%s"},"contacts":[{"profile":{"name":"Pelanggan %d"},"wa_id":"%s"}],"messages":[{"from":"%s","id":"wamid.BENCH%010d","timestamp":"1749416383","type":"text","text":{"body":"Halo, pesanan saya nomor %d belum sampai, bisa dicek?"}}]},"field":"messages"}]}]}`,
			testPhoneID, i%customers, wa, wa, i, i)
		sigs[i] = whatsappfake.Sign(testAppSecret, bodies[i])
	}
	lat := make([]time.Duration, b.N)
	var next, failed atomic.Int64
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
				req, _ := http.NewRequest(http.MethodPost, e.hook, bytes.NewReader(bodies[i]))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set(SignatureHeader, sigs[i])
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
