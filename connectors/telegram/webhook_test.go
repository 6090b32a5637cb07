package telegram

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/serambi/serambi/connectors/telegram/telegramfake"
)

// webhookServer serves the connector's routes under /hooks through echo, as the web package will.
func webhookServer(t testing.TB, c *Connector) string {
	e := echo.New()
	c.Register(e.Group("/hooks"))
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	return srv.URL + "/hooks" + c.Config().WebhookPath
}

// TestWebhook is the webhook's contract, one delivery per scenario.
func TestWebhook(t *testing.T) {
	text := string(fixture(t, "update_text.json"))
	tests := []struct {
		name       string
		secret     string
		body       string
		wantStatus int
		stored     string // external id that must be stored; "" when nothing may be
	}{
		{name: "correct secret stores the update", secret: secretWebhook, body: text, wantStatus: 200, stored: testBot + ":777000111:41"},
		{name: "missing secret is refused", secret: "", body: text, wantStatus: 401},
		{name: "forged secret is refused", secret: "wh_Secret-124", body: text, wantStatus: 401},
		{name: "secret prefix is refused", secret: secretWebhook[:5], body: text, wantStatus: 401},
		{name: "secret with more is refused", secret: secretWebhook + "x", body: text, wantStatus: 401},
		{name: "malformed JSON is a 400", secret: secretWebhook, body: `{"update_id":1,"message":{`, wantStatus: 400},
		{name: "an update without update_id is a 400", secret: secretWebhook, body: `{"message":{"message_id":1}}`, wantStatus: 400},
		{name: "unknown update kind becomes a notice", secret: secretWebhook, body: string(fixture(t, "update_reaction.json")), wantStatus: 200, stored: testBot + ":update:500016"},
		{name: "unsupported message becomes a notice", secret: secretWebhook, body: string(fixture(t, "update_poll.json")), wantStatus: 200, stored: testBot + ":777000111:54"},
		{name: "a group message is acknowledged and ignored", secret: secretWebhook, body: string(fixture(t, "update_group.json")), wantStatus: 200},
		{name: "an oversized body is refused", secret: secretWebhook, body: `{"update_id":1,"message":{"text":"` + strings.Repeat("a", 2<<20) + `"}}`, wantStatus: 413},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, func(c *Config) { c.Mode = ModeWebhook })
			hook := webhookServer(t, e.connector())
			status, _, err := telegramfake.Deliver(context.Background(), http.DefaultClient, hook, tc.secret, []byte(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			if status != tc.wantStatus {
				t.Fatalf("status %d, want %d", status, tc.wantStatus)
			}
			if tc.stored != "" {
				e.mustMessage(tc.stored)
			}
			if n := e.ingest.stored.Load(); (tc.stored == "" && n != 0) || (tc.stored != "" && n != 1) {
				t.Errorf("%d messages stored", n)
			}
		})
	}
}

// TestWebhookRedeliveries: Telegram delivers again whatever was not answered 200, possibly many
// times at once; the message is stored once.
func TestWebhookRedeliveries(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.Mode = ModeWebhook })
	hook := webhookServer(t, e.connector())
	body := fixture(t, "update_text.json")
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if status, msg, err := telegramfake.Deliver(context.Background(), http.DefaultClient, hook, secretWebhook, body); err != nil || status != 200 {
				t.Errorf("status %d %s, %v", status, msg, err)
			}
		}()
	}
	wg.Wait()
	if s, d := e.ingest.stored.Load(), e.ingest.duplicates.Load(); s != 1 || d != 19 {
		t.Errorf("stored %d, duplicates %d; want 1 and 19", s, d)
	}
}

// TestWebhookFailures: a file that fails for a moment is tried again within the delivery; one
// that keeps failing is given up on (a notice), not the message; a store that cannot write gets
// 500 so that Telegram delivers the update again.
func TestWebhookFailures(t *testing.T) {
	t.Run("a file failing once is fetched on the second try", func(t *testing.T) {
		e := newEnv(t, func(c *Config) { c.Mode = ModeWebhook })
		addFixtureFiles(e.fake)
		e.fake.Fail("getFile", 1, 502, "Bad Gateway", 0)
		hook := webhookServer(t, e.connector())
		if status, _, _ := telegramfake.Deliver(context.Background(), http.DefaultClient, hook, secretWebhook, fixture(t, "update_photo.json")); status != 200 {
			t.Fatalf("status %d", status)
		}
		if m := e.mustMessage(testBot + ":777000111:42"); len(m.Attachments) != 1 || e.fake.Calls("getFile") != 2 {
			t.Errorf("attachments %+v after %d getFile calls", m.Attachments, e.fake.Calls("getFile"))
		}
	})
	t.Run("a file that keeps failing becomes a notice", func(t *testing.T) {
		e := newEnv(t, func(c *Config) { c.Mode = ModeWebhook })
		addFixtureFiles(e.fake)
		e.fake.Fail("getFile", 10, 502, "Bad Gateway", 0)
		hook := webhookServer(t, e.connector())
		if status, _, _ := telegramfake.Deliver(context.Background(), http.DefaultClient, hook, secretWebhook, fixture(t, "update_photo.json")); status != 200 {
			t.Fatalf("status %d", status)
		}
		m := e.mustMessage(testBot + ":777000111:42")
		if len(m.Attachments) != 0 || !strings.Contains(m.Text, "photo_AQADq7Ex_x.jpg could not be downloaded from Telegram after several tries") || !strings.Contains(m.Text, "Paketnya rusak") {
			t.Errorf("text %q", m.Text)
		}
		if n := e.fake.Calls("getFile"); n != webhookTries {
			t.Errorf("%d getFile calls, want %d", n, webhookTries)
		}
	})
	t.Run("a store that cannot write gets 500", func(t *testing.T) {
		e := newEnv(t, func(c *Config) { c.Mode = ModeWebhook })
		hook := webhookServer(t, e.connector())
		e.store.Close()
		if status, _, _ := telegramfake.Deliver(context.Background(), http.DefaultClient, hook, secretWebhook, fixture(t, "update_text.json")); status != 500 {
			t.Fatalf("status %d, want 500", status)
		}
	})
}

// TestRunRegistersWebhook: in webhook mode Run registers the URL and secret_token, retrying
// when Telegram refuses at first, and never polls.
func TestRunRegistersWebhook(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.Mode = ModeWebhook })
	e.fake.Fail("setWebhook", 2, 429, "Too Many Requests: retry after 1", 1)
	stop := e.run(e.connector())
	waitFor(t, "the webhook", func() bool { u, _ := e.fake.Webhook(); return u != "" })
	stop()
	u, secret := e.fake.Webhook()
	if u != "https://shop.example/hooks/telegram" || secret != secretWebhook {
		t.Errorf("webhook %q with secret %q", u, secret)
	}
	if e.fake.Calls("setWebhook") != 3 || e.fake.Calls("getUpdates") != 0 {
		t.Errorf("setWebhook %d calls, getUpdates %d", e.fake.Calls("setWebhook"), e.fake.Calls("getUpdates"))
	}
}

// TestErrorsDoNotShowTheToken: a network failure's error names the URL, which holds the token.
func TestErrorsDoNotShowTheToken(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.APIBase = "http://127.0.0.1:1" })
	_, err := e.connector().Check(context.Background())
	if err == nil {
		t.Fatal("no error from an unreachable API")
	}
	if strings.Contains(err.Error(), "AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw") || !strings.Contains(err.Error(), "<token>") {
		t.Errorf("error %q: want the token replaced by <token>", err)
	}
}
