package email

import (
	"bytes"
	"io"
	"mime"
	"net/mail"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jhillyerd/enmime/v2"
)

func file(name, ct, cid, content string) outgoingFile {
	return outgoingFile{Name: name, ContentType: ct, ContentID: cid,
		Open: func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(content)), nil }}
}

// What compose writes must read back as the same mail, through our own parser and net/mail, with
// the headers that thread it in the customer's mail client.
func TestComposeRoundTrip(t *testing.T) {
	pixel := "\x89PNG\r\n\x1a\nfake-png"
	tests := []struct {
		name      string
		in        outgoing
		wantType  string // top-level media type
		wantParts []wantPart
		htmlHas   []string
	}{
		{name: "plain reply in a thread", wantType: "multipart/alternative",
			in: outgoing{From: Address{"Siti | Example Support", "support@example.test"}, To: []Address{{"Budi Santoso", "budi@contoso.example"}},
				Subject: "Re: Invoice for order 2077", MessageID: "01j0abc@example.test", InReplyTo: "AM0PR07@outlook.example",
				References: []string{"01hzx1invoice@example.test", "AM0PR07@outlook.example"}, Date: time.Date(2024, 6, 4, 10, 0, 0, 0, time.UTC),
				Text: "Hello Budi,\n\nThe corrected invoice is on its way.\n\n<b>not bold</b>"},
			htmlHas: []string{"Hello Budi,<br>", "&lt;b&gt;not bold&lt;/b&gt;"}},
		{name: "attachments with non-Latin names", wantType: "multipart/mixed",
			in: outgoing{From: Address{"Example Support", "support@example.test"}, ReplyTo: &Address{"Example Support", "support+abcdefghijklmnop@example.test"},
				To: []Address{{"山田 太郎", "taro@docomo.example"}}, Subject: "Re: 配送について", MessageID: "01j0def@example.test",
				Date: time.Date(2024, 6, 7, 1, 0, 0, 0, time.UTC), Text: "請求書を添付します。", HTML: "<p>請求書を添付します。</p>",
				Files: []outgoingFile{file("請求書 6月.pdf", "application/pdf", "", "%PDF-1.4"), file("Счет.xlsx", "", "", "PK")}},
			wantParts: []wantPart{{name: "請求書 6月.pdf", contentType: "application/pdf"}, {name: "Счет.xlsx", contentType: "application/octet-stream"}},
			htmlHas:   []string{"<p>請求書を添付します。</p>"}},
		{name: "inline image and an attachment", wantType: "multipart/mixed",
			in: outgoing{From: Address{"Example Support", "support@example.test"}, To: []Address{{"", "ayu@yahoo.example"}},
				Subject: "Re: Damaged parcel", MessageID: "01j0ghi@example.test", Date: time.Date(2024, 6, 9, 5, 0, 0, 0, time.UTC),
				Text: "See the label.", HTML: `<p>See the label: <img src="cid:labelsha"></p>`,
				Files: []outgoingFile{file("label.png", "image/png", "labelsha", pixel), file("terms.txt", "text/plain", "unusedsha", "terms")}},
			// The parser lists attachments before inline parts.
			wantParts: []wantPart{{name: "terms.txt", contentType: "text/plain"}, {name: "label.png", contentType: "image/png", inline: true, referenced: true}}},
	}
	p := NewParser()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			raw, err := composeBytes(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			for i, line := range strings.Split(string(raw), "\r\n") {
				if len(line) > 998 {
					t.Errorf("line %d is %d bytes long", i, len(line))
				}
			}
			if bytes.Contains(bytes.ReplaceAll(raw, []byte("\r\n"), nil), []byte("\n")) {
				t.Errorf("bare LF in the output")
			}
			msg, err := mail.ReadMessage(bytes.NewReader(raw))
			if err != nil {
				t.Fatal(err)
			}
			if mt, _, _ := mime.ParseMediaType(msg.Header.Get("Content-Type")); mt != tc.wantType {
				t.Errorf("Content-Type %s, want %s", mt, tc.wantType)
			}
			if got := msg.Header.Get("Auto-Submitted"); got != "no" {
				t.Errorf("Auto-Submitted = %q", got)
			}
			got, err := p.Parse(raw)
			if err != nil {
				t.Fatal(err)
			}
			if got.MessageID != tc.in.MessageID || got.Subject != tc.in.Subject {
				t.Errorf("Message-ID %q subject %q, want %q %q", got.MessageID, got.Subject, tc.in.MessageID, tc.in.Subject)
			}
			wantIRT := []string(nil)
			if tc.in.InReplyTo != "" {
				wantIRT = []string{tc.in.InReplyTo}
			}
			if !slices.Equal(got.InReplyTo, wantIRT) || !slices.Equal(got.References, tc.in.References) {
				t.Errorf("In-Reply-To %q References %q, want %q %q", got.InReplyTo, got.References, wantIRT, tc.in.References)
			}
			if got.From != tc.in.From || !slices.Equal(got.To, tc.in.To) {
				t.Errorf("From %+v To %+v, want %+v %+v", got.From, got.To, tc.in.From, tc.in.To)
			}
			if tc.in.ReplyTo != nil && (len(got.ReplyTo) != 1 || got.ReplyTo[0] != *tc.in.ReplyTo) {
				t.Errorf("Reply-To %+v, want %+v", got.ReplyTo, *tc.in.ReplyTo)
			}
			if !got.Date.Equal(tc.in.Date) {
				t.Errorf("Date %v, want %v", got.Date, tc.in.Date)
			}
			if got.Text != tc.in.Text {
				t.Errorf("Text %q, want %q", got.Text, tc.in.Text)
			}
			for _, s := range tc.htmlHas {
				if !strings.Contains(got.HTML, s) {
					t.Errorf("HTML lacks %q: %s", s, got.HTML)
				}
			}
			if len(got.Parts) != len(tc.wantParts) {
				t.Fatalf("parts %+v, want %+v", got.Parts, tc.wantParts)
			}
			for i, w := range tc.wantParts {
				g := got.Parts[i]
				if g.Name != w.name || g.ContentType != w.contentType || g.Inline != w.inline {
					t.Errorf("part %d = %q %s inline=%v, want %q %s inline=%v", i, g.Name, g.ContentType, g.Inline, w.name, w.contentType, w.inline)
				}
				if has := strings.Contains(got.HTML, "cid:"+g.SHA256); has != w.referenced {
					t.Errorf("part %d referenced from HTML = %v, want %v", i, has, w.referenced)
				}
			}
			if len(tc.in.Files) > 0 && !strings.Contains(string(raw), "filename*=utf-8''") && !strings.Contains(string(raw), "filename=") {
				t.Errorf("no filename parameters written")
			}
		})
	}
}

// A product or order card goes out as an HTML block (picture, name, price, a button to the
// product or tracking page) in the HTML alternative, with the card's text as the plain one; shop
// data is escaped and only http(s) links are used.
func TestComposeCards(t *testing.T) {
	const productText = "Batik Tulis Parang - M — Rp 4.250.000\nhttps://toko.example.id/p/parang"
	product := map[string]string{"card": "product", "sku": "BTP-M", "name": "Batik Tulis Parang - M", "price": "425000000",
		"currency": "IDR", "digits": "2", "image": "https://cdn.example.id/parang-m.jpg?w=600&h=600", "url": "https://toko.example.id/p/parang",
		"stock": "low", "lang": "id", "priceText": "Rp 4.250.000", "button": "Lihat produk"}
	tests := []struct {
		name     string
		text     string
		meta     map[string]string
		has, not []string
	}{
		{"product card", productText, product, []string{
			`class="serambi-card serambi-card-product"`,
			`<img src="https://cdn.example.id/parang-m.jpg?w=600&amp;h=600" alt="Batik Tulis Parang - M"`,
			`>Batik Tulis Parang - M</div>`, `>Rp 4.250.000</div>`,
			`<a href="https://toko.example.id/p/parang" target="_blank" rel="noopener"`, `>Lihat produk</a>`,
		}, []string{"<br>"}},
		{"order card", "Pesanan #1042: dalam perjalanan · Rp 4.250.000\nResi: JNE JNE0123", map[string]string{"card": "order", "number": "#1042",
			"title": "Pesanan #1042", "status": "in_transit", "statusText": "dalam perjalanan", "total": "425000000", "currency": "IDR",
			"totalText": "Rp 4.250.000", "carrier": "JNE", "tracking": "JNE0123", "trackingUrl": "https://www.jne.co.id/t/JNE0123", "button": "Lacak paket"},
			[]string{`serambi-card-order`, `>Pesanan #1042</div>`, `>dalam perjalanan</div>`, `>Rp 4.250.000</div>`, `>JNE JNE0123</div>`,
				`<a href="https://www.jne.co.id/t/JNE0123"`, `>Lacak paket</a>`},
			[]string{"<img"}},
		{"a card without a formatted amount writes the minor units plainly", "Kebaya", map[string]string{"card": "product", "name": "Kebaya",
			"price": "5", "currency": "USD", "digits": "2"}, []string{`>0.05 USD</div>`}, []string{"<a ", "<img"}},
		{"hostile shop data is escaped and javascript: links are dropped", "x", map[string]string{"card": "product",
			"name": `<script>alert(1)</script>"><img src=x onerror=alert(2)>`, "priceText": "<b>Rp 1</b>",
			"image": "javascript:alert(3)", "url": "javascript:alert(document.cookie)", "button": `"><script>`},
			[]string{`&lt;script&gt;alert(1)&lt;/script&gt;&#34;&gt;&lt;img src=x onerror=alert(2)&gt;`, `&lt;b&gt;Rp 1&lt;/b&gt;`},
			[]string{"<script", "javascript:", "<img", "<a ", "<b>"}},
		{"an unknown card kind is text", "Kupon DISKON10", map[string]string{"card": "coupon", "name": "DISKON10"},
			[]string{"<div>Kupon DISKON10</div>"}, []string{"serambi-card"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			raw, err := composeBytes(outgoing{From: Address{"Sekar Batik", "halo@sekar.example"}, To: []Address{{"Siti", "siti@example.id"}},
				Subject: "Re: Kemeja", MessageID: "01jcard@sekar.example", Date: time.Date(2026, 11, 24, 2, 0, 0, 0, time.UTC),
				Text: tc.text, Meta: tc.meta})
			if err != nil {
				t.Fatal(err)
			}
			env, err := enmime.ReadEnvelope(bytes.NewReader(raw))
			if err != nil {
				t.Fatal(err)
			}
			if strings.ReplaceAll(env.Text, "\r\n", "\n") != tc.text {
				t.Errorf("plain part %q, want the card's text %q", env.Text, tc.text)
			}
			for _, s := range tc.has {
				if !strings.Contains(env.HTML, s) {
					t.Errorf("HTML lacks %s\n%s", s, env.HTML)
				}
			}
			for _, s := range tc.not {
				if strings.Contains(env.HTML, s) {
					t.Errorf("HTML has %s\n%s", s, env.HTML)
				}
			}
		})
	}
}
