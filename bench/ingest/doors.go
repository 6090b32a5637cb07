package main

import (
	"bytes"
	"fmt"
	"net/http"

	"github.com/serambi/serambi/connectors/telegram"
	"github.com/serambi/serambi/connectors/whatsapp"
	"github.com/serambi/serambi/demo"
)

// door is one way messages come in: the request for message i from customer i%customers, the
// status that means stored, and the server configuration it needs.
type door struct {
	request func(url, key string, i, customers int64) *http.Request
	status  int
	// setup returns the server's SERAMBI_* settings for this door and a stop for what it started.
	setup func() (env []string, stop func(), err error)
}

const (
	benchWhatsAppSecret  = "bench-app-secret"
	benchWhatsAppPhoneID = "106540352242922"
	benchTelegramToken   = "123456:bench-token-bench-token-bench"
	benchTelegramSecret  = "bench-webhook-secret"
)

var doors = map[string]door{
	"api": {status: http.StatusCreated, request: func(url, key string, i, customers int64) *http.Request {
		body := fmt.Sprintf(`{"externalId":"bench-%d","from":{"email":"customer%d@bench.example"},"text":"Halo, pesanan saya #%d belum sampai. Bisa dicek?"}`,
			i, i%customers, i)
		req, _ := http.NewRequest(http.MethodPost, url+"/api/v1/messages", bytes.NewReader([]byte(body)))
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("Content-Type", "application/json")
		return req
	}},
	// The body is the Cloud API's webhook envelope for one text message, signed with the app secret
	// (X-Hub-Signature-256) as Meta signs it: the server checks the signature before parsing.
	"whatsapp": {status: http.StatusOK, request: func(url, _ string, i, customers int64) *http.Request {
		wa := fmt.Sprintf("62812%08d", i%customers)
		body := fmt.Appendf(nil, `{"object":"whatsapp_business_account","entry":[{"id":"102290129340398","changes":[{"value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550783881","phone_number_id":"%s"},"contacts":[{"profile":{"name":"Pelanggan %d"},"wa_id":"%s"}],"messages":[{"from":"%s","id":"wamid.BENCH%012d","timestamp":"1749416383","type":"text","text":{"body":"Halo, pesanan saya nomor %d belum sampai, bisa dicek?"}}]},"field":"messages"}]}]}`,
			benchWhatsAppPhoneID, i%customers, wa, wa, i, i)
		req, _ := http.NewRequest(http.MethodPost, url+"/webhooks"+whatsapp.DefaultWebhookPath, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set(whatsapp.SignatureHeader, whatsapp.Sign(whatsapp.Secret(benchWhatsAppSecret), body))
		return req
	}, setup: func() ([]string, func(), error) {
		// Inbound text needs no Graph API call; the URL only has to be well formed.
		return []string{"SERAMBI_WHATSAPP_ACCESS_TOKEN=bench-token", "SERAMBI_WHATSAPP_APP_SECRET=" + benchWhatsAppSecret,
			"SERAMBI_WHATSAPP_VERIFY_TOKEN=bench-verify", "SERAMBI_WHATSAPP_PHONE_NUMBER_ID=" + benchWhatsAppPhoneID,
			"SERAMBI_WHATSAPP_GRAPH_URL=http://127.0.0.1:9/v20.0"}, func() {}, nil
	}},
	// A Bot API update for one private text message, with the secret token Telegram sends back.
	"telegram": {status: http.StatusOK, request: func(url, _ string, i, customers int64) *http.Request {
		user := 1_000_000 + i%customers
		body := fmt.Appendf(nil, `{"update_id":%d,"message":{"message_id":%d,"from":{"id":%d,"is_bot":false,"first_name":"Pelanggan","last_name":"%d","language_code":"id"},"chat":{"id":%d,"first_name":"Pelanggan","type":"private"},"date":1732400000,"text":"Halo, pesanan saya nomor %d belum sampai, bisa dicek?"}}`,
			i, i, user, user, user, i)
		req, _ := http.NewRequest(http.MethodPost, url+"/webhooks"+telegram.DefaultWebhookPath, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set(telegram.SecretHeader, benchTelegramSecret)
		return req
	}, setup: func() ([]string, func(), error) {
		// Webhook mode calls setWebhook at start: the demo's Bot API stand-in answers it.
		api, err := demo.StartTelegram(benchTelegramToken)
		if err != nil {
			return nil, nil, err
		}
		return []string{"SERAMBI_TELEGRAM_TOKEN=" + benchTelegramToken, "SERAMBI_TELEGRAM_API_URL=" + api.URL(),
			"SERAMBI_TELEGRAM_MODE=webhook", "SERAMBI_TELEGRAM_WEBHOOK_URL=https://bench.example/webhooks/telegram",
			"SERAMBI_TELEGRAM_WEBHOOK_SECRET=" + benchTelegramSecret}, func() { api.Close() }, nil
	}},
}
