package commerce

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
)

// Shopify webhooks: orders/create, orders/updated, orders/fulfilled (and the other orders/*
// topics, which carry the same order payload), carts/create, carts/update, products/create and
// products/update. Each delivery is verified before anything is read from it: X-Shopify-Hmac-Sha256
// is the base64 HMAC-SHA256 of the raw body with the app's secret, compared in constant time; a
// forgery is answered 401 and nothing is stored. Deliveries are deduplicated on
// X-Shopify-Webhook-Id (Shopify retries for 48 hours), and payloads are read leniently: fields
// Serambi does not know are ignored, as Shopify adds fields in every API version.

// maxWebhookBody bounds a webhook body (an order with hundreds of lines is far below it).
const maxWebhookBody = 5 << 20

// RegisterWebhooks mounts POST /shopify and POST /woocommerce (for those configured) on g, which
// the lead mounts at /webhooks without API-key auth: the shops sign their deliveries.
func (s *Service) RegisterWebhooks(g *echo.Group) {
	if s.cfg.Shopify.WebhooksEnabled() {
		g.POST("/shopify", s.shopifyWebhook)
	}
	if s.cfg.WooCommerce.WebhooksEnabled() {
		g.POST("/woocommerce", s.wooWebhook)
	}
}

// SignShopify returns the X-Shopify-Hmac-Sha256 value of body.
func SignShopify(secret Secret, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// verifyBase64HMAC checks a base64 HMAC-SHA256 header in constant time.
func verifyBase64HMAC(secret Secret, body []byte, header string) bool {
	got, err := base64.StdEncoding.DecodeString(strings.TrimSpace(header))
	if err != nil || len(got) != sha256.Size || secret == "" {
		return false
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return hmac.Equal(got, mac.Sum(nil))
}

// webhookAnswer is the body of a webhook's 200.
type webhookAnswer struct {
	Topic     string   `json:"topic"`
	Duplicate bool     `json:"duplicate,omitempty"`
	Ignored   bool     `json:"ignored,omitempty"`
	Results   []Result `json:"results,omitempty"`
}

func (s *Service) shopifyWebhook(c echo.Context) error {
	body, err := readBody(c, maxWebhookBody)
	if err != nil {
		return s.failErr(c, err)
	}
	h := c.Request().Header
	if !verifyBase64HMAC(s.cfg.Shopify.WebhookSecret, body, h.Get("X-Shopify-Hmac-Sha256")) {
		s.log.Warn("shopify webhook with a missing or wrong signature", "topic", h.Get("X-Shopify-Topic"), "remote", c.RealIP())
		return s.fail(c, http.StatusUnauthorized, "unauthorized", "X-Shopify-Hmac-Sha256 does not match the body")
	}
	topic := h.Get("X-Shopify-Topic")
	return s.deliver(c, string(SourceShopify), h.Get("X-Shopify-Webhook-Id"), topic, func(ctx context.Context) ([]Result, bool, error) {
		return s.ShopifyWebhook(ctx, topic, body)
	})
}

// deliver runs a verified delivery once: a delivery id seen before is answered as a duplicate,
// and an id is recorded only after its delivery was processed, so a failed one is retried.
func (s *Service) deliver(c echo.Context, source, deliveryID, topic string, process func(context.Context) ([]Result, bool, error)) error {
	ctx := c.Request().Context()
	if deliveryID != "" {
		seen, err := s.store.SeenDelivery(ctx, source, deliveryID)
		if err != nil {
			return s.failErr(c, err)
		}
		if seen {
			return c.JSON(http.StatusOK, webhookAnswer{Topic: topic, Duplicate: true})
		}
	}
	results, handled, err := process(ctx)
	var bad *badRequest
	switch {
	case errors.As(err, &bad):
		s.log.Warn("webhook payload could not be read", "source", source, "topic", topic, "err", err)
		return s.fail(c, http.StatusBadRequest, "bad_request", err.Error())
	case err != nil:
		s.log.Warn("webhook could not be processed", "source", source, "topic", topic, "err", err)
		return s.failErr(c, err)
	}
	if deliveryID != "" {
		if err := s.store.RecordDelivery(ctx, source, deliveryID, s.now()); err != nil {
			// Processed and idempotent: a retry would change nothing. Not worth failing over.
			s.log.Warn("could not record a webhook delivery", "source", source, "err", err)
		}
	}
	ans := webhookAnswer{Topic: topic, Ignored: !handled, Results: results}
	if handled && len(results) > 0 && !slices.ContainsFunc(results, func(r Result) bool { return !r.Duplicate }) {
		ans.Duplicate = true
	}
	return c.JSON(http.StatusOK, ans)
}

// ShopifyWebhook processes a verified Shopify delivery. handled is false for topics Serambi does
// not use. A payload that cannot be read gives a *badRequest error.
func (s *Service) ShopifyWebhook(ctx context.Context, topic string, body []byte) (results []Result, handled bool, err error) {
	switch {
	case strings.HasPrefix(topic, "orders/") && topic != "orders/delete" && topic != "orders/edited":
		var p shopifyOrder
		if err := json.Unmarshal(body, &p); err != nil {
			return nil, true, &badRequest{"shopify order: " + err.Error()}
		}
		o, err := p.order(s.cfg.Shopify)
		if err != nil {
			return nil, true, err
		}
		r, err := s.PutOrder(ctx, o)
		return []Result{r}, true, err
	case topic == "carts/create" || topic == "carts/update":
		var p shopifyCart
		if err := json.Unmarshal(body, &p); err != nil {
			return nil, true, &badRequest{"shopify cart: " + err.Error()}
		}
		ct, err := p.cart(s.cfg.Currency)
		if err != nil {
			return nil, true, err
		}
		r, err := s.PutCart(ctx, ct)
		return []Result{r}, true, err
	case topic == "products/create" || topic == "products/update":
		var p shopifyProduct
		if err := json.Unmarshal(body, &p); err != nil {
			return nil, true, &badRequest{"shopify product: " + err.Error()}
		}
		ps, err := p.products(s.cfg.Shopify, s.cfg.Currency)
		if err != nil {
			return nil, true, err
		}
		for _, pr := range ps {
			r, err := s.PutProduct(ctx, pr)
			if err != nil {
				return results, true, err
			}
			results = append(results, r)
		}
		return results, true, nil
	}
	return nil, false, nil
}

// Shopify's payloads, as documented for the REST Admin API resources (order, cart, product);
// only the fields Serambi reads. Ids are JSON numbers beyond 2^53 at times: kept as json.Number.

type shopifyMoneySet struct {
	ShopMoney struct {
		Amount       string `json:"amount"`
		CurrencyCode string `json:"currency_code"`
	} `json:"shop_money"`
}

type shopifyOrder struct {
	ID                    json.Number      `json:"id"`
	Name                  string           `json:"name"`
	Email                 string           `json:"email"`
	ContactEmail          string           `json:"contact_email"`
	Phone                 string           `json:"phone"`
	CreatedAt             *time.Time       `json:"created_at"`
	UpdatedAt             *time.Time       `json:"updated_at"`
	ProcessedAt           *time.Time       `json:"processed_at"`
	CancelledAt           *time.Time       `json:"cancelled_at"`
	CancelReason          string           `json:"cancel_reason"`
	Currency              string           `json:"currency"`
	TotalPrice            string           `json:"total_price"`
	SubtotalPrice         string           `json:"subtotal_price"`
	TotalTax              string           `json:"total_tax"`
	TotalDiscounts        string           `json:"total_discounts"`
	TotalShippingPriceSet *shopifyMoneySet `json:"total_shipping_price_set"`
	FinancialStatus       string           `json:"financial_status"`
	FulfillmentStatus     string           `json:"fulfillment_status"`
	CartToken             string           `json:"cart_token"`
	Customer              *struct {
		ID        json.Number `json:"id"`
		Email     string      `json:"email"`
		Phone     string      `json:"phone"`
		FirstName string      `json:"first_name"`
		LastName  string      `json:"last_name"`
	} `json:"customer"`
	LineItems []struct {
		ID        json.Number `json:"id"`
		VariantID json.Number `json:"variant_id"`
		SKU       string      `json:"sku"`
		Name      string      `json:"name"`
		Title     string      `json:"title"`
		Quantity  int64       `json:"quantity"`
		Price     string      `json:"price"`
	} `json:"line_items"`
	Fulfillments []struct {
		Status          string     `json:"status"`
		CreatedAt       *time.Time `json:"created_at"`
		UpdatedAt       *time.Time `json:"updated_at"`
		TrackingCompany string     `json:"tracking_company"`
		TrackingNumber  string     `json:"tracking_number"`
		TrackingNumbers []string   `json:"tracking_numbers"`
		TrackingURL     string     `json:"tracking_url"`
		TrackingURLs    []string   `json:"tracking_urls"`
		ShipmentStatus  string     `json:"shipment_status"`
	} `json:"fulfillments"`
	Refunds []struct {
		CreatedAt    *time.Time `json:"created_at"`
		Transactions []struct {
			Amount string `json:"amount"`
			Kind   string `json:"kind"`
			Status string `json:"status"`
		} `json:"transactions"`
	} `json:"refunds"`
	ShippingLines []struct {
		Code  string `json:"code"`
		Title string `json:"title"`
	} `json:"shipping_lines"`
}

func at(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return *t
}

// sku is a line's SKU, or a stand-in built from the variant when the shop left it empty, so that
// the line still matches its product.
func sku(sku string, variant json.Number) string {
	if s := strings.TrimSpace(sku); s != "" {
		return s
	}
	if variant != "" {
		return "shopify-variant-" + variant.String()
	}
	return ""
}

// shopifyPayment maps financial_status; an unknown one is left unknown rather than guessed.
func shopifyPayment(s string) PaymentStatus {
	switch s {
	case "pending", "authorized", "partially_paid", "paid", "partially_refunded", "refunded", "voided":
		return PaymentStatus(s)
	case "expired":
		return PaymentFailed
	}
	return PaymentUnknown
}

// shopifyShipment maps a fulfilment's shipment_status (the carrier's tracking events).
func shopifyShipment(s string) (FulfillmentStatus, bool) {
	switch s {
	case "in_transit", "out_for_delivery", "delivered", "ready_for_pickup", "picked_up":
		return FulfillmentStatus(s), true
	case "attempted_delivery":
		return FulfillmentOutForDelivery, true
	case "failure":
		return FulfillmentFailed, true
	}
	return "", false
}

func (p shopifyOrder) order(cfg ShopifyConfig) (Order, error) {
	if p.ID == "" {
		return Order{}, &badRequest{"shopify order has no id"}
	}
	o := Order{ID: p.ID.String(), Number: p.Name, Currency: strings.ToUpper(p.Currency), Source: SourceShopify,
		CartID: p.CartToken, CancelReason: p.CancelReason, CancelledAt: at(p.CancelledAt)}
	o.Contact.Email = cmpOr(p.Email, p.ContactEmail)
	o.Contact.Phone = p.Phone
	if cu := p.Customer; cu != nil {
		o.Contact.ShopCustomerID = cu.ID.String()
		o.Contact.Email = cmpOr(o.Contact.Email, cu.Email)
		o.Contact.Phone = cmpOr(o.Contact.Phone, cu.Phone)
		o.Contact.Name = strings.TrimSpace(cu.FirstName + " " + cu.LastName)
	}
	var errs []error
	amount := func(field, v string) int64 {
		n, err := ParseAmount(v, o.Currency)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", field, err))
		}
		return n
	}
	o.Total, o.Subtotal = amount("total_price", p.TotalPrice), amount("subtotal_price", p.SubtotalPrice)
	o.Tax, o.Discount = amount("total_tax", p.TotalTax), amount("total_discounts", p.TotalDiscounts)
	if p.TotalShippingPriceSet != nil {
		o.Shipping = amount("total_shipping_price_set", p.TotalShippingPriceSet.ShopMoney.Amount)
	}
	for _, li := range p.LineItems {
		unit := amount("line_items.price", li.Price)
		o.Items = append(o.Items, LineItem{ID: li.ID.String(), SKU: sku(li.SKU, li.VariantID), Name: cmpOr(li.Name, li.Title),
			Quantity: li.Quantity, UnitPrice: unit, Total: unit * li.Quantity})
	}
	o.Payment = shopifyPayment(p.FinancialStatus)
	switch p.FulfillmentStatus {
	case "fulfilled":
		o.Fulfillment = FulfillmentFulfilled
	case "partial":
		o.Fulfillment = FulfillmentPartial
	default:
		o.Fulfillment = FulfillmentUnfulfilled
	}
	for _, sl := range p.ShippingLines {
		t := strings.ToLower(sl.Code + " " + sl.Title)
		if strings.Contains(t, "pickup") || strings.Contains(t, "pick up") || strings.Contains(t, "pick-up") {
			o.Pickup = true
		}
	}
	var latest time.Time
	for _, f := range p.Fulfillments {
		if f.Status == "cancelled" || f.Status == "error" || f.Status == "failure" {
			continue
		}
		numbers := f.TrackingNumbers
		if len(numbers) == 0 && f.TrackingNumber != "" {
			numbers = []string{f.TrackingNumber}
		}
		urls := f.TrackingURLs
		if len(urls) == 0 && f.TrackingURL != "" {
			urls = []string{f.TrackingURL}
		}
		for i, n := range numbers {
			t := Tracking{Number: n, Carrier: f.TrackingCompany}
			if i < len(urls) {
				t.URL = urls[i]
			}
			o.Tracking = append(o.Tracking, t)
		}
		if !at(f.CreatedAt).IsZero() {
			o.History = append(o.History, StatusEvent{At: at(f.CreatedAt), Kind: EventFulfillment, Status: string(FulfillmentFulfilled)})
		}
		if st, ok := shopifyShipment(f.ShipmentStatus); ok {
			o.History = append(o.History, StatusEvent{At: cmpTime(at(f.UpdatedAt), at(f.CreatedAt)), Kind: EventFulfillment, Status: string(st)})
			// The latest shipment's carrier status says more than "fulfilled".
			if u := at(f.UpdatedAt); !u.Before(latest) && o.Fulfillment == FulfillmentFulfilled {
				latest, o.Fulfillment = u, st
			}
		}
	}
	if o.Pickup && o.Fulfillment == FulfillmentFulfilled {
		o.Fulfillment = FulfillmentPickedUp
	}
	for _, r := range p.Refunds {
		var n int64
		for _, t := range r.Transactions {
			if t.Kind == "refund" && (t.Status == "success" || t.Status == "") {
				n += amount("refunds.transactions.amount", t.Amount)
			}
		}
		o.Refunded += n
		if n > 0 && !at(r.CreatedAt).IsZero() {
			o.History = append(o.History, StatusEvent{At: at(r.CreatedAt), Kind: EventRefund, Status: strconv.FormatInt(n, 10)})
		}
	}
	if len(errs) > 0 {
		return Order{}, &badRequest{"shopify order " + o.ID + ": " + errors.Join(errs...).Error()}
	}
	o.PlacedAt = cmpTime(at(p.ProcessedAt), at(p.CreatedAt))
	o.ShopUpdatedAt = cmpTime(at(p.UpdatedAt), o.PlacedAt)
	if cfg.Shop != "" {
		o.AdminURL = "https://" + cfg.Shop + "/admin/orders/" + o.ID
	}
	return o, nil
}

func cmpOr(a, b string) string {
	if strings.TrimSpace(a) != "" {
		return a
	}
	return b
}

func cmpTime(a, b time.Time) time.Time {
	if !a.IsZero() {
		return a
	}
	return b
}

type shopifyCart struct {
	ID        string     `json:"id"`
	Token     string     `json:"token"`
	CreatedAt *time.Time `json:"created_at"`
	UpdatedAt *time.Time `json:"updated_at"`
	LineItems []struct {
		ID        json.Number `json:"id"`
		VariantID json.Number `json:"variant_id"`
		SKU       string      `json:"sku"`
		Title     string      `json:"title"`
		Quantity  int64       `json:"quantity"`
		Price     string      `json:"price"`
		LinePrice string      `json:"line_price"`
	} `json:"line_items"`
}

// cart reads a cart webhook. Shopify's cart payload names no customer and no currency: the cart
// is stored unlinked in the shop's currency, and is linked when its order arrives (cart_token) or
// when the chat widget reports the visitor's cart token.
func (p shopifyCart) cart(currency string) (Cart, error) {
	id := cmpOr(p.Token, p.ID)
	if id == "" {
		return Cart{}, &badRequest{"shopify cart has no token"}
	}
	c := Cart{ID: id, Currency: currency, Source: SourceShopify, ShopCreatedAt: at(p.CreatedAt),
		ShopUpdatedAt: cmpTime(at(p.UpdatedAt), at(p.CreatedAt))}
	for _, li := range p.LineItems {
		unit, err1 := ParseAmount(li.Price, currency)
		total, err2 := ParseAmount(li.LinePrice, currency)
		if err := errors.Join(err1, err2); err != nil {
			return Cart{}, &badRequest{"shopify cart " + id + ": " + err.Error()}
		}
		c.Items = append(c.Items, LineItem{ID: li.ID.String(), SKU: sku(li.SKU, li.VariantID), Name: li.Title,
			Quantity: li.Quantity, UnitPrice: unit, Total: total})
	}
	return c, nil
}

type shopifyProduct struct {
	ID        json.Number `json:"id"`
	Title     string      `json:"title"`
	Handle    string      `json:"handle"`
	Status    string      `json:"status"`
	UpdatedAt *time.Time  `json:"updated_at"`
	Image     *struct {
		Src string `json:"src"`
	} `json:"image"`
	Images []struct {
		ID  json.Number `json:"id"`
		Src string      `json:"src"`
	} `json:"images"`
	Variants []struct {
		ID                  json.Number `json:"id"`
		Title               string      `json:"title"`
		SKU                 string      `json:"sku"`
		Price               string      `json:"price"`
		ImageID             json.Number `json:"image_id"`
		InventoryQuantity   int64       `json:"inventory_quantity"`
		InventoryManagement string      `json:"inventory_management"`
		InventoryPolicy     string      `json:"inventory_policy"`
		UpdatedAt           *time.Time  `json:"updated_at"`
	} `json:"variants"`
}

// products reads a product webhook: one Product per variant, keyed by the variant's SKU. The
// payload's prices are in the shop's currency, which it does not name (Config.Currency).
func (p shopifyProduct) products(cfg ShopifyConfig, currency string) ([]Product, error) {
	if p.ID == "" {
		return nil, &badRequest{"shopify product has no id"}
	}
	var out []Product
	for _, v := range p.Variants {
		price, err := ParseAmount(v.Price, currency)
		if err != nil {
			return nil, &badRequest{"shopify product " + p.ID.String() + ": " + err.Error()}
		}
		pr := Product{SKU: sku(v.SKU, v.ID), Name: p.Title, Price: price, Currency: currency, Source: SourceShopify,
			Tracked: v.InventoryManagement == "shopify", SoldOut: p.Status == "archived"}
		if v.Title != "" && v.Title != "Default Title" {
			pr.Name += " - " + v.Title
		}
		if pr.Tracked {
			pr.Stock = []StockLevel{{Location: "shopify", Available: v.InventoryQuantity}}
			// "continue" sells on when out of stock (backorders): never flag it out.
			if v.InventoryPolicy == "continue" {
				pr.Tracked, pr.Stock = false, nil
			}
		}
		if p.Image != nil {
			pr.ImageURL = p.Image.Src
		}
		for _, im := range p.Images {
			if v.ImageID != "" && im.ID == v.ImageID {
				pr.ImageURL = im.Src
			}
		}
		if cfg.Shop != "" && p.Handle != "" {
			pr.URL = "https://" + cfg.Shop + "/products/" + p.Handle + "?variant=" + v.ID.String()
		}
		pr.ShopUpdatedAt = at(p.UpdatedAt)
		if u := at(v.UpdatedAt); u.After(pr.ShopUpdatedAt) {
			pr.ShopUpdatedAt = u
		}
		out = append(out, pr)
	}
	return out, nil
}
