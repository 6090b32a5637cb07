package mongo

import (
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/serambi/serambi/commerce"
	"github.com/serambi/serambi/database/mongo/mongotest"
)

// A basket change whose counts were applied only in part (the writer crashed) is finished, exactly
// once, by the order's next update or by RepairCounts; re-applying what was applied is harmless.
func TestCommerceCountsSurviveACrashHalfWay(t *testing.T) {
	base := time.Date(2026, 3, 2, 9, 30, 0, 0, time.UTC)
	order := func(digest string, at time.Time, skus ...string) commerce.Order {
		o := commerce.Order{ID: "o1", Number: "#1", CustomerID: "c", Currency: "IDR", Total: 1000, Source: commerce.SourceAPI,
			Payment: commerce.PaymentPaid, Fulfillment: commerce.FulfillmentUnfulfilled, PlacedAt: base, ShopUpdatedAt: at, Digest: digest}
		for _, s := range skus {
			o.Items = append(o.Items, commerce.LineItem{SKU: s, Name: s, Quantity: 1})
		}
		return o
	}
	counts := func(t *testing.T, c *Commerce, sku string) map[string]int64 {
		t.Helper()
		cps, err := c.CoPurchases(t.Context(), sku, 10)
		must(t, err, "co-purchases")
		m := map[string]int64{}
		for _, cp := range cps {
			m[cp.SKU] = cp.Count
		}
		return m
	}
	for _, finish := range []string{"next update", "repair"} {
		t.Run(finish, func(t *testing.T) {
			c, err := open(t, mongotest.Start(t)).Commerce(t.Context())
			must(t, err, "commerce")
			// Simulate the crash: the order stored with its pending change, and of the change's
			// count updates only the first applied.
			o := order("v1", base, "A", "B", "C")
			p := pendingCount{Rev: 1, To: o.Basket(), At: base}
			_, err = c.orders.InsertOne(t.Context(), bson.D{{Key: "_id", Value: o.ID}, {Key: "rev", Value: int64(1)},
				{Key: "customerId", Value: "c"}, {Key: "d", Value: o}, {Key: "placedAt", Value: base}, {Key: "currency", Value: "IDR"},
				{Key: "net", Value: o.Net()}, {Key: "cancelled", Value: false}, {Key: "pending", Value: p}})
			must(t, err, "insert half-done order")
			deltas := commerce.BasketDelta(nil, o.Basket())
			must(t, c.applyCount(t.Context(), deltas[0], "o1#1"), "apply first count")
			must(t, c.applyCount(t.Context(), deltas[0], "o1#1"), "apply it again (a retry)")
			if got := counts(t, c, deltas[0].SKU)[deltas[0].Other]; got != 1 {
				t.Fatalf("a count applied twice with one token is %d", got)
			}
			switch finish {
			case "next update":
				_, _, err = c.UpdateOrder(t.Context(), o.ID, commerce.MergeOrder(order("v2", base.Add(time.Minute), "A", "B", "C")))
				must(t, err, "next update")
			case "repair":
				// RepairCounts takes over changes older than repairAfter; this one is from 2026-03-02.
				must(t, c.RepairCounts(t.Context()), "repair")
				must(t, c.RepairCounts(t.Context()), "repair again")
			}
			want := map[string]int64{"B": 1, "C": 1}
			if got := counts(t, c, "A"); len(got) != 2 || got["B"] != 1 || got["C"] != 1 {
				t.Errorf("counts of A = %v, want %v", got, want)
			}
			if got := counts(t, c, "C"); len(got) != 2 || got["A"] != 1 || got["B"] != 1 {
				t.Errorf("counts of C = %v", got)
			}
			var e envelope[commerce.Order]
			must(t, c.orders.FindOne(t.Context(), bson.D{{Key: "_id", Value: o.ID}}).Decode(&e), "read order")
			if e.Pending != nil || len(e.Counted) != 3 {
				t.Errorf("after finishing, pending = %+v, counted = %v", e.Pending, e.Counted)
			}
		})
	}
}
