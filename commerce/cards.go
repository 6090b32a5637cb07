package commerce

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/serambi/serambi/inbox"
)

// Cards are replies that carry a product or an order. The reply's Meta describes the card
// completely (a channel renders it without reading commerce data), and its Text is the plain
// fallback for channels that show text only:
//
//	card=product  sku name price currency digits image url stock(ok|low|out)
//	card=order    order number status payment fulfillment total currency digits carrier tracking trackingUrl pickup
//
// price and total are minor units, as everywhere, and digits is the currency's minor unit
// (MinorDigits), so a channel can format an amount without knowing currencies. Because most
// channels cannot localise, the card also carries its words in the customer's language (lang):
// priceText or totalText (the formatted amount, the rupiah without cents), statusText, and
// button, the label of the link (url or trackingUrl). Links that are not http(s) are left out
// of Meta and Text: shops' data reaches customers here. Each channel renders the card natively from
// Meta (widget: card with image and button; email: an HTML block; Telegram: photo with caption and
// an inline URL button; WhatsApp: image with caption and link); the console timeline shows the card
// with templates.CommerceCard.

// Card kinds in Meta["card"].
const (
	CardProduct = "product"
	CardOrder   = "order"
)

// CardRequest sends a card into a customer's conversation.
type CardRequest struct {
	ConversationID string
	Actor          Actor
	// Channel to send on; empty means the conversation's last channel.
	Channel inbox.Channel
	// Lang is the customer's language for the text fallback ("en" or "id").
	Lang string
}

// SendProductCard sends a product card. Anyone who may reply may send one.
func (s *Service) SendProductCard(ctx context.Context, r CardRequest, sku string) (inbox.Message, error) {
	ps, err := s.store.Products(ctx, []string{sku})
	if err != nil {
		return inbox.Message{}, fmt.Errorf("load product %s: %w", sku, err)
	}
	if len(ps) == 0 {
		return inbox.Message{}, fmt.Errorf("product %s: %w", sku, inbox.ErrNotFound)
	}
	p := ps[0]
	lang := cardLang(r.Lang)
	price := customerMoney(lang, p.Price, p.Currency)
	meta := map[string]string{
		"card": CardProduct, "sku": p.SKU, "name": p.Name, "price": strconv.FormatInt(p.Price, 10), "currency": p.Currency,
		"digits": strconv.Itoa(MinorDigits(p.Currency)), "image": webURL(p.ImageURL), "url": webURL(p.URL),
		"stock": string(p.StockState(s.cfg.LowStock)), "lang": lang, "priceText": price,
	}
	text := p.Name + " — " + price
	if p.StockState(s.cfg.LowStock) == StockOut {
		text += " (" + word(lang, "sold out") + ")"
		meta["stockText"] = word(lang, "sold out")
	}
	if meta["url"] != "" {
		text += "\n" + meta["url"]
		meta["button"] = word(lang, "View product")
	}
	return s.sendCard(ctx, r, text, meta)
}

// SendOrderCard sends an order status card.
func (s *Service) SendOrderCard(ctx context.Context, r CardRequest, orderID string) (inbox.Message, error) {
	o, err := s.store.OrderByID(ctx, orderID)
	if err != nil {
		return inbox.Message{}, fmt.Errorf("load order %s: %w", orderID, err)
	}
	status := OrderStatus(o)
	lang := cardLang(r.Lang)
	total := customerMoney(lang, o.Total, o.Currency)
	meta := map[string]string{
		"card": CardOrder, "order": o.ID, "number": o.Number, "status": status, "payment": string(o.Payment),
		"fulfillment": string(o.Fulfillment), "total": strconv.FormatInt(o.Total, 10), "currency": o.Currency,
		"digits": strconv.Itoa(MinorDigits(o.Currency)), "pickup": strconv.FormatBool(o.Pickup),
		"lang": lang, "totalText": total, "statusText": word(lang, status), "title": word(lang, "Order") + " " + o.Number,
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s: %s · %s", word(lang, "Order"), o.Number, word(lang, status), total)
	if len(o.Tracking) > 0 {
		t := o.Tracking[len(o.Tracking)-1]
		meta["carrier"], meta["tracking"], meta["trackingUrl"] = t.Carrier, t.Number, webURL(t.URL)
		if t.Number != "" {
			fmt.Fprintf(&b, "\n%s: %s %s", word(lang, "Tracking"), t.Carrier, t.Number)
		}
		if meta["trackingUrl"] != "" {
			b.WriteString("\n" + meta["trackingUrl"])
			meta["button"] = word(lang, "Track package")
		}
	}
	return s.sendCard(ctx, r, strings.TrimSpace(b.String()), meta)
}

func (s *Service) sendCard(ctx context.Context, r CardRequest, text string, meta map[string]string) (inbox.Message, error) {
	if s.timeline == nil {
		return inbox.Message{}, fmt.Errorf("commerce: no timeline configured to send cards: %w", ErrNoAdapter)
	}
	for k, v := range meta {
		if v == "" {
			delete(meta, k)
		}
	}
	m, err := s.timeline.Reply(ctx, inbox.ReplyRequest{ConversationID: r.ConversationID, AgentID: r.Actor.ID, AgentName: r.Actor.Name,
		Channel: r.Channel, Text: text, Meta: meta})
	if err != nil {
		return inbox.Message{}, fmt.Errorf("send %s card: %w", meta["card"], err)
	}
	return m, nil
}

// cardLang is the language a card speaks: Indonesian or English.
func cardLang(lang string) string {
	if strings.HasPrefix(strings.ToLower(strings.TrimSpace(lang)), "id") {
		return "id"
	}
	return "en"
}

// webURL keeps a link only if it is absolute http(s): a card puts it in front of customers, in
// href and src attributes, buttons and captions.
func webURL(s string) string {
	s = strings.TrimSpace(s)
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || strings.ContainsAny(s, " \t\r\n\"'<>") {
		return ""
	}
	return s
}

// OrderStatus is the one word that says where an order is, for cards and the panel: cancelled,
// refunded, then the furthest fulfilment step, then the payment.
func OrderStatus(o Order) string {
	switch {
	case o.Cancelled:
		return "cancelled"
	case o.Payment == PaymentRefunded:
		return "refunded"
	case o.Fulfillment != FulfillmentUnfulfilled && o.Fulfillment != "":
		return string(o.Fulfillment)
	case o.Payment == PaymentPaid || o.Payment == PaymentPartiallyRefunded:
		return "processing"
	case o.Payment == PaymentFailed || o.Payment == PaymentVoided:
		return string(o.Payment)
	}
	return "awaiting_payment"
}

// customerMoney formats an amount for customers (cards reach them): the currency's symbol and the
// language's separators, the rupiah without cents.
func customerMoney(lang string, minor int64, currency string) string {
	thousands, decimal := ",", "."
	if lang == "id" {
		thousands, decimal = ".", ","
	}
	s := FormatAmount(minor, currency)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	whole, frac, _ := strings.Cut(s, ".")
	if currency == "IDR" && strings.Trim(frac, "0") == "" {
		frac = ""
	}
	var b strings.Builder
	for i, r := range whole {
		if i > 0 && (len(whole)-i)%3 == 0 {
			b.WriteString(thousands)
		}
		b.WriteRune(r)
	}
	out := b.String()
	if frac != "" {
		out += decimal + frac
	}
	switch currency {
	case "IDR":
		out = "Rp " + out
	case "USD":
		out = "$" + out
	default:
		out = currency + " " + out
	}
	if neg {
		out = "-" + out
	}
	return out
}

// word is the customer-facing word for a status in the customer's language.
func word(lang, w string) string {
	if lang != "id" {
		switch w {
		case "awaiting_payment":
			return "awaiting payment"
		case "in_transit":
			return "in transit"
		case "out_for_delivery":
			return "out for delivery"
		case "ready_for_pickup":
			return "ready for pickup"
		case "picked_up":
			return "picked up"
		case "partial":
			return "partly shipped"
		case "fulfilled":
			return "shipped"
		}
		return w
	}
	switch w {
	case "Order":
		return "Pesanan"
	case "Tracking":
		return "Resi"
	case "sold out":
		return "stok habis"
	case "View product":
		return "Lihat produk"
	case "Track package":
		return "Lacak paket"
	case "awaiting_payment":
		return "menunggu pembayaran"
	case "processing":
		return "diproses"
	case "partial":
		return "dikirim sebagian"
	case "fulfilled":
		return "dikirim"
	case "in_transit":
		return "dalam perjalanan"
	case "out_for_delivery":
		return "sedang diantar"
	case "delivered":
		return "diterima"
	case "ready_for_pickup":
		return "siap diambil"
	case "picked_up":
		return "sudah diambil"
	case "cancelled":
		return "dibatalkan"
	case "refunded":
		return "dananya dikembalikan"
	case "failed":
		return "gagal"
	case "voided":
		return "dibatalkan"
	}
	return w
}
