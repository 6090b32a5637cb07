package commerce

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
)

// WooCommerce webhooks (order.created, order.updated, order.restored, product.created,
// product.updated, product.restored), payloads of the WooCommerce REST API v3. X-WC-Webhook-Signature
// is the base64 HMAC-SHA256 of the raw body with the webhook's secret, checked before anything is
// read; deliveries are deduplicated on X-WC-Webhook-Delivery-ID. When a webhook is created
// WooCommerce sends an unsigned ping whose body is "webhook_id=<n>": it is answered 200 and stores
// nothing, or WooCommerce would not activate the webhook.

// isWooPing reports whether body is WooCommerce's activation ping.
func isWooPing(body []byte) bool {
	id, ok := strings.CutPrefix(string(body), "webhook_id=")
	return ok && id != "" && allDigits(id)
}

func (s *Service) wooWebhook(c echo.Context) error {
	body, err := readBody(c, maxWebhookBody)
	if err != nil {
		return s.failErr(c, err)
	}
	h := c.Request().Header
	sig := h.Get("X-WC-Webhook-Signature")
	if sig == "" && isWooPing(body) {
		return c.JSON(http.StatusOK, webhookAnswer{Topic: "ping", Ignored: true})
	}
	if !verifyBase64HMAC(s.cfg.WooCommerce.WebhookSecret, body, sig) {
		s.log.Warn("woocommerce webhook with a missing or wrong signature", "topic", h.Get("X-WC-Webhook-Topic"), "remote", c.RealIP())
		return s.fail(c, http.StatusUnauthorized, "unauthorized", "X-WC-Webhook-Signature does not match the body")
	}
	topic := h.Get("X-WC-Webhook-Topic")
	return s.deliver(c, string(SourceWooCommerce), h.Get("X-WC-Webhook-Delivery-ID"), topic, func(ctx context.Context) ([]Result, bool, error) {
		return s.WooWebhook(ctx, topic, body)
	})
}

// WooWebhook processes a verified WooCommerce delivery; handled is false for topics Serambi does
// not use.
func (s *Service) WooWebhook(ctx context.Context, topic string, body []byte) ([]Result, bool, error) {
	switch topic {
	case "order.created", "order.updated", "order.restored":
		var p wooOrder
		if err := json.Unmarshal(body, &p); err != nil {
			return nil, true, &badRequest{"woocommerce order: " + err.Error()}
		}
		o, err := p.order(s.cfg.WooCommerce)
		if err != nil {
			return nil, true, err
		}
		r, err := s.PutOrder(ctx, o)
		return []Result{r}, true, err
	case "product.created", "product.updated", "product.restored":
		var p wooProduct
		if err := json.Unmarshal(body, &p); err != nil {
			return nil, true, &badRequest{"woocommerce product: " + err.Error()}
		}
		pr, err := p.product(s.cfg.Currency)
		if err != nil {
			return nil, true, err
		}
		r, err := s.PutProduct(ctx, pr)
		return []Result{r}, true, err
	}
	return nil, false, nil
}

// wooTime reads WooCommerce's *_gmt times, which are UTC without a zone ("2017-03-22T16:28:02").
type wooTime struct{ time.Time }

func (t *wooTime) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil || s == "" {
		return nil // null or absent: unknown
	}
	for _, layout := range []string{"2006-01-02T15:04:05", time.RFC3339} {
		if v, err := time.Parse(layout, s); err == nil {
			t.Time = v.UTC()
			return nil
		}
	}
	return errors.New("time " + strconv.Quote(s) + " is not YYYY-MM-DDTHH:MM:SS")
}

type wooOrder struct {
	ID               json.Number `json:"id"`
	Number           string      `json:"number"`
	Status           string      `json:"status"`
	Currency         string      `json:"currency"`
	DateCreatedGMT   wooTime     `json:"date_created_gmt"`
	DateModifiedGMT  wooTime     `json:"date_modified_gmt"`
	DatePaidGMT      wooTime     `json:"date_paid_gmt"`
	DateCompletedGMT wooTime     `json:"date_completed_gmt"`
	DiscountTotal    string      `json:"discount_total"`
	ShippingTotal    string      `json:"shipping_total"`
	Total            string      `json:"total"`
	TotalTax         string      `json:"total_tax"`
	CustomerID       json.Number `json:"customer_id"`
	Billing          struct {
		FirstName string `json:"first_name"`
		LastName  string `json:"last_name"`
		Email     string `json:"email"`
		Phone     string `json:"phone"`
	} `json:"billing"`
	LineItems []struct {
		ID       json.Number `json:"id"`
		Name     string      `json:"name"`
		SKU      string      `json:"sku"`
		Quantity int64       `json:"quantity"`
		Subtotal string      `json:"subtotal"`
		Total    string      `json:"total"`
		Image    struct {
			Src string `json:"src"`
		} `json:"image"`
		ProductID   json.Number `json:"product_id"`
		VariationID json.Number `json:"variation_id"`
	} `json:"line_items"`
	ShippingLines []struct {
		MethodID string `json:"method_id"`
	} `json:"shipping_lines"`
	Refunds []struct {
		Total string `json:"total"`
	} `json:"refunds"`
	MetaData []struct {
		Key   string          `json:"key"`
		Value json.RawMessage `json:"value"`
	} `json:"meta_data"`
}

// wooStatus maps an order status to payment, fulfilment and cancellation.
func wooStatus(s string) (PaymentStatus, FulfillmentStatus, bool) {
	switch s {
	case "pending", "on-hold", "checkout-draft":
		return PaymentPending, FulfillmentUnfulfilled, false
	case "processing":
		return PaymentPaid, FulfillmentUnfulfilled, false
	case "completed":
		return PaymentPaid, FulfillmentFulfilled, false
	case "refunded":
		return PaymentRefunded, FulfillmentUnfulfilled, false
	case "failed":
		return PaymentFailed, FulfillmentUnfulfilled, false
	case "cancelled":
		return PaymentVoided, FulfillmentUnfulfilled, true
	}
	return PaymentUnknown, FulfillmentUnfulfilled, false
}

func (p wooOrder) order(cfg WooConfig) (Order, error) {
	if p.ID == "" {
		return Order{}, &badRequest{"woocommerce order has no id"}
	}
	o := Order{ID: p.ID.String(), Number: "#" + cmpOr(p.Number, p.ID.String()), Currency: strings.ToUpper(p.Currency), Source: SourceWooCommerce}
	if id := p.CustomerID.String(); id != "" && id != "0" { // 0 is a guest checkout
		o.Contact.ShopCustomerID = id
	}
	o.Contact.Email, o.Contact.Phone = p.Billing.Email, p.Billing.Phone
	o.Contact.Name = strings.TrimSpace(p.Billing.FirstName + " " + p.Billing.LastName)
	var errs []error
	amount := func(field, v string) int64 {
		n, err := ParseAmount(v, o.Currency)
		if err != nil {
			errs = append(errs, errors.New(field+": "+err.Error()))
		}
		return n
	}
	o.Total, o.Tax, o.Shipping, o.Discount = amount("total", p.Total), amount("total_tax", p.TotalTax),
		amount("shipping_total", p.ShippingTotal), amount("discount_total", p.DiscountTotal)
	for _, li := range p.LineItems {
		total := amount("line_items.total", li.Total)
		var unit int64
		if li.Quantity > 0 {
			unit = amount("line_items.subtotal", li.Subtotal) / li.Quantity
		}
		o.Subtotal += amount("line_items.subtotal", li.Subtotal)
		s := strings.TrimSpace(li.SKU)
		if s == "" {
			// The product's own stand-in SKU (see product): the variation's id when there is one.
			id := li.ProductID.String()
			if v := li.VariationID.String(); v != "" && v != "0" {
				id = v
			}
			s = "woo-" + id
		}
		o.Items = append(o.Items, LineItem{ID: li.ID.String(), SKU: s, Name: li.Name, ImageURL: li.Image.Src,
			Quantity: li.Quantity, UnitPrice: unit, Total: total})
	}
	for _, r := range p.Refunds {
		o.Refunded -= amount("refunds.total", r.Total) // refunds are negative totals
	}
	o.Payment, o.Fulfillment, o.Cancelled = wooStatus(p.Status)
	if o.Payment == PaymentPaid && o.Refunded > 0 {
		o.Payment = PaymentPartiallyRefunded
	}
	for _, sl := range p.ShippingLines {
		if sl.MethodID == "local_pickup" || sl.MethodID == "pickup_location" {
			o.Pickup = true
		}
	}
	if o.Pickup && o.Fulfillment == FulfillmentFulfilled {
		o.Fulfillment = FulfillmentPickedUp
	}
	// The Shipment Tracking extension keeps its numbers in the order's meta data.
	for _, m := range p.MetaData {
		if m.Key != "_wc_shipment_tracking_items" {
			continue
		}
		var items []struct {
			Provider       string `json:"tracking_provider"`
			CustomProvider string `json:"custom_tracking_provider"`
			Link           string `json:"custom_tracking_link"`
			Number         string `json:"tracking_number"`
		}
		if json.Unmarshal(m.Value, &items) == nil {
			for _, it := range items {
				o.Tracking = append(o.Tracking, Tracking{Number: it.Number, Carrier: cmpOr(it.CustomProvider, it.Provider), URL: it.Link})
			}
		}
	}
	if len(errs) > 0 {
		return Order{}, &badRequest{"woocommerce order " + o.ID + ": " + errors.Join(errs...).Error()}
	}
	o.PlacedAt = p.DateCreatedGMT.Time
	o.ShopUpdatedAt = cmpTime(p.DateModifiedGMT.Time, o.PlacedAt)
	if !p.DatePaidGMT.IsZero() {
		o.History = append(o.History, StatusEvent{At: p.DatePaidGMT.Time, Kind: EventPayment, Status: string(PaymentPaid)})
	}
	if !p.DateCompletedGMT.IsZero() {
		o.History = append(o.History, StatusEvent{At: p.DateCompletedGMT.Time, Kind: EventFulfillment, Status: string(o.Fulfillment)})
	}
	if o.Cancelled {
		o.CancelledAt = o.ShopUpdatedAt
	}
	if cfg.StoreURL != "" {
		o.AdminURL = strings.TrimRight(cfg.StoreURL, "/") + "/wp-admin/post.php?post=" + o.ID + "&action=edit"
	}
	return o, nil
}

type wooProduct struct {
	ID              json.Number `json:"id"`
	Name            string      `json:"name"`
	SKU             string      `json:"sku"`
	Permalink       string      `json:"permalink"`
	Status          string      `json:"status"`
	DateModifiedGMT wooTime     `json:"date_modified_gmt"`
	Price           string      `json:"price"`
	ManageStock     bool        `json:"manage_stock"`
	StockQuantity   *int64      `json:"stock_quantity"`
	StockStatus     string      `json:"stock_status"`
	Images          []struct {
		Src string `json:"src"`
	} `json:"images"`
}

// product reads a product webhook. Variable products' variations are not in the payload (only
// their ids): they arrive as their own products only through the REST API.
func (p wooProduct) product(currency string) (Product, error) {
	if p.ID == "" {
		return Product{}, &badRequest{"woocommerce product has no id"}
	}
	price, err := ParseAmount(p.Price, currency)
	if err != nil {
		return Product{}, &badRequest{"woocommerce product " + p.ID.String() + ": " + err.Error()}
	}
	pr := Product{SKU: cmpOr(strings.TrimSpace(p.SKU), "woo-"+p.ID.String()), Name: p.Name, URL: p.Permalink, Price: price,
		Currency: currency, Source: SourceWooCommerce, ShopUpdatedAt: p.DateModifiedGMT.Time,
		SoldOut: p.StockStatus == "outofstock" || p.Status == "trash"}
	if p.ManageStock && p.StockQuantity != nil {
		pr.Tracked, pr.Stock = true, []StockLevel{{Location: "woocommerce", Available: *p.StockQuantity}}
		pr.SoldOut = pr.SoldOut && *p.StockQuantity <= 0
	}
	if len(p.Images) > 0 {
		pr.ImageURL = p.Images[0].Src
	}
	return pr, nil
}
