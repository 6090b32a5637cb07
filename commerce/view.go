package commerce

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/serambi/serambi/inbox"
)

// CustomerView is everything the console's commerce panel shows about one customer. It is read
// from the store's indexes and counters only: its cost does not grow with the customer's history
// beyond the page of orders it shows.
type CustomerView struct {
	CustomerID string
	// Cart is the current cart; nil when there is none.
	Cart *CartView
	// Orders are the newest orders, newest first; More says whether older ones exist.
	Orders []Order
	More   bool
	// Summaries is the value per currency (most orders first).
	Summaries []Summary
	Loyalty   *Loyalty
	// AlsoBought are in-stock products often ordered with the cart's items and the last order's.
	AlsoBought []Product
	LowStock   int64
}

// CartView is a cart with each item's product and stock.
type CartView struct {
	Cart  Cart
	Items []CartItem
}

// CartItem is one line of the current cart as the panel shows it.
type CartItem struct {
	LineItem
	// Product is the stored product (zero when the shop never sent it).
	Product Product
	Stock   StockState
}

// OrdersPerPage is how many orders the panel shows at once.
const OrdersPerPage = 10

// View reads the customer view.
func (s *Service) View(ctx context.Context, customerID string) (CustomerView, error) {
	v := CustomerView{CustomerID: customerID, LowStock: s.cfg.LowStock}
	cart, err := s.store.CurrentCart(ctx, customerID)
	switch {
	case err == nil:
		cv, err := s.cartView(ctx, cart)
		if err != nil {
			return v, err
		}
		v.Cart = &cv
	case !errors.Is(err, inbox.ErrNotFound):
		return v, fmt.Errorf("current cart of %s: %w", customerID, err)
	}
	orders, err := s.store.OrdersOf(ctx, customerID, inbox.Cursor{}, OrdersPerPage+1)
	if err != nil {
		return v, fmt.Errorf("orders of %s: %w", customerID, err)
	}
	if len(orders) > OrdersPerPage {
		orders, v.More = orders[:OrdersPerPage], true
	}
	v.Orders = orders
	if v.Summaries, err = s.store.Summaries(ctx, customerID); err != nil {
		return v, fmt.Errorf("summaries of %s: %w", customerID, err)
	}
	slices.SortStableFunc(v.Summaries, func(a, b Summary) int {
		return cmp.Or(cmp.Compare(b.Orders, a.Orders), cmp.Compare(a.Currency, b.Currency))
	})
	switch l, err := s.store.LoyaltyOf(ctx, customerID); {
	case err == nil:
		v.Loyalty = &l
	case !errors.Is(err, inbox.ErrNotFound):
		return v, fmt.Errorf("loyalty of %s: %w", customerID, err)
	}
	var seeds []string
	if v.Cart != nil {
		for _, it := range v.Cart.Items {
			seeds = append(seeds, it.SKU)
		}
	}
	if len(orders) > 0 {
		seeds = append(seeds, orders[0].Basket()...)
	}
	if v.AlsoBought, err = s.AlsoBought(ctx, seeds, s.cfg.Recommendations); err != nil {
		return v, err
	}
	return v, nil
}

// MoreOrders is the page of a customer's orders after the cursor.
func (s *Service) MoreOrders(ctx context.Context, customerID string, after inbox.Cursor) ([]Order, bool, error) {
	orders, err := s.store.OrdersOf(ctx, customerID, after, OrdersPerPage+1)
	if err != nil {
		return nil, false, fmt.Errorf("orders of %s: %w", customerID, err)
	}
	if len(orders) > OrdersPerPage {
		return orders[:OrdersPerPage], true, nil
	}
	return orders, false, nil
}

func (s *Service) cartView(ctx context.Context, c Cart) (CartView, error) {
	var skus []string
	for _, it := range c.Items {
		if it.SKU != "" {
			skus = append(skus, it.SKU)
		}
	}
	ps, err := s.store.Products(ctx, skus)
	if err != nil {
		return CartView{}, fmt.Errorf("products of cart %s: %w", c.ID, err)
	}
	cv := CartView{Cart: c}
	for _, it := range c.Items {
		ci := CartItem{LineItem: it, Stock: StockUnknown}
		if i := slices.IndexFunc(ps, func(p Product) bool { return p.SKU == it.SKU }); i >= 0 {
			ci.Product, ci.Stock = ps[i], ps[i].StockState(s.cfg.LowStock)
		}
		cv.Items = append(cv.Items, ci)
	}
	return cv, nil
}

// maxSeeds bounds how many SKUs recommendations start from.
const maxSeeds = 12

// AlsoBought returns up to n in-stock products most often ordered together with the seeds,
// excluding the seeds themselves. Counts from several seeds add up.
func (s *Service) AlsoBought(ctx context.Context, seeds []string, n int) ([]Product, error) {
	seen := map[string]bool{}
	var uniq []string
	for _, sku := range seeds {
		if sku != "" && !seen[sku] {
			seen[sku] = true
			uniq = append(uniq, sku)
		}
	}
	if len(uniq) > maxSeeds {
		uniq = uniq[:maxSeeds]
	}
	score := map[string]int64{}
	for _, sku := range uniq {
		cps, err := s.store.CoPurchases(ctx, sku, 3*n+5)
		if err != nil {
			return nil, fmt.Errorf("co-purchases of %s: %w", sku, err)
		}
		for _, cp := range cps {
			if !seen[cp.SKU] {
				score[cp.SKU] += cp.Count
			}
		}
	}
	if len(score) == 0 {
		return nil, nil
	}
	cands := make([]string, 0, len(score))
	for sku := range score {
		cands = append(cands, sku)
	}
	slices.SortFunc(cands, func(a, b string) int { return cmp.Or(cmp.Compare(score[b], score[a]), cmp.Compare(a, b)) })
	// Out-of-stock candidates are dropped below; read a few more than needed to fill n.
	if len(cands) > 3*n+5 {
		cands = cands[:3*n+5]
	}
	ps, err := s.store.Products(ctx, cands)
	if err != nil {
		return nil, fmt.Errorf("recommended products: %w", err)
	}
	byID := map[string]Product{}
	for _, p := range ps {
		byID[p.SKU] = p
	}
	var out []Product
	for _, sku := range cands {
		p, ok := byID[sku]
		if !ok || p.StockState(s.cfg.LowStock) == StockOut {
			continue
		}
		out = append(out, p)
		if len(out) == n {
			break
		}
	}
	return out, nil
}
