package commerce_test

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/serambi/serambi/commerce"
	"github.com/serambi/serambi/database/sqlite"
)

// BenchmarkOrderIngestC20 ingests new orders from 20 concurrent callers into SQLite: validation,
// customer resolution (1,000 customers, most already known), the order write and its co-purchase
// counts in one transaction. It reports orders per second. Target: ≥ 3,000/s.
func BenchmarkOrderIngestC20(b *testing.B) {
	st, err := sqlite.Open(b.Context(), filepath.Join(b.TempDir(), "serambi.db"), quietLog())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	h := newHarnessOn(b, st)
	var seq atomic.Int64
	placed := at("2026-03-01T00:00:00Z")
	b.SetParallelism(max(1, 20/runtime.GOMAXPROCS(0))) // 20 callers whatever the core count
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		r := rand.New(rand.NewPCG(uint64(seq.Add(1)), 7))
		for pb.Next() {
			n := seq.Add(1)
			o := commerce.Order{ID: fmt.Sprint("o-", n), Contact: commerce.Contact{Email: fmt.Sprintf("c%d@example.id", r.IntN(1000))},
				Total: 100000, Payment: commerce.PaymentPaid, PlacedAt: placed, ShopUpdatedAt: placed}
			for j := range r.IntN(4) + 1 {
				sku := fmt.Sprint("SKU-", r.IntN(200))
				o.Items = append(o.Items, commerce.LineItem{ID: fmt.Sprint(j), SKU: sku, Name: sku, Quantity: 1, UnitPrice: 100000})
			}
			if _, err := h.svc.PutOrder(b.Context(), o); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "orders/s")
	ws := st.WriterStats()
	if ws.Commits > 0 {
		b.ReportMetric(float64(ws.Writes)/float64(ws.Commits), "writes/commit")
	}
}
