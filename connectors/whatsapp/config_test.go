package whatsapp

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestLoadFromEnv(t *testing.T) {
	full := map[string]string{
		"SERAMBI_WHATSAPP_ACCESS_TOKEN": testToken, "SERAMBI_WHATSAPP_APP_SECRET": testAppSecret,
		"SERAMBI_WHATSAPP_VERIFY_TOKEN": testVerify, "SERAMBI_WHATSAPP_PHONE_NUMBER_ID": testPhoneID,
	}
	with := func(kv ...string) map[string]string {
		m := map[string]string{}
		for k, v := range full {
			m[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	tests := []struct {
		name    string
		env     map[string]string
		wantErr []string
		check   func(t *testing.T, c Config)
	}{
		{name: "nothing set: not configured", env: map[string]string{}, check: func(t *testing.T, c Config) {
			if c.Enabled() {
				t.Error("enabled")
			}
		}},
		{name: "the four required settings", env: full, check: func(t *testing.T, c Config) {
			if c.GraphBase != DefaultGraphBase || c.MaxMediaSize != 100<<20 || c.WebhookPath != "/whatsapp" {
				t.Errorf("%+v", c)
			}
		}},
		{name: "templates and a proxy", env: with("SERAMBI_WHATSAPP_GRAPH_URL", "http://127.0.0.1:9000/v21.0/",
			"SERAMBI_WHATSAPP_TEMPLATES", `[{"name":"order_update","language":"id","params":1,"text":"Pesanan {{1}} dikirim"}]`),
			check: func(t *testing.T, c Config) {
				tpl, ok := c.Template("order_update", "id")
				if c.GraphBase != "http://127.0.0.1:9000/v21.0" || !ok || tpl.Render([]string{"#9"}) != "Pesanan #9 dikirim" {
					t.Errorf("%+v", c)
				}
			}},
		{name: "missing secrets", env: map[string]string{"SERAMBI_WHATSAPP_ACCESS_TOKEN": testToken, "SERAMBI_WHATSAPP_PHONE_NUMBER_ID": testPhoneID},
			wantErr: []string{"SERAMBI_WHATSAPP_APP_SECRET", "SERAMBI_WHATSAPP_VERIFY_TOKEN"}},
		{name: "phone number instead of its id", env: with("SERAMBI_WHATSAPP_PHONE_NUMBER_ID", "+62 812 3456"), wantErr: []string{"SERAMBI_WHATSAPP_PHONE_NUMBER_ID"}},
		{name: "templates not JSON", env: with("SERAMBI_WHATSAPP_TEMPLATES", "order_update:id"), wantErr: []string{"SERAMBI_WHATSAPP_TEMPLATES"}},
		{name: "template with an unknown field", env: with("SERAMBI_WHATSAPP_TEMPLATES", `[{"name":"a","language":"id","lang":"x"}]`), wantErr: []string{"SERAMBI_WHATSAPP_TEMPLATES"}},
		{name: "template with a bad name", env: with("SERAMBI_WHATSAPP_TEMPLATES", `[{"name":"Order Update","language":"id"}]`), wantErr: []string{"SERAMBI_WHATSAPP_TEMPLATES[0]"}},
		{name: "bad media size and URL", env: with("SERAMBI_WHATSAPP_MAX_MEDIA_MB", "lots", "SERAMBI_WHATSAPP_GRAPH_URL", "graph.facebook.com"),
			wantErr: []string{"SERAMBI_WHATSAPP_MAX_MEDIA_MB", "SERAMBI_WHATSAPP_GRAPH_URL"}},
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
			for _, s := range []string{testToken, testAppSecret, testVerify} {
				if strings.Contains(err.Error(), s) {
					t.Error("error shows a secret")
				}
			}
		})
	}
}

func TestSecretsNeverShow(t *testing.T) {
	c := Config{AccessToken: testToken, AppSecret: testAppSecret, VerifyToken: testVerify, PhoneNumberID: testPhoneID}
	var logs bytes.Buffer
	for _, h := range []slog.Handler{slog.NewJSONHandler(&logs, nil), slog.NewTextHandler(&logs, nil)} {
		slog.New(h).Info("config", "cfg", c, "token", c.AccessToken, "secret", c.AppSecret)
	}
	js, _ := json.Marshal(c)
	for how, out := range map[string]string{"%v": fmt.Sprintf("%v", c), "%+v": fmt.Sprintf("%+v", c), "%#v": fmt.Sprintf("%#v", c),
		"%s": fmt.Sprintf("%s", c.AccessToken), "json": string(js), "slog": logs.String()} {
		for _, s := range []string{testToken, testAppSecret, testVerify} {
			if strings.Contains(out, s) {
				t.Errorf("%s shows a secret: %s", how, out)
			}
		}
	}
}
