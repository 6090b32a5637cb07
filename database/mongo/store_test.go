package mongo_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/serambi/serambi/agents"
	"github.com/serambi/serambi/bus"
	"github.com/serambi/serambi/connectors"
	"github.com/serambi/serambi/database/mongo"
	"github.com/serambi/serambi/database/mongo/mongotest"
	"github.com/serambi/serambi/database/storetest"
	"github.com/serambi/serambi/inbox"
)

// openStore opens a store on a fresh FerretDB database and closes it when t ends.
func openStore(t testing.TB) *mongo.Store {
	t.Helper()
	return openURI(t, mongotest.Start(t))
}

func openURI(t testing.TB, uri string) *mongo.Store {
	t.Helper()
	s, err := mongo.Open(context.Background(), uri, quietLog())
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.Close(ctx); err != nil {
			t.Errorf("close store: %v", err)
		}
	})
	return s
}

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func TestInbox(t *testing.T) {
	storetest.RunInbox(t, func(t *testing.T) inbox.Store { return openStore(t) })
}

func TestInboxService(t *testing.T) {
	storetest.RunInboxService(t, func(t *testing.T) inbox.Store { return openStore(t) })
}

func TestBlobs(t *testing.T) {
	storetest.RunBlobs(t, func(t *testing.T) inbox.Blobs { return openStore(t).Blobs() })
}

func TestAgents(t *testing.T) {
	storetest.RunAgents(t, func(t *testing.T) agents.Store { return openStore(t) })
}

func TestState(t *testing.T) {
	storetest.RunState(t, func(t *testing.T) connectors.StateStore { return openStore(t) })
}

// BenchmarkIngest measures inbox.Inbox.Ingest on this store, from parallel goroutines: each
// message is new, from one of 1000 customers (most ingests find an existing customer and
// conversation, as in production). Against FerretDB it measures FerretDB, which scans the
// collection for every query but _id; the numbers say nothing about MongoDB.
func BenchmarkIngest(b *testing.B) {
	s := openStore(b)
	events := bus.NewLocal(quietLog(), 0)
	clock := storetest.NewClock(storetest.Base())
	x := inbox.New(s, events, inbox.NewNormalizer("ID"), clock.Now, quietLog())
	ctx := context.Background()
	var seq atomic.Int64
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			n := seq.Add(1)
			_, err := x.Ingest(ctx, inbox.Inbound{
				Channel: inbox.ChannelWidget, ExternalID: fmt.Sprint("bench-", n),
				From: []inbox.Identity{{Kind: inbox.KindEmail, Value: fmt.Sprintf("customer%d@example.id", n%1000)}},
				Text: "Halo, pesanan saya belum sampai",
			})
			if err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}
