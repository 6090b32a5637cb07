package whatsapp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/serambi/serambi/inbox"
)

// Window is WhatsApp's customer-service window: free-form messages are delivered only this long
// after the customer's last message; after it only approved templates are.
const Window = 24 * time.Hour

// ErrWindowClosed says a free-form reply cannot go out because the customer last wrote more
// than 24 hours ago. It wraps inbox.ErrInvalid so API callers get a 4xx that explains it.
var ErrWindowClosed = fmt.Errorf("the customer last wrote on WhatsApp more than 24 hours ago; WhatsApp only delivers an approved template now: %w", inbox.ErrInvalid)

// WindowOpen reports whether a free-form message to the customer of conv is inside the
// 24-hour customer-service window at now. Only a WhatsApp message opens the window: a customer
// who wrote by email within the day but not on WhatsApp is outside it, as WhatsApp sees it.
func WindowOpen(conv inbox.Conversation, now time.Time) bool {
	last := conv.LastInboundOn(inbox.ChannelWhatsApp)
	return !last.IsZero() && now.Sub(last) < Window
}

// Message meta keys that make a reply a template message. The console (or API) sets them on the
// ReplyRequest; Text should be the rendered template (Template.Render) so the timeline shows what
// the customer received.
const (
	MetaTemplate         = "whatsapp.template"
	MetaTemplateLanguage = "whatsapp.templateLanguage"
	// MetaTemplateParams is a JSON list of strings, the body parameters in order.
	MetaTemplateParams = "whatsapp.templateParams"
)

// CheckReply says whether a reply may be queued for WhatsApp now: inside the window anything
// goes, outside it only one of the configured templates with the right number of parameters.
// It is the policy the inbox should consult before queuing (see the package's report); Send
// applies the same rule again when the job runs.
func (c *Connector) CheckReply(conv inbox.Conversation, meta map[string]string) error {
	if meta[MetaTemplate] != "" {
		_, _, err := c.template(meta)
		return err
	}
	if !WindowOpen(conv, c.now()) {
		return ErrWindowClosed
	}
	return nil
}

// Templates lists the approved templates agents may send.
func (c *Connector) Templates() []Template { return append([]Template(nil), c.cfg.Templates...) }

func (c *Connector) template(meta map[string]string) (Template, []string, error) {
	t, ok := c.cfg.Template(meta[MetaTemplate], meta[MetaTemplateLanguage])
	if !ok {
		return Template{}, nil, fmt.Errorf("template %q (%s) is not one an admin made available: %w", meta[MetaTemplate], meta[MetaTemplateLanguage], inbox.ErrInvalid)
	}
	var params []string
	if raw := meta[MetaTemplateParams]; raw != "" {
		if err := json.Unmarshal([]byte(raw), &params); err != nil {
			return Template{}, nil, fmt.Errorf("template parameters must be a JSON list of strings: %w", inbox.ErrInvalid)
		}
	}
	if len(params) != t.Params {
		return Template{}, nil, fmt.Errorf("template %s takes %d parameters, got %d: %w", t.Name, t.Params, len(params), inbox.ErrInvalid)
	}
	for i, p := range params {
		if strings.TrimSpace(p) == "" || strings.ContainsAny(p, "\n\t") || strings.Contains(p, "    ") {
			// Meta refuses parameters that are empty or carry new lines, tabs or 4+ spaces (132018).
			return Template{}, nil, fmt.Errorf("template parameter %d must be one line of text: %w", i+1, inbox.ErrInvalid)
		}
	}
	return t, params, nil
}

// SendTemplate sends approved template t to the WhatsApp number to (E.164, with or without '+')
// and returns the message's wamid. Templates are delivered outside the 24-hour window too.
func (c *Connector) SendTemplate(ctx context.Context, to string, t Template, params []string) (string, error) {
	tpl := map[string]any{"name": t.Name, "language": map[string]any{"code": t.Language}}
	if len(params) > 0 {
		ps := make([]map[string]any, len(params))
		for i, p := range params {
			ps[i] = map[string]any{"type": "text", "text": p}
		}
		tpl["components"] = []map[string]any{{"type": "body", "parameters": ps}}
	}
	id, err := c.graph.sendMessage(ctx, c.cfg.PhoneNumberID, map[string]any{"to": waID(to), "type": "template", "template": tpl})
	if err != nil {
		return "", sendError(err)
	}
	return id, nil
}

// WhatsApp limits.
const (
	maxTextRunes    = 4096
	maxCaptionRunes = 1024
)

// Send delivers an outbound message (inbox.Sender for inbox.ChannelWhatsApp) and returns the
// wamid of the first WhatsApp message it made, which delivery receipts will name.
//
// A message carrying template meta goes out as that template. Anything else needs the window
// open. One attachment with a short text goes as a captioned image, video or document; otherwise
// the text goes first (split at 4096 characters) and each attachment after it. Attachments are
// uploaded to Meta (POST /{phone-number-id}/media) and sent by id: Serambi's files have no
// public URL for Meta to fetch. If a later part fails after earlier ones were sent, a retry sends
// the earlier parts again.
func (c *Connector) Send(ctx context.Context, out inbox.Outbound) (string, error) {
	id, ok := whatsappIdentity(out.Customer)
	if !ok {
		return "", inbox.Permanent(fmt.Errorf("customer %s has no WhatsApp number: %w", out.Customer.ID, inbox.ErrNoChannel))
	}
	if out.Message.Meta[MetaTemplate] != "" {
		t, params, err := c.template(out.Message.Meta)
		if err != nil {
			return "", inbox.Permanent(err)
		}
		return c.SendTemplate(ctx, id.Value, t, params)
	}
	if !WindowOpen(out.Conversation, c.now()) {
		return "", inbox.Permanent(ErrWindowClosed)
	}
	to := waID(id.Value)
	var first string
	sent := func(wamid string) {
		if first == "" {
			first = wamid
		}
	}
	text := strings.TrimSpace(out.Message.Text)
	atts := out.Message.Attachments
	if k, ok := cardOf(out.Message.Meta); ok && len(atts) == 0 && text != "" {
		wamid, err := c.sendCard(ctx, to, text, k)
		if err != nil {
			return "", sendError(err)
		}
		return wamid, nil
	}
	caption := ""
	if len(atts) == 1 && utf8.RuneCountInString(text) <= maxCaptionRunes && captionable(mediaType(atts[0])) {
		caption, text = text, ""
	}
	if text != "" {
		for _, chunk := range splitRunes(text, maxTextRunes) {
			wamid, err := c.graph.sendMessage(ctx, c.cfg.PhoneNumberID, map[string]any{
				"to": to, "type": "text", "text": map[string]any{"body": chunk, "preview_url": false},
			})
			if err != nil {
				return "", sendError(err)
			}
			sent(wamid)
		}
	}
	for i, a := range atts {
		withCaption := ""
		if i == 0 {
			withCaption = caption
		}
		wamid, err := c.sendAttachment(ctx, to, a, withCaption)
		if err != nil {
			return "", sendError(err)
		}
		sent(wamid)
	}
	if first == "" {
		return "", inbox.Permanent(fmt.Errorf("nothing to send: %w", inbox.ErrInvalid))
	}
	return first, nil
}

// card is what a product or order card (commerce/cards.go) needs on WhatsApp: a picture and a
// link. Only http(s) links are kept: Meta fetches the picture, and customers tap the link.
type card struct{ image, link string }

func cardOf(meta map[string]string) (card, bool) {
	switch meta["card"] {
	case "product":
		return card{image: webURL(meta["image"]), link: webURL(meta["url"])}, true
	case "order":
		return card{link: webURL(meta["trackingUrl"])}, true
	}
	return card{}, false
}

// webURL keeps s only when it is an absolute http(s) URL.
func webURL(s string) string {
	u, err := url.Parse(strings.TrimSpace(s))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return ""
	}
	return u.String()
}

// sendCard sends a card natively: an image message by link (Meta downloads the picture) whose
// caption is the card's text with its link; without a picture, the text with a link preview.
// WhatsApp has no URL buttons outside templates and interactive messages that need approval, so
// the link is in the text, where WhatsApp makes it tappable.
func (c *Connector) sendCard(ctx context.Context, to, text string, k card) (string, error) {
	if k.link != "" && !strings.Contains(text, k.link) {
		text += "\n" + k.link
	}
	if k.image != "" && utf8.RuneCountInString(text) <= maxCaptionRunes {
		return c.graph.sendMessage(ctx, c.cfg.PhoneNumberID, map[string]any{
			"to": to, "type": "image", "image": map[string]any{"link": k.image, "caption": text},
		})
	}
	var first string
	for _, chunk := range splitRunes(text, maxTextRunes) {
		wamid, err := c.graph.sendMessage(ctx, c.cfg.PhoneNumberID, map[string]any{
			"to": to, "type": "text", "text": map[string]any{"body": chunk, "preview_url": k.link != "" && strings.Contains(chunk, k.link)},
		})
		if err != nil {
			return "", err
		}
		if first == "" {
			first = wamid
		}
	}
	return first, nil
}

func (c *Connector) sendAttachment(ctx context.Context, to string, a inbox.Attachment, caption string) (string, error) {
	kind := mediaType(a)
	if a.Size > mediaLimit[kind] {
		return "", inbox.Permanent(fmt.Errorf("%s is %s; WhatsApp takes %s files up to %s", a.Name, formatSize(a.Size), kind, formatSize(mediaLimit[kind])))
	}
	rc, err := c.deps.Blobs.Open(ctx, a.SHA256)
	if errors.Is(err, inbox.ErrNotFound) {
		return "", inbox.Permanent(fmt.Errorf("attachment %s is missing from storage: %w", a.Name, err))
	}
	if err != nil {
		return "", fmt.Errorf("open attachment %s: %w", a.Name, err)
	}
	defer rc.Close()
	name := firstNonEmpty(cleanName(a.Name), "file")
	mediaID, err := c.graph.upload(ctx, c.cfg.PhoneNumberID, name, firstNonEmpty(a.ContentType, "application/octet-stream"), rc)
	if err != nil {
		return "", err
	}
	obj := map[string]any{"id": mediaID}
	if caption != "" {
		obj["caption"] = caption
	}
	if kind == "document" {
		obj["filename"] = name
	}
	return c.graph.sendMessage(ctx, c.cfg.PhoneNumberID, map[string]any{"to": to, "type": kind, kind: obj})
}

// mediaLimit is what WhatsApp accepts per media type.
var mediaLimit = map[string]int64{"image": 5 << 20, "video": 16 << 20, "audio": 16 << 20, "document": 100 << 20}

// mediaType picks how an attachment is sent: as what it is when WhatsApp supports that format
// and size, otherwise as a document.
func mediaType(a inbox.Attachment) string {
	ct, _, _ := strings.Cut(strings.ToLower(a.ContentType), ";")
	kind := "document"
	switch strings.TrimSpace(ct) {
	case "image/jpeg", "image/png":
		kind = "image"
	case "video/mp4", "video/3gpp":
		kind = "video"
	case "audio/aac", "audio/amr", "audio/mpeg", "audio/mp4", "audio/ogg":
		kind = "audio"
	}
	if kind != "document" && a.Size > mediaLimit[kind] {
		kind = "document"
	}
	return kind
}

func captionable(kind string) bool { return kind == "image" || kind == "video" || kind == "document" }

// whatsappIdentity picks the number to write to: a reachable WhatsApp identity if there is one.
func whatsappIdentity(c inbox.Customer) (inbox.Identity, bool) {
	var found inbox.Identity
	ok := false
	for _, id := range c.Identities {
		if id.Kind != inbox.KindWhatsApp {
			continue
		}
		if !id.Unreachable {
			return id, true
		}
		if !ok {
			found, ok = id, true
		}
	}
	return found, ok
}

// waID is the number as the Cloud API's "to" takes it: digits, no '+'.
func waID(e164 string) string { return strings.TrimPrefix(e164, "+") }

// sendError turns a Graph failure into what the outbox understands: throttling and Meta's own
// trouble are retried (after Retry-After when Meta sent one), 131047 and other request errors
// fail the message at once with Meta's reason.
func sendError(err error) error {
	var perm *inbox.PermanentError
	if errors.As(err, &perm) {
		return err
	}
	var gErr *GraphError
	if !errors.As(err, &gErr) {
		return err // the network: retry
	}
	switch {
	case gErr.RateLimited():
		if gErr.RetryAfter > 0 {
			return &inbox.RetryAfterError{After: gErr.RetryAfter, Err: gErr}
		}
		return gErr
	case gErr.Transient():
		return gErr
	case gErr.Code == CodeReEngagement:
		return inbox.Permanent(fmt.Errorf("outside WhatsApp's 24-hour window, only a template can be sent: %w", gErr))
	}
	return inbox.Permanent(gErr)
}

// splitRunes cuts text into pieces of at most limit characters, preferring new lines and spaces.
func splitRunes(text string, limit int) []string {
	var out []string
	for utf8.RuneCountInString(text) > limit {
		cut, n, lastBreak := 0, 0, -1
		for i := 0; i < len(text) && n < limit; {
			r, size := utf8.DecodeRuneInString(text[i:])
			i += size
			n++
			cut = i
			if (r == '\n' || r == ' ') && n > limit/2 {
				lastBreak = cut
			}
		}
		if lastBreak > 0 {
			cut = lastBreak
		}
		out = append(out, text[:cut])
		text = text[cut:]
	}
	if strings.TrimSpace(text) != "" || len(out) == 0 {
		out = append(out, text)
	}
	return out
}
