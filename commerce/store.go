package commerce

import (
	"context"
	"errors"
	"time"

	"github.com/serambi/serambi/inbox"
)

// ErrUnchanged is what an update function returns when the stored record already says what the
// update says (a duplicate, or an older version arriving late): the store then writes nothing and
// returns it, wrapped, to the caller.
var ErrUnchanged = errors.New("unchanged")

// Store is what commerce needs from storage. database/sqlite and database/mongo implement it and
// pass database/storetest.RunCommerce.
//
// The Update methods read the record under key, call fn with it (found=false and a zero value when
// absent) and store what fn returns, atomically: no other update of the same record comes between
// the read and the write. fn must be a pure function of its argument, because a store may call it
// more than once (a compare-and-set retry). When fn returns an error nothing is written and the
// error is returned; ErrUnchanged is the error of "nothing to do". They return the record before
// and after (before is the zero value when it was absent).
type Store interface {
	UpdateProduct(ctx context.Context, sku string, fn func(cur Product, found bool) (Product, error)) (before, after Product, err error)
	// Products returns the stored products among skus, in no particular order; unknown SKUs are
	// left out.
	Products(ctx context.Context, skus []string) ([]Product, error)

	UpdateCart(ctx context.Context, id string, fn func(cur Cart, found bool) (Cart, error)) (before, after Cart, err error)
	CartByID(ctx context.Context, id string) (Cart, error)
	// CurrentCart returns the customer's most recently changed cart that is open or abandoned and
	// holds items; inbox.ErrNotFound when there is none.
	CurrentCart(ctx context.Context, customerID string) (Cart, error)
	// MarkAbandoned marks up to limit open carts holding items whose Touched() is before
	// touchedBefore as abandoned at `at`, and returns them as they are now.
	MarkAbandoned(ctx context.Context, touchedBefore, at time.Time, limit int) ([]Cart, error)
	// AbandonedCarts lists abandoned carts that hold items and are linked to a customer, most
	// recently touched first, strictly after the cursor (At = Touched(), ID = cart id), at most
	// limit (inbox.MaxPage when limit is not in 1..MaxPage). A customer may have several. Carts
	// of no known customer are left out: no conversation can show them.
	AbandonedCarts(ctx context.Context, after inbox.Cursor, limit int) ([]Cart, error)

	// UpdateOrder is like UpdateProduct. It also keeps the co-purchase counts in step with the
	// order's Basket(): every pair of SKUs of the basket counts the order once, whatever the
	// number of versions of the order stored, and a basket that changes (an edit, a cancellation)
	// moves the counts with it. After a crash the counts may be behind until the order's next
	// update or RepairCounts; they are never counted twice.
	UpdateOrder(ctx context.Context, id string, fn func(cur Order, found bool) (Order, error)) (before, after Order, err error)
	OrderByID(ctx context.Context, id string) (Order, error)
	// OrdersOf lists a customer's orders newest PlacedAt first, strictly after the cursor
	// (At = PlacedAt, ID = order id).
	OrdersOf(ctx context.Context, customerID string, after inbox.Cursor, limit int) ([]Order, error)
	// Summaries is the customer's value per currency, computed from their orders.
	Summaries(ctx context.Context, customerID string) ([]Summary, error)
	// CoPurchases lists the SKUs most often ordered together with sku, most often first (ties by
	// SKU), only those with a count above zero.
	CoPurchases(ctx context.Context, sku string, limit int) ([]CoPurchase, error)

	UpdateLoyalty(ctx context.Context, shopCustomerID string, fn func(cur Loyalty, found bool) (Loyalty, error)) (before, after Loyalty, err error)
	// LoyaltyOf returns the most recently updated loyalty account linked to the customer.
	LoyaltyOf(ctx context.Context, customerID string) (Loyalty, error)

	// MoveCustomer links every cart, order and loyalty account of customer from to customer to (a
	// merge). It is idempotent.
	MoveCustomer(ctx context.Context, from, to string) error

	// SeenDelivery reports whether a webhook delivery (source, id) was recorded.
	SeenDelivery(ctx context.Context, source, id string) (bool, error)
	// RecordDelivery records a webhook delivery as processed; recording it again is not an error.
	RecordDelivery(ctx context.Context, source, id string, at time.Time) error
	// PruneDeliveries forgets deliveries recorded before `before` and says how many.
	PruneDeliveries(ctx context.Context, before time.Time) (int, error)
}

// CountRepairer is implemented by stores whose co-purchase counts can be left behind by a crash
// (the MongoDB store, which has no transactions): RepairCounts brings them up to date. The sweep
// calls it.
type CountRepairer interface {
	RepairCounts(ctx context.Context) error
}
