package sqlite

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/serambi/serambi/bus"
	"github.com/serambi/serambi/inbox"
)

// The benchmarks report latency percentiles next to ns/op, because the targets are about the
// tail: run them with
//
//	go test -run '^$' -bench . -benchtime 20000x ./database/sqlite/
//
// The read benchmarks seed 2,000 conversations of 10 messages; SERAMBI_BENCH_LARGE=1 seeds the
// target size, 100,000 conversations and 1,000,000 messages (a few minutes).

type latencies struct {
	mu  sync.Mutex
	d   []time.Duration
	cpu time.Duration // process CPU time when measuring started
}

// processCPU is the CPU time the process has used. Reported per operation it shows the cost of
// the work even on a machine busy with other things, where latencies mostly measure waiting.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func (l *latencies) start() time.Time {
	l.cpu = processCPU()
	return time.Now()
}

func (l *latencies) add(d []time.Duration) {
	l.mu.Lock()
	l.d = append(l.d, d...)
	l.mu.Unlock()
}

func (l *latencies) report(b *testing.B, elapsed time.Duration) {
	if len(l.d) == 0 {
		return
	}
	slices.Sort(l.d)
	pct := func(p float64) float64 {
		return float64(l.d[min(len(l.d)-1, int(float64(len(l.d))*p))].Microseconds()) / 1000
	}
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(float64(l.d[len(l.d)-1].Microseconds())/1000, "max-ms")
	b.ReportMetric(float64(len(l.d))/elapsed.Seconds(), "ops/s")
	b.ReportMetric(float64((processCPU()-l.cpu).Microseconds())/float64(len(l.d)), "cpu-µs/op")
}

// BenchmarkIngestParallel ingests new messages from 2,000 customers through inbox.Ingest with 50
// concurrent callers into an empty store, the shape of the ingest target (≥ 5,000 messages/s,
// p99 < 25 ms).
func BenchmarkIngestParallel(b *testing.B) {
	benchIngest(b, openTemp(b), 2000)
}

func benchIngest(b *testing.B, s *Store, customers int) {
	x := inbox.New(s, bus.NewLocal(testLog(), 0), inbox.NewNormalizer("ID"), time.Now, testLog())
	var seq atomic.Int64
	var lat latencies
	st0 := s.WriterStats()
	b.SetParallelism(max(1, 50/runtime.GOMAXPROCS(0)))
	b.ResetTimer()
	start := lat.start()
	b.RunParallel(func(pb *testing.PB) {
		local := make([]time.Duration, 0, 1024)
		for pb.Next() {
			n := seq.Add(1)
			in := inbox.Inbound{Channel: inbox.ChannelEmail, ExternalID: fmt.Sprintf("<%d.%d@bench.serambi>", start.UnixNano(), n),
				From:    []inbox.Identity{{Kind: inbox.KindEmail, Value: fmt.Sprintf("p%d@example.id", n%int64(customers))}},
				Subject: "Pesanan", Text: "Halo, pesanan saya nomor 12345 belum sampai. Mohon dicek ya, terima kasih."}
			t0 := time.Now()
			if _, err := x.Ingest(context.Background(), in); err != nil {
				b.Error(err)
				return
			}
			local = append(local, time.Since(t0))
		}
		lat.add(local)
	})
	elapsed := time.Since(start)
	b.StopTimer()
	lat.report(b, elapsed)
	st := s.WriterStats()
	b.ReportMetric(float64(st.Writes-st0.Writes)/float64(max(st.Commits-st0.Commits, 1)), "writes/commit")
	b.ReportMetric(float64(st.Busy-st0.Busy)/float64(elapsed), "writer-busy")
	b.ReportMetric(float64(st.Committing-st0.Committing)/float64(elapsed), "commit-busy")
}

// seedSize is the read benchmarks' data set: conversations × messages each.
func seedSize() (conversations, perConversation int) {
	if os.Getenv("SERAMBI_BENCH_LARGE") == "1" {
		return 100_000, 10
	}
	return 2_000, 10
}

// seeded opens a store filled straight through the writer in large transactions: the rows are
// those Ingest writes, made far faster than through it. Customer i has the address p<i>@example.id.
func seeded(b *testing.B) (*Store, []string) {
	s := openTemp(b)
	convs, per := seedSize()
	rng := rand.New(rand.NewPCG(1, 2))
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	statuses := []inbox.Status{inbox.StatusOpen, inbox.StatusOpen, inbox.StatusOpen, inbox.StatusOpen,
		inbox.StatusPending, inbox.StatusPending, inbox.StatusSnoozed, inbox.StatusResolved, inbox.StatusResolved, inbox.StatusResolved}
	ids := make([]string, 0, convs)
	const chunk = 2000 // conversations per transaction
	for lo := 0; lo < convs; lo += chunk {
		err := s.write(context.Background(), func(w *writer) error {
			for i := lo; i < min(lo+chunk, convs); i++ {
				custID, convID := inbox.NewID(), inbox.NewID()
				ids = append(ids, convID)
				created := base.Add(time.Duration(i) * time.Second)
				if _, err := w.exec(`INSERT INTO customers (id, name, created_at, updated_at) VALUES (?, ?, ?, ?)`,
					custID, fmt.Sprint("Pelanggan ", i), ts(created), ts(created)); err != nil {
					return err
				}
				if err := insertIdentity(w, custID, inbox.Identity{Kind: inbox.KindEmail, Value: fmt.Sprintf("p%d@example.id", i), Verified: true, AddedAt: created}); err != nil {
					return err
				}
				last := created
				for j := 0; j < per; j++ {
					last = last.Add(time.Duration(1+rng.IntN(3600)) * time.Second)
					m := inbox.Message{ID: inbox.NewID(), ConversationID: convID, CustomerID: custID, Direction: inbox.DirectionIn,
						Channel: inbox.ChannelEmail, ExternalID: fmt.Sprintf("<%d.%d@seed>", i, j), Subject: "Pesanan",
						Text: "Halo, pesanan saya nomor 12345 belum sampai. Mohon dicek ya, terima kasih banyak.", AuthorID: custID, CreatedAt: last}
					vals, err := msgValues(m)
					if err != nil {
						return err
					}
					if _, err := w.exec(`INSERT INTO messages (`+msgCols+`) VALUES (`+placeholders(msgColCount)+`)`, vals...); err != nil {
						return err
					}
				}
				c := inbox.Conversation{ID: convID, CustomerID: custID, Status: statuses[rng.IntN(len(statuses))], Tags: []string{},
					Channels: []inbox.Channel{inbox.ChannelEmail}, LastChannel: inbox.ChannelEmail, LastMessageAt: last, LastInboundAt: last,
					Preview: "Halo, pesanan saya", Unread: per, CreatedAt: created, UpdatedAt: last}
				if rng.IntN(3) == 0 {
					c.AssigneeID = fmt.Sprint("agent-", rng.IntN(20))
				}
				vals, err := convValues(c)
				if err != nil {
					return err
				}
				if _, err := w.exec(`INSERT INTO conversations (`+strings.Join(convColumns, ", ")+`) VALUES (`+placeholders(len(convColumns))+`)`, vals...); err != nil {
					return err
				}
				if err := writeLabels(w, c, nil, c.Channels); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatalf("seed: %v", err)
		}
	}
	if _, err := s.ckdb.ExecContext(context.Background(), "PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
		b.Fatalf("checkpoint: %v", err)
	}
	return s, ids
}

// BenchmarkSeeded runs the read targets, and ingest once more, on a seeded store: the newest 50
// messages of a random conversation (target p99 < 5 ms at 1,000,000 messages) and pages of 50
// conversations, following the cursor up to five pages deep (target p99 < 10 ms for open ones at
// 100,000 conversations).
func BenchmarkSeeded(b *testing.B) {
	s, ids := seeded(b)
	b.Run("ListMessages", func(b *testing.B) {
		rng := rand.New(rand.NewPCG(3, 4))
		var lat latencies
		local := make([]time.Duration, 0, b.N)
		start := lat.start()
		for b.Loop() {
			t0 := time.Now()
			ms, err := s.ListMessages(context.Background(), ids[rng.IntN(len(ids))], inbox.Cursor{}, 50)
			if err != nil || len(ms) == 0 {
				b.Fatalf("list: %d messages, %v", len(ms), err)
			}
			local = append(local, time.Since(t0))
		}
		lat.add(local)
		lat.report(b, time.Since(start))
	})
	for _, tc := range []struct {
		name string
		f    inbox.ConversationFilter
	}{
		{"open", inbox.ConversationFilter{Statuses: []inbox.Status{inbox.StatusOpen}, Limit: 50}},
		{"open or pending", inbox.ConversationFilter{Statuses: []inbox.Status{inbox.StatusOpen, inbox.StatusPending}, Limit: 50}},
		{"everything", inbox.ConversationFilter{Limit: 50}},
		{"unassigned open", inbox.ConversationFilter{Statuses: []inbox.Status{inbox.StatusOpen}, Assignee: inbox.AssigneeNone, Limit: 50}},
		{"one agent", inbox.ConversationFilter{Assignee: "agent-7", Limit: 50}},
		{"channel email", inbox.ConversationFilter{Channel: inbox.ChannelEmail, Limit: 50}},
	} {
		b.Run("ListConversations/"+tc.name, func(b *testing.B) {
			var lat latencies
			local := make([]time.Duration, 0, b.N)
			f := tc.f
			page := 0
			start := lat.start()
			for b.Loop() {
				t0 := time.Now()
				cs, err := s.ListConversations(context.Background(), f)
				if err != nil {
					b.Fatalf("list: %v", err)
				}
				local = append(local, time.Since(t0))
				page++
				if len(cs) < f.Limit || page == 5 {
					f.After, page = inbox.Cursor{}, 0
				} else {
					f.After = inbox.Cursor{At: cs[len(cs)-1].LastMessageAt, ID: cs[len(cs)-1].ID}
				}
			}
			lat.add(local)
			lat.report(b, time.Since(start))
		})
	}
	// Customer search reads every customer row (a leading-wildcard LIKE): a name that matches
	// many (a page of 50), and an address that matches one.
	for _, q := range []string{"Pelanggan 12", "p4242@example"} {
		b.Run("FindCustomers/"+q, func(b *testing.B) {
			var lat latencies
			local := make([]time.Duration, 0, b.N)
			start := lat.start()
			for b.Loop() {
				t0 := time.Now()
				cs, err := s.FindCustomers(context.Background(), q, inbox.MaxFound)
				if err != nil || len(cs) == 0 {
					b.Fatalf("find %q: %d, %v", q, len(cs), err)
				}
				local = append(local, time.Since(t0))
			}
			lat.add(local)
			lat.report(b, time.Since(start))
		})
	}
	b.Run("IngestParallel", func(b *testing.B) { benchIngest(b, s, len(ids)) })
}
