package email

import (
	"bytes"
	"fmt"
	"html"
	"io"
	"mime"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-message"
	"github.com/emersion/go-message/mail"
)

// outgoing is a reply as it leaves: headers decided, files ready to be read.
type outgoing struct {
	From       Address
	ReplyTo    *Address
	To         []Address
	Subject    string
	MessageID  string   // without brackets
	InReplyTo  string   // without brackets; empty for a new thread
	References []string // oldest first, without brackets
	Date       time.Time
	Text       string
	HTML       string // HTML alternative; made from Text when empty
	// Meta is the reply's Meta: a product or order card in it (commerce/cards.go) becomes the
	// HTML alternative, with Text as the plain one.
	Meta  map[string]string
	Files []outgoingFile
}

type outgoingFile struct {
	Name        string
	ContentType string
	// ContentID is set for an inline image the HTML refers to as cid:<ContentID>.
	ContentID string
	Open      func() (io.ReadCloser, error)
}

// compose writes the reply as MIME:
//
//	multipart/mixed                 when there are attachments
//	  multipart/related             when the HTML shows inline images
//	    multipart/alternative
//	      text/plain; charset=utf-8 (quoted-printable)
//	      text/html; charset=utf-8  (quoted-printable)
//	    inline images (Content-ID)
//	  attachments (base64, original names in RFC 2231 and RFC 2047 form for old clients)
func compose(w io.Writer, m outgoing) error {
	var h mail.Header
	h.SetDate(m.Date)
	h.SetAddressList("From", []*mail.Address{{Name: m.From.Name, Address: m.From.Addr}})
	if m.ReplyTo != nil {
		h.SetAddressList("Reply-To", []*mail.Address{{Name: m.ReplyTo.Name, Address: m.ReplyTo.Addr}})
	}
	to := make([]*mail.Address, len(m.To))
	for i, a := range m.To {
		to[i] = &mail.Address{Name: a.Name, Address: a.Addr}
	}
	h.SetAddressList("To", to)
	h.SetSubject(m.Subject)
	h.SetMessageID(m.MessageID)
	if m.InReplyTo != "" {
		h.SetMsgIDList("In-Reply-To", []string{m.InReplyTo})
	}
	if len(m.References) > 0 {
		h.SetMsgIDList("References", m.References)
	}
	// Tells other helpdesks' and vacation responders' loop protection that a person wrote this;
	// and asks Exchange not to send its automatic replies about automatic replies.
	h.Set("Auto-Submitted", "no")

	html := m.HTML
	if strings.TrimSpace(html) == "" {
		if html = cardHTML(m.Meta); html == "" {
			html = textToHTML(m.Text)
		}
	}
	var inline, attached []outgoingFile
	for _, f := range m.Files {
		if f.ContentID != "" && strings.Contains(html, "cid:"+f.ContentID) {
			inline = append(inline, f)
		} else {
			attached = append(attached, f)
		}
	}

	top := h.Header
	var root *message.Writer
	var err error
	switch {
	case len(attached) > 0:
		top.SetContentType("multipart/mixed", nil)
	case len(inline) > 0:
		top.SetContentType("multipart/related", map[string]string{"type": "multipart/alternative"})
	default:
		top.SetContentType("multipart/alternative", nil)
	}
	if root, err = message.CreateWriter(w, top); err != nil {
		return fmt.Errorf("write header: %w", err)
	}
	related := root
	if len(attached) > 0 && len(inline) > 0 {
		var rh message.Header
		rh.SetContentType("multipart/related", map[string]string{"type": "multipart/alternative"})
		if related, err = root.CreatePart(rh); err != nil {
			return err
		}
	}
	alt := related
	if len(attached) > 0 || len(inline) > 0 {
		var ah message.Header
		ah.SetContentType("multipart/alternative", nil)
		if alt, err = related.CreatePart(ah); err != nil {
			return err
		}
	}
	for _, body := range []struct{ ct, s string }{{"text/plain", m.Text}, {"text/html", html}} {
		var ph message.Header
		ph.SetContentType(body.ct, map[string]string{"charset": "utf-8"})
		ph.Set("Content-Transfer-Encoding", "quoted-printable")
		pw, err := alt.CreatePart(ph)
		if err != nil {
			return err
		}
		if _, err := io.WriteString(pw, crlf(body.s)); err != nil {
			return err
		}
		if err := pw.Close(); err != nil {
			return err
		}
	}
	if alt != related {
		if err := alt.Close(); err != nil {
			return err
		}
	}
	for _, f := range inline {
		if err := writeFile(related, f, "inline"); err != nil {
			return err
		}
	}
	if related != root {
		if err := related.Close(); err != nil {
			return err
		}
	}
	for _, f := range attached {
		if err := writeFile(root, f, "attachment"); err != nil {
			return err
		}
	}
	return root.Close()
}

func writeFile(parent *message.Writer, f outgoingFile, disposition string) error {
	var fh message.Header
	ct := f.ContentType
	if ct == "" {
		ct = "application/octet-stream"
	}
	// name= in RFC 2047 form for Outlook before 2010; filename*= in RFC 2231 form for everyone else.
	fh.Set("Content-Type", mime.FormatMediaType(ct, map[string]string{"name": mime.BEncoding.Encode("utf-8", f.Name)}))
	if fh.Get("Content-Type") == "" {
		fh.Set("Content-Type", "application/octet-stream")
	}
	fh.Set("Content-Disposition", mime.FormatMediaType(disposition, map[string]string{"filename": f.Name}))
	if f.ContentID != "" {
		fh.Set("Content-Id", "<"+f.ContentID+">")
	}
	fh.Set("Content-Transfer-Encoding", "base64")
	pw, err := parent.CreatePart(fh)
	if err != nil {
		return err
	}
	r, err := f.Open()
	if err != nil {
		return fmt.Errorf("open attachment %q: %w", f.Name, err)
	}
	defer r.Close()
	if _, err := io.Copy(pw, r); err != nil {
		return fmt.Errorf("write attachment %q: %w", f.Name, err)
	}
	return pw.Close()
}

// cardHTML draws a product or order card (commerce/cards.go) as an HTML block for mail clients:
// a table with inline styles (Outlook and Gmail ignore style sheets), the picture, the name or
// order number, the price or total and status, and the link as a button. Every value is escaped
// and only http(s) links are used; "" when meta carries no card.
func cardHTML(meta map[string]string) string {
	kind := meta["card"]
	if kind != "product" && kind != "order" {
		return ""
	}
	esc := html.EscapeString
	var b strings.Builder
	b.WriteString(`<table role="presentation" class="serambi-card serambi-card-` + kind + `" cellpadding="0" cellspacing="0" border="0" ` +
		`style="border:1px solid #e5e7eb;border-radius:8px;border-collapse:separate;max-width:360px;font-family:Arial,Helvetica,sans-serif;color:#111827">`)
	title, amount, link := meta["name"], amountText(meta, "price", "priceText"), webURL(meta["url"])
	if kind == "order" {
		title, amount, link = firstNonEmpty(meta["title"], strings.TrimSpace("Order "+meta["number"])), amountText(meta, "total", "totalText"), webURL(meta["trackingUrl"])
	}
	if img := webURL(meta["image"]); kind == "product" && img != "" {
		fmt.Fprintf(&b, `<tr><td><img src="%s" alt="%s" width="360" style="display:block;width:100%%;max-width:360px;height:auto;border:0;border-radius:8px 8px 0 0"></td></tr>`,
			esc(img), esc(title))
	}
	b.WriteString(`<tr><td style="padding:14px 16px">`)
	fmt.Fprintf(&b, `<div style="font-size:16px;font-weight:bold;line-height:1.3">%s</div>`, esc(title))
	if s := firstNonEmpty(meta["statusText"], meta["status"]); kind == "order" && s != "" {
		fmt.Fprintf(&b, `<div style="font-size:14px;color:#475467;margin-top:4px">%s</div>`, esc(s))
	}
	if amount != "" {
		fmt.Fprintf(&b, `<div style="font-size:16px;font-weight:bold;margin-top:4px">%s</div>`, esc(amount))
	}
	if kind == "product" && meta["stockText"] != "" {
		fmt.Fprintf(&b, `<div style="font-size:13px;color:#b42318;margin-top:4px">%s</div>`, esc(meta["stockText"]))
	}
	if t := strings.TrimSpace(meta["carrier"] + " " + meta["tracking"]); kind == "order" && t != "" {
		fmt.Fprintf(&b, `<div style="font-size:13px;color:#475467;margin-top:4px">%s</div>`, esc(t))
	}
	if link != "" {
		label := firstNonEmpty(meta["button"], map[string]string{"product": "View product", "order": "Track package"}[kind])
		fmt.Fprintf(&b, `<a href="%s" target="_blank" rel="noopener" style="display:inline-block;margin-top:12px;padding:10px 18px;`+
			`background:#111827;color:#ffffff;text-decoration:none;border-radius:6px;font-weight:bold;font-size:14px">%s</a>`, esc(link), esc(label))
	}
	b.WriteString(`</td></tr></table>`)
	return b.String()
}

// amountText is the card's formatted amount, or the minor units written plainly when the card
// has no formatted one ("4250000.00 IDR").
func amountText(meta map[string]string, minorKey, textKey string) string {
	if s := meta[textKey]; s != "" {
		return s
	}
	n, err := strconv.ParseInt(meta[minorKey], 10, 64)
	if err != nil || meta["currency"] == "" {
		return ""
	}
	digits, err := strconv.Atoi(meta["digits"])
	if err != nil || digits < 0 || digits > 4 {
		digits = 2
	}
	neg := n < 0
	if neg {
		n = -n
	}
	s := strconv.FormatInt(n, 10)
	if digits > 0 {
		s = strings.Repeat("0", max(0, digits+1-len(s))) + s
		s = s[:len(s)-digits] + "." + s[len(s)-digits:]
	}
	if neg {
		s = "-" + s
	}
	return s + " " + meta["currency"]
}

// webURL keeps s only when it is an absolute http(s) URL: a card's links reach customers.
func webURL(s string) string {
	u, err := url.Parse(strings.TrimSpace(s))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return ""
	}
	return u.String()
}

// crlf makes line breaks CRLF, as MIME text parts need.
func crlf(s string) string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	s = strings.ReplaceAll(s, "\r", "\n")
	return strings.ReplaceAll(s, "\n", "\r\n")
}

// composeBytes is compose into memory.
func composeBytes(m outgoing) ([]byte, error) {
	var b bytes.Buffer
	if err := compose(&b, m); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
