package telegram

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"
)

const (
	secretToken   = "7000000001:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
	secretWebhook = "wh_Secret-123"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestLoadFromEnv(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		wantErr []string // substrings; nil: valid
		check   func(t *testing.T, c Config)
	}{
		{name: "nothing set: not configured", env: map[string]string{},
			check: func(t *testing.T, c Config) {
				if c.Enabled() {
					t.Error("enabled without a token")
				}
			}},
		{name: "token only: polling with defaults", env: map[string]string{"SERAMBI_TELEGRAM_TOKEN": secretToken},
			check: func(t *testing.T, c Config) {
				if c.Mode != ModePolling || c.APIBase != DefaultAPIBase || c.MaxFileSize != 20<<20 || c.PollTimeout != 25*time.Second || c.BotID() != "7000000001" {
					t.Errorf("%+v", c)
				}
			}},
		{name: "webhook mode", env: map[string]string{"SERAMBI_TELEGRAM_TOKEN": secretToken, "SERAMBI_TELEGRAM_MODE": "webhook",
			"SERAMBI_TELEGRAM_WEBHOOK_URL": "https://shop.example/hooks/telegram", "SERAMBI_TELEGRAM_WEBHOOK_SECRET": secretWebhook,
			"SERAMBI_TELEGRAM_API_URL": "http://127.0.0.1:8081/", "SERAMBI_TELEGRAM_GROUPS": "true", "SERAMBI_TELEGRAM_MAX_FILE_MB": "50"},
			check: func(t *testing.T, c Config) {
				if c.Mode != ModeWebhook || c.APIBase != "http://127.0.0.1:8081" || !c.AllowGroups || c.MaxFileSize != 50<<20 {
					t.Errorf("%+v", c)
				}
			}},
		{name: "bad token", env: map[string]string{"SERAMBI_TELEGRAM_TOKEN": "nope"}, wantErr: []string{"SERAMBI_TELEGRAM_TOKEN"}},
		{name: "webhook without https URL and secret", env: map[string]string{"SERAMBI_TELEGRAM_TOKEN": secretToken, "SERAMBI_TELEGRAM_MODE": "webhook",
			"SERAMBI_TELEGRAM_WEBHOOK_URL": "http://shop.example/x"}, wantErr: []string{"SERAMBI_TELEGRAM_WEBHOOK_URL", "SERAMBI_TELEGRAM_WEBHOOK_SECRET"}},
		{name: "unknown mode", env: map[string]string{"SERAMBI_TELEGRAM_TOKEN": secretToken, "SERAMBI_TELEGRAM_MODE": "push"}, wantErr: []string{"SERAMBI_TELEGRAM_MODE"}},
		{name: "bad numbers", env: map[string]string{"SERAMBI_TELEGRAM_TOKEN": secretToken, "SERAMBI_TELEGRAM_POLL_TIMEOUT": "forever",
			"SERAMBI_TELEGRAM_GROUPS": "maybe", "SERAMBI_TELEGRAM_MAX_FILE_MB": "-1"},
			wantErr: []string{"SERAMBI_TELEGRAM_POLL_TIMEOUT", "SERAMBI_TELEGRAM_GROUPS", "SERAMBI_TELEGRAM_MAX_FILE_MB"}},
		{name: "poll timeout over Telegram's limit", env: map[string]string{"SERAMBI_TELEGRAM_TOKEN": secretToken, "SERAMBI_TELEGRAM_POLL_TIMEOUT": "90s"},
			wantErr: []string{"at most 50s"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := LoadFromEnv(env(tc.env))
			if tc.wantErr == nil {
				if err != nil {
					t.Fatal(err)
				}
				if tc.check != nil {
					tc.check(t, c)
				}
				return
			}
			if err == nil {
				t.Fatal("no error")
			}
			for _, s := range tc.wantErr {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not name %s", err, s)
				}
			}
			if strings.Contains(err.Error(), secretToken) {
				t.Error("error shows the token")
			}
		})
	}
}

// TestSecretsNeverShow prints and logs a Config every usual way and looks for its secrets.
func TestSecretsNeverShow(t *testing.T) {
	c := Config{Token: secretToken, WebhookSecret: secretWebhook, APIBase: DefaultAPIBase, Mode: ModeWebhook}
	var logs bytes.Buffer
	for _, h := range []slog.Handler{slog.NewJSONHandler(&logs, nil), slog.NewTextHandler(&logs, nil)} {
		slog.New(h).Info("config", "cfg", c, "token", c.Token, "secret", c.WebhookSecret)
	}
	js, _ := json.Marshal(c)
	outputs := map[string]string{
		"%v": fmt.Sprintf("%v", c), "%+v": fmt.Sprintf("%+v", c), "%#v": fmt.Sprintf("%#v", c), "%s": fmt.Sprintf("%s", c.Token),
		"%q": fmt.Sprintf("%q", c.WebhookSecret), "json": string(js), "slog": logs.String(),
	}
	for how, out := range outputs {
		if strings.Contains(out, "AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw") || strings.Contains(out, secretWebhook) {
			t.Errorf("%s shows a secret: %s", how, out)
		}
	}
	if c.Token.Reveal() != secretToken {
		t.Error("Reveal must give the token")
	}
}
