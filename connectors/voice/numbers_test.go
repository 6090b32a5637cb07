package voice

import (
	"strings"
	"testing"

	"github.com/serambi/serambi/inbox"
)

func TestPhone(t *testing.T) {
	id := numbers{norm: inbox.NewNormalizer("ID"), bare: BareInternational}
	idNational := numbers{norm: inbox.NewNormalizer("ID"), bare: BareNational}
	de := numbers{norm: inbox.NewNormalizer("DE"), bare: BareInternational}
	tests := []struct {
		name string
		n    numbers
		raw  string
		want string
	}{
		{"E.164 stays", id, "+6281234567890", "+6281234567890"},
		{"written with separators", id, "+62 812-3456-7890", "+6281234567890"},
		{"national with the trunk prefix, in the default region", id, "081234567890", "+6281234567890"},
		{"Zammad's international without '+'", id, "493055571600", "+493055571600"},
		{"international call prefix 00", id, "0049 30 55571600", "+493055571600"},
		{"a national number of another region", de, "02214710334", "+492214710334"},
		{"bare digits read as national when so configured", idNational, "81234567890", "+6281234567890"},
		{"a tel: URI", id, "tel:+14158675310", "+14158675310"},
		{"a SIP URI with a number", id, "sip:+6281234567890@sip.example.com;transport=tls", "+6281234567890"},
		{"a SIP URI of an extension", id, "sip:201@pbx.example.com", ""},
		{"an extension", id, "201", ""},
		{"a Twilio client", id, "client:alice", ""},
		{"anonymous", id, "anonymous", ""},
		{"Asterisk's unknown", id, "<unknown>", ""},
		{"empty", id, "", ""},
		{"letters", id, "08123abc890", ""},
		{"absurdly long", id, "+" + strings.Repeat("1", 80), ""},
	}
	for _, tt := range tests {
		if got := tt.n.phone(tt.raw); got != tt.want {
			t.Errorf("%s: phone(%q) = %q, want %q", tt.name, tt.raw, got, tt.want)
		}
	}
}

func TestDialAndAgentPart(t *testing.T) {
	for format, want := range map[string]string{DialE164: "+6281234567890", DialDigits: "6281234567890", DialNational: "081234567890"} {
		if got, err := dial("+6281234567890", format); err != nil || got != want {
			t.Errorf("dial(%s) = %q, %v; want %q", format, got, err, want)
		}
	}
	for raw, want := range map[string]string{"client:alice": "alice", "sip:201@x.sip.twilio.com": "201", "+6281234567890": "+6281234567890"} {
		if got := agentPart(raw); got != want {
			t.Errorf("agentPart(%q) = %q, want %q", raw, got, want)
		}
	}
	for ext, ok := range map[string]bool{"201": true, "alice.b-2": true, "201\r\nAction: Command": false, "201/x": false, "": false, "2,3": false} {
		if validExtension(ext) != ok {
			t.Errorf("validExtension(%q) = %v", ext, !ok)
		}
	}
	if got := clip("a\x00b\r\nc\xffd", 100); got != "abc\uFFFDd" {
		t.Errorf("clip = %q", got)
	}
	if got := clip(strings.Repeat("é", 10), 5); got != "éé" {
		t.Errorf("clip cuts on a rune boundary: %q", got)
	}
}
