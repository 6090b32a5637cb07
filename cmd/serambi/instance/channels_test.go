package instance_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/serambi/serambi/connectors/telegram/telegramfake"
	"github.com/serambi/serambi/connectors/whatsapp/whatsappfake"
)

// One customer, three doors: known through the API by email and phone, then writing on WhatsApp
// from that phone and on Telegram. The WhatsApp message joins the same conversation, and an
// agent's reply on WhatsApp reaches the (fake) Graph API.
func TestChannelsAreWiredIntoOneTimeline(t *testing.T) {
	const (
		waToken, waSecret, waVerify, waPhoneID = "wa-token", "wa-app-secret", "wa-verify", "106540352242922"
		tgToken                                = "123456:AAHtestTokenForTheFakeBotApi0123456"
		ctiToken                               = "cti-token-0123456789abcdef"
	)
	graph := whatsappfake.New(t, waToken, waPhoneID)
	bot := telegramfake.New(t, tgToken)
	e := startEnvWith(t, "sqlite", map[string]string{
		"SERAMBI_WHATSAPP_ACCESS_TOKEN": waToken, "SERAMBI_WHATSAPP_APP_SECRET": waSecret,
		"SERAMBI_WHATSAPP_VERIFY_TOKEN": waVerify, "SERAMBI_WHATSAPP_PHONE_NUMBER_ID": waPhoneID,
		"SERAMBI_WHATSAPP_GRAPH_URL": graph.URL(),
		"SERAMBI_TELEGRAM_TOKEN":     tgToken, "SERAMBI_TELEGRAM_API_URL": bot.URL(), "SERAMBI_TELEGRAM_POLL_TIMEOUT": "1s",
		"SERAMBI_VOICE_CTI_TOKEN": ctiToken,
	})
	e.ingest("siti", "shop-1", `{"email":"siti@example.id","phone":"0812-3456-7890","name":"Siti Rahma"}`, "Halo dari toko")

	body := whatsappfake.Envelope("102290129340398", map[string]any{
		"messaging_product": "whatsapp",
		"metadata":          map[string]any{"display_phone_number": "15550783881", "phone_number_id": waPhoneID},
		"contacts":          []any{map[string]any{"profile": map[string]any{"name": "Siti"}, "wa_id": "6281234567890"}},
		"messages": []any{map[string]any{"from": "6281234567890", "id": "wamid.SITI1", "timestamp": "1764000000",
			"type": "text", "text": map[string]any{"body": "pesanan saya belum sampai"}}},
	})
	status, answer, err := whatsappfake.Deliver(context.Background(), http.DefaultClient, e.base+"/webhooks/whatsapp", waSecret, body)
	if err != nil || status != http.StatusOK {
		t.Fatalf("WhatsApp webhook = %d %s, %v", status, answer, err)
	}
	forged, _, _ := whatsappfake.Deliver(context.Background(), http.DefaultClient, e.base+"/webhooks/whatsapp", "wrong-secret", body)
	if forged != http.StatusUnauthorized {
		t.Fatalf("forged WhatsApp webhook = %d, want 401", forged)
	}

	msgs := timeline(t, e, e.vars["siti.conversation"])
	if len(msgs) != 2 || msgs[0]["channel"] != "whatsapp" || msgs[0]["text"] != "pesanan saya belum sampai" {
		t.Fatalf("timeline after the WhatsApp message = %v; want it in Siti's one conversation", msgs)
	}

	e.must(201, "POST", "/api/v1/conversations/{siti.conversation}/messages", `{"text":"Sudah kami cek, besok sampai.","channel":"whatsapp"}`)
	eventually(t, "the reply reaches the Graph API", func() bool {
		sent := graph.Sent()
		return len(sent) == 1 && sent[0].To == "6281234567890" && sent[0].Text == "Sudah kami cek, besok sampai."
	})

	// The PBX reports a call from Siti's phone: it joins her timeline, with no API key involved.
	call := `{"event":"newCall","callId":"pbx-1","from":"+6281234567890","to":"+62215550100","direction":"in"}`
	if r := e.do("POST", "/api/v1/voice/cti/"+ctiToken, strings.NewReader(call), map[string]string{"Authorization": ""}); r.status != http.StatusOK {
		t.Fatalf("CTI newCall = %d %s", r.status, r.body)
	}
	if r := e.do("POST", "/api/v1/voice/cti/wrong-token-0123456789", strings.NewReader(call), map[string]string{"Authorization": ""}); r.status != http.StatusUnauthorized {
		t.Fatalf("CTI with a wrong token = %d, want 401", r.status)
	}
	if msgs := timeline(t, e, e.vars["siti.conversation"]); msgs[0]["channel"] != "voice" {
		t.Fatalf("newest entry after the call = %v, want the voice entry", msgs[0])
	}

	bot.PushMessage("message", map[string]any{
		"message_id": 7, "date": 1764000000, "text": "halo dari telegram",
		"from": map[string]any{"id": 5550001, "is_bot": false, "first_name": "Budi"},
		"chat": map[string]any{"id": 5550001, "type": "private", "first_name": "Budi"},
	})
	eventually(t, "the polled Telegram message is stored", func() bool {
		for _, c := range conversations(t, e) {
			if c.LastChannel == "telegram" {
				return true
			}
		}
		return false
	})
	if got := fmt.Sprint(len(conversations(t, e))); got != "2" {
		t.Fatalf("%s conversations, want 2 (Siti's, and Budi's from Telegram)", got)
	}
}

// With a mailbox configured, replies on email go to its SMTP server: here nothing listens, so the
// reply fails with the connection error as its reason (not "no sender is configured"), and the
// server still starts and serves while the IMAP side keeps retrying in the background.
func TestEmailMailboxIsWired(t *testing.T) {
	closed := freeAddr(t)
	host, port, _ := strings.Cut(closed, ":")
	e := startEnvWith(t, "sqlite", map[string]string{
		"SERAMBI_OUTBOX_MAX_ATTEMPTS": "1",
		"SERAMBI_EMAIL_ADDRESS":       "support@toko.test", "SERAMBI_EMAIL_NAME": "Toko Support",
		"SERAMBI_EMAIL_IMAP_HOST": host, "SERAMBI_EMAIL_IMAP_PORT": port, "SERAMBI_EMAIL_IMAP_TLS": "none",
		"SERAMBI_EMAIL_IMAP_USERNAME": "support@toko.test", "SERAMBI_EMAIL_IMAP_PASSWORD": "secret",
		"SERAMBI_EMAIL_SMTP_HOST": host, "SERAMBI_EMAIL_SMTP_PORT": port, "SERAMBI_EMAIL_SMTP_TLS": "none",
	})
	e.ingest("budi", "shop-2", `{"email":"budi@example.id","name":"Budi"}`, "Invoice?")
	reply := e.must(201, "POST", "/api/v1/conversations/{budi.conversation}/messages", `{"text":"Terlampir.","channel":"email"}`)
	id := reply["id"].(string)
	eventually(t, "the email reply fails with the SMTP connection error", func() bool {
		for _, m := range timeline(t, e, e.vars["budi.conversation"]) {
			if m["id"] == id && m["delivery"] == "failed" {
				reason, _ := m["deliveryError"].(string)
				if strings.Contains(reason, "no sender") {
					t.Fatalf("email replies have no sender: %s", reason)
				}
				return true
			}
		}
		return false
	})
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// The shop's data arrives through the API-key-authenticated REST API and signed webhooks, and the
// order's customer is the same one who writes in by email.
func TestCommerceIsWired(t *testing.T) {
	e := startEnvWith(t, "sqlite", map[string]string{"SERAMBI_SHOPIFY_WEBHOOK_SECRET": "shpss_test_secret_0123456789"})
	e.ingest("siti", "shop-3", `{"email":"siti@example.id","name":"Siti"}`, "Pesanan saya?")
	order := `{"number":"#1042","customer":{"email":"siti@example.id","name":"Siti"},"currency":"IDR",
		"items":[{"lineItemId":"1","sku":"BTP-M","name":"Batik Tulis Parang M","quantity":1,"unitPrice":32500000,"total":32500000}],
		"subtotal":32500000,"shipping":1000000,"tax":0,"discount":0,"total":33500000,"refunded":0,
		"paymentStatus":"paid","fulfillmentStatus":"in_transit","cancelled":false,"pickup":false,
		"placedAt":"2026-11-20T09:30:00Z","updatedAt":"2026-11-20T10:00:00Z"}`
	r := e.call("PUT", "/api/v1/commerce/orders/1042", order)
	if r.status != 200 && r.status != 201 {
		t.Fatalf("PUT order = %d %s", r.status, r.body)
	}
	if r := e.do("PUT", "/api/v1/commerce/orders/1043", strings.NewReader(order), map[string]string{"Authorization": ""}); r.status != 401 {
		t.Fatalf("PUT order without an API key = %d, want 401", r.status)
	}
	forged := e.do("POST", "/webhooks/shopify", strings.NewReader(`{"id":1}`), map[string]string{"Authorization": "",
		"X-Shopify-Topic": "orders/create", "X-Shopify-Hmac-Sha256": "AAAA", "X-Shopify-Webhook-Id": "w1"})
	if forged.status != 401 {
		t.Fatalf("forged Shopify webhook = %d, want 401", forged.status)
	}
	// One customer: the order joined Siti, who wrote in by email, and created nobody new.
	if got := conversations(t, e); len(got) != 1 {
		t.Fatalf("%d conversations after the order, want Siti's one", len(got))
	}
}

// The widget is on by default: its script and demo page are served, and a visitor's message over
// the socket lands in the inbox, where an agent's reply comes back over the same socket.
func TestWidgetIsWired(t *testing.T) {
	e := startEnv(t, "sqlite")
	for _, path := range []string{"/widget.js", "/widget/demo"} {
		if r := e.do("GET", path, nil, map[string]string{"Authorization": ""}); r.status != http.StatusOK {
			t.Fatalf("GET %s = %d", path, r.status)
		}
	}
	ws := "ws" + strings.TrimPrefix(e.base, "http") + "/widget/ws?inbox=default"
	conn, _, err := websocket.DefaultDialer.Dial(ws, http.Header{"Origin": {e.base}})
	if err != nil {
		t.Fatalf("dial the widget socket: %v", err)
	}
	defer conn.Close()
	read := func(want string) map[string]any {
		t.Helper()
		_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		for {
			var f map[string]any
			if err := conn.ReadJSON(&f); err != nil {
				t.Fatalf("waiting for a %q frame: %v", want, err)
			}
			if f["t"] == want {
				return f
			}
		}
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(conn.WriteJSON(map[string]any{"t": "hello", "inbox": "default"}))
	read("welcome")
	must(conn.WriteJSON(map[string]any{"t": "msg", "cid": "visitor-msg-0001", "text": "Apakah ukuran M masih ada?"}))
	read("ack")
	convs := conversations(t, e)
	if len(convs) != 1 || convs[0].LastChannel != "widget" {
		t.Fatalf("conversations after a widget message = %+v", convs)
	}
	e.vars["c"] = convs[0].ID
	e.must(201, "POST", "/api/v1/conversations/{c}/messages", `{"text":"Masih ada, kak!"}`)
	if f := read("msg"); !strings.Contains(fmt.Sprint(f), "Masih ada, kak!") {
		t.Fatalf("the reply frame = %v", f)
	}
}
