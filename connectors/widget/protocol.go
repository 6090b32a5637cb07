package widget

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/serambi/serambi/inbox"
)

// The frame protocol is JSON text frames with a "t" (type) field; docs/WIDGET.md is its
// reference. Frames from the browser are decoded strictly (unknown fields are an error, like
// Serambi's REST API); frames to the browser only ever gain fields.

// Frame types.
const (
	// browser → server
	tHello  = "hello"
	tMsg    = "msg"
	tTyping = "typing"
	tRead   = "read"
	tRecv   = "recv"
	tEmail  = "email"
	tPing   = "ping"
	// server → browser
	tWelcome = "welcome"
	tHistory = "history"
	tAck     = "ack"
	tStatus  = "status"
	tError   = "error"
	tPong    = "pong"
)

// Error codes of error frames.
const (
	codeBadFrame      = "bad_frame"      // not JSON, unknown type or field, or a malformed value
	codeHelloFirst    = "hello_first"    // the first frame must be hello
	codeBadIdentity   = "bad_identity"   // the signed identity was refused; the visitor stays anonymous
	codeRateLimited   = "rate_limited"   // too many messages; retryMs says when to try again
	codeTooLong       = "too_long"       // the text is longer than limits.maxChars
	codeEmpty         = "empty"          // no text and no attachment
	codeBadAttachment = "bad_attachment" // an attachment not uploaded by this visitor, or too many
	codeBadEmail      = "bad_email"      // not an email address
	codeRetry         = "retry"          // the server could not store it now; send it again later (same cid)
	codeNoConv        = "no_conversation"
)

// clientFrame is any frame from the browser; which fields apply depends on T.
type clientFrame struct {
	T string `json:"t"`
	// hello
	Inbox string `json:"inbox,omitempty"`
	Token string `json:"token,omitempty"`
	JWT   string `json:"jwt,omitempty"`
	Since string `json:"since,omitempty"`
	Lang  string `json:"lang,omitempty"`
	Page  string `json:"page,omitempty"`
	// msg, email
	CID     string   `json:"cid,omitempty"`
	Text    string   `json:"text,omitempty"`
	Att     []attRef `json:"att,omitempty"`
	Profile *profile `json:"profile,omitempty"`
	Email   string   `json:"email,omitempty"`
	// typing
	On bool `json:"on,omitempty"`
	// read, recv
	IDs []string `json:"ids,omitempty"`
}

// attRef names a file the visitor uploaded; Sig is what the upload answered, so a visitor can
// attach only files they uploaded themselves.
type attRef struct {
	SHA  string `json:"sha"`
	Name string `json:"name"`
	Type string `json:"type"`
	Size int64  `json:"size"`
	Sig  string `json:"sig"`
}

// profile is the pre-chat form's answers, sent with the first message.
type profile struct {
	Name   string            `json:"name,omitempty"`
	Email  string            `json:"email,omitempty"`
	Fields map[string]string `json:"fields,omitempty"`
}

func decodeClient(b []byte) (clientFrame, error) {
	var f clientFrame
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return f, err
	}
	if dec.More() {
		return f, fmt.Errorf("one JSON object per frame")
	}
	return f, nil
}

// wireMsg is a timeline entry as the visitor sees it.
type wireMsg struct {
	// Seq orders the visitor's timeline: comparing two as strings compares their place in it.
	// The browser resumes with the greatest Seq it has.
	Seq string `json:"seq"`
	ID  string `json:"id"`
	// CID is the client id the visitor gave the message (visitor messages only).
	CID  string `json:"cid,omitempty"`
	From string `json:"from"` // visitor | agent
	// Kind is "email" for the note a visitor leaves with an address for replies.
	Kind  string     `json:"kind,omitempty"`
	Text  string     `json:"text"`
	Agent *wireAgent `json:"agent,omitempty"`
	Att   []wireAtt  `json:"att,omitempty"`
	// Card is a product or order card an agent sent; Text is then its plain fallback.
	Card *wireCard `json:"card,omitempty"`
	At   time.Time `json:"at"`
}

// wireCard is a product or order card as the widget draws it, from the reply's Meta (see
// commerce/cards.go for the keys). Amounts are minor units with the currency's Digits, so the
// browser formats them in the visitor's language; the *Text fields are the card's own words in
// the language it was sent in, for what the browser cannot format. Links are http(s) only.
type wireCard struct {
	Kind string `json:"kind"` // product | order
	// product
	SKU   string `json:"sku,omitempty"`
	Name  string `json:"name,omitempty"`
	Image string `json:"image,omitempty"`
	Stock string `json:"stock,omitempty"` // ok | low | out
	// order
	Number     string `json:"number,omitempty"`
	Status     string `json:"status,omitempty"`
	StatusText string `json:"statusText,omitempty"`
	Carrier    string `json:"carrier,omitempty"`
	Tracking   string `json:"tracking,omitempty"`
	Pickup     bool   `json:"pickup,omitempty"`
	// both: the price or the order total
	Amount     *int64 `json:"amount,omitempty"`
	Currency   string `json:"currency,omitempty"`
	Digits     int    `json:"digits"`
	AmountText string `json:"amountText,omitempty"`
	// URL is the button's link (the product page, the tracking page); Button its label.
	URL    string `json:"url,omitempty"`
	Button string `json:"button,omitempty"`
}

// Card kinds in Meta["card"] (commerce.CardProduct, commerce.CardOrder).
const (
	cardProduct = "product"
	cardOrder   = "order"
)

// cardOf reads the card a reply carries; nil when it carries none or an unknown kind.
func cardOf(meta map[string]string) *wireCard {
	kind := meta["card"]
	if kind != cardProduct && kind != cardOrder {
		return nil
	}
	c := &wireCard{Kind: kind, Currency: meta["currency"], Digits: 2, Button: meta["button"]}
	if d, err := strconv.Atoi(meta["digits"]); err == nil && d >= 0 && d <= 4 {
		c.Digits = d
	}
	amount, amountText := meta["price"], meta["priceText"]
	if kind == cardProduct {
		c.SKU, c.Name, c.Image, c.Stock, c.URL = meta["sku"], meta["name"], webURL(meta["image"]), meta["stock"], webURL(meta["url"])
	} else {
		amount, amountText = meta["total"], meta["totalText"]
		c.Number, c.Status, c.StatusText = meta["number"], meta["status"], meta["statusText"]
		c.Carrier, c.Tracking, c.URL, c.Pickup = meta["carrier"], meta["tracking"], webURL(meta["trackingUrl"]), meta["pickup"] == "true"
	}
	if n, err := strconv.ParseInt(amount, 10, 64); err == nil && validCurrency(c.Currency) {
		c.Amount = &n
	}
	c.AmountText = amountText
	if c.URL == "" {
		c.Button = ""
	}
	return c
}

// validCurrency reports whether c is three upper-case letters, as ISO 4217 codes are; the
// browser's Intl.NumberFormat throws on anything else.
func validCurrency(c string) bool {
	if len(c) != 3 {
		return false
	}
	for _, r := range c {
		if r < 'A' || r > 'Z' {
			return false
		}
	}
	return true
}

// webURL keeps a link only if it is absolute http(s): the widget puts it in href and src.
func webURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || strings.ContainsAny(s, " \t\r\n\"'<>\\") {
		return ""
	}
	return s
}

type wireAgent struct {
	Name   string `json:"name"`
	Avatar string `json:"avatar,omitempty"`
}

type wireAtt struct {
	Name string `json:"name"`
	Type string `json:"type"`
	Size int64  `json:"size"`
	URL  string `json:"url,omitempty"`
}

type welcomeFrame struct {
	T          string         `json:"t"`
	Token      string         `json:"token"`
	Visitor    string         `json:"visitor"`
	Identified bool           `json:"identified"`
	Name       string         `json:"name,omitempty"`
	Email      string         `json:"email,omitempty"`
	Online     bool           `json:"online"`
	Settings   publicSettings `json:"settings"`
}

type historyFrame struct {
	T     string    `json:"t"`
	Reset bool      `json:"reset"`
	Msgs  []wireMsg `json:"msgs"`
}

type msgFrame struct {
	T string `json:"t"`
	wireMsg
}

type ackFrame struct {
	T   string  `json:"t"`
	CID string  `json:"cid"`
	Dup bool    `json:"dup,omitempty"`
	Msg wireMsg `json:"msg"`
}

type typingFrame struct {
	T    string `json:"t"`
	On   bool   `json:"on"`
	Name string `json:"name,omitempty"`
}

type statusFrame struct {
	T      string `json:"t"`
	Online bool   `json:"online"`
}

type errorFrame struct {
	T       string `json:"t"`
	Code    string `json:"code"`
	Message string `json:"message"`
	CID     string `json:"cid,omitempty"`
	RetryMs int64  `json:"retryMs,omitempty"`
}

func encode(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		// Every frame is a struct of strings, numbers and times: this cannot fail.
		panic(fmt.Sprintf("widget: encode frame: %v", err))
	}
	return b
}

const pongFrame = `{"t":"pong"}`

// seqOf is a message's place in the timeline, ordered like ListMessages orders it (created_at,
// then id): 19 digits of nanoseconds, so that string order is time order, then the id.
func seqOf(m inbox.Message) string {
	return fmt.Sprintf("%019d.%s", m.CreatedAt.UnixNano(), m.ID)
}

// parseSeq reads a Seq back into a timeline cursor.
func parseSeq(s string) (inbox.Cursor, bool) {
	ns, id, ok := strings.Cut(s, ".")
	if !ok || len(ns) != 19 || id == "" || len(id) > 64 {
		return inbox.Cursor{}, false
	}
	n, err := strconv.ParseInt(ns, 10, 64)
	if err != nil || n <= 0 {
		return inbox.Cursor{}, false
	}
	return inbox.Cursor{At: time.Unix(0, n).UTC(), ID: id}, true
}

// visible reports whether the visitor sees m: what they wrote in the widget and what agents
// answered in it, not notes, events, or the customer's email and Telegram history. A reply is
// visible from the moment it is stored (queued), so a visitor who comes back while the outbox is
// still working on it sees it; a reply that failed is not.
func visible(m inbox.Message) bool {
	if m.Channel != inbox.ChannelWidget {
		return false
	}
	switch m.Direction {
	case inbox.DirectionIn:
		return true
	case inbox.DirectionOut:
		return m.Delivery != inbox.DeliveryFailed
	}
	return false
}

// Meta keys the widget writes on visitor messages.
const (
	MetaInbox     = "widget.inbox"
	MetaPage      = "widget.page"
	MetaKind      = "widget.kind"
	MetaFieldPref = "widget.field."
	// MetaCopyOf marks the email copy of a widget reply sent to a visitor who had left.
	MetaCopyOf = "widget.copyOf"
)
