// Package shopifyfake is a local stand-in for a Shopify shop, for tests. It serves the Admin REST
// API paths Serambi uses, as documented for API version 2024-10:
//
//	POST /admin/api/{version}/orders/{id}/cancel.json            → 200 {"order": {...}}
//	POST /admin/api/{version}/orders/{id}/refunds/calculate.json → 200 {"refund": {"shipping", "refund_line_items", "transactions": [{"kind": "suggested_refund", ...}], "currency"}}
//	POST /admin/api/{version}/orders/{id}/refunds.json           → 201 {"refund": {"id", "order_id", "transactions": [{"kind": "refund", "status": "success", ...}], ...}}
//
// authenticated with X-Shopify-Access-Token (401 {"errors": "[API] Invalid API key or access
// token ..."} otherwise). Refusals are 422 with Shopify's {"errors": ...} body; scripted failures
// (FailNext) can answer anything, e.g. 429 with Retry-After. It also signs and delivers webhooks the
// way Shopify does (Deliver).
package shopifyfake

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Version is the Admin API version the fake serves.
const Version = "2024-10"

// LineItem is one line of an order in the shop.
type LineItem struct {
	ID       int64
	SKU      string
	Quantity int64
	// Price is the unit price as Shopify writes it ("425000.00").
	Price    string
	Refunded int64 // units refunded so far
}

// Order is an order in the shop.
type Order struct {
	ID                int64
	Name              string
	Currency          string
	LineItems         []LineItem
	Shipping          string // shipping charged, "0.00" when free
	FinancialStatus   string // pending, paid, partially_refunded, refunded, voided
	FulfillmentStatus string // "" (unfulfilled), partial, fulfilled
	CancelledAt       time.Time
	CancelReason      string
	// ParentTransactionID is the sale a refund goes back to.
	ParentTransactionID int64
	Refunds             []Refund
	refundedShipping    bool
}

// Refund is a refund the shop made.
type Refund struct {
	ID     int64
	Note   string
	Notify bool
	Amount int64 // in cents of the order's currency
	Lines  map[int64]int64
}

// Request is one API request the fake received.
type Request struct {
	Method, Path, Token string
	Body                []byte
}

// Failure is a scripted answer.
type Failure struct {
	Status     int
	Body       string
	RetryAfter string
}

// Server is the fake shop.
type Server struct {
	Token string
	srv   *httptest.Server

	mu       sync.Mutex
	orders   map[int64]*Order
	fails    map[string][]Failure
	requests []Request
	nextID   int64
}

// New starts the fake for an access token; it stops when t ends.
func New(t testing.TB, token string) *Server {
	s := &Server{Token: token, orders: map[int64]*Order{}, fails: map[string][]Failure{}, nextID: 1000}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.srv.Close)
	return s
}

// URL is the shop's base URL (the Admin API lives under /admin/api).
func (s *Server) URL() string { return s.srv.URL }

// AddOrder puts an order in the shop.
func (s *Server) AddOrder(o Order) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if o.FinancialStatus == "" {
		o.FinancialStatus = "paid"
	}
	if o.Shipping == "" {
		o.Shipping = "0.00"
	}
	if o.ParentTransactionID == 0 {
		o.ParentTransactionID = o.ID + 1
	}
	s.orders[o.ID] = &o
}

// Order returns the shop's order as it is now.
func (s *Server) Order(id int64) Order {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := *s.orders[id]
	o.LineItems = append([]LineItem(nil), o.LineItems...)
	o.Refunds = append([]Refund(nil), o.Refunds...)
	return o
}

// FailNext makes the next request to the endpoint ("cancel", "calculate" or "refunds") answer f
// instead; several calls queue several failures.
func (s *Server) FailNext(endpoint string, f Failure) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fails[endpoint] = append(s.fails[endpoint], f)
}

// Requests returns the requests received so far.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func errorsBody(v any) map[string]any { return map[string]any{"errors": v} }

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = append(s.requests, Request{Method: r.Method, Path: r.URL.Path, Token: r.Header.Get("X-Shopify-Access-Token"), Body: body})
	if r.Header.Get("X-Shopify-Access-Token") != s.Token {
		writeJSON(w, http.StatusUnauthorized, errorsBody("[API] Invalid API key or access token (unrecognized login or wrong password)"))
		return
	}
	prefix := "/admin/api/" + Version + "/orders/"
	rest, ok := strings.CutPrefix(r.URL.Path, prefix)
	if !ok || r.Method != http.MethodPost {
		writeJSON(w, http.StatusNotFound, errorsBody("Not Found"))
		return
	}
	idStr, action, _ := strings.Cut(rest, "/")
	var endpoint string
	switch action {
	case "cancel.json":
		endpoint = "cancel"
	case "refunds/calculate.json":
		endpoint = "calculate"
	case "refunds.json":
		endpoint = "refunds"
	default:
		writeJSON(w, http.StatusNotFound, errorsBody("Not Found"))
		return
	}
	if q := s.fails[endpoint]; len(q) > 0 {
		f := q[0]
		s.fails[endpoint] = q[1:]
		if f.RetryAfter != "" {
			w.Header().Set("Retry-After", f.RetryAfter)
		}
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(f.Status)
		_, _ = io.WriteString(w, f.Body)
		return
	}
	id, err := strconv.ParseInt(idStr, 10, 64)
	o := s.orders[id]
	if err != nil || o == nil {
		writeJSON(w, http.StatusNotFound, errorsBody("Not Found"))
		return
	}
	switch endpoint {
	case "cancel":
		s.cancel(w, o, body)
	case "calculate":
		s.calculate(w, o, body)
	case "refunds":
		s.refund(w, o, body)
	}
}

func (s *Server) orderJSON(o *Order) map[string]any {
	var cancelled any
	if !o.CancelledAt.IsZero() {
		cancelled = o.CancelledAt.Format(time.RFC3339)
	}
	var fs any
	if o.FulfillmentStatus != "" {
		fs = o.FulfillmentStatus
	}
	return map[string]any{"id": o.ID, "name": o.Name, "currency": o.Currency, "cancelled_at": cancelled,
		"cancel_reason": nilIfEmpty(o.CancelReason), "financial_status": o.FinancialStatus, "fulfillment_status": fs,
		"admin_graphql_api_id": fmt.Sprintf("gid://shopify/Order/%d", o.ID)}
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func (s *Server) cancel(w http.ResponseWriter, o *Order, body []byte) {
	var req struct {
		Reason  string `json:"reason"`
		Email   bool   `json:"email"`
		Restock bool   `json:"restock"`
		Amount  string `json:"amount"`
	}
	if len(body) > 0 && json.Unmarshal(body, &req) != nil {
		writeJSON(w, http.StatusBadRequest, errorsBody("Bad Request"))
		return
	}
	switch {
	case !o.CancelledAt.IsZero():
		writeJSON(w, http.StatusUnprocessableEntity, errorsBody("Order has already been cancelled"))
		return
	case o.FulfillmentStatus == "fulfilled":
		writeJSON(w, http.StatusUnprocessableEntity, errorsBody("Cannot cancel an order that has been fulfilled"))
		return
	}
	o.CancelledAt, o.CancelReason = time.Now().UTC().Truncate(time.Second), req.Reason
	if o.CancelReason == "" {
		o.CancelReason = "other"
	}
	if o.FinancialStatus == "pending" || o.FinancialStatus == "authorized" {
		o.FinancialStatus = "voided"
	} else if req.Amount != "" {
		o.FinancialStatus = "refunded"
	}
	writeJSON(w, http.StatusOK, map[string]any{"order": s.orderJSON(o)})
}

type refundLine struct {
	LineItemID  int64  `json:"line_item_id"`
	Quantity    int64  `json:"quantity"`
	RestockType string `json:"restock_type"`
}

type refundReq struct {
	Refund struct {
		Currency string `json:"currency"`
		Notify   bool   `json:"notify"`
		Note     string `json:"note"`
		Shipping *struct {
			FullRefund bool `json:"full_refund"`
		} `json:"shipping"`
		RefundLineItems []refundLine `json:"refund_line_items"`
		Transactions    []struct {
			ParentID int64  `json:"parent_id"`
			Amount   string `json:"amount"`
			Kind     string `json:"kind"`
			Gateway  string `json:"gateway"`
		} `json:"transactions"`
	} `json:"refund"`
}

func cents(s string) int64 {
	whole, frac, _ := strings.Cut(s, ".")
	frac = (frac + "00")[:2]
	n, _ := strconv.ParseInt(whole+frac, 10, 64)
	return n
}

func money(c int64) string { return fmt.Sprintf("%d.%02d", c/100, c%100) }

// lines checks the requested lines and returns their amount, or writes a 422.
func (s *Server) lines(w http.ResponseWriter, o *Order, req refundReq) (int64, []map[string]any, bool) {
	var total int64
	var out []map[string]any
	for _, rl := range req.Refund.RefundLineItems {
		var li *LineItem
		for i := range o.LineItems {
			if o.LineItems[i].ID == rl.LineItemID {
				li = &o.LineItems[i]
			}
		}
		if li == nil {
			writeJSON(w, http.StatusUnprocessableEntity, errorsBody(map[string][]string{"refund_line_items": {"Line item could not be found"}}))
			return 0, nil, false
		}
		if rl.Quantity < 1 || rl.Quantity > li.Quantity-li.Refunded {
			writeJSON(w, http.StatusUnprocessableEntity, errorsBody(map[string][]string{"refund_line_items": {"Quantity cannot refund more items than were purchased"}}))
			return 0, nil, false
		}
		amt := cents(li.Price) * rl.Quantity
		total += amt
		out = append(out, map[string]any{"quantity": rl.Quantity, "line_item_id": rl.LineItemID, "location_id": nil,
			"restock_type": rl.RestockType, "price": li.Price, "subtotal": money(amt), "total_tax": "0.00",
			"discounted_price": li.Price, "discounted_total_price": money(amt), "total_cart_discount_amount": "0.00"})
	}
	return total, out, true
}

func (s *Server) refundable(o *Order) int64 {
	var paid int64
	for _, li := range o.LineItems {
		paid += cents(li.Price) * li.Quantity
	}
	paid += cents(o.Shipping)
	for _, r := range o.Refunds {
		paid -= r.Amount
	}
	return paid
}

func (s *Server) calculate(w http.ResponseWriter, o *Order, body []byte) {
	var req refundReq
	if json.Unmarshal(body, &req) != nil {
		writeJSON(w, http.StatusBadRequest, errorsBody("Bad Request"))
		return
	}
	total, lines, ok := s.lines(w, o, req)
	if !ok {
		return
	}
	shipping := int64(0)
	if req.Refund.Shipping != nil && req.Refund.Shipping.FullRefund && !o.refundedShipping {
		shipping = cents(o.Shipping)
	}
	amount := min(total+shipping, s.refundable(o))
	writeJSON(w, http.StatusOK, map[string]any{"refund": map[string]any{
		"shipping":          map[string]any{"amount": money(shipping), "tax": "0.00", "maximum_refundable": o.Shipping},
		"refund_line_items": lines,
		"transactions": []map[string]any{{"order_id": o.ID, "kind": "suggested_refund", "gateway": "bogus",
			"parent_id": o.ParentTransactionID, "amount": money(amount), "currency": o.Currency, "maximum_refundable": money(s.refundable(o))}},
		"currency": o.Currency,
	}})
}

func (s *Server) refund(w http.ResponseWriter, o *Order, body []byte) {
	var req refundReq
	if json.Unmarshal(body, &req) != nil {
		writeJSON(w, http.StatusBadRequest, errorsBody("Bad Request"))
		return
	}
	if _, _, ok := s.lines(w, o, req); !ok {
		return
	}
	var amount int64
	for _, t := range req.Refund.Transactions {
		if t.Kind != "refund" || t.ParentID != o.ParentTransactionID {
			writeJSON(w, http.StatusUnprocessableEntity, errorsBody(map[string][]string{"transactions": {"Parent transaction could not be found"}}))
			return
		}
		amount += cents(t.Amount)
	}
	if amount > s.refundable(o) {
		writeJSON(w, http.StatusUnprocessableEntity, errorsBody(map[string][]string{"base": {"Refund amount must be less than or equal to the remaining refundable amount"}}))
		return
	}
	s.nextID++
	r := Refund{ID: s.nextID, Note: req.Refund.Note, Notify: req.Refund.Notify, Amount: amount, Lines: map[int64]int64{}}
	for _, rl := range req.Refund.RefundLineItems {
		for i := range o.LineItems {
			if o.LineItems[i].ID == rl.LineItemID {
				o.LineItems[i].Refunded += rl.Quantity
			}
		}
		r.Lines[rl.LineItemID] = rl.Quantity
	}
	if req.Refund.Shipping != nil && req.Refund.Shipping.FullRefund {
		o.refundedShipping = true
	}
	o.Refunds = append(o.Refunds, r)
	if s.refundable(o) == 0 {
		o.FinancialStatus = "refunded"
	} else {
		o.FinancialStatus = "partially_refunded"
	}
	s.nextID++
	writeJSON(w, http.StatusCreated, map[string]any{"refund": map[string]any{
		"id": r.ID, "order_id": o.ID, "created_at": time.Now().UTC().Format(time.RFC3339), "note": nilIfEmpty(r.Note),
		"restock": false, "user_id": nil, "refund_line_items": req.Refund.RefundLineItems,
		"transactions": []map[string]any{{"id": s.nextID, "order_id": o.ID, "kind": "refund", "gateway": "bogus",
			"status": "success", "message": "Bogus Gateway: Forced success", "amount": money(amount), "currency": o.Currency,
			"parent_id": o.ParentTransactionID}},
		"order_adjustments": []any{},
	}})
}

// Sign returns the X-Shopify-Hmac-Sha256 of body: base64 of its HMAC-SHA256 with the secret.
func Sign(secret string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// Webhook is a delivery as Shopify makes it.
type Webhook struct {
	Topic, WebhookID, Shop string
	Body                   []byte
	// Signature overrides the computed X-Shopify-Hmac-Sha256 (a forgery).
	Signature string
}

// Deliver POSTs a webhook to url with Shopify's headers, signed with secret.
func Deliver(ctx context.Context, url, secret string, h Webhook) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(h.Body))
	if err != nil {
		return nil, err
	}
	sig := h.Signature
	if sig == "" {
		sig = Sign(secret, h.Body)
	}
	shop := h.Shop
	if shop == "" {
		shop = "toko-batik.myshopify.com"
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Shopify-Topic", h.Topic)
	req.Header.Set("X-Shopify-Hmac-Sha256", sig)
	req.Header.Set("X-Shopify-Shop-Domain", shop)
	req.Header.Set("X-Shopify-API-Version", Version)
	req.Header.Set("X-Shopify-Webhook-Id", h.WebhookID)
	req.Header.Set("X-Shopify-Event-Id", "evt-"+h.WebhookID)
	req.Header.Set("X-Shopify-Triggered-At", time.Now().UTC().Format(time.RFC3339Nano))
	return http.DefaultClient.Do(req)
}
