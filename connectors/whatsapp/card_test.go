package whatsapp

import (
	"reflect"
	"testing"

	"github.com/serambi/serambi/inbox"
)

// Product and order cards (commerce/cards.go) go out natively: an image message by link whose
// caption is the card's text and link, or the text with a link preview when there is no picture.
func TestSendCards(t *testing.T) {
	const productText = "Batik Tulis Parang - M — Rp 4.250.000\nhttps://toko.example.id/p/parang"
	product := func(image, link string) map[string]string {
		return map[string]string{"card": "product", "sku": "BTP-M", "name": "Batik Tulis Parang - M", "price": "425000000",
			"currency": "IDR", "image": image, "url": link, "lang": "id", "priceText": "Rp 4.250.000"}
	}
	type body = map[string]any
	tests := []struct {
		name string
		text string
		meta map[string]string
		want body // the Graph API request's type and its object
	}{
		{"a product with a picture is an image with the text and link as caption", productText,
			product("https://cdn.example.id/parang-m.jpg", "https://toko.example.id/p/parang"),
			body{"type": "image", "image": body{"link": "https://cdn.example.id/parang-m.jpg", "caption": productText}}},
		{"a product without a picture is text with a link preview", productText, product("", "https://toko.example.id/p/parang"),
			body{"type": "text", "text": body{"body": productText, "preview_url": true}}},
		{"a link the text lacks is added", "Kebaya Encim — Rp 650.000", product("https://cdn.example.id/kebaya.jpg", "https://toko.example.id/p/kebaya"),
			body{"type": "image", "image": body{"link": "https://cdn.example.id/kebaya.jpg", "caption": "Kebaya Encim — Rp 650.000\nhttps://toko.example.id/p/kebaya"}}},
		{"an order with tracking is text with a preview of the tracking page", "Order #1042: in transit · Rp 4,250,000\nTracking: JNE JNE0123\nhttps://www.jne.co.id/t/JNE0123",
			map[string]string{"card": "order", "number": "#1042", "trackingUrl": "https://www.jne.co.id/t/JNE0123"},
			body{"type": "text", "text": body{"body": "Order #1042: in transit · Rp 4,250,000\nTracking: JNE JNE0123\nhttps://www.jne.co.id/t/JNE0123", "preview_url": true}}},
		{"an order without tracking is plain text", "Order #1043: processing", map[string]string{"card": "order", "number": "#1043"},
			body{"type": "text", "text": body{"body": "Order #1043: processing", "preview_url": false}}},
		{"hostile shop data: javascript: is neither picture nor link", "<script>alert(1)</script> — Rp 1",
			product("javascript:alert(1)", "javascript:alert(document.cookie)"),
			body{"type": "text", "text": body{"body": "<script>alert(1)</script> — Rp 1", "preview_url": false}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := newOutbound(t)
			m := o.reply(tc.text, tc.meta)
			o.dispatch()
			sent := o.fake.Sent()
			if len(sent) != 1 {
				t.Fatalf("sent %d messages: %+v", len(sent), sent)
			}
			kind := tc.want["type"].(string)
			got := body{"type": sent[0].Body["type"], kind: sent[0].Body[kind]}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("sent %v\nwant %v", got, tc.want)
			}
			if sent[0].Body["messaging_product"] != "whatsapp" || sent[0].To != "16505551234" {
				t.Errorf("request %v", sent[0].Body)
			}
			if st := o.stored(m.ID); st.Delivery != inbox.DeliverySent || st.ExternalID != sent[0].WAMID {
				t.Errorf("delivery %s %q, external id %q", st.Delivery, st.DeliveryError, st.ExternalID)
			}
		})
	}
}
