package email

import (
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/serambi/serambi/inbox"
)

func TestParseAddresses(t *testing.T) {
	tests := []struct {
		header string
		want   []Address
	}{
		{"Siti <Siti@Example.COM>", []Address{{"Siti", "siti@example.com"}}},
		{`"Rahma, Siti" <siti@example.com>, budi@example.org`, []Address{{"Rahma, Siti", "siti@example.com"}, {"", "budi@example.org"}}},
		{"=?UTF-8?B?5bGx55Sw?= <taro@example.jp>", []Address{{"山田", "taro@example.jp"}}},
		{"=?ISO-8859-1?Q?Ren=E9?= <rene@example.fr>", []Address{{"René", "rene@example.fr"}}},
		// Outlook-style semicolons and unquoted commas in names.
		{"Rahma, Siti <siti@example.com>; Budi <budi@example.org>", []Address{{"Rahma, Siti", "siti@example.com"}, {"Budi", "budi@example.org"}}},
		// A name that is only the address says nothing.
		{`"siti@example.com" <siti@example.com>`, []Address{{"", "siti@example.com"}}},
		{"siti@example.com, SITI@example.com", []Address{{"", "siti@example.com"}}},
		{"undisclosed-recipients:;", nil},
		{"", nil},
		{"not an address at all", nil},
		{"<>", nil},
	}
	for _, tc := range tests {
		got := ParseAddresses(tc.header)
		if !slices.Equal(got, tc.want) {
			t.Errorf("ParseAddresses(%q) = %+v, want %+v", tc.header, got, tc.want)
		}
	}
}

func TestNormalizeMessageID(t *testing.T) {
	tests := map[string]string{
		"<abc@example.com>":                    "abc@example.com",
		"  <abc@example.com>  ":                "abc@example.com",
		"abc@example.com":                      "abc@example.com",
		"<>":                                   "",
		"":                                     "",
		"<a b@example.com>":                    "",
		"<" + strings.Repeat("x", 500) + "@e>": "",
		"<CAJx9Lq+8Vd1=x@mail.gmail.com> (comment)": "CAJx9Lq+8Vd1=x@mail.gmail.com",
	}
	for in, want := range tests {
		if got := NormalizeMessageID(in); got != want {
			t.Errorf("NormalizeMessageID(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParseMessageIDs(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"<a@x> <b@x>\r\n <c@x>", []string{"a@x", "b@x", "c@x"}},
		{"<a@x><b@x>", []string{"a@x", "b@x"}},
		{"<a@x> <a@x> <> <b@x>", []string{"a@x", "b@x"}},
		{"a@x, b@x", []string{"a@x", "b@x"}}, // brackets forgotten
		{"", nil},
		{"garbage", nil},
	}
	for _, tc := range tests {
		if got := ParseMessageIDs(tc.in); !slices.Equal(got, tc.want) {
			t.Errorf("ParseMessageIDs(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestSubjects(t *testing.T) {
	norm := map[string]string{
		"Re: Order 42":                "order 42",
		"RE: [Acme] Fwd:  Order 42 ":  "order 42",
		"AW: WG: Bestellung":          "bestellung",
		"Re[2]: Order 42":             "order 42",
		"回复：订单":                       "订单",
		"Order 42":                    "order 42",
		"Re: ":                        "",
		"Regarding the order":         "regarding the order",
		"[EXTERNAL] RE: Invoice 2077": "invoice 2077",
	}
	for in, want := range norm {
		if got := NormalizeSubject(in); got != want {
			t.Errorf("NormalizeSubject(%q) = %q, want %q", in, got, want)
		}
	}
	topic := []struct {
		reply, parent string
		same          bool
	}{
		{"Re: Order 1042 has not arrived", "Order 1042 has not arrived", true},
		{"Re: Order 1042 has not arrived – any news?", "Order 1042 has not arrived", true},
		{"AW: Invoice for order 2077", "Re: Invoice for order 2077", true},
		{"", "Order 1042", true},
		{"Re: New question: do you ship to Singapore?", "Re: Order 1042 has not arrived", false},
	}
	for _, tc := range topic {
		if got := sameTopic(tc.reply, tc.parent); got != tc.same {
			t.Errorf("sameTopic(%q, %q) = %v, want %v", tc.reply, tc.parent, got, tc.same)
		}
	}
	reply := map[string]string{
		"Order 42":            "Re: Order 42",
		"Re: Order 42":        "Re: Order 42",
		"RE: AW: Order 42":    "Re: Order 42",
		"[Acme] Order 42":     "Re: [Acme] Order 42",
		"":                    "Re: your message",
		"Fwd: forwarded item": "Re: forwarded item",
	}
	for in, want := range reply {
		if got := replySubject(in); got != want {
			t.Errorf("replySubject(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestPlusToken(t *testing.T) {
	tests := []struct {
		addr, base, tok string
		ok              bool
	}{
		{"support+abc@example.com", "support@example.com", "abc", true},
		{"SUPPORT+abc@Example.com", "support@example.com", "abc", true},
		{"support@example.com", "support@example.com", "", false},
		{"support+@example.com", "support@example.com", "", false},
		{"support+abc@other.com", "support@example.com", "", false},
		{"supporter+abc@example.com", "support@example.com", "", false},
	}
	for _, tc := range tests {
		tok, ok := plusToken(tc.addr, tc.base)
		if tok != tc.tok || ok != tc.ok {
			t.Errorf("plusToken(%q, %q) = %q, %v; want %q, %v", tc.addr, tc.base, tok, ok, tc.tok, tc.ok)
		}
	}
}

// FuzzAddress: whatever a header holds, parsing never panics and every address it returns is one
// the inbox accepts as an email identity, unchanged by normalisation.
func FuzzAddress(f *testing.F) {
	for _, s := range []string{
		"Siti <siti@example.com>", `"Rahma, Siti" <siti@example.com>, budi@example.org`,
		"=?UTF-8?B?5bGx55Sw?= <taro@example.jp>", "Rahma, Siti <siti@example.com>; Budi <budi@example.org>",
		"undisclosed-recipients:;", "<>", `"\"" <a@b.c>`, "=?x-unknown?Q?abc?= <a@b.c>", "a@b@c", "<a@b.c",
		"group: a@b.c, d@e.f;", "=?utf-8?q?=E2=80?= <a@b.c>", "\x00<a@b.c>",
	} {
		f.Add(s)
	}
	norm := inbox.NewNormalizer("ID")
	f.Fuzz(func(t *testing.T, header string) {
		for _, a := range ParseAddresses(header) {
			n, err := norm.Normalize(inbox.Identity{Kind: inbox.KindEmail, Value: a.Addr})
			if err != nil {
				t.Fatalf("ParseAddresses(%q) returned %q, which the inbox refuses: %v", header, a.Addr, err)
			}
			if n.Value != a.Addr {
				t.Fatalf("ParseAddresses(%q) returned %q, not normalised (%q)", header, a.Addr, n.Value)
			}
			if !utf8.ValidString(a.Name) || strings.ContainsAny(a.Name, "\r\n\x00") {
				t.Fatalf("ParseAddresses(%q) returned name %q", header, a.Name)
			}
		}
		for _, id := range ParseMessageIDs(header) {
			if id == "" || NormalizeMessageID("<"+id+">") != id {
				t.Fatalf("ParseMessageIDs(%q) returned unstable id %q", header, id)
			}
		}
	})
}
