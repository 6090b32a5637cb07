// Command readpath measures the two reads agents do all day, through the HTTP API, on a large
// SQLite store: the newest 50 messages of a conversation, and a page of 50 open conversations.
// The store is seeded once (in-process, through inbox.Ingest) and kept for later runs.
//
//	go run ./bench/readpath -messages 1000000 -conversations 100000 -dir /tmp/serambi-read-1m
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/serambi/serambi/bench/harness"
	"github.com/serambi/serambi/bus"
	"github.com/serambi/serambi/database/sqlite"
	"github.com/serambi/serambi/inbox"
)

func main() {
	messages := flag.Int("messages", 1_000_000, "messages to seed")
	convs := flag.Int("conversations", 100_000, "conversations (customers) to spread them over")
	dir := flag.String("dir", filepath.Join(os.TempDir(), "serambi-readpath"), "data dir; reused when already seeded")
	c := flag.Int("c", 10, "concurrent readers")
	n := flag.Int("n", 20000, "requests per measurement")
	serverEnv := flag.String("server-env", "", "more environment for the server, KEY=VALUE,… (e.g. GOMAXPROCS=2)")
	flag.Parse()
	ctx := context.Background()
	if err := seed(ctx, *dir, *messages, *convs); err != nil {
		log.Fatal(err)
	}
	srv, err := harness.Start(ctx, *dir, harness.EnvList(*serverEnv)...)
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Stop()
	ids := conversationIDs(srv, 2000)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}}
	fmt.Printf("store: %d messages in %d conversations; %d concurrent readers, %d requests each\n", *messages, *convs, *c, *n)
	lat := measure(client, srv, *c, *n, func(i int) string {
		return fmt.Sprintf("/api/v1/conversations/%s/messages?limit=50", ids[i%len(ids)])
	})
	fmt.Printf("newest 50 messages of a conversation   %s\n", lat.Summary())
	lat = measure(client, srv, *c, *n, func(int) string { return "/api/v1/conversations?status=open&limit=50" })
	fmt.Printf("list page of 50 open conversations     %s\n", lat.Summary())
}

func seed(ctx context.Context, dir string, messages, convs int) error {
	marker := filepath.Join(dir, fmt.Sprintf("seeded-%d-%d", messages, convs))
	if _, err := os.Stat(marker); err == nil {
		return nil
	}
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	st, err := sqlite.Open(ctx, filepath.Join(dir, "serambi.db"), logger)
	if err != nil {
		return err
	}
	defer st.Close()
	x := inbox.New(st, bus.NewLocal(logger, 1), inbox.NewNormalizer("ID"), time.Now, logger)
	var next atomic.Int64
	var wg sync.WaitGroup
	t0 := time.Now()
	for w := 0; w < 32; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= messages {
					return
				}
				_, err := x.Ingest(ctx, inbox.Inbound{
					Channel: inbox.ChannelAPI, ExternalID: fmt.Sprintf("seed-%d", i),
					From: []inbox.Identity{{Kind: inbox.KindEmail, Value: fmt.Sprintf("c%d@seed.example", i%convs)}},
					Text: fmt.Sprintf("Seeded message %d: apakah ukuran M masih ada?", i),
				})
				if err != nil {
					log.Fatalf("seed message %d: %v", i, err)
				}
				if i%100000 == 0 && i > 0 {
					fmt.Fprintf(os.Stderr, "seeded %d messages (%.0f/s)\n", i, float64(i)/time.Since(t0).Seconds())
				}
			}
		}()
	}
	wg.Wait()
	return os.WriteFile(marker, nil, 0o644)
}

func conversationIDs(srv *harness.Server, want int) []string {
	var ids []string
	cursor := ""
	for len(ids) < want {
		var page struct {
			Items      []struct{ ID string } `json:"items"`
			NextCursor string                `json:"nextCursor"`
		}
		get(srv, "/api/v1/conversations?limit=100&cursor="+cursor, &page)
		for _, it := range page.Items {
			ids = append(ids, it.ID)
		}
		if page.NextCursor == "" {
			break
		}
		cursor = page.NextCursor
	}
	rand.Shuffle(len(ids), func(i, j int) { ids[i], ids[j] = ids[j], ids[i] })
	return ids
}

func get(srv *harness.Server, path string, into any) {
	req, _ := http.NewRequest(http.MethodGet, srv.URL+path, nil)
	req.Header.Set("Authorization", "Bearer "+srv.Key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		log.Fatalf("GET %s: %s %s", path, resp.Status, b)
	}
	if err := json.NewDecoder(resp.Body).Decode(into); err != nil {
		log.Fatal(err)
	}
}

func measure(client *http.Client, srv *harness.Server, c, n int, path func(int) string) harness.Latencies {
	var mu sync.Mutex
	var all harness.Latencies
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < c; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine harness.Latencies
			for {
				i := int(next.Add(1))
				if i > n {
					break
				}
				req, _ := http.NewRequest(http.MethodGet, srv.URL+path(i), nil)
				req.Header.Set("Authorization", "Bearer "+srv.Key)
				t0 := time.Now()
				resp, err := client.Do(req)
				if err != nil {
					log.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					log.Fatalf("GET %s: %s", path(i), resp.Status)
				}
				mine = append(mine, time.Since(t0))
			}
			mu.Lock()
			all = append(all, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	return all
}
