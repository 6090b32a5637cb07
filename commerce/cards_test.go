package commerce_test

import (
	"maps"
	"testing"

	"github.com/serambi/serambi/commerce"
)

// A product card's Meta describes it completely for every channel: amounts in minor units with
// the currency's digits, and its words in the customer's language; a link that is not http(s)
// is in neither Meta nor Text.
func TestProductCardMeta(t *testing.T) {
	tests := []struct {
		name     string
		product  commerce.Product
		lang     string
		wantText string
		want     map[string]string
	}{
		{"rupiah, in Indonesian, low on stock",
			commerce.Product{SKU: "BTP-M", Name: "Batik Tulis Parang - M", Price: 325000000, ImageURL: "https://cdn.example.id/parang-m.jpg",
				URL: "https://toko.example.id/p/parang", Tracked: true, Stock: []commerce.StockLevel{{Location: "Bandung", Available: 2}}},
			"id-ID", "Batik Tulis Parang - M — Rp 3.250.000\nhttps://toko.example.id/p/parang",
			map[string]string{"card": "product", "sku": "BTP-M", "name": "Batik Tulis Parang - M", "price": "325000000", "currency": "IDR",
				"digits": "2", "image": "https://cdn.example.id/parang-m.jpg", "url": "https://toko.example.id/p/parang", "stock": "low",
				"lang": "id", "priceText": "Rp 3.250.000", "button": "Lihat produk"}},
		{"dollars, in English, sold out",
			commerce.Product{SKU: "KBY-01", Name: "Kebaya Encim", Price: 4599, Currency: "USD", URL: "https://toko.example.id/p/kebaya", Tracked: true},
			"en", "Kebaya Encim — $45.99 (sold out)\nhttps://toko.example.id/p/kebaya",
			map[string]string{"card": "product", "sku": "KBY-01", "name": "Kebaya Encim", "price": "4599", "currency": "USD", "digits": "2",
				"url": "https://toko.example.id/p/kebaya", "stock": "out", "lang": "en", "priceText": "$45.99", "stockText": "sold out",
				"button": "View product"}},
		// Ingestion refuses links that are not http(s); the card drops them again in case a store
		// holds one from before.
		{"markup in a name is the name",
			commerce.Product{SKU: "X-1", Name: `<script>alert(1)</script>`, Price: 100},
			"id", "<script>alert(1)</script> — Rp 1",
			map[string]string{"card": "product", "sku": "X-1", "name": `<script>alert(1)</script>`, "price": "100", "currency": "IDR",
				"digits": "2", "stock": "ok", "lang": "id", "priceText": "Rp 1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, _, conv := actionHarness(t)
			tt.product.ShopUpdatedAt = at("2026-03-02T00:00:00Z")
			if _, err := h.svc.PutProduct(t.Context(), tt.product); err != nil {
				t.Fatal(err)
			}
			m, err := h.svc.SendProductCard(t.Context(), commerce.CardRequest{ConversationID: conv.ID, Actor: agent, Lang: tt.lang}, tt.product.SKU)
			if err != nil {
				t.Fatal(err)
			}
			if m.Text != tt.wantText {
				t.Errorf("text %q, want %q", m.Text, tt.wantText)
			}
			if !maps.Equal(m.Meta, tt.want) {
				t.Errorf("meta\n%v\nwant\n%v", m.Meta, tt.want)
			}
		})
	}
}
