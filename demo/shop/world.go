// Package shop is the demo's online shop: Toko Serambi, an Indonesian shop of batik, coffee,
// spices, kitchenware and crafts. Generate builds its world deterministically — products with
// stock, customers who write in on every channel, six months of orders, live carts, loyalty and
// conversation history in Bahasa Indonesia and English — and Seed writes it into the real stores
// once, as the connectors and the shop's API would have left it.
//
// Every customer's identities are exactly those the connectors produce when that person writes
// in (see Customer), so a simulated message over the real widget socket, Telegram or WhatsApp
// webhook, mailbox or CTI webhook joins the seeded customer's one conversation.
package shop

import (
	"math/rand/v2"
	"slices"
	"time"

	"github.com/serambi/serambi/commerce"
	"github.com/serambi/serambi/inbox"
)

// Currency is the shop's currency. Amounts are ISO 4217 minor units: IDR has two decimals in
// ISO 4217 (commerce/money.go), so Rp 325.000 is 32500000.
const Currency = "IDR"

// ShopURL is the shop's (fictional) site: products live at ShopURL/p/<slug>.
const ShopURL = "https://toko.example"

// ShopEmail is the support mailbox the seeded email history was sent from and to. A demo mail
// server should use this address, so that replies thread with the seeded mails.
const ShopEmail = "halo@toko.example"

// ShopPhone is the number customers call (the "to" of seeded calls).
const ShopPhone = "+622150001234"

// TelegramBotID is the bot id (the part of the token before the colon) that seeded Telegram
// message ids are scoped by ("<bot id>:<chat id>:<message id>", connectors/telegram). A demo
// whose bot token starts with "7000000001:" continues the same chats. Seeded message ids are
// below 1000 in every chat; a simulation should use higher ones.
const TelegramBotID = "7000000001"

// WidgetInbox is the widget inbox id of the seeded widget messages (the connector's default).
const WidgetInbox = "default"

// Customer is one of the shop's customers, with the identifiers the channels know them by.
// Each identifier is stored on the inbox customer as a verified identity, normalised as the
// connectors normalise it:
//
//   - ShopID: identity shop:<ShopID> (the shop's API, webhooks and signed widget visitors).
//   - Email: identity email:<Email>, lower case; the email connector's From.
//   - Phone: identity phone:<Phone> in E.164 (voice calls, shop orders); when WhatsApp is set,
//     also whatsapp:<Phone> — the WhatsApp connector turns wa_id "6281234567890" into
//     "+6281234567890" for both kinds.
//   - TelegramID: identity telegram:<decimal user id> (message.from.id).
//   - WidgetVisitor: the widget identity's value. "s:<ShopID>" for a visitor the shop signs
//     for: a JWT {"sub": ShopID, "email": Email, "name": Name, "exp": ...} made with
//     widget.SignIdentity and the widget inbox's JWT secret. "v:<visitor id>" for an anonymous
//     visitor; WidgetToken is then the token whose visitor id that is (the widget derives it as
//     base64url(SHA-256("serambi-widget-visitor\x00" + token)[:16])), which a simulated browser
//     can present to continue that visitor's chat.
type Customer struct {
	// ID is the inbox customer id.
	ID               string
	Name, Locale     string
	ShopID           string
	Email            string
	Phone            string
	WhatsApp         bool
	TelegramID       int64
	TelegramUsername string
	WidgetVisitor    string
	WidgetToken      string
	// Channels are the channels the customer uses, for a simulation to pick from.
	Channels []inbox.Channel
	// Tier is the loyalty tier ("" without a loyalty account).
	Tier string
	// History says the customer has a seeded conversation; Timeline lists the channels its
	// messages came and went on, in the order first used.
	History  bool
	Timeline []inbox.Channel

	since   time.Time // when Serambi first heard of them
	segment segment
	anonID  string // the widget visitor id of their browser, in widget message ids
}

// MultiChannel reports whether the customer's seeded conversation holds messages from three
// channels or more.
func (c Customer) MultiChannel() bool { return len(c.Timeline) >= 3 }

// World is the generated shop.
type World struct {
	Products  []commerce.Product
	Customers []Customer
	// OrderIDs are the shop's order ids, oldest first, so a simulation can move orders through
	// fulfilment (PutOrder with a later ShopUpdatedAt).
	OrderIDs []string
	// CartIDs are the live carts (open or abandoned) a simulation may change.
	CartIDs  []string
	Currency string
	// Orders, Carts and Loyalty are the records as the shop sent them (Seed stores them through
	// commerce.Service), index-aligned with OrderIDs and CartIDs.
	Orders  []commerce.Order
	Carts   []commerce.Cart
	Loyalty []commerce.Loyalty

	threads []thread
	tour    int // index of TourCustomer
}

// TourCustomer is the customer to show in a tour of the console: a regular on the most channels,
// with orders, an open cart and a loyalty tier, whose last message — on WhatsApp, in the last
// hours before the world was generated — waits for an answer.
func (w World) TourCustomer() Customer { return w.Customers[w.tour] }

// MultiChannel returns the customers whose conversation holds messages from three channels or
// more, the ones that show the one timeline best: those on the most channels first.
func (w World) MultiChannel() []Customer {
	var out []Customer
	for _, c := range w.Customers {
		if c.MultiChannel() {
			out = append(out, c)
		}
	}
	slices.SortStableFunc(out, func(a, b Customer) int { return len(b.Timeline) - len(a.Timeline) })
	return out
}

// CustomerByShopID returns the customer with that shop id.
func (w World) CustomerByShopID(id string) (Customer, bool) {
	i := slices.IndexFunc(w.Customers, func(c Customer) bool { return c.ShopID == id && id != "" })
	if i < 0 {
		return Customer{}, false
	}
	return w.Customers[i], true
}

// OrdersOf returns the customer's orders, oldest first.
func (w World) OrdersOf(c Customer) []commerce.Order {
	var out []commerce.Order
	for _, o := range w.Orders {
		if c.ShopID != "" && o.Contact.ShopCustomerID == c.ShopID {
			out = append(out, o)
		}
	}
	return out
}

// Say is something natural for customer c to write, the k-th of their variants: a question
// about their latest order or a product, in their language.
func (w World) Say(c Customer, k int) string {
	r := rand.New(rand.NewPCG(uint64(k), uint64(len(c.Name))+uint64(c.TelegramID)))
	orders := w.OrdersOf(c)
	var keys []string
	if len(orders) > 0 {
		keys = []string{tShipping, tPayment, tThanks, tReturn, tDamaged}
	}
	keys = append(keys, tStock, tPromo, tSize)
	t := topicByKey(keys[k%len(keys)])
	f := facts{first: firstName(c.Name)}
	cat := catalogue()
	f.product = cat[(k*11+len(c.Name))%len(cat)].Name
	if len(orders) > 0 {
		o := orders[len(orders)-1]
		f.order, f.amount = o.Number, rupiah(o.Total)
		f.product = o.Items[0].Name
	}
	if t.key == tSize {
		f.product = sizedProduct(r).Name
	}
	return f.fill(pick(r, t.ask.in(c.Locale)))
}

// DemoAgent is a persona the seeded history is written by. A demo creates accounts for them and
// passes their ids to Seed (Stores.Agents), in this order.
type DemoAgent struct {
	Name, Email, Role, Locale, Extension string
}

// DemoAgents are the support team of Toko Serambi: the admin and two agents.
func DemoAgents() []DemoAgent {
	return []DemoAgent{
		{Name: "Admin Serambi", Email: "admin@toko.example", Role: "admin", Locale: "en", Extension: "200"},
		{Name: "Dewi Lestari", Email: "dewi@toko.example", Role: "agent", Locale: "id", Extension: "201"},
		{Name: "Rizky Pratama", Email: "rizky@toko.example", Role: "agent", Locale: "en", Extension: "202"},
	}
}

// Generate builds the world for a demo started at now: the same customers, products and ids on
// every call, with times placed relative to now (the last six months). It does no I/O. Product
// and line item image URLs are paths (ImagePath); Seed makes them absolute.
func Generate(now time.Time) World {
	return generate(now, "", fullSize())
}

// generate builds a world of size sz with images under base (a path when base is empty).
func generate(now time.Time, base string, sz size) World {
	g := newGenerator(now, base)
	g.size = sz
	g.products()
	g.customers()
	g.pickTour()
	g.orders()
	g.carts()
	g.loyalty()
	g.histories()
	g.finish()
	return g.w
}

// size is how big a world is.
type size struct {
	customers, regulars, prospects, orders, openCarts, oldCarts int
}

// fullSize is the demo's world: 300 customers, 25 of them regulars on three or more channels
// with long histories and about 40 prospects who wrote in but never ordered; 1,500 orders; 70
// live carts. Tests against the MongoDB stand-in, which scans a collection for every query that
// is not by _id, use a smaller one.
func fullSize() size {
	return size{customers: 300, regulars: 25, prospects: 40, orders: 1500, openCarts: 25, oldCarts: 45}
}

// window is how far back the shop's history goes.
const window = 182 * 24 * time.Hour

type segment int

const (
	segBuyer segment = iota
	segRegular
	segProspect
)

// generator holds the state of one Generate call.
type generator struct {
	now, start time.Time
	base       string
	r          *rand.Rand
	ids        *idSource
	size       size
	w          World
	// plans are the orders with the times of their steps, index-aligned with w.Orders.
	plans []orderPlan
}

func newGenerator(now time.Time, base string) *generator {
	now = now.UTC().Truncate(time.Second)
	return &generator{
		now: now, start: now.Add(-window), base: base,
		r:   rand.New(rand.NewPCG(0x5e7a3b1, 0x70c0)),
		ids: newIDSource(),
		w:   World{Currency: Currency},
	}
}

func (g *generator) imageURL(sku string) string { return g.base + ImagePath(sku) }

func pick[T any](r *rand.Rand, xs []T) T { return xs[r.IntN(len(xs))] }

// between returns a time uniformly in [a, b), whole seconds.
func between(r *rand.Rand, a, b time.Time) time.Time {
	d := b.Sub(a) / time.Second
	if d <= 0 {
		return a
	}
	return a.Add(time.Duration(r.Int64N(int64(d))) * time.Second)
}

// jitter returns a duration in [lo, hi), whole seconds.
func jitter(r *rand.Rand, lo, hi time.Duration) time.Duration {
	d := (hi - lo) / time.Second
	if d <= 0 {
		return lo
	}
	return lo + time.Duration(r.Int64N(int64(d)))*time.Second
}

// pickTour picks the tour customer: the regular on the most channels.
func (g *generator) pickTour() {
	best := -1
	for i, c := range g.w.Customers {
		if c.segment == segRegular && c.WhatsApp && (best < 0 || len(c.Channels) > len(g.w.Customers[best].Channels)) {
			best = i
		}
	}
	g.w.tour = max(best, 0)
}

// finish dates each customer from the first thing Serambi heard of them, gives customers and
// conversations their ids, and links the conversations to their customers.
func (g *generator) finish() {
	first := make([]time.Time, len(g.w.Customers))
	seen := func(i int, t time.Time) {
		if first[i].IsZero() || t.Before(first[i]) {
			first[i] = t
		}
	}
	for _, p := range g.plans {
		seen(p.customer, p.placed)
	}
	for _, th := range g.w.threads {
		seen(th.customer, th.msgs[0].CreatedAt)
	}
	for _, c := range g.w.Carts {
		if j := slices.IndexFunc(g.w.Customers, func(x Customer) bool { return x.ShopID == c.Contact.ShopCustomerID }); j >= 0 {
			seen(j, c.ShopCreatedAt)
		}
	}
	for i := range g.w.Customers {
		c := &g.w.Customers[i]
		c.since = first[i].Add(-time.Minute)
		if first[i].IsZero() {
			c.since = g.start
		}
		c.ID = g.ids.at(c.since)
	}
	for i := range g.w.threads {
		th := &g.w.threads[i]
		cid := g.w.Customers[th.customer].ID
		th.conv.CustomerID = cid
		g.w.Customers[th.customer].Timeline = slices.Clone(th.conv.Channels)
		for j := range th.msgs {
			th.msgs[j].ConversationID, th.msgs[j].CustomerID = th.conv.ID, cid
			if th.msgs[j].Direction == inbox.DirectionIn {
				th.msgs[j].AuthorID = cid
			}
		}
	}
}
