package telegram

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	tgbotapi "github.com/go-telegram-bot-api/telegram-bot-api/v5"

	"github.com/serambi/serambi/inbox"
)

// Upload limits of the public Bot API.
const (
	maxPhotoUpload    = 10 << 20
	maxDocumentUpload = 50 << 20
)

// Send delivers an outbound message (inbox.Sender for inbox.ChannelTelegram) to the customer's
// private chat with the bot, and returns the ExternalID of the first Telegram message it made.
//
// Text goes as MarkdownV2 with every reserved character escaped, so whatever an agent types
// shows literally and can never make Telegram refuse the parse mode. Text longer than one
// message is split. One attachment with a short text goes as a single captioned message;
// otherwise the text goes first and each attachment after it (images as photos up to 10 MB,
// everything else as documents). If a later part fails after earlier ones were sent, a retry
// sends the earlier parts again: Telegram has no idempotency key to prevent it.
func (c *Connector) Send(ctx context.Context, out inbox.Outbound) (string, error) {
	id, ok := telegramIdentity(out.Customer)
	if !ok {
		return "", inbox.Permanent(fmt.Errorf("customer %s has no Telegram identity: %w", out.Customer.ID, inbox.ErrNoChannel))
	}
	chatID, err := strconv.ParseInt(id.Value, 10, 64)
	if err != nil {
		return "", inbox.Permanent(fmt.Errorf("telegram identity %q is not a chat id: %w", id.Value, inbox.ErrInvalid))
	}
	var first string
	sent := func(res json.RawMessage) {
		var m tgbotapi.Message
		if first == "" && json.Unmarshal(res, &m) == nil && m.MessageID != 0 {
			first = MessageExternalID(c.cfg.BotID(), chatID, m.MessageID)
		}
	}
	text := strings.TrimSpace(out.Message.Text)
	atts := out.Message.Attachments
	if card, ok := cardOf(out.Message.Meta); ok && len(atts) == 0 && text != "" {
		res, err := c.sendCard(ctx, chatID, text, card)
		if err != nil {
			return "", c.sendError(ctx, out, id, err)
		}
		sent(res)
		return first, nil
	}
	caption := ""
	if len(atts) == 1 && utf16Len(text) <= maxCaptionUnits {
		caption, text = text, ""
	}
	if text != "" {
		for _, chunk := range splitText(text, maxTextUnits) {
			msg := tgbotapi.NewMessage(chatID, EscapeMarkdownV2(chunk))
			msg.ParseMode = tgbotapi.ModeMarkdownV2
			res, err := c.api.request(ctx, "sendMessage", msg)
			if err != nil {
				return "", c.sendError(ctx, out, id, err)
			}
			sent(res)
		}
	}
	for i, a := range atts {
		res, err := c.sendAttachment(ctx, chatID, a, caption, i == 0)
		if err != nil {
			return "", c.sendError(ctx, out, id, err)
		}
		sent(res)
	}
	if first == "" {
		return "", inbox.Permanent(fmt.Errorf("nothing to send: %w", inbox.ErrInvalid))
	}
	return first, nil
}

// card is what a product or order card (commerce/cards.go) needs on Telegram: a picture to send
// as a photo and a link for an inline URL button. Only http(s) links are kept: Telegram would
// refuse anything else, and a shop's data should not decide what a customer's button opens.
type card struct {
	image, url, button string
}

func cardOf(meta map[string]string) (card, bool) {
	var c card
	switch meta["card"] {
	case "product":
		c.image, c.url = webURL(meta["image"]), webURL(meta["url"])
	case "order":
		c.url = webURL(meta["trackingUrl"])
	default:
		return c, false
	}
	if c.url != "" {
		c.button = strings.TrimSpace(meta["button"])
		if c.button == "" && meta["lang"] == "id" {
			c.button = "Lihat"
		} else if c.button == "" {
			c.button = "Open"
		}
		c.button = truncateRunes(c.button, 64)
	}
	return c, true
}

// webURL keeps s only when it is an absolute http(s) URL.
func webURL(s string) string {
	u, err := url.Parse(strings.TrimSpace(s))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return ""
	}
	return u.String()
}

func truncateRunes(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n-1]) + "…"
}

// sendCard sends a card natively: the picture as a photo (Telegram fetches it from the URL) with
// the card's text as caption and the link as an inline URL button under it; without a picture,
// or when Telegram cannot use it ("wrong file identifier/HTTP URL specified", "wrong type of the
// web page content", ...: any 400 of sendPhoto), the text with the same button. The fallback
// text is what the customer reads either way.
func (c *Connector) sendCard(ctx context.Context, chatID int64, text string, k card) (json.RawMessage, error) {
	var markup any
	if k.url != "" {
		markup = tgbotapi.NewInlineKeyboardMarkup(tgbotapi.NewInlineKeyboardRow(tgbotapi.NewInlineKeyboardButtonURL(k.button, k.url)))
	}
	if k.image != "" && utf16Len(text) <= maxCaptionUnits {
		p := tgbotapi.NewPhoto(chatID, tgbotapi.FileURL(k.image))
		p.Caption, p.ParseMode, p.ReplyMarkup = EscapeMarkdownV2(text), tgbotapi.ModeMarkdownV2, markup
		res, err := c.api.request(ctx, "sendPhoto", p)
		var apiErr *APIError
		if err == nil || !errors.As(err, &apiErr) || apiErr.Code != http.StatusBadRequest {
			return res, err
		}
		c.log.Info("telegram refused a card's picture; sending the card as text", "reason", apiErr.Description)
	}
	var first json.RawMessage
	chunks := splitText(text, maxTextUnits)
	for i, chunk := range chunks {
		msg := tgbotapi.NewMessage(chatID, EscapeMarkdownV2(chunk))
		msg.ParseMode = tgbotapi.ModeMarkdownV2
		if i == len(chunks)-1 {
			msg.ReplyMarkup = markup
		}
		res, err := c.api.request(ctx, "sendMessage", msg)
		if err != nil {
			return nil, err
		}
		if first == nil {
			first = res
		}
	}
	return first, nil
}

func (c *Connector) sendAttachment(ctx context.Context, chatID int64, a inbox.Attachment, caption string, withCaption bool) (json.RawMessage, error) {
	if a.Size > maxDocumentUpload {
		return nil, inbox.Permanent(fmt.Errorf("%s is %s; a bot can send files up to %s", a.Name, formatSize(a.Size), formatSize(maxDocumentUpload)))
	}
	rc, err := c.deps.Blobs.Open(ctx, a.SHA256)
	if errors.Is(err, inbox.ErrNotFound) {
		return nil, inbox.Permanent(fmt.Errorf("attachment %s is missing from storage: %w", a.Name, err))
	}
	if err != nil {
		return nil, fmt.Errorf("open attachment %s: %w", a.Name, err)
	}
	defer rc.Close()
	file := tgbotapi.FileReader{Name: nameOr(a.Name, "file"), Reader: rc}
	if isPhoto(a) {
		p := tgbotapi.NewPhoto(chatID, file)
		if withCaption && caption != "" {
			p.Caption, p.ParseMode = EscapeMarkdownV2(caption), tgbotapi.ModeMarkdownV2
		}
		return c.api.request(ctx, "sendPhoto", p)
	}
	d := tgbotapi.NewDocument(chatID, file)
	if withCaption && caption != "" {
		d.Caption, d.ParseMode = EscapeMarkdownV2(caption), tgbotapi.ModeMarkdownV2
	}
	return c.api.request(ctx, "sendDocument", d)
}

func isPhoto(a inbox.Attachment) bool {
	switch strings.ToLower(a.ContentType) {
	case "image/jpeg", "image/png", "image/webp":
		return a.Size > 0 && a.Size <= maxPhotoUpload
	}
	return false
}

// telegramIdentity picks the chat to write to: a reachable Telegram identity if there is one.
func telegramIdentity(c inbox.Customer) (inbox.Identity, bool) {
	var found inbox.Identity
	ok := false
	for _, id := range c.Identities {
		if id.Kind != inbox.KindTelegram {
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

// sendError turns a failed call into what the outbox understands: flood control waits as long
// as Telegram asks; a user who blocked the bot (403) is unreachable, which is recorded on the
// customer, and the message fails at once with Telegram's reason; other 4xx answers describe the
// request and fail it; Telegram's or the network's trouble is retried with backoff.
func (c *Connector) sendError(ctx context.Context, out inbox.Outbound, id inbox.Identity, err error) error {
	var perm *inbox.PermanentError
	if errors.As(err, &perm) {
		return err
	}
	var apiErr *APIError
	if !errors.As(err, &apiErr) {
		return err
	}
	switch {
	case apiErr.Code == http.StatusTooManyRequests:
		return &inbox.RetryAfterError{After: apiErr.RetryAfter, Err: err}
	case apiErr.Code == http.StatusForbidden:
		if c.deps.Identities != nil {
			if ferr := c.deps.Identities.SetUnreachable(ctx, out.Customer.ID, inbox.KindTelegram, id.Value, true); ferr != nil {
				c.log.Warn("could not mark the telegram identity unreachable", "customer", out.Customer.ID, "err", ferr)
			}
		}
		return inbox.Permanent(fmt.Errorf("the customer cannot be reached on Telegram (%s): %w", apiErr.Description, apiErr))
	case apiErr.Code == http.StatusUnauthorized || apiErr.Code == http.StatusNotFound:
		// A wrong or revoked token: an admin can fix it, after which the retry goes out.
		return fmt.Errorf("telegram refused the bot token; check SERAMBI_TELEGRAM_TOKEN: %w", apiErr)
	case apiErr.Code >= 400 && apiErr.Code < 500:
		return inbox.Permanent(apiErr)
	}
	return err
}
