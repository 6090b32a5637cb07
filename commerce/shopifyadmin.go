package commerce

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/serambi/serambi/inbox"
)

// ShopifyAdmin cancels and refunds Shopify orders through the Admin REST API:
//
//	POST /admin/api/{version}/orders/{id}/cancel.json
//	POST /admin/api/{version}/orders/{id}/refunds/calculate.json   (what Shopify would refund)
//	POST /admin/api/{version}/orders/{id}/refunds.json             (the refund, with those transactions)
//
// authenticated with X-Shopify-Access-Token. A 422 is Shopify refusing (its message is shown to the
// agent); a 429 is retried after Retry-After, within a few seconds, because an agent is waiting.
// Nothing else is retried: a refund request that failed half-way might have been processed, and
// the agent must look before trying again.
type ShopifyAdmin struct {
	cfg  ShopifyConfig
	http *http.Client
	now  func() time.Time
	// maxWait bounds the time spent waiting on 429s for one action.
	maxWait time.Duration
}

// NewShopifyAdmin returns the adapter.
func NewShopifyAdmin(cfg ShopifyConfig, client *http.Client, now func() time.Time) *ShopifyAdmin {
	if cfg.APIVersion == "" {
		cfg.APIVersion = "2024-10"
	}
	return &ShopifyAdmin{cfg: cfg, http: client, now: now, maxWait: 10 * time.Second}
}

// SetMaxWait sets how long one action may wait on rate limits (tests shorten it).
func (a *ShopifyAdmin) SetMaxWait(d time.Duration) { a.maxWait = d }

// RateLimitedError: the shop kept answering 429 for longer than the adapter waits.
type RateLimitedError struct{ After time.Duration }

func (e *RateLimitedError) Error() string {
	return fmt.Sprintf("the shop is rate limiting requests; try again in %s", e.After.Round(time.Second))
}

// Is makes errors.Is(err, inbox.ErrConflict) match: the action did not happen and may be retried.
func (e *RateLimitedError) Is(target error) bool { return target == inbox.ErrConflict }

func (a *ShopifyAdmin) path(orderID, rest string) string {
	return fmt.Sprintf("%s/admin/api/%s/orders/%s/%s", a.cfg.base(), a.cfg.APIVersion, url.PathEscape(orderID), rest)
}

// idJSON writes a Shopify id as a JSON number when it is one (as Shopify sends them), as a string
// otherwise.
func idJSON(id string) json.RawMessage {
	if id != "" && allDigits(id) {
		return json.RawMessage(id)
	}
	b, _ := json.Marshal(id)
	return b
}

// Cancel cancels the order.
func (a *ShopifyAdmin) Cancel(ctx context.Context, o Order, r CancelRequest) (ActionResult, error) {
	body := map[string]any{"reason": r.Reason, "email": r.Notify, "restock": r.Restock}
	if r.Refund && o.Net() > 0 {
		body["amount"], body["currency"] = FormatAmount(o.Net(), o.Currency), o.Currency
	}
	var out struct {
		Order struct {
			ID          json.Number `json:"id"`
			CancelledAt string      `json:"cancelled_at"`
		} `json:"order"`
	}
	if err := a.call(ctx, a.path(o.ID, "cancel.json"), body, &out); err != nil {
		return ActionResult{}, fmt.Errorf("cancel Shopify order %s: %w", o.Number, err)
	}
	res := ActionResult{Reference: out.Order.ID.String()}
	if r.Refund {
		res.Amount, res.Currency = o.Net(), o.Currency
	}
	return res, nil
}

type shopifyRefundLine struct {
	LineItemID  json.RawMessage `json:"line_item_id"`
	Quantity    int64           `json:"quantity"`
	RestockType string          `json:"restock_type"`
}

type shopifyTransaction struct {
	ParentID json.RawMessage `json:"parent_id,omitempty"`
	Amount   string          `json:"amount"`
	Kind     string          `json:"kind"`
	Gateway  string          `json:"gateway,omitempty"`
	Currency string          `json:"currency,omitempty"`
}

// Refund calculates the refund with Shopify, then creates it with the transactions Shopify
// suggested: Shopify knows which payment to refund and how much of the shipping and tax goes back.
func (a *ShopifyAdmin) Refund(ctx context.Context, o Order, r RefundRequest) (ActionResult, error) {
	restock := "no_restock"
	if r.Restock {
		restock = "cancel"
		if o.Fulfillment != FulfillmentUnfulfilled {
			restock = "return"
		}
	}
	var lines []shopifyRefundLine
	if r.Full {
		for _, it := range o.Items {
			if it.ID != "" && it.Quantity > 0 {
				lines = append(lines, shopifyRefundLine{LineItemID: idJSON(it.ID), Quantity: it.Quantity, RestockType: restock})
			}
		}
	} else {
		for _, it := range r.Items {
			lines = append(lines, shopifyRefundLine{LineItemID: idJSON(it.LineItemID), Quantity: it.Quantity, RestockType: restock})
		}
	}
	refund := map[string]any{"refund_line_items": lines}
	if r.Full {
		refund["shipping"] = map[string]any{"full_refund": true}
	}
	var calc struct {
		Refund struct {
			Currency     string `json:"currency"`
			Transactions []struct {
				ParentID json.RawMessage `json:"parent_id"`
				Amount   string          `json:"amount"`
				Kind     string          `json:"kind"`
				Gateway  string          `json:"gateway"`
				Currency string          `json:"currency"`
			} `json:"transactions"`
		} `json:"refund"`
	}
	if err := a.call(ctx, a.path(o.ID, "refunds/calculate.json"), map[string]any{"refund": refund}, &calc); err != nil {
		return ActionResult{}, fmt.Errorf("calculate refund of Shopify order %s: %w", o.Number, err)
	}
	currency := calc.Refund.Currency
	if currency == "" {
		currency = o.Currency
	}
	var txs []shopifyTransaction
	var total int64
	for _, t := range calc.Refund.Transactions {
		amt, err := ParseAmount(t.Amount, currency)
		if err != nil {
			return ActionResult{}, fmt.Errorf("Shopify suggested a refund of %q: %w", t.Amount, err)
		}
		if amt <= 0 {
			continue
		}
		total += amt
		txs = append(txs, shopifyTransaction{ParentID: t.ParentID, Amount: t.Amount, Kind: "refund", Gateway: t.Gateway})
	}
	if len(txs) == 0 {
		return ActionResult{}, &RejectedError{Status: http.StatusUnprocessableEntity, Message: "Shopify suggests no amount to refund for these items"}
	}
	refund["currency"], refund["notify"], refund["transactions"] = currency, r.Notify, txs
	if r.Note != "" {
		refund["note"] = r.Note
	}
	var out struct {
		Refund struct {
			ID json.Number `json:"id"`
		} `json:"refund"`
	}
	// Not retried on anything but 429: a refund whose answer was lost may have been made.
	if err := a.call(ctx, a.path(o.ID, "refunds.json"), map[string]any{"refund": refund}, &out); err != nil {
		return ActionResult{}, fmt.Errorf("refund Shopify order %s: %w", o.Number, err)
	}
	return ActionResult{Amount: total, Currency: currency, Reference: out.Refund.ID.String()}, nil
}

// call POSTs body as JSON and decodes a 2xx answer into out.
func (a *ShopifyAdmin) call(ctx context.Context, endpoint string, body any, out any) error {
	payload, err := json.Marshal(body)
	if err != nil {
		return err
	}
	status, raw, err := postWithRateLimit(ctx, a.http, a.now, a.maxWait, func() (*http.Request, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(payload))
		if err != nil {
			return nil, err
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json")
		req.Header.Set("X-Shopify-Access-Token", string(a.cfg.AccessToken))
		return req, nil
	})
	switch {
	case err != nil:
		return fmt.Errorf("reach Shopify: %w", err)
	case status >= 200 && status < 300:
		if err := json.Unmarshal(raw, out); err != nil {
			return fmt.Errorf("Shopify's answer is not the documented JSON: %w", err)
		}
		return nil
	case status == http.StatusUnprocessableEntity:
		return &RejectedError{Status: status, Message: shopifyErrors(raw)}
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return fmt.Errorf("Shopify refused the access token (status %d): check that SERAMBI_SHOPIFY_ACCESS_TOKEN is valid and has the write_orders scope", status)
	case status == http.StatusNotFound:
		return fmt.Errorf("the order is not in the Shopify shop: %w", inbox.ErrNotFound)
	}
	return fmt.Errorf("Shopify answered %d: %s", status, shopifyErrors(raw))
}

// postWithRateLimit sends the request newReq builds, again after Retry-After while the server
// answers 429 and the wait fits in maxWait (then the error is a *RateLimitedError). Any other
// answer is returned as it is: status and body.
func postWithRateLimit(ctx context.Context, client *http.Client, now func() time.Time, maxWait time.Duration,
	newReq func() (*http.Request, error)) (int, []byte, error) {
	deadline := now().Add(maxWait)
	for {
		req, err := newReq()
		if err != nil {
			return 0, nil, err
		}
		resp, err := client.Do(req)
		if err != nil {
			return 0, nil, err
		}
		raw, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
		resp.Body.Close()
		if err != nil {
			return 0, nil, fmt.Errorf("read the answer: %w", err)
		}
		if resp.StatusCode != http.StatusTooManyRequests {
			return resp.StatusCode, raw, nil
		}
		wait := retryAfter(resp.Header.Get("Retry-After"))
		if now().Add(wait).After(deadline) {
			return 0, nil, &RateLimitedError{After: wait}
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return 0, nil, ctx.Err()
		case <-t.C:
		}
	}
}

// retryAfter reads Retry-After as Shopify sends it: seconds, possibly fractional ("2.0").
func retryAfter(v string) time.Duration {
	f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
	if err != nil || f <= 0 {
		return 2 * time.Second
	}
	return time.Duration(f * float64(time.Second))
}

// shopifyErrors extracts the message of Shopify's error body, which is {"errors": "text"},
// {"errors": ["text"]} or {"errors": {"field": ["text"]}}.
func shopifyErrors(raw []byte) string {
	var body struct {
		Errors json.RawMessage `json:"errors"`
	}
	if json.Unmarshal(raw, &body) != nil || len(body.Errors) == 0 {
		return truncate(strings.TrimSpace(string(raw)), 200)
	}
	var s string
	if json.Unmarshal(body.Errors, &s) == nil {
		return s
	}
	var list []string
	if json.Unmarshal(body.Errors, &list) == nil {
		return strings.Join(list, "; ")
	}
	var fields map[string][]string
	if json.Unmarshal(body.Errors, &fields) == nil {
		var parts []string
		for k, v := range fields {
			msg := strings.Join(v, ", ")
			if k != "base" {
				msg = k + " " + msg
			}
			parts = append(parts, msg)
		}
		slices.Sort(parts)
		return strings.Join(parts, "; ")
	}
	return truncate(string(body.Errors), 200)
}
