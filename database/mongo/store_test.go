package mongo_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	driver "go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/serambi/serambi/agents"
	"github.com/serambi/serambi/bus"
	"github.com/serambi/serambi/connectors"
	"github.com/serambi/serambi/database/mongo"
	"github.com/serambi/serambi/database/mongo/mongotest"
	"github.com/serambi/serambi/database/storetest"
	"github.com/serambi/serambi/inbox"
)

// testURIEnv names a MongoDB server to run these tests and benchmarks against instead of the
// embedded FerretDB, e.g. a local replica set: mongodb://localhost:27017/?replicaSet=rs0. Each test
// gets a database of its own, dropped when it ends.
const testURIEnv = "SERAMBI_TEST_MONGODB_URI"

// openStore opens a store on a fresh database and closes it when t ends.
func openStore(t testing.TB) *mongo.Store {
	t.Helper()
	return openURI(t, testURI(t))
}

func testURI(t testing.TB) string {
	t.Helper()
	server := os.Getenv(testURIEnv)
	if server == "" {
		return mongotest.Start(t)
	}
	u, err := url.Parse(server)
	if err != nil {
		t.Fatalf("%s is not a URL", testURIEnv)
	}
	u.Path = "/" + mongotest.DatabaseName(t)
	uri := u.String()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := driver.Connect(options.Client().ApplyURI(uri))
		if err != nil {
			t.Errorf("drop test database: %v", err)
			return
		}
		defer c.Disconnect(ctx)
		if err := c.Database(strings.TrimPrefix(u.Path, "/")).Drop(ctx); err != nil {
			t.Errorf("drop test database: %v", err)
		}
	})
	return uri
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

func TestCustomerSearch(t *testing.T) {
	storetest.RunCustomerSearch(t, func(t *testing.T) inbox.Store { return openStore(t) })
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
