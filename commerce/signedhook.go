package commerce

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/serambi/serambi/inbox"
)

// SignedWebhook carries cancellations and refunds to a shop Serambi has no adapter for: it POSTs
// a JSON action to the configured URL, signed the way Serambi signs its API callbacks:
//
//	X-Serambi-Signature: sha256=<hex HMAC-SHA256 of the raw body with the shared secret>
//	X-Serambi-Timestamp: <unix seconds>  (also inside the signed body, so a replay is detectable)
//
// The shop answers 2xx when it did it, optionally with {"reference","amount","currency"} (amount
// in minor units); 422 with {"error": "why"} when it refuses; 429 with Retry-After when busy.
type SignedWebhook struct {
	cfg     WebhookConfig
	http    *http.Client
	now     func() time.Time
	maxWait time.Duration
}

// Signature and timestamp headers of the actions webhook.
const (
	SignatureHeader = "X-Serambi-Signature"
	TimestampHeader = "X-Serambi-Timestamp"
)

// NewSignedWebhook returns the adapter.
func NewSignedWebhook(cfg WebhookConfig, client *http.Client, now func() time.Time) *SignedWebhook {
	return &SignedWebhook{cfg: cfg, http: client, now: now, maxWait: 10 * time.Second}
}

// SetMaxWait sets how long one action may wait on rate limits.
func (w *SignedWebhook) SetMaxWait(d time.Duration) { w.maxWait = d }

// ActionHook is the body of an action request.
type ActionHook struct {
	// Action is "order.cancel" or "order.refund".
	Action      string       `json:"action"`
	Timestamp   int64        `json:"timestamp"`
	OrderID     string       `json:"orderId"`
	OrderNumber string       `json:"orderNumber"`
	Source      Source       `json:"source"`
	Reason      string       `json:"reason,omitempty"`
	Full        bool         `json:"full,omitempty"`
	Items       []RefundItem `json:"items,omitempty"`
	Refund      bool         `json:"refund,omitempty"`
	Restock     bool         `json:"restock"`
	Notify      bool         `json:"notify"`
	Note        string       `json:"note,omitempty"`
	RequestedBy struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	} `json:"requestedBy"`
}

// SignBody returns the X-Serambi-Signature value of body.
func SignBody(secret Secret, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// VerifyBody checks a signature in constant time.
func VerifyBody(secret Secret, body []byte, signature string) bool {
	return hmac.Equal([]byte(SignBody(secret, body)), []byte(signature))
}

// Cancel sends an order.cancel action.
func (w *SignedWebhook) Cancel(ctx context.Context, o Order, r CancelRequest) (ActionResult, error) {
	h := w.hook("order.cancel", o, r.Actor)
	h.Reason, h.Refund, h.Restock, h.Notify, h.Note = r.Reason, r.Refund, r.Restock, r.Notify, r.Note
	res, err := w.send(ctx, h)
	if err == nil && r.Refund && res.Amount == 0 {
		res.Amount, res.Currency = o.Net(), o.Currency
	}
	return res, err
}

// Refund sends an order.refund action.
func (w *SignedWebhook) Refund(ctx context.Context, o Order, r RefundRequest) (ActionResult, error) {
	h := w.hook("order.refund", o, r.Actor)
	h.Full, h.Items, h.Restock, h.Notify, h.Note = r.Full, r.Items, r.Restock, r.Notify, r.Note
	res, err := w.send(ctx, h)
	if err == nil && res.Amount == 0 {
		// The shop did not say: report what was asked for.
		if r.Full {
			res.Amount = o.Net()
		} else {
			for _, it := range r.Items {
				if li, ok := o.Item(it.LineItemID); ok {
					res.Amount += li.UnitPrice * it.Quantity
				}
			}
		}
		res.Currency = o.Currency
	}
	return res, err
}

func (w *SignedWebhook) hook(action string, o Order, a Actor) ActionHook {
	h := ActionHook{Action: action, Timestamp: w.now().Unix(), OrderID: o.ID, OrderNumber: o.Number, Source: o.Source}
	h.RequestedBy.ID, h.RequestedBy.Name = a.ID, a.Name
	return h
}

func (w *SignedWebhook) send(ctx context.Context, h ActionHook) (ActionResult, error) {
	body, err := json.Marshal(h)
	if err != nil {
		return ActionResult{}, err
	}
	status, raw, err := postWithRateLimit(ctx, w.http, w.now, w.maxWait, func() (*http.Request, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.cfg.URL, bytes.NewReader(body))
		if err != nil {
			return nil, err
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set(SignatureHeader, SignBody(w.cfg.Secret, body))
		req.Header.Set(TimestampHeader, strconv.FormatInt(h.Timestamp, 10))
		return req, nil
	})
	if err != nil {
		return ActionResult{}, fmt.Errorf("send %s to the shop: %w", h.Action, err)
	}
	switch {
	case status >= 200 && status < 300:
		var out ActionResult
		var ans struct {
			Reference string `json:"reference"`
			Amount    int64  `json:"amount"`
			Currency  string `json:"currency"`
		}
		if len(bytes.TrimSpace(raw)) > 0 && json.Unmarshal(raw, &ans) == nil {
			out = ActionResult{Amount: ans.Amount, Currency: ans.Currency, Reference: ans.Reference}
		}
		return out, nil
	case status == http.StatusUnprocessableEntity:
		var ans struct {
			Error string `json:"error"`
		}
		msg := strings.TrimSpace(string(raw))
		if json.Unmarshal(raw, &ans) == nil && ans.Error != "" {
			msg = ans.Error
		}
		return ActionResult{}, &RejectedError{Status: status, Message: truncate(msg, 300)}
	case status == http.StatusNotFound:
		return ActionResult{}, fmt.Errorf("the shop does not know order %s: %w", h.OrderNumber, inbox.ErrNotFound)
	}
	return ActionResult{}, fmt.Errorf("the shop's actions endpoint answered %d", status)
}
