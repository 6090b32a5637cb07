package email

import (
	"net/url"
	"regexp"
	"strings"

	"github.com/microcosm-cc/bluemonday"
	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// How the stored HTML talks to the console (documented in the package comment too):
//
//   - An inline image's src is "cid:<sha256>", the SHA-256 of the attachment that holds it
//     (Message.Attachments has the same SHA256, with Inline set and the original ContentID). The
//     console resolves it to its attachment URL. A cid: that matches no part is left as it was.
//   - A remote image has no src: its address moved to data-remote-src, so nothing is fetched
//     (no tracking pixel fires) until an agent clicks "load images" and the console copies
//     data-remote-src back to src. Only http(s) addresses are ever moved there.
//   - The element where quoted history starts carries data-serambi-quote; the console collapses
//     it and everything after it. Nothing is removed.
const (
	attrRemoteSrc = "data-remote-src"
	attrQuote     = "data-serambi-quote"
)

// newPolicy is the sanitiser for incoming mail: bluemonday's policy for user content, plus the
// cid: scheme, data: images, and the layout styles mail relies on. Scripts, forms, <style>,
// event handlers and javascript: URLs go. A Policy is safe for concurrent use once built.
func newPolicy() *bluemonday.Policy {
	p := bluemonday.UGCPolicy()
	p.AllowURLSchemes("http", "https", "mailto", "tel", "cid")
	p.AllowDataURIImages()
	p.AllowAttrs(attrQuote).OnElements("div", "blockquote", "p", "hr", "table")
	p.AllowAttrs("align").Matching(regexp.MustCompile(`(?i)^(left|right|center|justify)$`)).OnElements("p", "div", "td", "th", "table", "tr")
	p.AllowAttrs("valign").Matching(regexp.MustCompile(`(?i)^(top|middle|bottom|baseline)$`)).OnElements("td", "th", "tr")
	p.AllowAttrs("width", "height").Matching(bluemonday.NumberOrPercent).OnElements("table", "td", "th")
	p.AllowAttrs("bgcolor", "color").Matching(regexp.MustCompile(`^#?[0-9A-Za-z]{1,20}$`)).OnElements("table", "td", "th", "tr", "font")
	p.AllowAttrs("face").Matching(regexp.MustCompile(`^[\w ,'"-]{1,100}$`)).OnElements("font")
	p.AllowElements("font", "center")
	// Styles that lay mail out; nothing that loads (background, list-style-image, content, ...).
	p.AllowStyles("color", "background-color", "font-weight", "font-style", "font-size", "font-family",
		"text-align", "text-decoration", "line-height", "margin", "margin-top", "margin-bottom", "margin-left",
		"margin-right", "padding", "padding-top", "padding-bottom", "padding-left", "padding-right",
		"border-collapse", "width", "max-width", "height", "vertical-align", "white-space", "display").Globally()
	p.RequireNoReferrerOnLinks(true)
	p.AddTargetBlankToFullyQualifiedLinks(true)
	return p
}

// htmlBody is the result of cleaning one message's HTML.
type htmlBody struct {
	HTML         string
	Quoted       bool // data-serambi-quote was set
	RemoteImages int  // images whose remote src was moved to data-remote-src
}

// cleanHTML marks quoted history, sanitises, rewrites cid: links to stored parts (cids maps a
// lower-cased Content-ID to the part's SHA-256) and blocks remote images.
func cleanHTML(p *bluemonday.Policy, raw string, cids map[string]string) htmlBody {
	marked, quoted := markQuote(raw)
	safe := p.Sanitize(marked)
	out, remote := rewriteImages(safe, cids)
	return htmlBody{HTML: strings.TrimSpace(out), Quoted: quoted && strings.Contains(out, attrQuote), RemoteImages: remote}
}

// outlookSeparator is the top border Outlook puts above the "From: / Sent:" block of a reply.
var outlookSeparator = regexp.MustCompile(`(?i)border-top:\s*solid\s+#(?:e1e1e1|b5c4df)`)

// isQuoteStart recognises the element where a client put the quoted history: Gmail, Apple Mail
// and Thunderbird, Outlook (desktop, web, mobile) and Yahoo.
func isQuoteStart(t html.Token) bool {
	get := func(name string) string {
		for _, a := range t.Attr {
			if a.Key == name {
				return a.Val
			}
		}
		return ""
	}
	class := " " + strings.ToLower(get("class")) + " "
	id := strings.ToLower(get("id"))
	switch t.DataAtom {
	case atom.Blockquote:
		return strings.EqualFold(get("type"), "cite") || strings.Contains(class, " gmail_quote ")
	case atom.Div:
		return strings.Contains(class, " gmail_quote ") || strings.Contains(class, " gmail_quote_container ") ||
			strings.Contains(class, " moz-cite-prefix ") || strings.Contains(class, " yahoo_quoted ") ||
			strings.Contains(class, " outlookmessageheader ") ||
			id == "divrplyfwdmsg" || id == "appendonsend" || id == "mail-editor-reference-message-container" ||
			outlookSeparator.MatchString(get("style"))
	}
	return false
}

// markQuote adds data-serambi-quote to the first element that starts quoted history. Everything
// else is copied byte for byte.
func markQuote(s string) (string, bool) {
	z := html.NewTokenizer(strings.NewReader(s))
	var b strings.Builder
	b.Grow(len(s) + 32)
	found := false
	for {
		tt := z.Next()
		if tt == html.ErrorToken {
			break
		}
		if !found && tt == html.StartTagToken {
			raw := string(z.Raw()) // Token() below reuses the buffer
			t := z.Token()
			if isQuoteStart(t) {
				found = true
				t.Attr = append(t.Attr, html.Attribute{Key: attrQuote, Val: "1"})
				b.WriteString(t.String())
				continue
			}
			b.WriteString(raw)
			continue
		}
		b.Write(z.Raw())
	}
	return b.String(), found
}

// rewriteImages works on sanitised HTML: it points cid: images at their stored part, moves
// remote image addresses to data-remote-src, drops srcset (it would load remote images too) and
// ids (they would collide with the console's own).
func rewriteImages(s string, cids map[string]string) (string, int) {
	z := html.NewTokenizer(strings.NewReader(s))
	var b strings.Builder
	b.Grow(len(s) + 64)
	remote := 0
	for {
		tt := z.Next()
		if tt == html.ErrorToken {
			break
		}
		if tt != html.StartTagToken && tt != html.SelfClosingTagToken {
			b.Write(z.Raw())
			continue
		}
		t := z.Token()
		changed := false
		attrs := t.Attr[:0:0]
		for _, a := range t.Attr {
			switch {
			case a.Key == "id":
				changed = true
				continue
			case t.DataAtom == atom.Img && a.Key == "srcset":
				changed = true
				continue
			case t.DataAtom == atom.Img && a.Key == "src":
				// Only cid: (a part of this mail) and data: images (validated by the sanitiser) may
				// load by themselves. Anything else is remote, however it is spelled: browsers read
				// "http:/host", "//host" and "/\host" as addresses on another host.
				v := strings.TrimSpace(a.Val)
				lower := strings.ToLower(v)
				switch {
				case strings.HasPrefix(lower, "cid:"):
					if sha, ok := cids[cidKey(v[4:])]; ok {
						a.Val = "cid:" + sha
						changed = true
					}
				case strings.HasPrefix(lower, "data:image/"):
				default:
					changed = true
					if u := remoteURL(v); u != "" {
						a = html.Attribute{Key: attrRemoteSrc, Val: u}
						remote++
					} else {
						continue // a relative or odd address means nothing in a mail: dropped
					}
				}
			}
			attrs = append(attrs, a)
		}
		if !changed {
			b.Write(z.Raw())
			continue
		}
		t.Attr = attrs
		b.WriteString(t.String())
	}
	return b.String(), remote
}

// remoteURL returns the http(s) address an image source points at, written out in full, or "".
func remoteURL(v string) string {
	v = strings.ReplaceAll(v, "\\", "/")
	if strings.HasPrefix(v, "//") {
		v = "https:" + v
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		return ""
	}
	if u.Host == "" {
		// "http:/host/path" and "http:host/path": browsers take the first path segment as the host.
		rest := strings.TrimLeft(u.Opaque+u.Path, "/")
		host, path, _ := strings.Cut(rest, "/")
		if host == "" {
			return ""
		}
		u.Opaque, u.Host, u.Path = "", host, "/"+path
	}
	return u.String()
}

// cidKey normalises a Content-ID or a cid: URL to compare them: cid: URLs are URL-encoded
// (RFC 2392) and clients differ in case and brackets.
func cidKey(s string) string {
	s = strings.TrimSpace(s)
	if u, err := url.PathUnescape(s); err == nil {
		s = u
	}
	return strings.ToLower(strings.Trim(s, "<> "))
}

// textToHTML renders plain text as HTML for the HTML alternative of an outgoing reply: escaped,
// with its line breaks.
func textToHTML(s string) string {
	s = strings.ReplaceAll(strings.ReplaceAll(s, "\r\n", "\n"), "\r", "\n")
	// <br> rather than white-space: pre-wrap, which Outlook ignores.
	return "<div>" + strings.ReplaceAll(html.EscapeString(s), "\n", "<br>\n") + "</div>"
}
