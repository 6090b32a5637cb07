package shop

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/serambi/serambi/commerce"
)

// rupiah formats minor units of IDR as shoppers write it: "Rp 325.000".
func rupiah(minor int64) string {
	s := fmt.Sprint(minor / 100)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte('.')
		}
		b.WriteRune(c)
	}
	return "Rp " + b.String()
}

func minor(rp int64) int64 { return rp * 100 }

// products makes the catalogue's products with stock per location: most in stock, some low, a
// few sold out, and a couple untracked (made to order).
func (g *generator) products() {
	for i, it := range catalogue() {
		p := commerce.Product{
			SKU: it.SKU, Name: it.Name, ImageURL: g.imageURL(it.SKU), URL: ShopURL + "/p/" + slug(it.Name),
			Price: minor(it.Rupiah), Currency: Currency, Tracked: true, Source: commerce.SourceAPI,
			ShopUpdatedAt: g.now.Add(-jitter(g.r, time.Hour, 20*24*time.Hour)),
		}
		switch {
		case it.SKU == "BTK-TRT-KN" || it.SKU == "HMP-LBR-NUS":
			p.Tracked = false // hand-made to order
		case i%9 == 4:
			p.Stock = []commerce.StockLevel{{Location: locWarehouse, Available: 0}, {Location: locBandung, Available: 0}}
		case i%7 == 2:
			p.Stock = []commerce.StockLevel{{Location: locWarehouse, Available: int64(g.r.IntN(3) + 1)}, {Location: locBandung, Available: 0}}
		default:
			p.Stock = []commerce.StockLevel{
				{Location: locWarehouse, Available: int64(12 + g.r.IntN(140))},
				{Location: locBandung, Available: int64(g.r.IntN(15))},
				{Location: locJogja, Available: int64(g.r.IntN(10))},
			}
		}
		g.w.Products = append(g.w.Products, p)
	}
}

// orderPlan is an order with the times of its steps; zero times are steps not (yet) reached.
type orderPlan struct {
	customer                                     int
	placed, paid, shipped, outFor, delivered     time.Time
	ready, pickedUp, cancelled, refunded, failed time.Time
	carrier                                      string
}

// carrier is a courier with its tracking number format and page.
type carrier struct {
	name   string
	number func(r *rand.Rand) string
	url    func(n string) string
	days   [2]int
}

func carriers() []carrier {
	digits := func(r *rand.Rand, n int) string {
		var b strings.Builder
		for range n {
			b.WriteByte(byte('0' + r.IntN(10)))
		}
		return b.String()
	}
	return []carrier{
		{name: "JNE", number: func(r *rand.Rand) string { return "CGK" + digits(r, 12) },
			url: func(n string) string { return "https://www.jne.co.id/tracking-package?awb=" + n }, days: [2]int{1, 4}},
		{name: "J&T Express", number: func(r *rand.Rand) string { return "JP" + digits(r, 10) },
			url: func(n string) string { return "https://jet.co.id/track?awb=" + n }, days: [2]int{1, 5}},
		{name: "SiCepat", number: func(r *rand.Rand) string { return "0040" + digits(r, 8) },
			url: func(n string) string { return "https://www.sicepat.com/checkAwb?awb=" + n }, days: [2]int{1, 3}},
	}
}

// wib is Western Indonesia Time, where the shop and most customers are.
func wib() *time.Location { return time.FixedZone("WIB", 7*3600) }

// daytime moves t to the next morning (07:00-10:00 WIB) if it falls at night (after 22:00 or
// before 07:00), unless that would reach limit (zero: no limit).
func daytime(r *rand.Rand, t, limit time.Time) time.Time {
	return within(r, t, limit, 7, 22)
}

// within moves t into the hours [from, to) WIB of its day or the next, unless that would reach
// limit (zero: no limit).
func within(r *rand.Rand, t, limit time.Time, from, to int) time.Time {
	l := t.In(wib())
	if l.Hour() >= from && l.Hour() < to {
		return t
	}
	day := time.Date(l.Year(), l.Month(), l.Day(), 0, 0, 0, 0, wib())
	if l.Hour() >= to {
		day = day.AddDate(0, 0, 1)
	}
	moved := day.Add(time.Duration(from)*time.Hour + jitter(r, 0, 3*time.Hour)).UTC()
	if !limit.IsZero() && !moved.Before(limit) {
		return t
	}
	return moved
}

// orders places the world's orders: every customer with a shop account has at least one, regulars
// many, and the rest spread by appetite. More orders are recent than old (the shop grows).
func (g *generator) orders() {
	var buyers []int
	var weights []float64
	total := 0.0
	for i, c := range g.w.Customers {
		if c.ShopID == "" {
			continue
		}
		w := 0.3 + g.r.ExpFloat64()
		if c.segment == segRegular {
			w = 5 + 3*g.r.Float64()
		}
		buyers = append(buyers, i)
		weights = append(weights, w)
		total += w
	}
	owner := slices.Clone(buyers)
	for len(owner) < g.size.orders {
		x := g.r.Float64() * total
		k := 0
		for ; k < len(weights)-1 && x >= weights[k]; k++ {
			x -= weights[k]
		}
		owner = append(owner, buyers[k])
	}
	span := g.now.Add(-20 * time.Minute).Sub(g.start)
	plans := make([]orderPlan, len(owner))
	for i, cust := range owner {
		// sqrt: the density of orders grows linearly towards now.
		at := g.start.Add(time.Duration(math.Sqrt(g.r.Float64()) * float64(span)))
		plans[i] = orderPlan{customer: cust, placed: daytime(g.r, at, g.now.Add(-10*time.Minute)).Truncate(time.Second)}
	}
	slices.SortStableFunc(plans, func(a, b orderPlan) int { return a.placed.Compare(b.placed) })
	cat := catalogue()
	for i := range plans {
		p := &plans[i]
		c := g.w.Customers[p.customer]
		o := commerce.Order{
			ID: fmt.Sprintf("ord-%d", 10001+i), Number: fmt.Sprintf("#%d", 10001+i),
			Contact:  commerce.Contact{ShopCustomerID: c.ShopID, Email: c.Email, Phone: c.Phone, Name: c.Name},
			Currency: Currency, Source: commerce.SourceAPI, PlacedAt: p.placed,
		}
		o.AdminURL = ShopURL + "/admin/orders/" + o.ID
		n := 1 + g.r.IntN(3)
		if g.r.IntN(6) == 0 {
			n++
		}
		var skus []string
		for len(o.Items) < n {
			it := g.basketItem(cat, skus)
			skus = append(skus, it.SKU)
			q := int64(1)
			if it.Rupiah < 100000 && g.r.IntN(3) == 0 {
				q = int64(2 + g.r.IntN(2))
			}
			o.Items = append(o.Items, commerce.LineItem{
				ID: fmt.Sprintf("%s-%d", o.ID, len(o.Items)+1), SKU: it.SKU, Name: it.Name, ImageURL: g.imageURL(it.SKU),
				Quantity: q, UnitPrice: minor(it.Rupiah), Total: minor(it.Rupiah) * q,
			})
			o.Subtotal += minor(it.Rupiah) * q
		}
		pickup := g.r.IntN(10) == 0
		o.Pickup = pickup
		if !pickup && o.Subtotal < minor(500000) {
			o.Shipping = minor(int64(12+g.r.IntN(30)) * 1000)
		}
		if g.r.IntN(8) == 0 {
			o.Discount = min(o.Subtotal/10, minor(50000)) / minor(1000) * minor(1000)
		}
		o.Total = o.Subtotal + o.Shipping - o.Discount
		g.steps(p, &o)
		g.w.Orders = append(g.w.Orders, o)
		g.w.OrderIDs = append(g.w.OrderIDs, o.ID)
	}
	g.plans = plans
}

// basketItem picks a product, favouring what sells: coffee and batik more than crafts.
func (g *generator) basketItem(cat []item, have []string) item {
	for {
		it := cat[g.r.IntN(len(cat))]
		if slices.Contains(have, it.SKU) {
			continue
		}
		if (it.Category == "kerajinan" || it.Rupiah > 400000) && g.r.IntN(3) != 0 {
			continue
		}
		return it
	}
}

// steps decides how far the order got by now, and writes its status and history.
func (g *generator) steps(p *orderPlan, o *commerce.Order) {
	r, now := g.r, g.now
	reached := func(t time.Time) bool { return !t.IsZero() && !t.After(now) }
	h := []commerce.StatusEvent{{At: p.placed, Kind: commerce.EventPayment, Status: string(commerce.PaymentPending)},
		{At: p.placed, Kind: commerce.EventFulfillment, Status: string(commerce.FulfillmentUnfulfilled)}}
	add := func(t time.Time, k commerce.EventKind, s string) {
		h = append(h, commerce.StatusEvent{At: t, Kind: k, Status: s})
	}
	o.Payment, o.Fulfillment = commerce.PaymentPending, commerce.FulfillmentUnfulfilled
	last := p.placed
	if r.IntN(25) == 0 {
		// Never paid: the shop cancels unpaid orders after a day.
		p.cancelled = p.placed.Add(24 * time.Hour)
		if reached(p.cancelled) {
			o.Payment, o.Cancelled, o.CancelledAt = commerce.PaymentVoided, true, p.cancelled
			o.CancelReason = "Pembayaran tidak diterima dalam 24 jam"
			add(p.cancelled, commerce.EventPayment, string(commerce.PaymentVoided))
			last = p.cancelled
		}
		o.History, o.ShopUpdatedAt = h, last
		return
	}
	p.paid = p.placed.Add(jitter(r, 2*time.Minute, 5*time.Hour))
	if !reached(p.paid) {
		o.History, o.ShopUpdatedAt = h, last
		return
	}
	o.Payment, last = commerce.PaymentPaid, p.paid
	add(p.paid, commerce.EventPayment, string(commerce.PaymentPaid))
	if o.Pickup {
		p.ready = daytime(r, p.paid.Add(jitter(r, 2*time.Hour, 20*time.Hour)), time.Time{})
		p.pickedUp = daytime(r, p.ready.Add(jitter(r, 3*time.Hour, 72*time.Hour)), time.Time{})
		if reached(p.ready) {
			o.Fulfillment, last = commerce.FulfillmentReadyForPickup, p.ready
			add(p.ready, commerce.EventFulfillment, string(commerce.FulfillmentReadyForPickup))
		}
		if reached(p.pickedUp) {
			o.Fulfillment, last = commerce.FulfillmentPickedUp, p.pickedUp
			add(p.pickedUp, commerce.EventFulfillment, string(commerce.FulfillmentPickedUp))
		}
		o.History, o.ShopUpdatedAt = h, last
		return
	}
	cs := carriers()
	ci := r.IntN(len(cs))
	cr := cs[ci]
	p.carrier = cr.name
	p.shipped = daytime(r, p.paid.Add(jitter(r, 3*time.Hour, 30*time.Hour)), time.Time{})
	p.delivered = daytime(r, p.shipped.Add(time.Duration(cr.days[0]+r.IntN(cr.days[1]-cr.days[0]+1))*24*time.Hour+jitter(r, 0, 6*time.Hour)), time.Time{})
	p.outFor = p.delivered.Add(-jitter(r, 2*time.Hour, 6*time.Hour))
	if r.IntN(80) == 0 {
		p.failed, p.delivered = p.delivered, time.Time{}
	}
	if !reached(p.shipped) {
		o.History, o.ShopUpdatedAt = h, last
		return
	}
	num := cr.number(r)
	o.Tracking = []commerce.Tracking{{Number: num, Carrier: cr.name, URL: cr.url(num)}}
	o.Fulfillment, last = commerce.FulfillmentFulfilled, p.shipped
	add(p.shipped, commerce.EventFulfillment, string(commerce.FulfillmentFulfilled))
	transit := p.shipped.Add(jitter(r, 2*time.Hour, 8*time.Hour))
	if reached(transit) {
		o.Fulfillment, last = commerce.FulfillmentInTransit, transit
		add(transit, commerce.EventFulfillment, string(commerce.FulfillmentInTransit))
	}
	if reached(p.outFor) && p.outFor.After(transit) {
		o.Fulfillment, last = commerce.FulfillmentOutForDelivery, p.outFor
		add(p.outFor, commerce.EventFulfillment, string(commerce.FulfillmentOutForDelivery))
	}
	if reached(p.failed) {
		o.Fulfillment, last = commerce.FulfillmentFailed, p.failed
		add(p.failed, commerce.EventFulfillment, string(commerce.FulfillmentFailed))
	}
	if reached(p.delivered) {
		o.Fulfillment, last = commerce.FulfillmentDelivered, p.delivered
		add(p.delivered, commerce.EventFulfillment, string(commerce.FulfillmentDelivered))
		// Some deliveries come back: a return of one item, or of everything.
		if r.IntN(30) == 0 {
			p.refunded = daytime(r, p.delivered.Add(jitter(r, 3*24*time.Hour, 9*24*time.Hour)), time.Time{})
			if reached(p.refunded) {
				o.Refunded = o.Items[0].Total
				o.Payment = commerce.PaymentPartiallyRefunded
				if len(o.Items) == 1 {
					o.Refunded, o.Payment = o.Total, commerce.PaymentRefunded
				}
				add(p.refunded, commerce.EventRefund, fmt.Sprint(o.Refunded))
				add(p.refunded, commerce.EventPayment, string(o.Payment))
				last = p.refunded
			} else {
				p.refunded = time.Time{}
			}
		}
	}
	o.History, o.ShopUpdatedAt = h, last
}

// carts makes live carts: some touched in the last hour (open), more left days ago (Seed marks
// those abandoned, as the commerce sweep would).
func (g *generator) carts() {
	var pool []int
	for i, c := range g.w.Customers {
		if c.ShopID != "" {
			pool = append(pool, i)
		}
	}
	g.r.Shuffle(len(pool), func(a, b int) { pool[a], pool[b] = pool[b], pool[a] })
	// The tour customer has an open cart.
	if i := slices.Index(pool, g.w.tour); i > 0 {
		pool[0], pool[i] = pool[i], pool[0]
	}
	cat := catalogue()
	for k := range g.size.openCarts + g.size.oldCarts {
		c := g.w.Customers[pool[k]]
		touched := g.now.Add(-jitter(g.r, 2*time.Minute, 45*time.Minute))
		if k >= g.size.openCarts {
			touched = g.now.Add(-jitter(g.r, 2*time.Hour, 12*24*time.Hour))
		}
		cart := commerce.Cart{
			ID: fmt.Sprintf("cart-%d", 50001+k), Contact: commerce.Contact{ShopCustomerID: c.ShopID, Email: c.Email, Phone: c.Phone, Name: c.Name},
			Currency: Currency, Source: commerce.SourceAPI, ShopCreatedAt: touched.Add(-jitter(g.r, time.Minute, 3*time.Hour)),
			ShopUpdatedAt: touched,
		}
		var skus []string
		for range 1 + g.r.IntN(3) {
			it := g.basketItem(cat, skus)
			skus = append(skus, it.SKU)
			q := int64(1 + g.r.IntN(2))
			cart.Items = append(cart.Items, commerce.LineItem{SKU: it.SKU, Name: it.Name, ImageURL: g.imageURL(it.SKU),
				Quantity: q, UnitPrice: minor(it.Rupiah), Total: minor(it.Rupiah) * q})
			cart.Total += minor(it.Rupiah) * q
		}
		g.w.Carts = append(g.w.Carts, cart)
		g.w.CartIDs = append(g.w.CartIDs, cart.ID)
	}
}

// Loyalty tiers by what the customer spent in the last six months.
func tierOf(spentRupiah int64) string {
	switch {
	case spentRupiah >= 7_000_000:
		return "Platinum"
	case spentRupiah >= 3_000_000:
		return "Gold"
	case spentRupiah >= 1_000_000:
		return "Silver"
	}
	return "Bronze"
}

// loyalty gives every customer who bought something an account: a point per Rp 10.000 spent,
// less what they redeemed.
func (g *generator) loyalty() {
	spent := make([]int64, len(g.w.Customers))
	last := make([]time.Time, len(g.w.Customers))
	for i, o := range g.w.Orders {
		c := g.plans[i].customer
		spent[c] += o.Net()
		if o.ShopUpdatedAt.After(last[c]) {
			last[c] = o.ShopUpdatedAt
		}
	}
	for i := range g.w.Customers {
		c := &g.w.Customers[i]
		if c.ShopID == "" || spent[i] == 0 {
			continue
		}
		rp := spent[i] / 100
		points := rp / 10000
		if points > 100 && g.r.IntN(3) == 0 {
			points -= int64(g.r.IntN(int(points / 2)))
		}
		c.Tier = tierOf(rp)
		g.w.Loyalty = append(g.w.Loyalty, commerce.Loyalty{
			ShopCustomerID: c.ShopID, Contact: commerce.Contact{ShopCustomerID: c.ShopID, Email: c.Email, Phone: c.Phone, Name: c.Name},
			Points: points, Tier: c.Tier, ShopUpdatedAt: last[i],
		})
	}
}
