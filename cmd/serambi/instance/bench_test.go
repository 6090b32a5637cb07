package instance_test

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
)

// BenchmarkAPIIngest posts new messages through POST /api/v1/messages on the real server (SQLite,
// in-process, over loopback HTTP) from parallel clients: the whole ingest path, API key check,
// JSON, identity resolution, storage and the bus included.
//
//	go test -run '^$' -bench APIIngest -benchtime 20000x -cpu 2 ./cmd/serambi/instance/
func BenchmarkAPIIngest(b *testing.B) {
	e := startEnvWith(b, "sqlite", map[string]string{"SERAMBI_LOG_LEVEL": "warn"})
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}}
	var seq atomic.Int64
	b.SetParallelism(25) // 25 × GOMAXPROCS(2) = 50 concurrent clients
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := seq.Add(1)
			body := fmt.Sprintf(`{"externalId":"b-%d","from":{"email":"c%d@bench.example"},"text":"Halo, pesanan #%d?"}`, i, i%5000, i)
			req, _ := http.NewRequest(http.MethodPost, e.base+"/api/v1/messages", strings.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+e.key)
			req.Header.Set("Content-Type", "application/json")
			resp, err := client.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusCreated {
				b.Errorf("status %d", resp.StatusCode)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}
