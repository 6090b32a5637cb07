package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/serambi/serambi/commerce"
	"github.com/serambi/serambi/inbox"
)

// The shop's side of the simulation: carts change and orders move through fulfilment, and the
// shop tells Serambi through its integration: a Shopify store with webhooks signed with the app's
// secret (X-Shopify-Hmac-Sha256) in Shopify's documented payloads, a shop of its own through
// Serambi's commerce API (PUT /api/v1/commerce/..., with its API key). Carts go as Shopify cart
// webhooks (which name no customer: Serambi keeps the cart's link); an order goes back the way
// it came, since only Shopify's own orders have Shopify's numeric ids.

// ChangeCart adds a product to a live cart, or changes a quantity, or takes an item out.
func (s *Simulator) ChangeCart(ctx context.Context) (string, error) {
	ids := s.cfg.World.CartIDs
	for range 20 {
		cart, err := s.cfg.Commerce.CartByID(ctx, ids[s.intn(len(ids))])
		if errors.Is(err, inbox.ErrNotFound) {
			continue
		}
		if err != nil {
			return "cart change", err
		}
		if cart.Status == commerce.CartConverted {
			continue
		}
		what := s.changeItems(&cart)
		if what == "" {
			continue
		}
		return fmt.Sprintf("cart %s: %s", cart.ID, what), s.shopify(ctx, "carts/update", shopifyCartPayload(cart))
	}
	return "", nil
}

func (s *Simulator) changeItems(c *commerce.Cart) string {
	r := s.intn(10)
	switch {
	case r < 5 || len(c.Items) == 0:
		ps := s.cfg.World.Products
		if len(ps) == 0 {
			return ""
		}
		p := ps[s.intn(len(ps))]
		if p.Currency != "" && c.Currency != "" && p.Currency != c.Currency {
			return ""
		}
		for i := range c.Items {
			if c.Items[i].SKU == p.SKU {
				c.Items[i].Quantity++
				return "one more " + p.Name
			}
		}
		c.Items = append(c.Items, commerce.LineItem{SKU: p.SKU, Name: p.Name, Quantity: 1, UnitPrice: p.Price})
		return "added " + p.Name
	case r < 8:
		i := s.intn(len(c.Items))
		c.Items[i].Quantity++
		return "one more " + c.Items[i].Name
	default:
		if len(c.Items) < 2 {
			return ""
		}
		i := s.intn(len(c.Items))
		name := c.Items[i].Name
		c.Items = append(c.Items[:i], c.Items[i+1:]...)
		return "removed " + name
	}
}

// MoveOrder takes a recent order one step further: paid, fulfilled with tracking, in transit,
// out for delivery, delivered (or ready for pickup, picked up).
func (s *Simulator) MoveOrder(ctx context.Context) (string, error) {
	ids := s.cfg.World.OrderIDs
	for try := range 40 {
		var id string
		if try%2 == 0 {
			// Orders are listed oldest first: the recent ones are the ones still moving.
			id = ids[len(ids)-1-s.intn(min(len(ids), 150))]
		} else {
			id = ids[s.intn(len(ids))]
		}
		o, err := s.cfg.Commerce.OrderByID(ctx, id)
		if errors.Is(err, inbox.ErrNotFound) {
			continue
		}
		if err != nil {
			return "order move", err
		}
		step, ok := nextStep(o)
		if !ok {
			continue
		}
		now := time.Now().UTC()
		if step == "paid" {
			o.Payment = commerce.PaymentPaid
		} else {
			o.Fulfillment = commerce.FulfillmentStatus(step)
			if len(o.Tracking) == 0 && !o.Pickup {
				n := "JP" + strconv.FormatInt(now.UnixMilli()%10_000_000_000, 10)
				o.Tracking = []commerce.Tracking{{Number: n, Carrier: "JNE", URL: "https://www.jne.co.id/tracking-package?awb=" + n}}
			}
		}
		what := fmt.Sprintf("order %s: %s", o.Number, strings.ReplaceAll(step, "_", " "))
		if _, err := strconv.ParseUint(o.ID, 10, 64); err == nil && o.Source == commerce.SourceShopify {
			return what, s.shopify(ctx, "orders/updated", shopifyOrderPayload(o, now))
		}
		return what, s.putOrder(ctx, o, now)
	}
	return "", nil
}

// nextStep is where an order goes next, if it is still moving.
func nextStep(o commerce.Order) (string, bool) {
	if o.Cancelled || o.Payment == commerce.PaymentRefunded || o.Payment == commerce.PaymentVoided || o.Payment == commerce.PaymentFailed {
		return "", false
	}
	if o.Payment != commerce.PaymentPaid && o.Payment != commerce.PaymentPartiallyRefunded {
		return "paid", true
	}
	next := map[commerce.FulfillmentStatus]commerce.FulfillmentStatus{
		commerce.FulfillmentUnfulfilled: commerce.FulfillmentFulfilled, "": commerce.FulfillmentFulfilled,
		commerce.FulfillmentPartial:   commerce.FulfillmentFulfilled,
		commerce.FulfillmentFulfilled: commerce.FulfillmentInTransit, commerce.FulfillmentInTransit: commerce.FulfillmentOutForDelivery,
		commerce.FulfillmentOutForDelivery: commerce.FulfillmentDelivered,
	}
	if o.Pickup {
		next = map[commerce.FulfillmentStatus]commerce.FulfillmentStatus{
			commerce.FulfillmentUnfulfilled: commerce.FulfillmentReadyForPickup, "": commerce.FulfillmentReadyForPickup,
			commerce.FulfillmentReadyForPickup: commerce.FulfillmentPickedUp,
		}
	}
	n, ok := next[o.Fulfillment]
	return string(n), ok
}

// shopify posts a signed webhook to Serambi's /webhooks/shopify.
func (s *Simulator) shopify(ctx context.Context, topic string, payload any) error {
	body, err := json.Marshal(payload)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.cfg.BaseURL+"/webhooks/shopify", bytes.NewReader(body))
	if err != nil {
		return err
	}
	h := req.Header
	h.Set("Content-Type", "application/json")
	h.Set("X-Shopify-Topic", topic)
	h.Set("X-Shopify-Hmac-Sha256", commerce.SignShopify(commerce.Secret(s.cfg.Secrets.ShopifyWebhook), body))
	h.Set("X-Shopify-Shop-Domain", "serambi-demo.myshopify.com")
	h.Set("X-Shopify-API-Version", "2024-10")
	h.Set("X-Shopify-Webhook-Id", newUUID())
	h.Set("X-Shopify-Triggered-At", time.Now().UTC().Format(time.RFC3339Nano))
	return doExpect(s.client, req, http.StatusOK)
}

// putOrder sends the order's new version through Serambi's commerce API, as a shop of its own
// does.
func (s *Simulator) putOrder(ctx context.Context, o commerce.Order, now time.Time) error {
	type item struct {
		LineItemID string `json:"lineItemId,omitempty"`
		SKU        string `json:"sku,omitempty"`
		Name       string `json:"name"`
		ImageURL   string `json:"imageUrl,omitempty"`
		Quantity   int64  `json:"quantity"`
		UnitPrice  int64  `json:"unitPrice"`
		Total      int64  `json:"total"`
	}
	var items []item
	for _, it := range o.Items {
		items = append(items, item{it.ID, it.SKU, it.Name, it.ImageURL, it.Quantity, it.UnitPrice, it.Total})
	}
	body := map[string]any{
		"number": o.Number, "customer": map[string]string{"shopCustomerId": o.Contact.ShopCustomerID, "email": o.Contact.Email,
			"phone": o.Contact.Phone, "name": o.Contact.Name},
		"cartId": o.CartID, "currency": o.Currency, "items": items, "subtotal": o.Subtotal, "shipping": o.Shipping,
		"tax": o.Tax, "discount": o.Discount, "total": o.Total, "refunded": o.Refunded, "paymentStatus": o.Payment,
		"fulfillmentStatus": o.Fulfillment, "pickup": o.Pickup, "tracking": o.Tracking, "adminUrl": o.AdminURL,
		"placedAt": o.PlacedAt, "updatedAt": now,
	}
	if o.Cancelled {
		body["cancelled"], body["cancelledAt"], body["cancelReason"] = true, o.CancelledAt, o.CancelReason
	}
	raw, err := json.Marshal(body)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, s.cfg.BaseURL+"/api/v1/commerce/orders/"+url.PathEscape(o.ID), bytes.NewReader(raw))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+s.cfg.Secrets.ShopAPIKey)
	return doExpect(s.client, req, http.StatusOK)
}

// shopifyCartPayload is a cart as Shopify's carts/update webhook carries it.
func shopifyCartPayload(c commerce.Cart) map[string]any {
	var lines []map[string]any
	for i, it := range c.Items {
		l := map[string]any{"id": lineID(it.ID, i), "sku": it.SKU, "title": it.Name, "quantity": it.Quantity,
			"price": commerce.FormatAmount(it.UnitPrice, c.Currency), "line_price": commerce.FormatAmount(it.UnitPrice*it.Quantity, c.Currency)}
		lines = append(lines, l)
	}
	now := time.Now().UTC()
	created := c.ShopCreatedAt
	if created.IsZero() {
		created = now
	}
	return map[string]any{"id": c.ID, "token": c.ID, "line_items": lines, "note": nil,
		"created_at": created.Format(time.RFC3339), "updated_at": now.Format(time.RFC3339)}
}

// shopifyOrderPayload is an order as Shopify's orders/* webhooks carry it.
func shopifyOrderPayload(o commerce.Order, now time.Time) map[string]any {
	cur := o.Currency
	var lines []map[string]any
	for i, it := range o.Items {
		lines = append(lines, map[string]any{"id": lineID(it.ID, i), "sku": it.SKU, "name": it.Name, "title": it.Name,
			"quantity": it.Quantity, "price": commerce.FormatAmount(it.UnitPrice, cur)})
	}
	p := map[string]any{
		"id": json.Number(o.ID), "name": o.Number, "email": o.Contact.Email, "phone": o.Contact.Phone,
		"created_at": o.PlacedAt.Format(time.RFC3339), "processed_at": o.PlacedAt.Format(time.RFC3339),
		"updated_at": now.Format(time.RFC3339), "currency": cur,
		"total_price": commerce.FormatAmount(o.Total, cur), "subtotal_price": commerce.FormatAmount(o.Subtotal, cur), "total_tax": commerce.FormatAmount(o.Tax, cur),
		"total_discounts":          commerce.FormatAmount(o.Discount, cur),
		"total_shipping_price_set": map[string]any{"shop_money": map[string]string{"amount": commerce.FormatAmount(o.Shipping, cur), "currency_code": cur}},
		"financial_status":         string(o.Payment), "line_items": lines,
	}
	if o.CartID != "" {
		p["cart_token"] = o.CartID
	}
	cust := map[string]any{"email": o.Contact.Email, "phone": o.Contact.Phone}
	first, last, _ := strings.Cut(o.Contact.Name, " ")
	cust["first_name"], cust["last_name"] = first, last
	if _, err := strconv.ParseUint(o.Contact.ShopCustomerID, 10, 64); err == nil {
		cust["id"] = json.Number(o.Contact.ShopCustomerID)
	}
	p["customer"] = cust
	if o.Pickup {
		p["shipping_lines"] = []map[string]string{{"code": "pickup", "title": "Ambil di toko"}}
	} else {
		p["shipping_lines"] = []map[string]string{{"code": "jne-reg", "title": "JNE REG"}}
	}
	switch o.Fulfillment {
	case commerce.FulfillmentUnfulfilled, "":
		p["fulfillment_status"] = nil
	case commerce.FulfillmentPartial:
		p["fulfillment_status"] = "partial"
	default:
		p["fulfillment_status"] = "fulfilled"
		f := map[string]any{"status": "success", "created_at": fulfilledAt(o, now).Format(time.RFC3339), "updated_at": now.Format(time.RFC3339)}
		if len(o.Tracking) > 0 {
			t := o.Tracking[len(o.Tracking)-1]
			f["tracking_company"], f["tracking_number"], f["tracking_url"] = t.Carrier, t.Number, t.URL
		}
		if o.Fulfillment != commerce.FulfillmentFulfilled {
			f["shipment_status"] = string(o.Fulfillment)
		}
		p["fulfillments"] = []any{f}
	}
	if o.Refunded > 0 {
		p["refunds"] = []any{map[string]any{"created_at": now.Format(time.RFC3339),
			"transactions": []any{map[string]string{"kind": "refund", "status": "success", "amount": commerce.FormatAmount(o.Refunded, cur)}}}}
	}
	return p
}

// fulfilledAt is when the order was first fulfilled, as its history says; now for a new one.
func fulfilledAt(o commerce.Order, now time.Time) time.Time {
	for _, e := range o.History {
		if e.Kind == commerce.EventFulfillment && e.Status == string(commerce.FulfillmentFulfilled) {
			return e.At
		}
	}
	return now
}

// lineID is the line's id when it is a number, as Shopify's are; a stand-in otherwise.
func lineID(id string, i int) json.Number {
	if _, err := strconv.ParseUint(id, 10, 64); err == nil {
		return json.Number(id)
	}
	return json.Number(strconv.Itoa(1_000_000 + i))
}

func newUUID() string {
	h := randomHex(16)
	return h[0:8] + "-" + h[8:12] + "-4" + h[13:16] + "-a" + h[17:20] + "-" + h[20:32]
}
