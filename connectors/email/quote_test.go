package email

import (
	"strings"
	"testing"
)

func TestQuoteStart(t *testing.T) {
	tests := []struct {
		name, text, want string // want: the text from the quote on; "" for none
	}{
		{"gmail english", "Thanks!\n\nOn Mon, 3 Jun 2024 at 16:40, Support <s@x.test> wrote:\n> hi\n", "On Mon"},
		{"gmail wrapped attribution", "Thanks!\n\nOn Mon, 3 Jun 2024 at 16:40, Example Support <\nsupport@example.test> wrote:\n> hi\n", "On Mon"},
		{"gmail indonesian", "Oke.\n\nPada tanggal Sen, 3 Jun 2024 pukul 16.40 Support <s@x.test> menulis:\n> halo\n", "Pada tanggal"},
		{"german", "Danke.\n\nAm 03.06.2024 um 16:40 schrieb Support <s@x.test>:\n> hallo\n", "Am 03.06"},
		{"french", "Merci.\n\nLe lun. 3 juin 2024 à 16:40, Support <s@x.test> a écrit :\n> bonjour\n", "Le lun."},
		{"japanese", "ありがとう。\n\n2024年6月3日(月) 16:40 Support <s@x.test>:\n> こんにちは\n", "2024年6月3日"},
		{"outlook header block", "See below.\n\nFrom: Support <s@x.test>\nSent: Monday, June 3, 2024 4:02 PM\nTo: Budi\nSubject: x\n\nold", "From: Support"},
		{"outlook rule", "See below.\n\n________________________________\nFrom: Support <s@x.test>\nSent: Monday\n", "________"},
		{"original message", "Ok\n-----Original Message-----\nFrom: a\n", "-----Original"},
		{"bottom quote only", "Fine by me.\n\n> earlier text\n> more\n", "> earlier"},
		{"interleaved answers are not history", "> question one?\nanswer one\n> question two?\nanswer two\n", ""},
		{"all quote keeps everything visible", "On Mon, 3 Jun 2024 Support <s@x.test> wrote:\n> hi\n", ""},
		{"forward is content", "FYI\n\n---------- Forwarded message ---------\nFrom: a <a@x>\nDate: Mon\n", ""},
		{"no quote", "Just a question about sizes.\nThanks", ""},
		{"a sentence starting with On is not an attribution", "On Monday I ordered shoes.\nThey are late.", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			at := quoteStart(tc.text)
			switch {
			case tc.want == "" && at >= 0:
				t.Errorf("quote found at %q", tc.text[at:])
			case tc.want != "" && at < 0:
				t.Errorf("no quote found, want %q", tc.want)
			case tc.want != "" && !strings.HasPrefix(tc.text[at:], tc.want):
				t.Errorf("quote at %q, want %q", tc.text[at:], tc.want)
			}
		})
	}
}

func TestDecodeFlowed(t *testing.T) {
	tests := []struct {
		name, in string
		delsp    bool
		want     string
	}{
		{"soft breaks join", "one two \nthree\nfour", false, "one two three\nfour"},
		{"delsp removes the soft space", "long wo \nrd", true, "long word"},
		{"quoted lines join at the same depth", "> quoted \n> text\n>> deeper", false, "> quoted text\n>> deeper"},
		{"signature separator is never joined", "bye\n-- \nSiti", false, "bye\n-- \nSiti"},
		{"space stuffing removed", " From me\nok", false, "From me\nok"},
		{"empty quoted line has no trailing space", "> a\n>\n> b", false, "> a\n>\n> b"},
	}
	for _, tc := range tests {
		if got := decodeFlowed(tc.in, tc.delsp); got != tc.want {
			t.Errorf("%s: decodeFlowed(%q) = %q, want %q", tc.name, tc.in, got, tc.want)
		}
	}
}

func TestCleanHTML(t *testing.T) {
	p := newPolicy()
	cids := map[string]string{"logo@x": "aaaa"}
	tests := []struct {
		name     string
		in       string
		has, not []string
		quoted   bool
		remote   int
	}{
		{name: "script, handlers and javascript: go",
			in:  `<p onmouseover="x()">hi<script>steal()</script><a href="javascript:x()">a</a><iframe src="https://e"></iframe></p>`,
			has: []string{"<p>hi"}, not: []string{"script", "onmouseover", "javascript", "iframe", "steal"}},
		{name: "remote images wait for the agent, however they are spelled",
			in: `<img src="https://t.example/p.gif"><img src="//cdn.example/x.png"><img src="http://a.example/b.png" srcset="https://a.example/b2.png 2x">` +
				`<img src="HTTP:/odd.example/c.png"><img src="relative/d.png"><img src="/\evil.example/e.png">`,
			has: []string{`data-remote-src="https://t.example/p.gif"`, `data-remote-src="https://cdn.example/x.png"`, `data-remote-src="http://a.example/b.png"`,
				`data-remote-src="http://odd.example/c.png"`},
			// "/\evil.example" is dropped by the sanitiser already; a relative address is dropped by us.
			not: []string{` src=`, "srcset", "relative/d.png", "evil.example"}, remote: 4},
		{name: "cid images point at stored parts, case and brackets aside",
			in:  `<img src="cid:LOGO@x"><img src="cid:unknown@x">`,
			has: []string{`src="cid:aaaa"`, `src="cid:unknown@x"`}},
		{name: "data images stay, other data URLs go",
			in:  `<img src="data:image/png;base64,iVBORw0KGgo="><a href="data:text/html,<script>x</script>">x</a>`,
			has: []string{`src="data:image/png;base64,iVBORw0KGgo="`}, not: []string{"data:text/html"}},
		{name: "ids and classes never reach the console",
			in: `<div id="app" class="btn">x</div>`, has: []string{"<div>x</div>"}, not: []string{"id=", "class="}},
		{name: "layout styles stay, loading styles go",
			in:  `<td style="color: #333; background-image: url(https://t.example/x.png); padding: 4px">x</td>`,
			has: []string{"color: #333", "padding: 4px"}, not: []string{"url(", "background-image"}},
		{name: "an injected quote marker on a disallowed element is dropped",
			in: `<span data-serambi-quote="1">x</span>`, not: []string{"data-serambi-quote"}},
		{name: "thunderbird quote prefix",
			in:  `<p>Ok</p><div class="moz-cite-prefix">On 3 Jun, a wrote:</div><blockquote type="cite">old</blockquote>`,
			has: []string{`<div data-serambi-quote="1">On 3 Jun`, "<blockquote>old"}, quoted: true},
		{name: "outlook web",
			in:  `<div>Ok</div><hr><div id="divRplyFwdMsg"><b>From:</b> a</div>`,
			has: []string{`<div data-serambi-quote="1"><b>From:</b>`}, quoted: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := cleanHTML(p, tc.in, cids)
			for _, s := range tc.has {
				if !strings.Contains(got.HTML, s) {
					t.Errorf("HTML lacks %q: %s", s, got.HTML)
				}
			}
			for _, s := range tc.not {
				if strings.Contains(got.HTML, s) {
					t.Errorf("HTML contains %q: %s", s, got.HTML)
				}
			}
			if got.Quoted != tc.quoted || got.RemoteImages != tc.remote {
				t.Errorf("quoted=%v remote=%d, want %v %d", got.Quoted, got.RemoteImages, tc.quoted, tc.remote)
			}
		})
	}
}
