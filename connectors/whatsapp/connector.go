// Package whatsapp connects a WhatsApp Business number on Meta's Cloud API to the inbox:
// signed webhooks bring messages and delivery receipts, replies leave through the outbox as
// Graph API sends, inside the 24-hour customer-service window or as approved templates.
package whatsapp

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/serambi/serambi/connectors"
	"github.com/serambi/serambi/inbox"
)

// DeliveryRecorder applies a delivery receipt to the outbound message it names; *inbox.Inbox
// implements it.
type DeliveryRecorder interface {
	RecordDelivery(ctx context.Context, ch inbox.Channel, externalID string, u inbox.DeliveryUpdate) error
}

// Deps are what the connector works with.
type Deps struct {
	Ingester   connectors.Ingester
	Deliveries DeliveryRecorder
	Blobs      inbox.Blobs
	// HTTP is the client for the Graph API; nil means one with a sane timeout.
	HTTP *http.Client
	Log  *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Connector is one business phone number.
type Connector struct {
	cfg   Config
	deps  Deps
	graph *graph
	log   *slog.Logger
	now   func() time.Time
}

// New returns the connector for cfg, which must be valid (LoadFromEnv validates it).
func New(cfg Config, deps Deps) *Connector {
	cfg = cfg.WithDefaults()
	if deps.HTTP == nil {
		deps.HTTP = &http.Client{Timeout: 2 * time.Minute}
	}
	if deps.Log == nil {
		deps.Log = slog.New(slog.DiscardHandler)
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	return &Connector{cfg: cfg, deps: deps, graph: &graph{base: cfg.GraphBase, token: cfg.AccessToken.Reveal(), http: deps.HTTP},
		log: deps.Log.With("connector", "whatsapp", "phoneNumberId", cfg.PhoneNumberID), now: deps.Now}
}

// Config returns the connector's configuration (its secrets print redacted).
func (c *Connector) Config() Config { return c.cfg }

// SignatureHeader carries the hex HMAC-SHA256 of the raw body, keyed with the app secret.
const SignatureHeader = "X-Hub-Signature-256"

// Register adds the webhook routes to g: GET cfg.WebhookPath answers Meta's subscription
// check, POST cfg.WebhookPath receives deliveries.
func (c *Connector) Register(g *echo.Group) {
	h := echo.WrapHandler(c.WebhookHandler())
	g.GET(c.cfg.WebhookPath, h)
	g.POST(c.cfg.WebhookPath, h)
}

// WebhookHandler serves both webhook methods.
func (c *Connector) WebhookHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodGet:
			c.verify(w, r)
		case http.MethodPost:
			c.receive(w, r)
		default:
			w.Header().Set("Allow", "GET, POST")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		}
	})
}

// verify answers the subscription check: hub.mode=subscribe with our verify token is answered
// with hub.challenge as the plain body.
func (c *Connector) verify(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	want := c.cfg.VerifyToken.Reveal()
	if q.Get("hub.mode") != "subscribe" || want == "" || !hmac.Equal([]byte(q.Get("hub.verify_token")), []byte(want)) {
		c.log.Warn("whatsapp webhook verification refused", "mode", q.Get("hub.mode"), "remote", r.RemoteAddr)
		http.Error(w, "verification failed", http.StatusForbidden)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = io.WriteString(w, q.Get("hub.challenge"))
}

// receive takes a delivery. The signature over the raw bytes is checked before anything is
// parsed (401, nothing stored, when it does not match). The answer is 200 only once every
// message and receipt in it is stored, so that Meta delivers again whatever we failed to keep:
// 400 for a body that is not the documented JSON (delivering it again would not help), 500 when
// storage or a media download failed for a reason that may pass.
func (c *Connector) receive(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxWebhookBody))
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
		return
	}
	if err != nil {
		http.Error(w, "could not read the body", http.StatusBadRequest)
		return
	}
	if !ValidSignature(c.cfg.AppSecret, body, r.Header.Get(SignatureHeader)) {
		c.log.Warn("whatsapp webhook with a wrong signature refused", "remote", r.RemoteAddr)
		http.Error(w, "invalid signature", http.StatusUnauthorized)
		return
	}
	env, err := DecodeWebhook(body)
	if err != nil {
		c.log.Warn("whatsapp webhook body is not the documented JSON", "err", err)
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if err := c.Process(r.Context(), env); err != nil {
		c.log.Error("whatsapp delivery not fully stored; Meta will deliver it again", "err", err)
		http.Error(w, "not stored, try again", http.StatusInternalServerError)
		return
	}
	w.WriteHeader(http.StatusOK)
}

// ValidSignature checks header ("sha256=<hex>") against the HMAC-SHA256 of body with secret,
// in constant time.
func ValidSignature(secret Secret, body []byte, header string) bool {
	hexSig, ok := strings.CutPrefix(header, "sha256=")
	if !ok || secret == "" {
		return false
	}
	got, err := hex.DecodeString(hexSig)
	if err != nil {
		return false
	}
	mac := hmac.New(sha256.New, []byte(secret.Reveal()))
	mac.Write(body)
	return hmac.Equal(got, mac.Sum(nil))
}

// Sign returns the X-Hub-Signature-256 value for body, as Meta computes it.
func Sign(secret Secret, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret.Reveal()))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// Process stores what a verified delivery carries: every message of every "messages" change
// for our number, then every status. Deliveries may come batched, repeated and out of order:
// messages are idempotent on their wamid and receipts never move a message backwards. It stops
// at the first failure that may pass, leaving the rest for Meta's redelivery.
func (c *Connector) Process(ctx context.Context, env Envelope) error {
	if env.Object != "whatsapp_business_account" {
		c.log.Info("webhook for another product ignored", "object", env.Object)
		return nil
	}
	for _, e := range env.Entry {
		for _, ch := range e.Changes {
			if ch.Field != "messages" {
				continue
			}
			v := ch.Value
			if id := v.Metadata.PhoneNumberID; id != "" && c.cfg.PhoneNumberID != "" && id != c.cfg.PhoneNumberID {
				c.log.Info("webhook for another phone number ignored", "for", id)
				continue
			}
			for _, ve := range v.Errors {
				c.log.Warn("whatsapp reported an error", "error", ve.String())
			}
			for _, m := range v.Messages {
				if err := c.ingest(ctx, m, v.Contacts); err != nil {
					return err
				}
			}
			for _, s := range v.Statuses {
				if err := c.status(ctx, s); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func (c *Connector) ingest(ctx context.Context, m Message, contacts []Contact) error {
	d := draftOf(m, contacts)
	if d.Skip != "" {
		c.log.Warn("whatsapp message skipped", "wamid", m.ID, "reason", d.Skip)
		return nil
	}
	var notices []string
	for _, ref := range d.Media {
		att, notice, err := c.fetch(ctx, ref)
		if err != nil {
			return fmt.Errorf("message %s: %w", m.ID, err)
		}
		if notice != "" {
			notices = append(notices, notice)
			continue
		}
		d.In.Attachments = append(d.In.Attachments, att)
	}
	if len(notices) > 0 {
		d.In.Text = strings.TrimSpace(d.In.Text + "\n" + strings.Join(notices, "\n"))
	}
	_, err := c.deps.Ingester.Ingest(ctx, d.In)
	if errors.Is(err, inbox.ErrInvalid) || errors.Is(err, inbox.ErrNoIdentity) {
		// Redelivery cannot make it valid; refusing the batch would hold every message in it.
		c.log.Warn("whatsapp message refused by the inbox, skipped", "wamid", m.ID, "err", err)
		return nil
	}
	if err != nil {
		return fmt.Errorf("message %s: ingest: %w", m.ID, err)
	}
	return nil
}

// status applies one receipt. A receipt for a message this inbox does not know (sent by another
// tool on the same number, or one whose send has not been recorded yet) is dropped: Meta would
// redeliver it for days, and the dispatcher records "sent" itself.
func (c *Connector) status(ctx context.Context, s Status) error {
	var state inbox.Delivery
	switch s.Status {
	case "sent":
		state = inbox.DeliverySent
	case "delivered":
		state = inbox.DeliveryDelivered
	case "read":
		state = inbox.DeliveryRead
	case "failed":
		state = inbox.DeliveryFailed
	default:
		c.log.Debug("whatsapp status ignored", "status", s.Status, "wamid", s.ID)
		return nil
	}
	if s.ID == "" {
		return nil
	}
	u := inbox.DeliveryUpdate{State: state, At: s.Timestamp.Time}
	if state == inbox.DeliveryFailed {
		var reasons []string
		for _, e := range s.Errors {
			reasons = append(reasons, e.String())
		}
		u.Error = firstNonEmpty(strings.Join(reasons, "; "), "WhatsApp could not deliver the message")
	}
	err := c.deps.Deliveries.RecordDelivery(ctx, inbox.ChannelWhatsApp, s.ID, u)
	if errors.Is(err, inbox.ErrNotFound) {
		c.log.Debug("whatsapp status for an unknown message dropped", "wamid", s.ID, "status", s.Status)
		return nil
	}
	if err != nil {
		return fmt.Errorf("status %s of %s: %w", s.Status, s.ID, err)
	}
	return nil
}

// fetch downloads a media object into the blob store. Media that cannot be had (too large,
// expired, refused) becomes a notice for the agent; Meta or the network failing is an error, so
// the delivery is answered 500 and comes again.
func (c *Connector) fetch(ctx context.Context, ref mediaRef) (inbox.Attachment, string, error) {
	limit := c.cfg.MaxMediaSize
	mi, err := c.graph.mediaInfo(ctx, ref.ID)
	var gErr *GraphError
	if errors.As(err, &gErr) && !gErr.Transient() {
		return inbox.Attachment{}, fmt.Sprintf("[%s could not be downloaded from WhatsApp: %s]", ref.Name, gErr.Message), nil
	}
	if err != nil {
		return inbox.Attachment{}, "", fmt.Errorf("media %s: %w", ref.ID, err)
	}
	if int64(mi.FileSize) > limit {
		return inbox.Attachment{}, fmt.Sprintf("[%s (%s) is larger than the %s Serambi keeps; open WhatsApp to see it]",
			ref.Name, formatSize(int64(mi.FileSize)), formatSize(limit)), nil
	}
	if mi.URL == "" {
		return inbox.Attachment{}, fmt.Sprintf("[%s could not be downloaded from WhatsApp: no URL]", ref.Name), nil
	}
	body, err := c.graph.download(ctx, mi.URL)
	if errors.As(err, &gErr) && !gErr.Transient() {
		return inbox.Attachment{}, fmt.Sprintf("[%s could not be downloaded from WhatsApp: %d %s]", ref.Name, gErr.Status, firstNonEmpty(gErr.Message, http.StatusText(gErr.Status))), nil
	}
	if err != nil {
		return inbox.Attachment{}, "", fmt.Errorf("media %s download: %w", ref.ID, err)
	}
	defer body.Close()
	sha, size, err := c.deps.Blobs.Put(ctx, body, limit)
	if errors.Is(err, inbox.ErrTooLarge) {
		return inbox.Attachment{}, fmt.Sprintf("[%s is larger than the %s Serambi keeps; open WhatsApp to see it]", ref.Name, formatSize(limit)), nil
	}
	if err != nil {
		return inbox.Attachment{}, "", fmt.Errorf("store media %s: %w", ref.ID, err)
	}
	ct := firstNonEmpty(mi.MimeType, ref.ContentType)
	return inbox.Attachment{SHA256: sha, Name: ref.Name, ContentType: ct, Size: size}, "", nil
}

func formatSize(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}
