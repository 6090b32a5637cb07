// Package commerce is the shop beside every conversation: products and their stock per location,
// the customer's live cart, orders with their payment and fulfilment history, loyalty points, the
// per-customer value (lifetime value, order count, average order value) and "customers who bought
// X also bought Y" recommendations. Shops feed it through the REST API (api.go) and through Shopify
// and WooCommerce webhooks (shopify.go, woocommerce.go); agents act on it from the console
// (actions.go): product and order cards into the conversation, cancellations and refunds through
// the shop.
//
// Everything a shop sends carries the shop's own last-modified time. Updates are applied by that
// version, never by arrival order, so a webhook retried, duplicated or delivered late never moves
// anything back (merge.go).
package commerce

import (
	"slices"
	"time"

	"github.com/serambi/serambi/bus"
)

// TopicChanged is published when a customer's cart, orders or loyalty change; CustomerID names
// the customer. The console hub re-renders the commerce panel of that customer on it.
const TopicChanged bus.Topic = "commerce.changed"

// Source names where a record came from; actions on an order go back to its source.
type Source string

const (
	SourceAPI         Source = "api"
	SourceShopify     Source = "shopify"
	SourceWooCommerce Source = "woocommerce"
)

// StockLevel is how many units of a product one location can sell.
type StockLevel struct {
	Location  string `json:"location"`
	Available int64  `json:"available"`
}

// Product is one sellable unit, keyed by SKU (a variant, in Shopify's terms).
type Product struct {
	SKU      string `json:"sku"`
	Name     string `json:"name"`
	ImageURL string `json:"imageUrl,omitempty"`
	URL      string `json:"url,omitempty"`
	// Price is in minor units of Currency (ISO 4217): 42500000 IDR is Rp 425.000.
	Price    int64  `json:"price"`
	Currency string `json:"currency"`
	// Tracked is whether the shop counts this product's stock. An untracked product is never low;
	// it is out of stock only when the shop says it is sold out.
	Tracked bool         `json:"tracked"`
	Stock   []StockLevel `json:"stock,omitempty"`
	SoldOut bool         `json:"soldOut,omitempty"`
	Source  Source       `json:"source"`
	// ShopUpdatedAt and Digest are the version: see merge.go.
	ShopUpdatedAt time.Time `json:"shopUpdatedAt"`
	Digest        string    `json:"digest"`
	UpdatedAt     time.Time `json:"updatedAt"` // when Serambi stored this version
}

// Available is the stock summed over every location.
func (p Product) Available() int64 {
	var n int64
	for _, s := range p.Stock {
		if s.Available > 0 {
			n += s.Available
		}
	}
	return n
}

// StockState is what an agent needs to know about a product's stock at a glance.
type StockState string

const (
	StockUnknown StockState = "unknown" // the product is not known to Serambi
	StockOK      StockState = "ok"
	StockLow     StockState = "low"
	StockOut     StockState = "out"
)

// StockState says whether p is in stock, low (at most lowAt units left) or out.
func (p Product) StockState(lowAt int64) StockState {
	switch {
	case p.SKU == "":
		return StockUnknown
	case p.SoldOut:
		return StockOut
	case !p.Tracked:
		return StockOK
	case p.Available() <= 0:
		return StockOut
	case p.Available() <= lowAt:
		return StockLow
	}
	return StockOK
}

// Contact is what a shop tells about the customer of a cart, order or loyalty account. Serambi
// links the record to a customer through these, by the inbox's identity rules (service.go).
type Contact struct {
	ShopCustomerID string `json:"shopCustomerId,omitempty"`
	Email          string `json:"email,omitempty"`
	Phone          string `json:"phone,omitempty"`
	Name           string `json:"name,omitempty"`
}

// IsZero reports whether the contact names nobody.
func (c Contact) IsZero() bool { return c.ShopCustomerID == "" && c.Email == "" && c.Phone == "" }

// LineItem is one product in a cart or order.
type LineItem struct {
	// ID is the shop's own line item id; refunds of single items name it.
	ID       string `json:"id,omitempty"`
	SKU      string `json:"sku"`
	Name     string `json:"name"`
	ImageURL string `json:"imageUrl,omitempty"`
	Quantity int64  `json:"quantity"`
	// UnitPrice and Total are minor units of the cart's or order's currency.
	UnitPrice int64 `json:"unitPrice"`
	Total     int64 `json:"total"`
}

// CartStatus is where a cart stands.
type CartStatus string

const (
	CartOpen CartStatus = "open"
	// CartAbandoned: untouched for longer than the configured time (sweep.go). A newer version
	// from the shop makes it open again.
	CartAbandoned CartStatus = "abandoned"
	// CartConverted: an order was placed from it. It stays converted.
	CartConverted CartStatus = "converted"
)

// Cart is a customer's live cart.
type Cart struct {
	ID         string     `json:"id"`
	CustomerID string     `json:"customerId,omitempty"`
	Contact    Contact    `json:"contact"`
	Items      []LineItem `json:"items"`
	Currency   string     `json:"currency"`
	Total      int64      `json:"total"`
	Status     CartStatus `json:"status"`
	Source     Source     `json:"source"`
	// OrderID is the order the cart became, once converted.
	OrderID       string    `json:"orderId,omitempty"`
	AbandonedAt   time.Time `json:"abandonedAt,omitzero"`
	ConvertedAt   time.Time `json:"convertedAt,omitzero"`
	ShopCreatedAt time.Time `json:"shopCreatedAt,omitzero"`
	ShopUpdatedAt time.Time `json:"shopUpdatedAt"`
	Digest        string    `json:"digest"`
	UpdatedAt     time.Time `json:"updatedAt"`
}

// Quantity is the number of units in the cart.
func (c Cart) Quantity() int64 {
	var n int64
	for _, it := range c.Items {
		n += it.Quantity
	}
	return n
}

// Touched is when the cart last changed by the shop's clock, what the abandoned sweep compares.
func (c Cart) Touched() time.Time {
	if c.ShopUpdatedAt.IsZero() {
		return c.UpdatedAt
	}
	return c.ShopUpdatedAt
}

// PaymentStatus is how far an order's payment got.
type PaymentStatus string

const (
	PaymentUnknown           PaymentStatus = ""
	PaymentPending           PaymentStatus = "pending"
	PaymentAuthorized        PaymentStatus = "authorized"
	PaymentPartiallyPaid     PaymentStatus = "partially_paid"
	PaymentPaid              PaymentStatus = "paid"
	PaymentPartiallyRefunded PaymentStatus = "partially_refunded"
	PaymentRefunded          PaymentStatus = "refunded"
	PaymentVoided            PaymentStatus = "voided"
	PaymentFailed            PaymentStatus = "failed"
)

// Valid reports whether p is a known payment status.
func (p PaymentStatus) Valid() bool {
	switch p {
	case PaymentUnknown, PaymentPending, PaymentAuthorized, PaymentPartiallyPaid, PaymentPaid,
		PaymentPartiallyRefunded, PaymentRefunded, PaymentVoided, PaymentFailed:
		return true
	}
	return false
}

// FulfillmentStatus is how far an order's delivery got.
type FulfillmentStatus string

const (
	FulfillmentUnfulfilled    FulfillmentStatus = "unfulfilled"
	FulfillmentPartial        FulfillmentStatus = "partial"
	FulfillmentFulfilled      FulfillmentStatus = "fulfilled"
	FulfillmentInTransit      FulfillmentStatus = "in_transit"
	FulfillmentOutForDelivery FulfillmentStatus = "out_for_delivery"
	FulfillmentDelivered      FulfillmentStatus = "delivered"
	FulfillmentReadyForPickup FulfillmentStatus = "ready_for_pickup"
	FulfillmentPickedUp       FulfillmentStatus = "picked_up"
	FulfillmentFailed         FulfillmentStatus = "failed"
)

// Valid reports whether f is a known fulfilment status.
func (f FulfillmentStatus) Valid() bool {
	switch f {
	case FulfillmentUnfulfilled, FulfillmentPartial, FulfillmentFulfilled, FulfillmentInTransit,
		FulfillmentOutForDelivery, FulfillmentDelivered, FulfillmentReadyForPickup, FulfillmentPickedUp, FulfillmentFailed:
		return true
	}
	return false
}

// Tracking is one shipment's tracking.
type Tracking struct {
	Number  string `json:"number"`
	Carrier string `json:"carrier,omitempty"`
	URL     string `json:"url,omitempty"`
}

// EventKind names a step in an order's history.
type EventKind string

const (
	EventPlaced      EventKind = "placed"
	EventPayment     EventKind = "payment"
	EventFulfillment EventKind = "fulfillment"
	EventCancelled   EventKind = "cancelled"
	// EventRefund: money went back; Status is the amount in minor units of the order's currency.
	EventRefund EventKind = "refund"
)

// StatusEvent is one step of an order's history: what it was at a time, by the shop's clock.
type StatusEvent struct {
	At     time.Time `json:"at"`
	Kind   EventKind `json:"kind"`
	Status string    `json:"status,omitempty"`
}

// Order is a placed order.
type Order struct {
	ID string `json:"id"`
	// Number is what the customer and the shop call it ("#1042").
	Number     string     `json:"number"`
	CustomerID string     `json:"customerId,omitempty"`
	Contact    Contact    `json:"contact"`
	CartID     string     `json:"cartId,omitempty"`
	Items      []LineItem `json:"items"`
	Currency   string     `json:"currency"`
	Subtotal   int64      `json:"subtotal"`
	Shipping   int64      `json:"shipping"`
	Tax        int64      `json:"tax"`
	Discount   int64      `json:"discount"`
	Total      int64      `json:"total"`
	// Refunded is the amount given back so far.
	Refunded     int64             `json:"refunded"`
	Payment      PaymentStatus     `json:"payment"`
	Fulfillment  FulfillmentStatus `json:"fulfillment"`
	Cancelled    bool              `json:"cancelled"`
	CancelledAt  time.Time         `json:"cancelledAt,omitzero"`
	CancelReason string            `json:"cancelReason,omitempty"`
	// Pickup is set when the customer collects the order in a store.
	Pickup   bool       `json:"pickup"`
	Tracking []Tracking `json:"tracking,omitempty"`
	// History is every status step seen, oldest first (merge.go keeps it order-independent).
	History []StatusEvent `json:"history"`
	Source  Source        `json:"source"`
	// AdminURL is where the order opens in the shop's admin, when known.
	AdminURL      string    `json:"adminUrl,omitempty"`
	PlacedAt      time.Time `json:"placedAt"`
	ShopUpdatedAt time.Time `json:"shopUpdatedAt"`
	Digest        string    `json:"digest"`
	CreatedAt     time.Time `json:"createdAt"` // when Serambi first stored it
	UpdatedAt     time.Time `json:"updatedAt"`
}

// Net is what the order is worth to the shop: its total less refunds; zero when cancelled.
func (o Order) Net() int64 {
	if o.Cancelled {
		return 0
	}
	return o.Total - o.Refunded
}

// Basket is the set of SKUs the order contributes to co-purchase counts: every SKU ordered, sorted,
// once; none when the order is cancelled. Stores keep the counts in step with it.
func (o Order) Basket() []string {
	if o.Cancelled {
		return nil
	}
	var out []string
	for _, it := range o.Items {
		if it.SKU != "" && it.Quantity > 0 && !slices.Contains(out, it.SKU) {
			out = append(out, it.SKU)
		}
	}
	slices.Sort(out)
	return out
}

// Item returns the line item with the shop's id.
func (o Order) Item(lineItemID string) (LineItem, bool) {
	for _, it := range o.Items {
		if it.ID == lineItemID {
			return it, true
		}
	}
	return LineItem{}, false
}

// Loyalty is a customer's standing in the shop's loyalty programme.
type Loyalty struct {
	ShopCustomerID string    `json:"shopCustomerId"`
	CustomerID     string    `json:"customerId,omitempty"`
	Contact        Contact   `json:"contact"`
	Points         int64     `json:"points"`
	Tier           string    `json:"tier,omitempty"`
	ShopUpdatedAt  time.Time `json:"shopUpdatedAt"`
	Digest         string    `json:"digest"`
	UpdatedAt      time.Time `json:"updatedAt"`
}

// Summary is a customer's value in one currency, computed from their orders (cancelled orders
// excluded, refunds subtracted).
type Summary struct {
	Currency string    `json:"currency"`
	Orders   int       `json:"orders"`
	Value    int64     `json:"value"` // lifetime value in minor units
	First    time.Time `json:"first"`
	Last     time.Time `json:"last"`
}

// AverageOrder is the average order value in minor units.
func (s Summary) AverageOrder() int64 {
	if s.Orders == 0 {
		return 0
	}
	return s.Value / int64(s.Orders)
}

// CoPurchase says how many orders had Other together with the SKU asked about.
type CoPurchase struct {
	SKU   string `json:"sku"`
	Count int64  `json:"count"`
}
