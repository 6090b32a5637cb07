package email

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

type wantPart struct {
	name        string
	contentType string
	inline      bool
	// referenced: the HTML must point at this part as cid:<sha256>.
	referenced bool
}

// The corpus: real-world shaped mail from the clients and mailers support desks meet, each with
// what parsing must make of it.
var corpus = []struct {
	file       string
	messageID  string
	inReplyTo  []string
	references []string
	subject    string
	from       Address
	date       time.Time
	textHas    []string
	textNot    []string
	htmlHas    []string
	htmlNot    []string
	// quoteAt: Text from QuoteAt on must start with this; "" means no quote is detected.
	quoteAt    string
	htmlQuoted bool
	remote     int
	parts      []wantPart
	auto       AutoKind
	bounce     *Bounce
}{
	{
		file: "gmail_reply.eml", messageID: "CAJx9Lq+8Vd1=gmail-reply-1@mail.gmail.com",
		inReplyTo: []string{"01hzx0agent@example.test"}, references: []string{"01hzx0root@example.test", "01hzx0agent@example.test"},
		subject: "Re: Order 1042 has not arrived", from: Address{"Siti Rahma", "siti.rahma@gmail.com"},
		date:    time.Date(2024, 6, 3, 10, 4, 1, 0, time.UTC),
		textHas: []string{"Could you check with the courier?\n\nTerima kasih,\nSiti"},
		htmlHas: []string{`<div data-serambi-quote="1">`, `href="mailto:support@example.test"`},
		htmlNot: []string{"class=", "gmail_quote"},
		quoteAt: "On Mon, 3 Jun 2024 at 16:40", htmlQuoted: true,
	},
	{
		file: "outlook_reply.eml", messageID: "AM0PR07MB5678F1A2B3C4D5E6F7A8B9C0D1E2F@AM0PR07MB5678.eurprd07.prod.outlook.com",
		inReplyTo: []string{"01hzx1invoice@example.test"}, references: []string{"01hzx1invoice@example.test"},
		subject: "RE: Invoice for order 2077", from: Address{"Budi Santoso", "budi@contoso.example"},
		// iso-8859-1 declared, Windows-1252 meant: dashes, curly quotes and the soft hyphen survive.
		textHas: []string{"old address – it should be “Jl. Merdeka 5”, not “Jl. Sudirman”. Could you re\u00adissue it?"},
		htmlHas: []string{"“Jl. Merdeka 5”", `data-serambi-quote="1"`, `alt="Contoso logo"`},
		htmlNot: []string{"<style", "MsoNormal", `id="Picture`, "image001.png@01DAB63C"},
		quoteAt: "From: Example Support", htmlQuoted: true,
		// Outlook's inline image has a Content-ID but no Content-Disposition.
		parts: []wantPart{{name: "image001.png", contentType: "image/png", inline: true, referenced: true}},
	},
	{
		file: "apple_mail_reply.eml", messageID: "7A1B2C3D-4E5F-6071-8293-A4B5C6D7E8F9@icloud.example",
		inReplyTo: []string{"01hzx2return@example.test"}, references: []string{"01hzx2return@example.test"},
		subject: "Re: Return request 5531", from: Address{"Dewi Lestari", "dewi@icloud.example"},
		// format=flowed; delsp=yes: soft breaks joined, paragraphs kept.
		textHas: []string{"still in the original box.\n\nSalam,\nDewi", "> On 4 Jun 2024, at 19:02, Example Support <support@example.test> wrote:"},
		htmlHas: []string{`<blockquote data-serambi-quote="1">`},
		htmlNot: []string{`type="cite"`, `id="lineBreakAtBeginningOfMessage"`},
		quoteAt: "> On 4 Jun 2024", htmlQuoted: true,
		// RFC 2231 filename*, with an RFC 2047 name= beside it.
		parts: []wantPart{{name: "返品申請書.pdf", contentType: "application/pdf"}},
	},
	{
		file: "iso8859_1.eml", messageID: "20240606100000.4711@orange.example",
		subject: "Problème de livraison à Lyon", from: Address{"René Lefèvre", "rene.lefevre@orange.example"},
		textHas: []string{"Mon colis n'est pas arrivé. Pourriez-vous vérifier où il se trouve actuellement ?\n\nCordialement,\nRené Lefèvre"},
	},
	{
		file: "shift_jis.eml", messageID: "20240607091500.ABCD1234@docomo.example",
		subject: "配送について", from: Address{"山田 太郎", "taro.yamada@docomo.example"},
		textHas: []string{"お世話になっております。\n注文番号 12345 の商品がまだ届いていません。\n確認をお願いします。\n\n山田太郎"},
	},
	{
		file: "windows1252.eml", messageID: "000601dab9a2$1c2d3e40$544fbac0$@ob-hardware.example",
		subject: "Wrong item – please help", from: Address{"Mike O'Brien", "mike@ob-hardware.example"},
		textHas: []string{"I ordered the “34 cm” pan but got the 28 cm one – can you swap it? Price was € 39,90."},
	},
	{
		file: "inline_image.eml", messageID: "1717905600.12345@yahoo.example",
		subject: "Damaged parcel (photo)", from: Address{"Ayu Pratiwi", "ayu@yahoo.example"},
		textHas: []string{"The box arrived crushed, see the photo:"},
		htmlHas: []string{`data-remote-src="https://tracker.example/open.gif?u=ayu"`, `<a href="https://example.org/track"`, `target="_blank"`},
		htmlNot: []string{"<script", "alert(", "onclick", "javascript:", "<style", "tracker.example/bg.png", ` src="https://`},
		remote:  1,
		parts:   []wantPart{{name: "IMG_2024.jpg", contentType: "image/jpeg", inline: true, referenced: true}},
	},
	{
		file: "non_latin_filenames.eml", messageID: "987654321@yandex.example",
		subject: "Документы по заказу", from: Address{"Ivan Petrov", "ivan@yandex.example"},
		textHas: []string{"Добрый день! Прилагаю документы."},
		textNot: []string{"just notes"},
		parts: []wantPart{
			{name: "Счет-фактура.pdf", contentType: "application/pdf"},                                                  // RFC 2047 in a parameter
			{name: "订单明细表-2024.xlsx", contentType: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}, // RFC 2231 continuations
			{name: "notes.txt", contentType: "text/plain"},                                                              // a Windows path is cut to its base name
		},
	},
	{
		file: "dsn_bounce.eml", messageID: "20240611080005.8A1B2C3D4E@mail.example.test",
		subject: "Undelivered Mail Returned to Sender", from: Address{"Mail Delivery System", "mailer-daemon@mail.example.test"},
		auto: AutoBounce,
		bounce: &Bounce{OriginalMessageID: "01hzx9bounced@example.test", Recipients: []string{"nobody@gone.example"},
			Status: "5.1.1", Permanent: true},
		parts: []wantPart{{name: "attachment-1", contentType: "message/delivery-status"}, {name: "attachment-2", contentType: "text/rfc822-headers"}},
	},
	{
		file: "auto_reply.eml", messageID: "ooo-3310-rina@corp.example",
		inReplyTo: []string{"01hzxarefund@example.test"}, references: []string{"01hzxarefund@example.test"},
		subject: "Automatic reply: Your refund for order 3310", from: Address{"Rina Wijaya", "rina@corp.example"},
		textHas: []string{"out of the office until 20 June"}, auto: AutoReply,
	},
	{
		file: "empty_message_id_a.eml", messageID: "", subject: "Printer out of paper",
		from: Address{"", "kiosk@shop-terminal.example"}, textHas: []string{"printer out of paper"},
	},
	{
		file: "empty_message_id_b.eml", messageID: "", subject: "Question about sizes",
		from: Address{"Joko", "joko@mail.example"}, textHas: []string{"Do the shirts run small?"},
	},
	{
		file: "changed_subject.eml", messageID: "CAJx9Lq-new-topic@mail.gmail.com",
		inReplyTo:  []string{"CAJx9Lq+8Vd1=gmail-reply-1@mail.gmail.com"},
		references: []string{"01hzx0root@example.test", "01hzx0agent@example.test", "CAJx9Lq+8Vd1=gmail-reply-1@mail.gmail.com"},
		subject:    "Re: New question: do you ship to Singapore?", from: Address{"Siti Rahma", "siti.rahma@gmail.com"},
	},
	{
		// A customer answering our newsletter is a person writing, not bulk mail.
		file: "newsletter_reply.eml", messageID: "hendra-reply-june@mail.example",
		inReplyTo: []string{"june-deals.7f3a2b@mailer.example-esp.com"}, references: []string{"june-deals.7f3a2b@mailer.example-esp.com"},
		subject: "Re: June deals: 30% off all bags", from: Address{"Hendra", "hendra@mail.example"},
		quoteAt: "On Sat, 15 Jun 2024 at 09:00",
	},
	{
		file: "newsletter.eml", messageID: "weekly-24@courier.example", subject: "This week in logistics",
		from: Address{"Courier Weekly", "news@courier.example"}, auto: AutoBulk,
		textHas: []string{"Rates go up in July."}, htmlHas: []string{`data-remote-src="http://courier.example/pixel.gif"`}, remote: 1,
	},
	{
		file: "duplicate_message_id.eml", messageID: "CAJx9Lq+8Vd1=gmail-reply-1@mail.gmail.com",
		subject: "Your weekly report", from: Address{"Broken Mailer", "alerts@cheap-crm.example"},
	},
	{
		file: "html_only.eml", messageID: "putri-1@mail.example", subject: "Size exchange",
		from:    Address{"Putri", "putri@mail.example"},
		textHas: []string{"Can I exchange the dress for size", "Order 8812."},
		htmlHas: []string{"<b>M</b>"},
	},
}

func TestParseCorpus(t *testing.T) {
	p := NewParser()
	files, _ := filepath.Glob("testdata/corpus/*.eml")
	covered := map[string]bool{"outlook_mangled_reply.eml": true} // a template: threading_test fills in the token
	for _, tc := range corpus {
		covered[tc.file] = true
		t.Run(tc.file, func(t *testing.T) {
			raw, err := os.ReadFile(filepath.Join("testdata/corpus", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			m, err := p.Parse(raw)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if m.MessageID != tc.messageID {
				t.Errorf("MessageID = %q, want %q", m.MessageID, tc.messageID)
			}
			if !slices.Equal(m.InReplyTo, tc.inReplyTo) {
				t.Errorf("InReplyTo = %q, want %q", m.InReplyTo, tc.inReplyTo)
			}
			if !slices.Equal(m.References, tc.references) {
				t.Errorf("References = %q, want %q", m.References, tc.references)
			}
			if m.Subject != tc.subject {
				t.Errorf("Subject = %q, want %q", m.Subject, tc.subject)
			}
			if m.From != tc.from {
				t.Errorf("From = %+v, want %+v", m.From, tc.from)
			}
			if !tc.date.IsZero() && !m.Date.Equal(tc.date) {
				t.Errorf("Date = %v, want %v", m.Date, tc.date)
			}
			if !utf8.ValidString(m.Text) || !utf8.ValidString(m.HTML) || strings.ContainsRune(m.Text, '\uFFFD') {
				t.Errorf("text is not clean UTF-8: %q", m.Text)
			}
			if strings.Contains(m.Text, "\r") {
				t.Errorf("Text keeps CR line ends")
			}
			for _, s := range tc.textHas {
				if !strings.Contains(m.Text, s) {
					t.Errorf("Text lacks %q; it is:\n%s", s, m.Text)
				}
			}
			for _, s := range tc.textNot {
				if strings.Contains(m.Text, s) {
					t.Errorf("Text contains %q", s)
				}
			}
			for _, s := range tc.htmlHas {
				if !strings.Contains(m.HTML, s) {
					t.Errorf("HTML lacks %q; it is:\n%s", s, m.HTML)
				}
			}
			for _, s := range tc.htmlNot {
				if strings.Contains(m.HTML, s) {
					t.Errorf("HTML contains %q; it is:\n%s", s, m.HTML)
				}
			}
			switch {
			case tc.quoteAt == "" && m.QuoteAt >= 0:
				t.Errorf("quote detected at %d (%q), want none", m.QuoteAt, m.Text[m.QuoteAt:])
			case tc.quoteAt != "" && m.QuoteAt < 0:
				t.Errorf("no quote detected, want one starting %q", tc.quoteAt)
			case tc.quoteAt != "" && !strings.HasPrefix(m.Text[m.QuoteAt:], tc.quoteAt):
				t.Errorf("quote starts at %q, want %q", m.Text[m.QuoteAt:min(len(m.Text), m.QuoteAt+40)], tc.quoteAt)
			}
			if m.HTMLQuoted != tc.htmlQuoted {
				t.Errorf("HTMLQuoted = %v, want %v", m.HTMLQuoted, tc.htmlQuoted)
			}
			if m.RemoteImages != tc.remote {
				t.Errorf("RemoteImages = %d, want %d", m.RemoteImages, tc.remote)
			}
			if len(m.Parts) != len(tc.parts) {
				t.Fatalf("%d parts, want %d: %+v", len(m.Parts), len(tc.parts), m.Parts)
			}
			for i, w := range tc.parts {
				got := m.Parts[i]
				if got.Name != w.name || got.ContentType != w.contentType || got.Inline != w.inline {
					t.Errorf("part %d = %q %s inline=%v, want %q %s inline=%v", i, got.Name, got.ContentType, got.Inline, w.name, w.contentType, w.inline)
				}
				if len(got.Data) == 0 || got.SHA256 != sha256Hex(got.Data) {
					t.Errorf("part %d: %d bytes, sha %s", i, len(got.Data), got.SHA256)
				}
				if has := strings.Contains(m.HTML, `src="cid:`+got.SHA256+`"`); has != w.referenced {
					t.Errorf("part %d: HTML refers to cid:<sha256> = %v, want %v", i, has, w.referenced)
				}
			}
			if m.Auto != tc.auto {
				t.Errorf("Auto = %q (%s), want %q", m.Auto, m.AutoReason, tc.auto)
			}
			if tc.bounce != nil {
				b := m.Bounce
				if b == nil {
					t.Fatal("no bounce details")
				}
				if b.OriginalMessageID != tc.bounce.OriginalMessageID || !slices.Equal(b.Recipients, tc.bounce.Recipients) ||
					b.Status != tc.bounce.Status || b.Permanent != tc.bounce.Permanent {
					t.Errorf("bounce = %+v, want %+v", *b, *tc.bounce)
				}
				if !strings.Contains(b.Diagnostic, "User unknown") && !strings.Contains(strings.ToLower(b.Diagnostic), "user unknown") {
					t.Errorf("bounce diagnostic %q lacks the server's words", b.Diagnostic)
				}
			}
		})
	}
	for _, f := range files {
		if !covered[filepath.Base(f)] {
			t.Errorf("%s has no expectations in the corpus table", f)
		}
	}
}

// Two different mails, one reusing the other's Message-ID, have different fingerprints; the same
// mail delivered twice with different transport headers has the same one.
func TestFingerprint(t *testing.T) {
	p := NewParser()
	read := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join("testdata/corpus", name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	a, _ := p.Parse(read("gmail_reply.eml"))
	b, _ := p.Parse(read("duplicate_message_id.eml"))
	again, _ := p.Parse(append([]byte("Received: from relay2.example by mx.example; Mon, 3 Jun 2024 10:05:00 +0000\r\n"), read("gmail_reply.eml")...))
	if a.MessageID != b.MessageID {
		t.Fatalf("fixtures should share a Message-ID")
	}
	if a.Fingerprint == b.Fingerprint {
		t.Errorf("different mails share fingerprint %s", a.Fingerprint)
	}
	if a.Fingerprint != again.Fingerprint {
		t.Errorf("the same mail relayed twice has fingerprints %s and %s", a.Fingerprint, again.Fingerprint)
	}
}

func TestParseDamagedMail(t *testing.T) {
	p := NewParser()
	tests := []struct {
		name    string
		raw     string
		wantErr bool
		text    string
		from    string
	}{
		{name: "no headers at all", raw: "\x00\x01garbage without a colon", wantErr: true},
		{name: "multipart without its boundary", from: "a@example.org", text: "body survives",
			raw: "From: a@example.org\r\nContent-Type: multipart/mixed\r\n\r\nbody survives\r\n"},
		{name: "truncated base64", from: "a@example.org", text: "hello",
			raw: "From: a@example.org\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\naGVsbG8=\r\nZZ!!\r\n"},
		{name: "unknown charset", from: "a@example.org", text: "plain",
			raw: "From: a@example.org\r\nContent-Type: text/plain; charset=x-unknown-42\r\n\r\nplain\r\n"},
		{name: "undeclared 8-bit Latin-1", from: "a@example.org", text: "café",
			raw: "From: a@example.org\r\n\r\ncaf\xe9\r\n"},
		{name: "bare LF and a From with stray semicolon", from: "b@example.org", text: "x",
			raw: "From: \"B, Person\" <b@example.org>;\nSubject: hi\n\nx\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := p.Parse([]byte(tc.raw))
			if tc.wantErr {
				if err == nil {
					t.Fatalf("Parse accepted %q: %+v", tc.raw, m)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if m.From.Addr != tc.from {
				t.Errorf("From = %q, want %q", m.From.Addr, tc.from)
			}
			if !strings.Contains(m.Text, tc.text) {
				t.Errorf("Text = %q, want it to contain %q", m.Text, tc.text)
			}
		})
	}
}
