package email

import (
	"fmt"
	"io"
	"mime"
	"net/mail"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/encoding/htmlindex"

	"github.com/serambi/serambi/inbox"
)

// Address is one parsed, normalised mail address.
type Address struct {
	Name string
	Addr string // lower-case, as inbox.NormalizeEmail returns it
}

// maxAddrLen is the longest valid address; the inbox refuses longer identities.
const maxAddrLen = 320

// maxIDLen bounds a Message-ID we store: inbox external ids are at most 512 bytes, and a longer
// "Message-ID" is garbage rather than an identifier.
const maxIDLen = 400

// wordDecoder decodes RFC 2047 words in any charset the WHATWG encoding standard knows, which
// reads ISO-8859-1 as Windows-1252 as mail clients do.
func wordDecoder() *mime.WordDecoder {
	return &mime.WordDecoder{CharsetReader: func(label string, r io.Reader) (io.Reader, error) {
		enc, err := htmlindex.Get(label)
		if err != nil {
			return nil, fmt.Errorf("charset %q: %w", label, err)
		}
		return enc.NewDecoder().Reader(r), nil
	}}
}

// ParseAddresses reads an address-list header (From, To, Cc, Reply-To) the way real mail writes
// it: RFC 2047 names in any charset, missing quotes, stray semicolons, bare addresses. It never
// fails; what cannot be read as an address is left out. Every returned Addr is a valid,
// lower-cased address.
func ParseAddresses(header string) []Address {
	header = strings.TrimSpace(header)
	if header == "" {
		return nil
	}
	var out []Address
	add := func(name, addr string) {
		// The inbox trims before it normalises: so must we, or an address like "\u00a0@x" would
		// be accepted here and refused there.
		a, err := inbox.NormalizeEmail(strings.TrimSpace(addr))
		if err != nil || len(a) > maxAddrLen || strings.ContainsFunc(a, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) {
			return
		}
		if again, err := inbox.NormalizeEmail(strings.TrimSpace(a)); err != nil || again != a {
			return
		}
		for _, o := range out {
			if o.Addr == a {
				return
			}
		}
		out = append(out, Address{Name: cleanName(name, a), Addr: a})
	}
	p := mail.AddressParser{WordDecoder: wordDecoder()}
	if list, err := p.ParseList(header); err == nil {
		for _, a := range list {
			add(a.Name, a.Address)
		}
		return out
	}
	// The strict parser gave up (unquoted commas or dots in names, ';' separators, garbage):
	// take each piece that holds an address on its own.
	carry := ""
	for _, piece := range splitAddressList(header) {
		if carry != "" {
			piece = carry + "," + piece
			carry = ""
		}
		if !strings.Contains(piece, "@") {
			// "Rahma, Siti <siti@example.com>": an unquoted comma inside a name.
			carry = piece
			continue
		}
		if a, err := p.Parse(piece); err == nil {
			add(a.Name, a.Address)
			continue
		}
		if m := angleAddr.FindStringSubmatch(piece); m != nil {
			add(strings.Trim(strings.TrimSpace(piece[:strings.Index(piece, "<")]), `"' `), m[1])
			continue
		}
		for _, m := range bareAddr.FindAllString(piece, -1) {
			add("", m)
		}
	}
	return out
}

var (
	angleAddr = regexp.MustCompile(`<\s*([^<>\s@]+@[^<>\s@]+)\s*>`)
	bareAddr  = regexp.MustCompile(`[A-Za-z0-9.!#$%&'*+/=?^_{|}~-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+`)
)

// splitAddressList splits at commas and semicolons outside quotes and angle brackets.
func splitAddressList(s string) []string {
	var out []string
	depth, quoted, start := 0, false, 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\' && quoted:
			i++
		case c == '"':
			quoted = !quoted
		case c == '<' && !quoted:
			depth++
		case c == '>' && !quoted && depth > 0:
			depth--
		case (c == ',' || c == ';') && !quoted && depth == 0:
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

// cleanName drops names that only repeat the address ("siti@example.com" <siti@example.com>)
// and decodes encoded words the parser left alone.
func cleanName(name, addr string) string {
	if strings.Contains(name, "=?") {
		if d, err := wordDecoder().DecodeHeader(name); err == nil {
			name = d
		}
	}
	name = strings.TrimSpace(strings.Trim(strings.TrimSpace(name), `"'`))
	if !utf8.ValidString(name) {
		name = strings.ToValidUTF8(name, "\uFFFD")
	}
	name = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return -1
		}
		return r
	}, name)
	if strings.EqualFold(name, addr) {
		return ""
	}
	return name
}

// NormalizeMessageID returns a Message-ID without its angle brackets and surrounding space, or ""
// when the value cannot be an identifier (empty, "<>", spaces inside, too long).
func NormalizeMessageID(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '<'); i >= 0 {
		if j := strings.IndexByte(s[i:], '>'); j > 0 {
			s = s[i+1 : i+j]
		}
	}
	s = strings.TrimSpace(s)
	if s == "" || len(s) > maxIDLen || strings.ContainsFunc(s, func(r rune) bool { return unicode.IsSpace(r) || r == '<' || r == '>' }) ||
		!utf8.ValidString(s) {
		return ""
	}
	return s
}

var bracketed = regexp.MustCompile(`<([^<>]*)>`)

// ParseMessageIDs reads a References or In-Reply-To header: the <bracketed> ids in order, or, from
// clients that forgot the brackets, the whitespace-separated words that look like ids.
// Duplicates and unusable values are dropped.
func ParseMessageIDs(header string) []string {
	var raw []string
	if m := bracketed.FindAllStringSubmatch(header, -1); m != nil {
		for _, x := range m {
			raw = append(raw, x[1])
		}
	} else {
		for _, w := range strings.FieldsFunc(header, func(r rune) bool { return unicode.IsSpace(r) || r == ',' }) {
			if strings.Contains(w, "@") {
				raw = append(raw, w)
			}
		}
	}
	var out []string
	seen := map[string]bool{}
	for _, r := range raw {
		if id := NormalizeMessageID(r); id != "" && !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}

// replyPrefix matches one reply or forward marker at the start of a subject, in the languages
// clients write them in, and list tags like "[Acme]".
var replyPrefix = regexp.MustCompile(`(?i)^\s*(?:(?:re|fw|fwd|aw|wg|sv|vs|antw|antwort|rif|r|res|enc|tr|odp|ynt|vá|atb|ref|doorst|回复|回覆|答复|转发|轉寄|返信|転送)\s*(?:\[\d+\]|\(\d+\))?\s*[:：]|\[[^\]]{0,40}\])\s*`)

// NormalizeSubject strips reply/forward prefixes and list tags, folds case and collapses space,
// so that "RE: [Acme] Fwd:  Order 42" and "order 42" compare equal.
func NormalizeSubject(s string) string {
	for i := 0; i < 20; i++ {
		t := replyPrefix.ReplaceAllString(s, "")
		if t == s {
			break
		}
		s = t
	}
	return strings.ToLower(strings.Join(strings.Fields(s), " "))
}

// sameTopic reports whether a reply's subject still names its parent's topic. A reply that
// only adds to the subject ("Order 42" → "Order 42 – still missing") stays; one that replaces it
// starts a new thread. An empty subject says nothing and stays.
func sameTopic(reply, parent string) bool {
	r, p := NormalizeSubject(reply), NormalizeSubject(parent)
	if r == "" || p == "" {
		return true
	}
	return strings.Contains(r, p) || strings.Contains(p, r)
}

// replySubject is the subject of an answer to a message with subject s: exactly one "Re: ".
func replySubject(s string) string {
	t := strings.TrimSpace(s)
	for i := 0; i < 20; i++ {
		loc := replyPrefix.FindStringIndex(t)
		if loc == nil || strings.HasPrefix(strings.TrimSpace(t[:loc[1]]), "[") {
			break
		}
		t = strings.TrimSpace(t[loc[1]:])
	}
	if t == "" {
		return "Re: your message"
	}
	return "Re: " + t
}

// plusToken returns the token of addr when addr is base's local part plus "+token" at base's
// domain (support+k3j9@example.com for support@example.com).
func plusToken(addr, base string) (string, bool) {
	bl, bd, ok := strings.Cut(base, "@")
	if !ok {
		return "", false
	}
	al, ad, ok := strings.Cut(strings.ToLower(addr), "@")
	if !ok || ad != bd {
		return "", false
	}
	tok, ok := strings.CutPrefix(al, bl+"+")
	if !ok || tok == "" {
		return "", false
	}
	return tok, true
}

// isOwnAddress reports whether addr is the mailbox's address or a plus variant of it.
func isOwnAddress(addr, base string) bool {
	if strings.EqualFold(addr, base) {
		return true
	}
	_, ok := plusToken(addr, base)
	return ok
}
