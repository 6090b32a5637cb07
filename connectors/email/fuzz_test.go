package email

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"golang.org/x/net/html"
)

// unsafeHTML reports the first tag or attribute in s that could run code or load anything.
func unsafeHTML(s string) string {
	z := html.NewTokenizer(strings.NewReader(s))
	for {
		switch z.Next() {
		case html.ErrorToken:
			return ""
		case html.StartTagToken, html.SelfClosingTagToken:
			tok := z.Token()
			switch tok.Data {
			case "script", "iframe", "object", "embed", "style", "form", "link", "meta", "base", "frame", "svg", "math":
				return tok.String()
			}
			for _, a := range tok.Attr {
				key, val := strings.ToLower(a.Key), strings.ToLower(strings.TrimSpace(a.Val))
				switch {
				case strings.HasPrefix(key, "on"), key == "style" && strings.Contains(val, "url("),
					(key == "href" || key == "src") && strings.HasPrefix(val, "javascript:"),
					key == "src" && !strings.HasPrefix(val, "cid:") && !strings.HasPrefix(val, "data:image/"),
					key == "srcset", key == "background":
					return tok.String()
				}
			}
		}
	}
}

// FuzzParse: no input makes the parser panic, and whatever it returns is safe to store and show:
// valid UTF-8, HTML without scripts, handlers or remote loads, parts keyed by their real hash.
// `go test -run FuzzParse` runs the seeds (the whole corpus); CI runs `-fuzz FuzzParse` briefly.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("testdata/corpus/*.eml")
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, s := range []string{
		"From: a@b.c\r\n\r\n",
		"From: a@b.c\r\nContent-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\nContent-Type: text/html\r\n\r\n<img src=//e/x><scr<script>ipt>\r\n--x--",
		"From: a@b.c\r\nContent-Type: multipart/alternative; boundary=\"\"\r\n\r\n--\r\n",
		"From: a@b.c\r\nContent-Type: text/html; charset=utf-7\r\n\r\n+ADw-script+AD4-",
		"From: a@b.c\r\nContent-Type: text/plain; format=flowed; delsp=yes\r\n\r\n> \r\n>> a \r\n-- \r\n",
		"From: a@b.c\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=b\r\n\r\n--b\r\n\r\n--b\r\nContent-Type: message/delivery-status\r\n\r\nStatus: 5.1.1\r\n--b--",
		"From: =?utf-8?b?AAAA?= <a@b.c>\r\nSubject: =?bogus?q?x?=\r\nMessage-ID: <<a>>\r\nReferences: < > <a@b> <\r\n\r\nx",
	} {
		f.Add([]byte(s))
	}
	p := NewParser()
	f.Fuzz(func(t *testing.T, raw []byte) {
		m, err := p.Parse(raw)
		if err != nil {
			return
		}
		if !utf8.ValidString(m.Text) || !utf8.ValidString(m.HTML) || !utf8.ValidString(m.Subject) || !utf8.ValidString(m.From.Name) {
			t.Fatalf("invalid UTF-8 out of %q", raw)
		}
		if bad := unsafeHTML(m.HTML); bad != "" {
			t.Fatalf("unsafe HTML %q in %q", bad, m.HTML)
		}
		if m.QuoteAt < -1 || m.QuoteAt > len(m.Text) {
			t.Fatalf("QuoteAt %d out of range (len %d)", m.QuoteAt, len(m.Text))
		}
		if m.MessageID != "" && NormalizeMessageID("<"+m.MessageID+">") != m.MessageID {
			t.Fatalf("unstable Message-ID %q", m.MessageID)
		}
		if strings.ContainsAny(m.Subject, "\r\n") {
			t.Fatalf("subject spans lines: %q", m.Subject)
		}
		for _, part := range m.Parts {
			if part.SHA256 != sha256Hex(part.Data) || part.Name == "" || strings.ContainsAny(part.Name, "/\\\x00") {
				t.Fatalf("bad part %q sha %s", part.Name, part.SHA256)
			}
		}
	})
}
