package telegram

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/serambi/serambi/connectors/telegram/telegramfake"
	"github.com/serambi/serambi/inbox"
)

// Product and order cards (commerce/cards.go) go out natively: a photo with the card's text as
// caption and an inline URL button, or the text with the button when there is no usable picture.
func TestSendCards(t *testing.T) {
	jpeg := append([]byte{0xff, 0xd8, 0xff}, bytes.Repeat([]byte{7}, 2000)...)
	cdn := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/parang-m.jpg":
			w.Header().Set("Content-Type", "image/jpeg")
			_, _ = w.Write(jpeg)
		case "/page.html":
			w.Header().Set("Content-Type", "text/html")
			_, _ = w.Write([]byte("<html></html>"))
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(cdn.Close)
	const productText = "Batik Tulis Parang - M — Rp 4.250.000\nhttps://toko.example.id/p/parang"
	product := func(image, link string) map[string]string {
		return map[string]string{"card": "product", "sku": "BTP-M", "name": "Batik Tulis Parang - M", "price": "425000000",
			"currency": "IDR", "image": image, "url": link, "lang": "id", "priceText": "Rp 4.250.000", "button": "Lihat produk"}
	}
	parang := []telegramfake.Button{{Text: "Lihat produk", URL: "https://toko.example.id/p/parang"}}
	tests := []struct {
		name   string
		text   string
		meta   map[string]string
		want   []string // method|text|photo URL per message sent
		button []telegramfake.Button
		file   []byte
		calls  int // calls of sendPhoto, refused ones included
	}{
		{"a product with a picture is a photo with a caption and a button", productText, product(cdn.URL+"/parang-m.jpg", "https://toko.example.id/p/parang"),
			[]string{"sendPhoto|" + productText + "|" + cdn.URL + "/parang-m.jpg"}, parang, jpeg, 1},
		{"a picture Telegram cannot fetch falls back to text with the button", productText, product("https://cdn.unreachable.example/parang.jpg", "https://toko.example.id/p/parang"),
			[]string{"sendMessage|" + productText + "|"}, parang, nil, 1},
		{"a picture URL that is a web page falls back to text", productText, product(cdn.URL+"/page.html", "https://toko.example.id/p/parang"),
			[]string{"sendMessage|" + productText + "|"}, parang, nil, 1},
		{"a product without a picture is text with the button", productText, product("", "https://toko.example.id/p/parang"),
			[]string{"sendMessage|" + productText + "|"}, parang, nil, 0},
		{"an order with tracking has a tracking button", "Pesanan #1042: dalam perjalanan · Rp 4.250.000\nResi: JNE JNE0123",
			map[string]string{"card": "order", "number": "#1042", "status": "in_transit", "trackingUrl": "https://www.jne.co.id/t/JNE0123",
				"button": "Lacak paket", "lang": "id"},
			[]string{"sendMessage|Pesanan #1042: dalam perjalanan · Rp 4.250.000\nResi: JNE JNE0123|"},
			[]telegramfake.Button{{Text: "Lacak paket", URL: "https://www.jne.co.id/t/JNE0123"}}, nil, 0},
		{"an order without tracking has no button", "Order #1043: processing", map[string]string{"card": "order", "number": "#1043"},
			[]string{"sendMessage|Order #1043: processing|"}, nil, nil, 0},
		{"hostile shop data: markup is text, javascript: is neither photo nor button", `<script>alert(1)</script> *bold* [x](javascript:alert(1)) — Rp 1`,
			product("javascript:alert(1)", "javascript:alert(document.cookie)"),
			[]string{"sendMessage|<script>alert(1)</script> *bold* [x](javascript:alert(1)) — Rp 1|"}, nil, nil, 0},
		{"a button without a label gets one in the card's language", productText,
			map[string]string{"card": "product", "url": "https://toko.example.id/p/parang", "lang": "id"},
			[]string{"sendMessage|" + productText + "|"}, []telegramfake.Button{{Text: "Lihat", URL: "https://toko.example.id/p/parang"}}, nil, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := newOutbound(t)
			m, err := o.inbox.Reply(context.Background(), inbox.ReplyRequest{ConversationID: o.conv.ID, AgentID: "agent-1", AgentName: "Dewi",
				Channel: inbox.ChannelTelegram, Text: tc.text, Meta: tc.meta})
			if err != nil {
				t.Fatal(err)
			}
			o.dispatch()
			sent := o.fake.Sent()
			var got []string
			for _, s := range sent {
				got = append(got, s.Method+"|"+s.Text+"|"+s.PhotoURL)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("sent %q\nwant %q", got, tc.want)
			}
			var wantRows [][]telegramfake.Button
			if tc.button != nil {
				wantRows = [][]telegramfake.Button{tc.button}
			}
			if !reflect.DeepEqual(sent[0].Buttons, wantRows) {
				t.Errorf("buttons %+v, want %+v", sent[0].Buttons, wantRows)
			}
			if tc.file != nil && !bytes.Equal(sent[0].File, tc.file) {
				t.Errorf("the photo Telegram fetched is %d bytes, want the picture's %d", len(sent[0].File), len(tc.file))
			}
			if n := o.fake.Calls("sendPhoto"); n != tc.calls {
				t.Errorf("%d sendPhoto calls, want %d", n, tc.calls)
			}
			got0 := o.stored(m.ID)
			if got0.Delivery != inbox.DeliverySent || got0.ExternalID != MessageExternalID(testBot, 42, sent[0].MessageID) {
				t.Errorf("delivery %s %q, external id %q", got0.Delivery, got0.DeliveryError, got0.ExternalID)
			}
		})
	}
}

// A refusal that is not about the picture (the chat is gone) fails the card; it is not retried
// as text.
func TestSendCardToBlockedUserFails(t *testing.T) {
	o := newOutbound(t)
	o.fake.Block(42)
	m, err := o.inbox.Reply(context.Background(), inbox.ReplyRequest{ConversationID: o.conv.ID, AgentID: "agent-1", AgentName: "Dewi",
		Channel: inbox.ChannelTelegram, Text: "Kebaya — Rp 1", Meta: map[string]string{"card": "product", "image": "https://cdn.example/k.jpg"}})
	if err != nil {
		t.Fatal(err)
	}
	o.dispatch()
	if got := o.stored(m.ID); got.Delivery != inbox.DeliveryFailed || !strings.Contains(got.DeliveryError, "blocked") {
		t.Errorf("delivery %s %q; want failed, blocked", got.Delivery, got.DeliveryError)
	}
	if o.fake.Calls("sendMessage") != 0 {
		t.Error("a card to a blocked chat was retried as text")
	}
}
