package email

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"mime"
	"net/mail"
	"path"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/jhillyerd/enmime/v2"
	"github.com/jhillyerd/enmime/v2/mediatype"
	"github.com/microcosm-cc/bluemonday"
	"golang.org/x/text/encoding/charmap"
)

// Part is an attachment or inline image of a parsed message, with its bytes.
type Part struct {
	Name        string
	ContentType string
	ContentID   string // without angle brackets
	Inline      bool
	Data        []byte
	SHA256      string // hex SHA-256 of Data: the key it is stored under
}

// Parsed is one incoming mail, read and cleaned, before it belongs to anyone.
type Parsed struct {
	MessageID  string   // normalised, "" when missing or unusable
	InReplyTo  []string // normalised ids
	References []string // normalised ids, oldest first
	Subject    string
	From       Address
	ReplyTo    []Address
	To, Cc     []Address
	// Recipients lists every address the mail was delivered to or for (To, Cc, Delivered-To,
	// X-Original-To, Envelope-To): where a plus-address token is looked for.
	Recipients []string
	Date       time.Time
	// Text is the plain text body with its line breaks (from the HTML when there is no text part).
	Text string
	// HTML is sanitised, with cid: links pointing at stored parts and remote images blocked.
	HTML string
	// QuoteAt is the byte offset in Text where quoted history begins, or -1.
	QuoteAt      int
	HTMLQuoted   bool
	RemoteImages int
	Parts        []Part
	Auto         AutoKind
	AutoReason   string
	Bounce       *Bounce
	// ReceiptFor is the Message-ID a read receipt is for.
	ReceiptFor string
	// Fingerprint identifies the content (sender, date, subject, text): two mails with one
	// Message-ID but different fingerprints are different mails.
	Fingerprint string
	// Warnings are what the parser had to repair; kept for the admin, never fatal.
	Warnings []string
}

// Parser reads raw mail. It is safe for concurrent use.
type Parser struct {
	policy *bluemonday.Policy
	mime   *enmime.Parser
}

// NewParser returns a Parser.
func NewParser() *Parser {
	return &Parser{
		policy: newPolicy(),
		mime: enmime.NewParser(
			// A declared charset is right far more often than a guess from a short text.
			enmime.DisableCharacterDetection(true),
			enmime.SetCustomParseMediaType(parseMediaType),
			enmime.SetReadPartErrorPolicy(enmime.AllowCorruptTextPartErrorPolicy),
			enmime.MaxStoredPartErrors(20),
		),
	}
}

// parseMediaType reads ISO-8859-1 and US-ASCII as Windows-1252, as every mail client does:
// Outlook's "iso-8859-1" bodies are full of Windows-1252 quotes and dashes.
func parseMediaType(ctype string) (string, map[string]string, []string, error) {
	mt, params, invalid, err := mediatype.Parse(ctype)
	if params != nil {
		switch strings.ToLower(strings.Trim(params["charset"], `"' `)) {
		case "iso-8859-1", "iso8859-1", "iso_8859-1", "latin1", "us-ascii", "ascii":
			params["charset"] = "windows-1252"
		}
	}
	return mt, params, invalid, err
}

// ErrUnreadable: the bytes are not a mail message at all (no header could be read).
var ErrUnreadable = errors.New("not a mail message")

// Parse reads one raw message. Damaged mail is repaired as far as possible and the repairs are
// listed in Warnings; only bytes without any readable header give ErrUnreadable.
func (p *Parser) Parse(raw []byte) (*Parsed, error) {
	env, err := p.mime.ReadEnvelope(bytes.NewReader(raw))
	if err != nil {
		return p.parseFallback(raw, err)
	}
	out := &Parsed{QuoteAt: -1}
	for _, e := range env.Errors {
		out.Warnings = append(out.Warnings, e.Error())
	}
	h := env.Root.Header
	out.MessageID = NormalizeMessageID(h.Get("Message-Id"))
	out.InReplyTo = ParseMessageIDs(h.Get("In-Reply-To"))
	out.References = ParseMessageIDs(strings.Join(h.Values("References"), " "))
	out.Subject = cleanHeaderText(env.GetHeader("Subject"))
	if from := ParseAddresses(h.Get("From")); len(from) > 0 {
		out.From = from[0]
	} else if sender := ParseAddresses(h.Get("Sender")); len(sender) > 0 {
		out.From = sender[0]
	}
	out.ReplyTo = ParseAddresses(h.Get("Reply-To"))
	out.To = ParseAddresses(strings.Join(h.Values("To"), ", "))
	out.Cc = ParseAddresses(strings.Join(h.Values("Cc"), ", "))
	out.Recipients = recipients(out.To, out.Cc, h.Values("Delivered-To"), h.Values("X-Original-To"),
		h.Values("Envelope-To"), h.Values("X-Envelope-To"))
	if d, err := mail.ParseDate(h.Get("Date")); err == nil {
		out.Date = d.UTC()
	}

	out.Text = bodyText(env)
	out.QuoteAt = quoteStart(out.Text)

	cids := map[string]string{}
	htmlRaw := bodyHTML(env)
	for i, part := range partsOf(env) {
		data := part.Content
		sum := sha256.Sum256(data)
		pt := Part{
			Name: fileName(part, i+1), ContentType: contentType(part), ContentID: strings.Trim(strings.TrimSpace(part.ContentID), "<>"),
			Data: data, SHA256: hex.EncodeToString(sum[:]),
		}
		if pt.ContentID != "" {
			cids[cidKey(pt.ContentID)] = pt.SHA256
		}
		// Outlook sends inline images without Content-Disposition: a part the HTML refers to by
		// cid: is inline whatever its headers say.
		pt.Inline = part.Disposition == "inline" || (pt.ContentID != "" && referencesCID(htmlRaw, pt.ContentID))
		out.Parts = append(out.Parts, pt)
	}
	if htmlRaw != "" {
		hb := cleanHTML(p.policy, htmlRaw, cids)
		out.HTML, out.HTMLQuoted, out.RemoteImages = hb.HTML, hb.Quoted, hb.RemoteImages
	}

	hasRefs := len(out.InReplyTo) > 0 || len(out.References) > 0
	out.Auto, out.AutoReason = classify(env, out.From, out.Subject, hasRefs)
	switch out.Auto {
	case AutoBounce:
		out.Bounce = parseBounce(env, raw)
	case AutoReceipt:
		if m := originalMsgID.FindSubmatch(raw); m != nil {
			out.ReceiptFor = NormalizeMessageID(string(m[1]))
		}
	}
	out.Fingerprint = fingerprint(out.From.Addr, h.Get("Date"), out.Subject, out.Text)
	return out, nil
}

var originalMsgID = regexp.MustCompile(`(?im)^original-message-id:\s*(<[^<>\r\n]+>)`)

// parseFallback handles what enmime refuses (a broken multipart structure): the header through
// net/mail, the body as text, so that the mail still reaches an agent.
func (p *Parser) parseFallback(raw []byte, cause error) (*Parsed, error) {
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("%w: %v (and %v)", ErrUnreadable, cause, err)
	}
	out := &Parsed{QuoteAt: -1, Warnings: []string{"MIME structure unreadable, body kept as text: " + cause.Error()}}
	h := msg.Header
	out.MessageID = NormalizeMessageID(h.Get("Message-Id"))
	out.InReplyTo = ParseMessageIDs(h.Get("In-Reply-To"))
	out.References = ParseMessageIDs(strings.Join(h["References"], " "))
	subj, _ := wordDecoder().DecodeHeader(h.Get("Subject"))
	out.Subject = cleanHeaderText(subj)
	if from := ParseAddresses(h.Get("From")); len(from) > 0 {
		out.From = from[0]
	}
	out.ReplyTo = ParseAddresses(h.Get("Reply-To"))
	out.To = ParseAddresses(h.Get("To"))
	out.Cc = ParseAddresses(h.Get("Cc"))
	out.Recipients = recipients(out.To, out.Cc, h["Delivered-To"], h["X-Original-To"], h["Envelope-To"], h["X-Envelope-To"])
	if d, err := mail.ParseDate(h.Get("Date")); err == nil {
		out.Date = d.UTC()
	}
	var body bytes.Buffer
	_, _ = body.ReadFrom(msg.Body)
	out.Text = toUTF8(strings.ReplaceAll(body.String(), "\r\n", "\n"))
	out.QuoteAt = quoteStart(out.Text)
	out.Fingerprint = fingerprint(out.From.Addr, h.Get("Date"), out.Subject, out.Text)
	return out, nil
}

func recipients(to, cc []Address, extra ...[]string) []string {
	var out []string
	seen := map[string]bool{}
	add := func(a string) {
		if a != "" && !seen[a] {
			seen[a] = true
			out = append(out, a)
		}
	}
	for _, a := range append(append([]Address{}, to...), cc...) {
		add(a.Addr)
	}
	for _, vs := range extra {
		for _, v := range vs {
			for _, a := range ParseAddresses(v) {
				add(a.Addr)
			}
		}
	}
	return out
}

// bodyText is the plain text with LF line breaks, format=flowed joined, valid UTF-8.
func bodyText(env *enmime.Envelope) string {
	text := env.Text
	if p := env.Root.BreadthMatchFirst(func(p *enmime.Part) bool {
		return p.ContentType == "text/plain" && p.Disposition != "attachment"
	}); p != nil && string(p.Content) == text {
		if _, params, _, err := mediatype.Parse(p.Header.Get("Content-Type")); err == nil && strings.EqualFold(params["format"], "flowed") {
			text = decodeFlowed(text, strings.EqualFold(params["delsp"], "yes"))
		}
	}
	text = strings.ReplaceAll(strings.ReplaceAll(text, "\r\n", "\n"), "\r", "\n")
	return strings.TrimRight(toUTF8(text), "\n ")
}

// bodyHTML is the HTML body. Apple Mail splits a body with attachments into several HTML parts
// under one multipart/mixed; they are joined in order.
func bodyHTML(env *enmime.Envelope) string {
	first := env.Root.DepthMatchFirst(func(p *enmime.Part) bool {
		return p.ContentType == "text/html" && p.Disposition != "attachment"
	})
	if first == nil {
		return toUTF8(env.HTML)
	}
	if first.Parent == nil || first.Parent.ContentType != "multipart/mixed" {
		return toUTF8(string(first.Content))
	}
	var b strings.Builder
	for c := first.Parent.FirstChild; c != nil; c = c.NextSibling {
		if c.ContentType == "text/html" && c.Disposition != "attachment" {
			b.Write(c.Content)
		}
	}
	return toUTF8(b.String())
}

// partsOf lists the parts that are files: attachments, inline images and other non-body parts.
func partsOf(env *enmime.Envelope) []*enmime.Part {
	var out []*enmime.Part
	seen := map[*enmime.Part]bool{}
	for _, list := range [][]*enmime.Part{env.Attachments, env.Inlines, env.OtherParts} {
		for _, p := range list {
			if seen[p] || strings.HasPrefix(p.ContentType, "multipart/") {
				continue
			}
			seen[p] = true
			// Text parts marked inline are already in the body.
			if p.Disposition == "inline" && p.FileName == "" && (p.ContentType == "text/plain" || p.ContentType == "text/html") {
				continue
			}
			out = append(out, p)
		}
	}
	return out
}

func contentType(p *enmime.Part) string {
	if p.ContentType == "" {
		return "application/octet-stream"
	}
	return p.ContentType
}

// fileName is the part's name as the sender's client gave it (RFC 2231 and RFC 2047 decoded by
// enmime), without any directory, control characters or excessive length; or a name made up
// from its type.
func fileName(p *enmime.Part, n int) string {
	name := p.FileName
	if strings.Contains(name, "=?") {
		if d, err := wordDecoder().DecodeHeader(name); err == nil {
			name = d
		}
	}
	name = toUTF8(name)
	name = strings.ReplaceAll(name, "\\", "/")
	name = path.Base(name)
	name = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == '/' {
			return -1
		}
		return r
	}, name)
	name = strings.TrimSpace(name)
	if name == "." || name == ".." {
		name = ""
	}
	for len(name) > 200 {
		_, size := utf8.DecodeLastRuneInString(name)
		name = name[:len(name)-size]
	}
	if name != "" {
		return name
	}
	ext := ""
	switch p.ContentType {
	case "message/rfc822":
		ext = ".eml"
	case "text/calendar":
		ext = ".ics"
	default:
		if exts, _ := mime.ExtensionsByType(p.ContentType); len(exts) > 0 {
			ext = exts[0]
		}
	}
	kind := "attachment"
	if strings.HasPrefix(p.ContentType, "image/") {
		kind = "image"
	}
	return kind + "-" + strconv.Itoa(n) + ext
}

func referencesCID(html, cid string) bool {
	if html == "" {
		return false
	}
	lower := strings.ToLower(html)
	key := strings.ToLower(cid)
	return strings.Contains(lower, "cid:"+key) || strings.Contains(lower, "cid:"+strings.ToLower(escapeCID(cid)))
}

func escapeCID(s string) string {
	var b strings.Builder
	for _, c := range []byte(s) {
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"%<>\^`+"`{|}", c) >= 0 {
			fmt.Fprintf(&b, "%%%02X", c)
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// toUTF8 repairs text that claimed a charset it was not in (or claimed none): invalid UTF-8 is
// read as Windows-1252, the usual culprit, rather than turned into replacement characters.
func toUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	if d, err := charmap.Windows1252.NewDecoder().String(s); err == nil {
		return d
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}

// cleanHeaderText makes a header value one line of valid text.
func cleanHeaderText(s string) string {
	s = toUTF8(s)
	s = strings.Map(func(r rune) rune {
		if r == '\t' || r == '\n' || r == '\r' {
			return ' '
		}
		if unicode.IsControl(r) {
			return -1
		}
		return r
	}, s)
	return strings.Join(strings.Fields(s), " ")
}

// decodeFlowed joins the soft line breaks of format=flowed text (RFC 3676): a line ending in a
// space continues on the next. Quoted lines keep their quote depth; the signature separator
// "-- " is never joined.
func decodeFlowed(s string, delsp bool) string {
	lines := strings.Split(strings.ReplaceAll(s, "\r\n", "\n"), "\n")
	var b strings.Builder
	prevSoft, prevDepth := false, 0
	for i, l := range lines {
		depth := 0
		for depth < len(l) && l[depth] == '>' {
			depth++
		}
		content := l[depth:]
		if strings.HasPrefix(content, " ") {
			content = content[1:] // space stuffing
		}
		if i > 0 && !(prevSoft && depth == prevDepth) {
			b.WriteByte('\n')
		}
		if !(prevSoft && depth == prevDepth) && depth > 0 {
			b.WriteString(strings.Repeat(">", depth))
			if content != "" {
				b.WriteByte(' ')
			}
		}
		soft := strings.HasSuffix(content, " ") && content != "-- "
		if soft && delsp {
			content = content[:len(content)-1]
		}
		b.WriteString(content)
		prevSoft, prevDepth = soft, depth
	}
	return b.String()
}

// fingerprint identifies a mail's content independently of its transport headers.
func fingerprint(from, date, subject, text string) string {
	h := sha256.New()
	for _, s := range []string{from, strings.TrimSpace(date), subject, text} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}
