package inbox

import (
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestNormalizeTags(t *testing.T) {
	tests := []struct {
		name    string
		in      []string
		want    []string
		wantErr bool
	}{
		{"lower-cased, trimmed, de-duplicated and sorted", []string{" VIP", "refund", "vip", ""}, []string{"refund", "vip"}, false},
		{"none", nil, []string{}, false},
		{"a comma would break filters", []string{"a,b"}, nil, true},
		{"too long", []string{strings.Repeat("x", 65)}, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := NormalizeTags(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("NormalizeTags(%q) error = %v, wantErr %v", tt.in, err, tt.wantErr)
			}
			if !tt.wantErr && !slices.Equal(got, tt.want) {
				t.Fatalf("NormalizeTags(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestCleanText(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"valid text is untouched", "Halo, pesanan saya?\nTerima kasih", "Halo, pesanan saya?\nTerima kasih"},
		{"invalid bytes become replacement characters, the rest is kept", "caf\xe9 ok", "caf\uFFFD ok"},
		{"NUL bytes are dropped", "a\x00b", "ab"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := cleanText(tt.in); got != tt.want {
				t.Fatalf("cleanText(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
	t.Run("huge text is cut on a rune boundary with a marker", func(t *testing.T) {
		got := cleanText(strings.Repeat("é", maxTextLen))
		if !utf8.ValidString(got) || !strings.HasSuffix(got, "[…truncated]") || len(got) > maxTextLen+32 {
			t.Fatalf("cut text: valid=%v len=%d suffix=%q", utf8.ValidString(got), len(got), got[len(got)-20:])
		}
	})
}

func TestPreview(t *testing.T) {
	tests := []struct {
		name, subject, text string
		attachments         int
		want                string
	}{
		{"whitespace folds", "", "hello\n\n  world", 0, "hello world"},
		{"subject when no text", "Invoice #1042", "", 0, "Invoice #1042"},
		{"attachment count when nothing else", "", "", 2, "📎 2"},
		{"long text is cut with an ellipsis", "", strings.Repeat("a", 200), 0, strings.Repeat("a", maxPreviewLen-1) + "…"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := preview(tt.subject, tt.text, tt.attachments); got != tt.want {
				t.Fatalf("preview = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestDeliveryOnlyMovesForward(t *testing.T) {
	tests := []struct {
		to   Delivery
		from Delivery
		ok   bool
	}{
		{DeliverySent, DeliveryQueued, true},
		{DeliveryDelivered, DeliverySent, true},
		{DeliveryRead, DeliveryDelivered, true},
		{DeliveryDelivered, DeliveryRead, false}, // a late receipt must not move the message back
		{DeliverySent, DeliveryRead, false},
		{DeliveryFailed, DeliverySent, true},
		{DeliveryFailed, DeliveryRead, false},
		{DeliveryQueued, DeliverySent, false},
	}
	for _, tt := range tests {
		if got := slices.Contains(tt.to.Precedes(), tt.from); got != tt.ok {
			t.Errorf("%s -> %s allowed = %v, want %v", tt.from, tt.to, got, tt.ok)
		}
	}
}

func TestReplyChannels(t *testing.T) {
	cust := Customer{Identities: []Identity{
		{Kind: KindEmail, Value: "a@b.id", Verified: true},
		{Kind: KindWhatsApp, Value: "+6281234567890", Verified: true},
		{Kind: KindTelegram, Value: "42", Verified: true, Unreachable: true},
	}}
	conv := Conversation{LastChannel: ChannelEmail, Channels: []Channel{ChannelEmail, ChannelVoice, ChannelTelegram}}
	got := ReplyChannels(cust, conv)
	want := []Channel{ChannelEmail, ChannelWhatsApp}
	if !slices.Equal(got, want) {
		t.Fatalf("ReplyChannels = %v, want %v (last used first; no voice; not a blocked Telegram)", got, want)
	}
	if Reachable(cust, conv, ChannelAPI) {
		t.Fatal("the API channel is reachable only for customers who wrote through it")
	}
}
