package mongo

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/serambi/serambi/commerce"
	"github.com/serambi/serambi/inbox"
)

// Commerce collections. Each record is an envelope {_id, rev, customerId, d: <the record>} plus
// the top-level fields its queries filter and sort on; customerId is authoritative over d's copy
// (a merge moves only it). Updates are compare-and-set on rev.
//
// Co-purchase counts live in their own documents, {_id: "sku\x00other", sku, other, n, tokens},
// and an order's basket change must move several of them without a transaction. So the order
// document records which basket its counts reflect (counted) and, while a change is being applied,
// the change itself (pending: from, to, rev). Each count update carries a token "orderId#rev"
// and applies only when the count document does not list that token yet (it keeps the last
// tokenRing), which makes re-applying a half-applied change harmless: the order's next update,
// or RepairCounts, finishes it. Within one process updates of one order are serialised, so a
// change is normally applied by one writer only.
const (
	collProducts   = "commerce_products"
	collCarts      = "commerce_carts"
	collOrders     = "commerce_orders"
	collLoyalty    = "commerce_loyalty"
	collCoPurchase = "commerce_copurchase"
	collDeliveries = "commerce_deliveries"
	// tokenRing is how many recent order changes a count document remembers.
	tokenRing = 64
	// repairAfter is how old a pending change must be before RepairCounts takes it over from the
	// writer that started it.
	repairAfter = time.Minute
)

var _ commerce.Store = (*Commerce)(nil)
var _ commerce.CountRepairer = (*Commerce)(nil)

var commerceIndexes = []index{
	{coll: collCarts, keys: bson.D{{Key: "customerId", Value: 1}, {Key: "touchedAt", Value: -1}}},
	{coll: collCarts, keys: bson.D{{Key: "status", Value: 1}, {Key: "touchedAt", Value: 1}}},
	// The abandoned-cart list (AbandonedCarts): by status, newest touched first, the id breaking
	// ties. Partial indexes are out (FerretDB), so guest carts are filtered, not left out of it.
	{coll: collCarts, keys: bson.D{{Key: "status", Value: 1}, {Key: "touchedAt", Value: -1}, {Key: "_id", Value: -1}}},
	{coll: collOrders, keys: bson.D{{Key: "customerId", Value: 1}, {Key: "placedAt", Value: -1}, {Key: "_id", Value: -1}}},
	{coll: collOrders, keys: bson.D{{Key: "pending.at", Value: 1}}, sparse: true},
	{coll: collCoPurchase, keys: bson.D{{Key: "sku", Value: 1}, {Key: "n", Value: -1}, {Key: "other", Value: 1}}},
	{coll: collLoyalty, keys: bson.D{{Key: "customerId", Value: 1}, {Key: "shopUpdatedAt", Value: -1}}},
	{coll: collDeliveries, keys: bson.D{{Key: "at", Value: 1}}},
}

// Commerce is the MongoDB implementation of commerce.Store, on the same database as the Store.
type Commerce struct {
	s                                                        *Store
	products, carts, orders, loyalty, copurchase, deliveries *mongo.Collection
	// serial holds one lock per commerce collection on FerretDB (see ferret.go); nil on MongoDB.
	serial map[string]*sync.Mutex
	// orderLocks serialises this process's updates of one order.
	orderLocks keyLocks
}

// Commerce returns the commerce store on s's database, after ensuring its indexes (creating an
// index that exists is a no-op, so every start may call it).
func (s *Store) Commerce(ctx context.Context) (*Commerce, error) {
	c := &Commerce{s: s, products: s.db.Collection(collProducts), carts: s.db.Collection(collCarts),
		orders: s.db.Collection(collOrders), loyalty: s.db.Collection(collLoyalty),
		copurchase: s.db.Collection(collCoPurchase), deliveries: s.db.Collection(collDeliveries)}
	if s.serial != nil {
		c.serial = map[string]*sync.Mutex{}
		for _, n := range []string{collProducts, collCarts, collOrders, collLoyalty, collCoPurchase, collDeliveries} {
			c.serial[n] = &sync.Mutex{}
		}
	}
	if err := c.EnsureIndexes(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

// EnsureIndexes creates the commerce indexes that do not exist yet, one by one (see ensureIndexes).
func (c *Commerce) EnsureIndexes(ctx context.Context) error {
	for _, ix := range commerceIndexes {
		opts := options.Index()
		if ix.sparse {
			opts.SetSparse(true)
		}
		if _, err := c.s.db.Collection(ix.coll).Indexes().CreateOne(ctx, mongo.IndexModel{Keys: ix.keys, Options: opts}); err != nil {
			return fmt.Errorf("mongo: create index %v on %s: %w", ix.keys, ix.coll, err)
		}
	}
	return nil
}

func (c *Commerce) exclusive(coll *mongo.Collection) func() {
	if c.serial == nil {
		return func() {}
	}
	mu := c.serial[coll.Name()]
	mu.Lock()
	return mu.Unlock
}

// keyLocks is a set of mutexes by key, created on demand and dropped when unused.
type keyLocks struct {
	mu sync.Mutex
	m  map[string]*keyLock
}

type keyLock struct {
	mu    sync.Mutex
	users int
}

func (k *keyLocks) lock(key string) func() {
	k.mu.Lock()
	if k.m == nil {
		k.m = map[string]*keyLock{}
	}
	l := k.m[key]
	if l == nil {
		l = &keyLock{}
		k.m[key] = l
	}
	l.users++
	k.mu.Unlock()
	l.mu.Lock()
	return func() {
		l.mu.Unlock()
		k.mu.Lock()
		if l.users--; l.users == 0 {
			delete(k.m, key)
		}
		k.mu.Unlock()
	}
}

// envelope is how a commerce record is stored.
type envelope[T any] struct {
	ID         string        `bson:"_id"`
	Rev        int64         `bson:"rev"`
	CustomerID string        `bson:"customerId"`
	D          T             `bson:"d"`
	Counted    []string      `bson:"counted,omitempty"`
	Pending    *pendingCount `bson:"pending,omitempty"`
}

// pendingCount is a basket change whose counts are being applied.
type pendingCount struct {
	Rev  int64     `bson:"rev"`
	From []string  `bson:"from"`
	To   []string  `bson:"to"`
	At   time.Time `bson:"at"`
}

// casOnce is one round of a compare-and-set: it reads the envelope of id, asks change for the
// fields of the next version and writes them unless the document changed in between (done false:
// try again). On FerretDB the collection's lock is held throughout.
func casOnce[T any](ctx context.Context, c *Commerce, coll *mongo.Collection, id string,
	change func(cur envelope[T], found bool) (bson.D, error)) (cur envelope[T], found, done bool, err error) {
	unlock := c.exclusive(coll)
	defer unlock()
	err = coll.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&cur)
	switch {
	case errors.Is(err, mongo.ErrNoDocuments):
		cur, err = envelope[T]{}, nil
	case err != nil:
		return cur, false, false, fmt.Errorf("mongo: read %s %s: %w", coll.Name(), id, err)
	default:
		found = true
	}
	next, err := change(cur, found)
	if err != nil {
		return cur, found, false, err
	}
	if !found {
		_, err = coll.InsertOne(ctx, append(bson.D{{Key: "_id", Value: id}, {Key: "rev", Value: int64(1)}}, next...))
		if isDuplicateKey(err) {
			return cur, found, false, nil
		}
		if err != nil {
			return cur, found, false, fmt.Errorf("mongo: insert %s %s: %w", coll.Name(), id, err)
		}
		return cur, found, true, nil
	}
	res, err := coll.ReplaceOne(ctx, bson.D{{Key: "_id", Value: id}, {Key: "rev", Value: cur.Rev}},
		append(bson.D{{Key: "_id", Value: id}, {Key: "rev", Value: cur.Rev + 1}}, next...))
	if err != nil {
		return cur, found, false, fmt.Errorf("mongo: update %s %s: %w", coll.Name(), id, err)
	}
	return cur, found, res.MatchedCount == 1, nil
}

// update runs a compare-and-set loop of fn on the record under id; fields gives the top-level
// fields stored beside it.
func update[T any](ctx context.Context, c *Commerce, coll *mongo.Collection, id string, fn func(T, bool) (T, error),
	withID func(*T), custOf func(T) string, setCust func(*T, string), fields func(T) bson.D) (before, after T, err error) {
	for range maxCASAttempts {
		var next T
		cur, _, done, err := casOnce(ctx, c, coll, id, func(cur envelope[T], found bool) (bson.D, error) {
			b := cur.D
			if found {
				setCust(&b, cur.CustomerID)
			}
			a, err := fn(b, found)
			if err != nil {
				return nil, err
			}
			withID(&a)
			next = a
			return append(bson.D{{Key: "customerId", Value: custOf(a)}, {Key: "d", Value: a}}, fields(a)...), nil
		})
		before = cur.D
		setCust(&before, cur.CustomerID)
		if err != nil {
			return before, before, err
		}
		if done {
			return before, next, nil
		}
	}
	return before, before, fmt.Errorf("mongo: %s %s keeps changing: %w", coll.Name(), id, inbox.ErrConflict)
}

func noFields[T any](T) bson.D { return nil }

// UpdateProduct applies fn to the product under sku.
func (c *Commerce) UpdateProduct(ctx context.Context, sku string, fn func(commerce.Product, bool) (commerce.Product, error)) (commerce.Product, commerce.Product, error) {
	return update(ctx, c, c.products, sku, fn, func(p *commerce.Product) { p.SKU = sku },
		func(commerce.Product) string { return "" }, func(*commerce.Product, string) {}, noFields[commerce.Product])
}

// Products returns the stored products among skus.
func (c *Commerce) Products(ctx context.Context, skus []string) ([]commerce.Product, error) {
	if len(skus) == 0 {
		return nil, nil
	}
	envs, err := findAll[envelope[commerce.Product]](ctx, c.products, bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: skus}}}})
	if err != nil {
		return nil, fmt.Errorf("mongo: products: %w", err)
	}
	out := make([]commerce.Product, 0, len(envs))
	for _, e := range envs {
		out = append(out, e.D)
	}
	return out, nil
}

func cartFields(ct commerce.Cart) bson.D {
	return bson.D{{Key: "status", Value: string(ct.Status)}, {Key: "hasItems", Value: ct.Quantity() > 0}, {Key: "touchedAt", Value: ms(ct.Touched())}}
}

// UpdateCart applies fn to the cart under id.
func (c *Commerce) UpdateCart(ctx context.Context, id string, fn func(commerce.Cart, bool) (commerce.Cart, error)) (commerce.Cart, commerce.Cart, error) {
	return update(ctx, c, c.carts, id, fn, func(ct *commerce.Cart) { ct.ID = id },
		func(ct commerce.Cart) string { return ct.CustomerID }, func(ct *commerce.Cart, cust string) { ct.CustomerID = cust }, cartFields)
}

func cartOf(e envelope[commerce.Cart]) commerce.Cart {
	ct := e.D
	ct.CustomerID = e.CustomerID
	return ct
}

// CartByID returns a cart.
func (c *Commerce) CartByID(ctx context.Context, id string) (commerce.Cart, error) {
	var e envelope[commerce.Cart]
	if err := c.carts.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&e); err != nil {
		return commerce.Cart{}, fmt.Errorf("mongo: cart %s: %w", id, notFound(err))
	}
	return cartOf(e), nil
}

// CurrentCart returns the customer's most recently touched open or abandoned cart with items.
func (c *Commerce) CurrentCart(ctx context.Context, customerID string) (commerce.Cart, error) {
	var e envelope[commerce.Cart]
	err := c.carts.FindOne(ctx, bson.D{{Key: "customerId", Value: customerID},
		{Key: "status", Value: bson.D{{Key: "$in", Value: bson.A{string(commerce.CartOpen), string(commerce.CartAbandoned)}}}},
		{Key: "hasItems", Value: true}}, options.FindOne().SetSort(bson.D{{Key: "touchedAt", Value: -1}})).Decode(&e)
	if err != nil {
		return commerce.Cart{}, fmt.Errorf("mongo: current cart of %s: %w", customerID, notFound(err))
	}
	return cartOf(e), nil
}

// MarkAbandoned marks open carts untouched since touchedBefore as abandoned. Each cart is marked by
// its own compare-and-set, so a cart the shop touches meanwhile stays open.
func (c *Commerce) MarkAbandoned(ctx context.Context, touchedBefore, at time.Time, limit int) ([]commerce.Cart, error) {
	envs, err := findAll[envelope[commerce.Cart]](ctx, c.carts, bson.D{{Key: "status", Value: string(commerce.CartOpen)},
		{Key: "hasItems", Value: true}, {Key: "touchedAt", Value: bson.D{{Key: "$lt", Value: ms(touchedBefore)}}}},
		options.Find().SetSort(bson.D{{Key: "touchedAt", Value: 1}}).SetLimit(int64(limit)))
	if err != nil {
		return nil, fmt.Errorf("mongo: open carts: %w", err)
	}
	var out []commerce.Cart
	for _, e := range envs {
		_, after, err := c.UpdateCart(ctx, e.ID, func(cur commerce.Cart, found bool) (commerce.Cart, error) {
			if !found || cur.Status != commerce.CartOpen || cur.Quantity() == 0 || !cur.Touched().Before(touchedBefore) {
				return cur, commerce.ErrUnchanged
			}
			cur.Status, cur.AbandonedAt, cur.UpdatedAt = commerce.CartAbandoned, ms(at), ms(at)
			return cur, nil
		})
		if errors.Is(err, commerce.ErrUnchanged) {
			continue
		}
		if err != nil {
			return out, err
		}
		out = append(out, after)
	}
	return out, nil
}

// AbandonedCarts lists abandoned carts with items and a customer, most recently touched first.
func (c *Commerce) AbandonedCarts(ctx context.Context, after inbox.Cursor, limit int) ([]commerce.Cart, error) {
	if limit <= 0 || limit > inbox.MaxPage {
		limit = inbox.MaxPage
	}
	filter := bson.D{{Key: "status", Value: string(commerce.CartAbandoned)}, {Key: "hasItems", Value: true},
		{Key: "customerId", Value: bson.D{{Key: "$ne", Value: ""}}}}
	if !after.IsZero() {
		filter = append(filter, before("touchedAt", after))
	}
	envs, err := findAll[envelope[commerce.Cart]](ctx, c.carts, filter,
		options.Find().SetSort(bson.D{{Key: "touchedAt", Value: -1}, {Key: "_id", Value: -1}}).SetLimit(int64(limit)))
	if err != nil {
		return nil, fmt.Errorf("mongo: abandoned carts: %w", err)
	}
	out := make([]commerce.Cart, 0, len(envs))
	for _, e := range envs {
		out = append(out, cartOf(e))
	}
	return out, nil
}

func orderOf(e envelope[commerce.Order]) commerce.Order {
	o := e.D
	o.CustomerID = e.CustomerID
	return o
}

// UpdateOrder applies fn to the order under id and moves the co-purchase counts with its basket.
func (c *Commerce) UpdateOrder(ctx context.Context, id string, fn func(commerce.Order, bool) (commerce.Order, error)) (before, after commerce.Order, err error) {
	unlock := c.orderLocks.lock(id)
	defer unlock()
	for range maxCASAttempts {
		var next commerce.Order
		var pending *pendingCount
		cur, found, done, err := casOnce(ctx, c, c.orders, id, func(cur envelope[commerce.Order], found bool) (bson.D, error) {
			if cur.Pending != nil {
				return nil, errPending // a change of the counts was left half-way: finish it first
			}
			b := cur.D
			b.CustomerID = cur.CustomerID
			a, err := fn(b, found)
			if err != nil {
				return nil, err
			}
			a.ID = id
			next = a
			doc := bson.D{{Key: "customerId", Value: a.CustomerID}, {Key: "d", Value: a},
				{Key: "placedAt", Value: ms(a.PlacedAt)}, {Key: "currency", Value: a.Currency},
				{Key: "net", Value: a.Net()}, {Key: "cancelled", Value: a.Cancelled}}
			counted := cur.Counted
			if basket := a.Basket(); !slices.Equal(basket, counted) {
				pending = &pendingCount{Rev: cur.Rev + 1, From: counted, To: basket, At: ms(time.Now())}
				doc = append(doc, bson.E{Key: "pending", Value: pending})
			}
			if len(counted) > 0 {
				doc = append(doc, bson.E{Key: "counted", Value: counted})
			}
			return doc, nil
		})
		before = orderOf(cur)
		if errors.Is(err, errPending) {
			if err := c.finishCounts(ctx, id, *cur.Pending); err != nil {
				return before, before, err
			}
			continue
		}
		if err != nil {
			return before, before, err
		}
		if !found {
			before = commerce.Order{}
		}
		if !done {
			continue
		}
		if pending != nil {
			if err := c.finishCounts(ctx, id, *pending); err != nil {
				// The order is stored; its counts catch up on its next update or RepairCounts.
				c.s.log.Warn("co-purchase counts of an order are behind", "order", id, "err", err)
			}
		}
		return before, next, nil
	}
	return before, before, fmt.Errorf("mongo: order %s keeps changing: %w", id, inbox.ErrConflict)
}

var errPending = errors.New("pending co-purchase change")

// finishCounts applies a pending basket change to the counts, then records it as done. Every step
// can be repeated: count updates carry the change's token.
func (c *Commerce) finishCounts(ctx context.Context, orderID string, p pendingCount) error {
	token := fmt.Sprintf("%s#%d", orderID, p.Rev)
	for _, d := range commerce.BasketDelta(p.From, p.To) {
		if err := c.applyCount(ctx, d, token); err != nil {
			return err
		}
	}
	set := bson.D{{Key: "counted", Value: p.To}}
	if len(p.To) == 0 {
		set = bson.D{{Key: "counted", Value: bson.A{}}}
	}
	unlock := c.exclusive(c.orders)
	defer unlock()
	if _, err := c.orders.UpdateOne(ctx, bson.D{{Key: "_id", Value: orderID}, {Key: "pending.rev", Value: p.Rev}},
		bson.D{{Key: "$set", Value: set}, {Key: "$unset", Value: bson.D{{Key: "pending", Value: ""}}}}); err != nil {
		return fmt.Errorf("mongo: finish counts of order %s: %w", orderID, err)
	}
	return nil
}

// applyCount adds d.Delta to a pair's count unless the pair has seen token.
func (c *Commerce) applyCount(ctx context.Context, d commerce.PairDelta, token string) error {
	id := d.SKU + "\x00" + d.Other
	unlock := c.exclusive(c.copurchase)
	defer unlock()
	_, err := c.copurchase.UpdateOne(ctx,
		bson.D{{Key: "_id", Value: id}, {Key: "tokens", Value: bson.D{{Key: "$ne", Value: token}}}},
		bson.D{
			{Key: "$inc", Value: bson.D{{Key: "n", Value: d.Delta}}},
			{Key: "$push", Value: bson.D{{Key: "tokens", Value: bson.D{{Key: "$each", Value: bson.A{token}}, {Key: "$slice", Value: -tokenRing}}}}},
			{Key: "$setOnInsert", Value: bson.D{{Key: "sku", Value: d.SKU}, {Key: "other", Value: d.Other}}},
		}, options.UpdateOne().SetUpsert(true))
	if isDuplicateKey(err) {
		return nil // the pair has the token: applied already
	}
	if err != nil {
		return fmt.Errorf("mongo: count %s with %s: %w", d.SKU, d.Other, err)
	}
	return nil
}

// RepairCounts finishes basket changes that their writer left half-way (a crash) for longer than
// repairAfter.
func (c *Commerce) RepairCounts(ctx context.Context) error {
	envs, err := findAll[envelope[commerce.Order]](ctx, c.orders,
		bson.D{{Key: "pending.at", Value: bson.D{{Key: "$lt", Value: ms(time.Now().Add(-repairAfter))}}}},
		options.Find().SetLimit(500))
	if err != nil {
		return fmt.Errorf("mongo: orders with pending counts: %w", err)
	}
	for _, e := range envs {
		if e.Pending == nil {
			continue
		}
		unlock := c.orderLocks.lock(e.ID)
		err := c.finishCounts(ctx, e.ID, *e.Pending)
		unlock()
		if err != nil {
			return err
		}
	}
	return nil
}

// OrderByID returns an order.
func (c *Commerce) OrderByID(ctx context.Context, id string) (commerce.Order, error) {
	var e envelope[commerce.Order]
	if err := c.orders.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&e); err != nil {
		return commerce.Order{}, fmt.Errorf("mongo: order %s: %w", id, notFound(err))
	}
	return orderOf(e), nil
}

// OrdersOf lists a customer's orders newest first.
func (c *Commerce) OrdersOf(ctx context.Context, customerID string, after inbox.Cursor, limit int) ([]commerce.Order, error) {
	if limit <= 0 || limit > inbox.MaxPage {
		limit = inbox.MaxPage
	}
	filter := bson.D{{Key: "customerId", Value: customerID}}
	if !after.IsZero() {
		filter = append(filter, before("placedAt", after))
	}
	envs, err := findAll[envelope[commerce.Order]](ctx, c.orders, filter,
		options.Find().SetSort(bson.D{{Key: "placedAt", Value: -1}, {Key: "_id", Value: -1}}).SetLimit(int64(limit)))
	if err != nil {
		return nil, fmt.Errorf("mongo: orders of %s: %w", customerID, err)
	}
	out := make([]commerce.Order, 0, len(envs))
	for _, e := range envs {
		out = append(out, orderOf(e))
	}
	return out, nil
}

// Summaries adds up the customer's orders per currency. It reads only the few fields it needs;
// the adding is done here because FerretDB has no multi-accumulator $group.
func (c *Commerce) Summaries(ctx context.Context, customerID string) ([]commerce.Summary, error) {
	type row struct {
		Currency string    `bson:"currency"`
		Net      int64     `bson:"net"`
		PlacedAt time.Time `bson:"placedAt"`
	}
	rows, err := findAll[row](ctx, c.orders, bson.D{{Key: "customerId", Value: customerID}, {Key: "cancelled", Value: false}},
		options.Find().SetProjection(bson.D{{Key: "currency", Value: 1}, {Key: "net", Value: 1}, {Key: "placedAt", Value: 1}}))
	if err != nil {
		return nil, fmt.Errorf("mongo: summaries of %s: %w", customerID, err)
	}
	by := map[string]*commerce.Summary{}
	var out []commerce.Summary
	for _, r := range rows {
		s := by[r.Currency]
		if s == nil {
			s = &commerce.Summary{Currency: r.Currency, First: fromDB(r.PlacedAt), Last: fromDB(r.PlacedAt)}
			by[r.Currency] = s
		}
		s.Orders++
		s.Value += r.Net
		if t := fromDB(r.PlacedAt); t.Before(s.First) {
			s.First = t
		} else if t.After(s.Last) {
			s.Last = t
		}
	}
	for _, s := range by {
		out = append(out, *s)
	}
	slices.SortFunc(out, func(a, b commerce.Summary) int { return compareStrings(a.Currency, b.Currency) })
	return out, nil
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// CoPurchases lists what is most often ordered with sku.
func (c *Commerce) CoPurchases(ctx context.Context, sku string, limit int) ([]commerce.CoPurchase, error) {
	type row struct {
		Other string `bson:"other"`
		N     int64  `bson:"n"`
	}
	rows, err := findAll[row](ctx, c.copurchase, bson.D{{Key: "sku", Value: sku}, {Key: "n", Value: bson.D{{Key: "$gt", Value: 0}}}},
		options.Find().SetSort(bson.D{{Key: "n", Value: -1}, {Key: "other", Value: 1}}).SetLimit(int64(limit)).
			SetProjection(bson.D{{Key: "other", Value: 1}, {Key: "n", Value: 1}}))
	if err != nil {
		return nil, fmt.Errorf("mongo: co-purchases of %s: %w", sku, err)
	}
	out := make([]commerce.CoPurchase, 0, len(rows))
	for _, r := range rows {
		out = append(out, commerce.CoPurchase{SKU: r.Other, Count: r.N})
	}
	return out, nil
}

// UpdateLoyalty applies fn to the loyalty account under shopCustomerID.
func (c *Commerce) UpdateLoyalty(ctx context.Context, shopCustomerID string, fn func(commerce.Loyalty, bool) (commerce.Loyalty, error)) (commerce.Loyalty, commerce.Loyalty, error) {
	return update(ctx, c, c.loyalty, shopCustomerID, fn, func(l *commerce.Loyalty) { l.ShopCustomerID = shopCustomerID },
		func(l commerce.Loyalty) string { return l.CustomerID }, func(l *commerce.Loyalty, cust string) { l.CustomerID = cust },
		func(l commerce.Loyalty) bson.D { return bson.D{{Key: "shopUpdatedAt", Value: ms(l.ShopUpdatedAt)}} })
}

// LoyaltyOf returns the customer's most recently updated loyalty account.
func (c *Commerce) LoyaltyOf(ctx context.Context, customerID string) (commerce.Loyalty, error) {
	var e envelope[commerce.Loyalty]
	err := c.loyalty.FindOne(ctx, bson.D{{Key: "customerId", Value: customerID}},
		options.FindOne().SetSort(bson.D{{Key: "shopUpdatedAt", Value: -1}})).Decode(&e)
	if err != nil {
		return commerce.Loyalty{}, fmt.Errorf("mongo: loyalty of %s: %w", customerID, notFound(err))
	}
	l := e.D
	l.CustomerID = e.CustomerID
	return l, nil
}

// MoveCustomer relinks a merged-away customer's records to the survivor. rev moves too, so that a
// compare-and-set that read the old customer id fails and reads again.
func (c *Commerce) MoveCustomer(ctx context.Context, from, to string) error {
	if from == "" || from == to {
		return nil
	}
	for _, coll := range []*mongo.Collection{c.carts, c.orders, c.loyalty} {
		unlock := c.exclusive(coll)
		_, err := coll.UpdateMany(ctx, bson.D{{Key: "customerId", Value: from}},
			bson.D{{Key: "$set", Value: bson.D{{Key: "customerId", Value: to}}}, {Key: "$inc", Value: bson.D{{Key: "rev", Value: 1}}}})
		unlock()
		if err != nil {
			return fmt.Errorf("mongo: move %s of customer %s: %w", coll.Name(), from, err)
		}
	}
	return nil
}

// SeenDelivery reports whether a webhook delivery was recorded.
func (c *Commerce) SeenDelivery(ctx context.Context, source, id string) (bool, error) {
	err := c.deliveries.FindOne(ctx, bson.D{{Key: "_id", Value: source + ":" + id}}).Err()
	if errors.Is(err, mongo.ErrNoDocuments) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("mongo: delivery %s %s: %w", source, id, err)
	}
	return true, nil
}

// RecordDelivery records a processed webhook delivery.
func (c *Commerce) RecordDelivery(ctx context.Context, source, id string, at time.Time) error {
	_, err := c.deliveries.InsertOne(ctx, bson.D{{Key: "_id", Value: source + ":" + id}, {Key: "at", Value: ms(at)}})
	if err != nil && !isDuplicateKey(err) {
		return fmt.Errorf("mongo: record delivery %s %s: %w", source, id, err)
	}
	return nil
}

// PruneDeliveries forgets deliveries recorded before `before`.
func (c *Commerce) PruneDeliveries(ctx context.Context, before time.Time) (int, error) {
	unlock := c.exclusive(c.deliveries)
	defer unlock()
	res, err := c.deliveries.DeleteMany(ctx, bson.D{{Key: "at", Value: bson.D{{Key: "$lt", Value: ms(before)}}}})
	if err != nil {
		return 0, fmt.Errorf("mongo: prune deliveries: %w", err)
	}
	return int(res.DeletedCount), nil
}
