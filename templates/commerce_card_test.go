package templates

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/serambi/serambi/inbox"
)

// A card an agent sent shows in the timeline as the card, drawn from Meta; its plain-text
// fallback (what text-only channels got) is not shown twice.
func TestMessageItemShowsCommerceCards(t *testing.T) {
	at := time.Date(2026, 11, 24, 1, 0, 0, 0, time.UTC)
	out := func(text string, meta map[string]string) inbox.Message {
		return inbox.Message{ID: "m1", ConversationID: "c1", Channel: inbox.ChannelWhatsApp, Direction: inbox.DirectionOut,
			Text: text, Meta: meta, CreatedAt: at, AuthorID: "a1"}
	}
	tests := []struct {
		name string
		m    inbox.Message
		want []string
		not  []string
	}{
		{"product card", out("Batik Tulis Parang - M — Rp 3.250.000\nhttps://toko.example.id/p/parang", map[string]string{
			"card": "product", "sku": "BTP-M", "name": "Batik Tulis Parang - M", "price": "325000000", "currency": "IDR",
			"image": "https://cdn.shopify.com/s/parang-m.jpg", "url": "https://toko.example.id/p/parang", "stock": "low"}),
			[]string{`class="commerce-card card-product"`, `data-sku="BTP-M"`, `src="https://cdn.shopify.com/s/parang-m.jpg"`,
				"Batik Tulis Parang - M", "Rp 3,250,000", `href="https://toko.example.id/p/parang"`},
			[]string{`<div class="text">`}},
		{"order card", out("Order #1042: in transit", map[string]string{
			"card": "order", "order": "5940139491234", "number": "#1042", "status": "in_transit", "total": "425000000", "currency": "IDR",
			"carrier": "JNE", "tracking": "JNE0123", "trackingUrl": "https://www.jne.co.id/t/JNE0123"}),
			[]string{`class="commerce-card card-order"`, "#1042", "JNE JNE0123", `href="https://www.jne.co.id/t/JNE0123"`, "Rp 4,250,000"},
			[]string{`<div class="text">`}},
		{"an image that is not https is left out", out("x", map[string]string{"card": "product", "name": "Kebaya", "price": "1", "currency": "IDR",
			"image": "javascript:alert(1)", "url": "javascript:alert(1)"}),
			[]string{"card-product", "Kebaya"}, []string{"<img", "javascript:"}},
		{"a plain reply stays text", out("Terima kasih", nil), []string{`<div class="text">`, "Terima kasih"}, []string{"commerce-card"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := MessageItem(viewer(t, "en"), tt.m, "Siti").Render(context.Background(), &b); err != nil {
				t.Fatal(err)
			}
			html := b.String()
			for _, w := range tt.want {
				if !strings.Contains(html, w) {
					t.Errorf("lacks %q in %s", w, html)
				}
			}
			for _, w := range tt.not {
				if strings.Contains(html, w) {
					t.Errorf("has %q in %s", w, html)
				}
			}
		})
	}
}
