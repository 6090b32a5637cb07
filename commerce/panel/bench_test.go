package panel_test

import (
	"context"
	"fmt"
	"io"
	"slices"
	"testing"
	"time"

	"github.com/serambi/serambi/commerce"
)

// BenchmarkPanel500Orders renders the commerce panel of a customer with 500 orders (and a cart,
// loyalty and co-purchase history) on SQLite, as the console does on every conversation open and
// every commerce.changed. It reports the p99 of one render, reads included. Target: p99 < 5 ms.
func BenchmarkPanel500Orders(b *testing.B) {
	f := newFixture(b)
	ctx := context.Background()
	skus := []string{"BTP-M", "BTP-L", "SLS-IND", "KBY-01"}
	for i := range 500 {
		o := commerce.Order{ID: fmt.Sprint("bench-", i), Number: fmt.Sprintf("#%d", 2000+i), Contact: commerce.Contact{Email: "siti@example.id"},
			Total: int64(100000 * (i%7 + 1)), Payment: commerce.PaymentPaid, Fulfillment: commerce.FulfillmentDelivered,
			Tracking: []commerce.Tracking{{Number: fmt.Sprint("JNE", i), Carrier: "JNE", URL: "https://www.jne.co.id/t/x"}},
			PlacedAt: ts("2024-01-01T00:00:00Z").Add(time.Duration(i) * 24 * time.Hour), ShopUpdatedAt: ts("2026-01-01T00:00:00Z")}
		for j := range i%3 + 1 {
			o.Items = append(o.Items, commerce.LineItem{ID: fmt.Sprint(j), SKU: skus[(i+j)%4], Name: skus[(i+j)%4], Quantity: 1, UnitPrice: 100000})
		}
		if _, err := f.svc.PutOrder(ctx, o); err != nil {
			b.Fatal(err)
		}
	}
	v := f.viewer("id")
	var durs []time.Duration
	for b.Loop() {
		t0 := time.Now()
		c, err := f.panel.Panel(ctx, f.customer, v)
		if err != nil {
			b.Fatal(err)
		}
		if err := c.Render(ctx, io.Discard); err != nil {
			b.Fatal(err)
		}
		durs = append(durs, time.Since(t0))
	}
	slices.Sort(durs)
	b.ReportMetric(float64(durs[len(durs)*99/100].Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(durs[len(durs)/2].Microseconds())/1000, "p50-ms")
}
