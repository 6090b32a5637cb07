package widget_test

import (
	"context"
	"maps"
	"testing"
	"time"

	"github.com/serambi/serambi/connectors/widget"
	"github.com/serambi/serambi/inbox"
)

// A product or order card an agent sends reaches the visitor as a card frame drawn from the
// reply's Meta: what the widget needs to draw it in the visitor's language, links only when they
// are http(s), and the plain text beside it for anything that cannot draw it.
func TestCardsReachTheVisitorAsCards(t *testing.T) {
	product := map[string]string{"card": "product", "sku": "BTP-M", "name": "Batik Tulis Parang - M", "price": "425000000",
		"currency": "IDR", "digits": "2", "image": "https://cdn.example.id/parang-m.jpg", "url": "https://toko.example.id/p/parang",
		"stock": "low", "lang": "id", "priceText": "Rp 4.250.000", "button": "Lihat produk"}
	with := func(base map[string]string, kv ...string) map[string]string {
		m := maps.Clone(base)
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i+1] == "" {
				delete(m, kv[i])
			} else {
				m[kv[i]] = kv[i+1]
			}
		}
		return m
	}
	tests := []struct {
		name string
		meta map[string]string
		want map[string]any // nil: no card in the frame
	}{
		{"product card", product, map[string]any{"kind": "product", "sku": "BTP-M", "name": "Batik Tulis Parang - M",
			"image": "https://cdn.example.id/parang-m.jpg", "stock": "low", "amount": 425000000.0, "currency": "IDR", "digits": 2.0,
			"amountText": "Rp 4.250.000", "url": "https://toko.example.id/p/parang", "button": "Lihat produk"}},
		{"order card", map[string]string{"card": "order", "order": "5940139491234", "number": "#1042", "status": "in_transit",
			"statusText": "dalam perjalanan", "total": "1299", "currency": "USD", "digits": "2", "totalText": "$12.99", "carrier": "JNE",
			"tracking": "JNE0123", "trackingUrl": "https://www.jne.co.id/t/JNE0123", "button": "Track package", "pickup": "false"},
			map[string]any{"kind": "order", "number": "#1042", "status": "in_transit", "statusText": "dalam perjalanan",
				"amount": 1299.0, "currency": "USD", "digits": 2.0, "amountText": "$12.99", "carrier": "JNE", "tracking": "JNE0123",
				"url": "https://www.jne.co.id/t/JNE0123", "button": "Track package"}},
		{"javascript: links and images are dropped, markup stays text", with(product, "name", `<img src=x onerror=alert(1)>`,
			"image", "javascript:alert(1)", "url", "javascript:alert(document.cookie)"),
			map[string]any{"kind": "product", "sku": "BTP-M", "name": `<img src=x onerror=alert(1)>`, "stock": "low",
				"amount": 425000000.0, "currency": "IDR", "digits": 2.0, "amountText": "Rp 4.250.000"}},
		{"data: and protocol-relative images are dropped", with(product, "image", "data:image/svg+xml;base64,PHN2Zz4=", "url", "//evil.example/p"),
			map[string]any{"kind": "product", "sku": "BTP-M", "name": "Batik Tulis Parang - M", "stock": "low",
				"amount": 425000000.0, "currency": "IDR", "digits": 2.0, "amountText": "Rp 4.250.000"}},
		{"a price without a currency code is not formatted by the browser", with(product, "currency", "rupiah", "price", "abc"),
			map[string]any{"kind": "product", "sku": "BTP-M", "name": "Batik Tulis Parang - M", "image": "https://cdn.example.id/parang-m.jpg",
				"stock": "low", "currency": "rupiah", "digits": 2.0, "amountText": "Rp 4.250.000",
				"url": "https://toko.example.id/p/parang", "button": "Lihat produk"}},
		{"an unknown card kind is plain text", with(product, "card", "coupon"), nil},
		{"a reply without a card has none", map[string]string{"whatsapp.template": "x"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			c := e.connect(nil)
			ack := c.say(cid(1), "Ada ukuran M?")
			convID := e.message(ack.Msg.ID).ConversationID
			if _, err := e.inbox.Reply(context.Background(), inbox.ReplyRequest{ConversationID: convID, AgentID: "agent-dewi",
				AgentName: "Dewi", Channel: inbox.ChannelWidget, Text: "Batik Tulis Parang - M — Rp 4.250.000", Meta: tt.meta}); err != nil {
				t.Fatal(err)
			}
			f := c.agentMsg("Batik Tulis Parang - M — Rp 4.250.000")
			if tt.want == nil {
				if f.Card != nil {
					t.Fatalf("card = %v; want none", f.Card)
				}
				return
			}
			if !maps.Equal(f.Card, tt.want) {
				t.Errorf("card =\n%v\nwant\n%v", f.Card, tt.want)
			}
			// The history a returning visitor loads carries the same card.
			again := e.connect(map[string]any{"token": c.token})
			h := again.waitFor("history", func(f frame) bool { return f.T == "history" })
			last := h.Msgs[len(h.Msgs)-1]
			if !maps.Equal(last.Card, tt.want) {
				t.Errorf("card in history =\n%v\nwant\n%v", last.Card, tt.want)
			}
		})
	}
}

// A card emailed to a visitor who left stays a card: its email copy carries the card's Meta, so
// the email connector draws it as an HTML block.
func TestEmailedCardStaysACard(t *testing.T) {
	e := newEnv(t, withManualOutbox(), func(e *env) { e.deps.EmailFallback = e.inbox; e.cfg.OfflineAfter = 5 * time.Minute })
	ctx := context.Background()
	c := e.connect(nil)
	c.send(map[string]any{"t": "email", "cid": cid(1), "email": "rina@example.id"})
	ack := c.waitFor("ack", func(f frame) bool { return f.T == "ack" })
	conv := e.message(ack.Msg.ID).ConversationID
	c.ws.Close()
	eventually(t, "socket gone", func() bool { return e.conn.Sockets() == 0 })
	meta := map[string]string{"card": "product", "sku": "BTP-M", "name": "Batik Tulis Parang - M", "price": "425000000", "currency": "IDR",
		"url": "https://toko.example.id/p/parang", "priceText": "Rp 4.250.000"}
	r, err := e.inbox.Reply(ctx, inbox.ReplyRequest{ConversationID: conv, AgentID: "agent-dewi", AgentName: "Dewi", Channel: inbox.ChannelWidget,
		Text: "Batik Tulis Parang - M — Rp 4.250.000", Meta: meta})
	if err != nil {
		t.Fatal(err)
	}
	cust, _ := e.inbox.Customer(ctx, r.CustomerID)
	cv, _ := e.inbox.Conversation(ctx, conv)
	if _, err := e.conn.Send(ctx, inbox.Outbound{Message: r, Customer: cust, Conversation: cv, Attempt: 4}); err != nil {
		t.Fatal(err)
	}
	copies := e.copies(conv, r.ID)
	if len(copies) != 1 {
		t.Fatalf("%d copies", len(copies))
	}
	want := maps.Clone(meta)
	want[widget.MetaCopyOf] = r.ID
	if !maps.Equal(copies[0].Meta, want) {
		t.Errorf("copy meta = %v\nwant %v", copies[0].Meta, want)
	}
}
