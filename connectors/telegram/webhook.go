package telegram

import (
	"context"
	"crypto/subtle"
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
)

// SecretHeader carries setWebhook's secret_token on every webhook delivery.
const SecretHeader = "X-Telegram-Bot-Api-Secret-Token"

// Register adds the webhook route (POST cfg.WebhookPath) to g.
func (c *Connector) Register(g *echo.Group) {
	g.POST(c.cfg.WebhookPath, echo.WrapHandler(c.WebhookHandler()))
}

// SetWebhook tells Telegram to post updates to cfg.WebhookURL with cfg.WebhookSecret (webhook
// mode; call it at start).
func (c *Connector) SetWebhook(ctx context.Context) error {
	return c.api.setWebhook(ctx, c.cfg.WebhookURL, c.cfg.WebhookSecret)
}

// WebhookHandler receives updates Telegram posts. The secret header is checked first, in
// constant time; a wrong one gets 401 and nothing is read. The answer is 200 only once the
// update is stored (or deliberately ignored), so Telegram redelivers anything we lost: 400 for a
// body that is not an update (redelivery would not help), 500 when storage failed.
func (c *Connector) WebhookHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		want := c.cfg.WebhookSecret.Reveal()
		got := r.Header.Get(SecretHeader)
		if want == "" || subtle.ConstantTimeCompare([]byte(got), []byte(want)) != 1 {
			c.log.Warn("telegram webhook call with a wrong secret token refused", "remote", r.RemoteAddr)
			http.Error(w, "wrong secret token", http.StatusUnauthorized)
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxWebhookBodyBytes))
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			http.Error(w, "update too large", http.StatusRequestEntityTooLarge)
			return
		}
		if err != nil {
			http.Error(w, "could not read the update", http.StatusBadRequest)
			return
		}
		u, err := DecodeUpdate(body)
		if err != nil {
			c.log.Warn("telegram webhook body is not an update", "err", err)
			http.Error(w, "malformed update: "+err.Error(), http.StatusBadRequest)
			return
		}
		if err := c.handleDelivery(r.Context(), u); err != nil {
			c.log.Error("telegram update not stored; Telegram will deliver it again", "update", u.ID, "err", err)
			http.Error(w, "update not stored, try again", http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
}

// webhookTries bounds the tries within one delivery. Telegram redelivers a failed update only
// "a reasonable amount of" times and then drops it, so a file that stays unavailable through
// these tries is given up on (a notice) rather than the message with it.
const webhookTries = 3

func (c *Connector) handleDelivery(ctx context.Context, u Update) error {
	var err error
	for try := 1; try <= webhookTries; try++ {
		if err = c.handle(ctx, u, try == webhookTries); err == nil || ctx.Err() != nil || !errors.Is(err, errFile) {
			return err // stored, or the store failed: Telegram's redelivery is the retry
		}
		if try < webhookTries {
			_ = c.sleep(ctx, min(max(retryAfter(err), 250*time.Millisecond), 2*time.Second))
		}
	}
	return err
}
