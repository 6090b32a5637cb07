// Package api is the outbound half of the API channel: replies to conversations that came in
// through POST /api/v1/messages are POSTed, signed, to the shop's callback URL. The inbound half
// is the web package's handler, which hands messages to the inbox like any connector.
package api

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/serambi/serambi/inbox"
)

// Header names of a callback request.
const (
	SignatureHeader = "X-Serambi-Signature" // "sha256=" + hex HMAC-SHA256 of the raw body
	TimestampHeader = "X-Serambi-Timestamp" // Unix seconds; the body's "timestamp" carries it signed
	DeliveryHeader  = "X-Serambi-Delivery"  // the message id: the same on every retry, for de-duplication
	EventMessage    = "message.created"
)

// Callback is the body POSTed to the callback URL.
type Callback struct {
	Event string `json:"event"`
	// Timestamp is when this attempt was made (Unix seconds). It is inside the signed body so a
	// receiver can refuse replays of old deliveries.
	Timestamp int64           `json:"timestamp"`
	Attempt   int             `json:"attempt"`
	Message   CallbackMessage `json:"message"`
	Customer  inbox.Customer  `json:"customer"`
}

// CallbackMessage is the message as the receiver sees it: attachments carry a signed download URL.
type CallbackMessage struct {
	inbox.Message
	Attachments []CallbackAttachment `json:"attachments,omitempty"`
}

// CallbackAttachment is an attachment with a URL the receiver can fetch it from without a key.
type CallbackAttachment struct {
	inbox.Attachment
	URL string `json:"url,omitempty"`
}

// Sender delivers replies of the API channel to the callback URL; it implements inbox.Sender.
type Sender struct {
	url    string
	secret []byte
	client *http.Client
	now    func() time.Time
	// attachmentURL makes a signed download link; nil sends attachments without one.
	attachmentURL func(inbox.Attachment) string
}

// Options configures a Sender. URL and Secret are required.
type Options struct {
	URL    string
	Secret string
	// Client is the HTTP client; nil means one with a 30 s timeout.
	Client *http.Client
	Now    func() time.Time
	// AttachmentURL returns a signed URL for an attachment.
	AttachmentURL func(inbox.Attachment) string
}

// New returns a callback sender.
func New(o Options) *Sender {
	client := o.Client
	if client == nil {
		client = &http.Client{Timeout: 30 * time.Second}
	}
	// A redirect would turn the POST into a GET (or replay it somewhere unsigned-for): refuse it
	// and let the operator fix the URL.
	c := *client
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	now := o.Now
	if now == nil {
		now = time.Now
	}
	return &Sender{url: o.URL, secret: []byte(o.Secret), client: &c, now: now, attachmentURL: o.AttachmentURL}
}

// Sign returns the X-Serambi-Signature value for body.
func Sign(secret, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// Verify reports whether signature is body's signature under secret, in constant time. Receivers
// written in Go can use it; docs/API.md shows the same check in other languages.
func Verify(secret, body []byte, signature string) bool {
	return hmac.Equal([]byte(Sign(secret, body)), []byte(signature))
}

// Send POSTs the message. 2xx is sent; 408, 429, 5xx and network errors are retried (after
// Retry-After when given); any other answer is permanent, because repeating it will not change it.
func (s *Sender) Send(ctx context.Context, out inbox.Outbound) (string, error) {
	now := s.now()
	cb := Callback{Event: EventMessage, Timestamp: now.Unix(), Attempt: out.Attempt,
		Message: CallbackMessage{Message: out.Message}, Customer: out.Customer}
	for _, a := range out.Message.Attachments {
		ca := CallbackAttachment{Attachment: a}
		if s.attachmentURL != nil {
			ca.URL = s.attachmentURL(a)
		}
		cb.Message.Attachments = append(cb.Message.Attachments, ca)
	}
	body, err := json.Marshal(cb)
	if err != nil {
		return "", inbox.Permanent(fmt.Errorf("encode callback: %w", err))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, bytes.NewReader(body))
	if err != nil {
		return "", inbox.Permanent(fmt.Errorf("callback request: %w", err))
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Serambi-Callback/1")
	req.Header.Set(SignatureHeader, Sign(s.secret, body))
	req.Header.Set(TimestampHeader, strconv.FormatInt(now.Unix(), 10))
	req.Header.Set(DeliveryHeader, out.Message.ID)
	resp, err := s.client.Do(req)
	if err != nil {
		return "", fmt.Errorf("callback: %w", err)
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // lets the connection be reused
	switch code := resp.StatusCode; {
	case code >= 200 && code < 300:
		return "", nil
	case code == http.StatusRequestTimeout || code == http.StatusTooManyRequests || code >= 500:
		err := fmt.Errorf("callback answered %s: %s", resp.Status, bytes.TrimSpace(snippet))
		if after, ok := retryAfter(resp.Header.Get("Retry-After"), now); ok {
			return "", &inbox.RetryAfterError{After: after, Err: err}
		}
		return "", err
	default:
		return "", inbox.Permanent(fmt.Errorf("callback answered %s: %s", resp.Status, bytes.TrimSpace(snippet)))
	}
}

// retryAfter reads a Retry-After header: delay seconds or an HTTP date. Values past a day are
// capped there, so a confused receiver cannot park a reply for a year.
func retryAfter(h string, now time.Time) (time.Duration, bool) {
	if h == "" {
		return 0, false
	}
	var d time.Duration
	if secs, err := strconv.Atoi(h); err == nil {
		if secs < 0 {
			return 0, false
		}
		d = time.Duration(secs) * time.Second
	} else if t, err := http.ParseTime(h); err == nil {
		d = t.Sub(now)
	} else {
		return 0, false
	}
	if d <= 0 {
		d = time.Second // "now": still wait a moment rather than spin
	}
	return min(d, 24*time.Hour), true
}
