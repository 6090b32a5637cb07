// Command ingest measures message ingest into a real serambi process: closed-loop clients at each
// concurrency level post new messages and it reports messages/s and latency. -channel picks the
// door: the REST API (POST /api/v1/messages), or the WhatsApp or Telegram webhook, signed as Meta
// and Telegram sign them, so the signature checks are in the measurement.
//
//	go run ./bench/ingest -c 10,50 -d 15s            # builds and starts its own server on SQLite
//	go run ./bench/ingest -channel whatsapp -c 50     # the WhatsApp webhook
//	go run ./bench/ingest -url http://host:8080 -key srb_…  # an existing server (API only)
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/serambi/serambi/bench/harness"
)

func main() {
	url := flag.String("url", "", "server to load; empty builds and starts one on a fresh data dir")
	key := flag.String("key", "", "API key for -url")
	levels := flag.String("c", "10,50", "concurrency levels, comma-separated")
	dur := flag.Duration("d", 15*time.Second, "duration of each level")
	customers := flag.Int("customers", 5000, "distinct senders the messages come from")
	mongo := flag.String("mongodb", "", "with no -url: run the server on this MongoDB URI instead of SQLite")
	channel := flag.String("channel", "api", "api, whatsapp or telegram")
	serverEnv := flag.String("server-env", "", "with no -url: more environment for the server, KEY=VALUE,… (e.g. GOMAXPROCS=2)")
	flag.Parse()
	ctx := context.Background()
	door, ok := doors[*channel]
	if !ok {
		log.Fatalf("unknown -channel %q: api, whatsapp or telegram", *channel)
	}
	if *url != "" && *channel != "api" {
		log.Fatal("-url works with -channel api only: the webhooks need the secrets this tool configures")
	}
	if *url == "" {
		var env []string
		if *mongo != "" {
			env = append(env, "SERAMBI_MONGODB_URI="+*mongo)
		}
		env = append(env, harness.EnvList(*serverEnv)...)
		if door.setup != nil {
			more, stop, err := door.setup()
			if err != nil {
				log.Fatal(err)
			}
			defer stop()
			env = append(env, more...)
		}
		srv, err := harness.Start(ctx, "", env...)
		if err != nil {
			log.Fatal(err)
		}
		defer srv.Stop()
		*url, *key = srv.URL, srv.Key
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1024}, Timeout: 30 * time.Second}
	var seq atomic.Int64
	fmt.Printf("%-6s %10s %8s  %s\n", "c", "msgs/s", "errors", "latency")
	for _, f := range strings.Split(*levels, ",") {
		c, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || c < 1 {
			log.Fatalf("bad concurrency %q", f)
		}
		lat, n, errs := run(client, door, *url, *key, c, *dur, *customers, &seq)
		fmt.Printf("%-6d %10.0f %8d  %s\n", c, float64(n)/dur.Seconds(), errs, lat.Summary())
	}
}

func run(client *http.Client, door door, url, key string, c int, d time.Duration, customers int, seq *atomic.Int64) (harness.Latencies, int, int) {
	var mu sync.Mutex
	var all harness.Latencies
	var errs atomic.Int64
	deadline := time.Now().Add(d)
	var wg sync.WaitGroup
	for w := 0; w < c; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine harness.Latencies
			for time.Now().Before(deadline) {
				req := door.request(url, key, seq.Add(1), int64(customers))
				t0 := time.Now()
				resp, err := client.Do(req)
				if err != nil {
					errs.Add(1)
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != door.status {
					errs.Add(1)
					continue
				}
				mine = append(mine, time.Since(t0))
			}
			mu.Lock()
			all = append(all, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	return all, len(all), int(errs.Load())
}
