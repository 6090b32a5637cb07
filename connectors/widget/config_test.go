package widget_test

import (
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/serambi/serambi/connectors/widget"
)

func envOf(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestLoadFromEnv(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		check   func(t *testing.T, c widget.Config)
		wantErr string
	}{
		{name: "nothing set: on, one default inbox, safe limits", env: map[string]string{}, check: func(t *testing.T, c widget.Config) {
			if !c.Enabled() || c.Default.ID != "default" || c.Default.Name != "Support" || len(c.Default.AllowedOrigins) != 0 ||
				c.VisitorRate != (widget.Rate{Count: 20, Per: time.Minute}) || c.MaxConnsPerIP != 200 || !c.Demo || c.OfflineAfter != 5*time.Minute ||
				!c.Default.OfflineEmail || !c.Default.Uploads || c.Default.Source != widget.SourceEnv {
				t.Fatalf("defaults = %+v", c)
			}
		}},
		{name: "everything", env: map[string]string{
			"SERAMBI_WIDGET_INBOX": "toko", "SERAMBI_WIDGET_NAME": "Sekar Batik", "SERAMBI_WIDGET_COLOR": "#9A3412",
			"SERAMBI_WIDGET_POSITION": "left", "SERAMBI_WIDGET_LANGUAGE": "ID", "SERAMBI_WIDGET_GREETING_ID": "Halo!",
			"SERAMBI_WIDGET_ORIGINS": "https://sekar.example, https://www.sekar.example", "SERAMBI_WIDGET_JWT_SECRET": string(jwtSecret),
			"SERAMBI_WIDGET_PRECHAT": "name,email,required", "SERAMBI_WIDGET_PRECHAT_FIELDS": "order=Order number|Nomor pesanan",
			"SERAMBI_WIDGET_RATE_VISITOR": "5/10s", "SERAMBI_WIDGET_RATE_IP": "off", "SERAMBI_WIDGET_MAX_CONNS_PER_IP": "0",
			"SERAMBI_WIDGET_MAX_UPLOAD_MB": "2", "SERAMBI_WIDGET_MAX_CHARS": "1000", "SERAMBI_WIDGET_OFFLINE_AFTER": "10m",
			"SERAMBI_WIDGET_DEMO": "false", "SERAMBI_WIDGET_UPLOADS": "false",
		}, check: func(t *testing.T, c widget.Config) {
			d := c.Default
			if d.ID != "toko" || d.Color != "#9a3412" || d.Position != "left" || d.Language != "id" || d.GreetingID != "Halo!" ||
				len(d.AllowedOrigins) != 2 || d.JWTSecret.Reveal() != jwtSecret.Reveal() || !d.PreChat.RequireEmail ||
				len(d.PreChat.Fields) != 1 || d.PreChat.Fields[0].LabelID != "Nomor pesanan" || d.Uploads {
				t.Fatalf("inbox = %+v", d)
			}
			if c.VisitorRate != (widget.Rate{Count: 5, Per: 10 * time.Second}) || !c.IPRate.Unlimited() || c.MaxConnsPerIP != 0 ||
				c.MaxUploadBytes != 2<<20 || c.MaxMessageChars != 1000 || c.OfflineAfter != 10*time.Minute || c.Demo {
				t.Fatalf("config = %+v", c)
			}
		}},
		{name: "off", env: map[string]string{"SERAMBI_WIDGET_ENABLED": "false"}, check: func(t *testing.T, c widget.Config) {
			if c.Enabled() {
				t.Fatal("still enabled")
			}
		}},
		{name: "bad colour", env: map[string]string{"SERAMBI_WIDGET_COLOR": "teal"}, wantErr: "color"},
		{name: "bad origin", env: map[string]string{"SERAMBI_WIDGET_ORIGINS": "sekar.example"}, wantErr: "origin"},
		{name: "short secret", env: map[string]string{"SERAMBI_WIDGET_JWT_SECRET": "abc"}, wantErr: "at least 32 bytes"},
		{name: "bad rate", env: map[string]string{"SERAMBI_WIDGET_RATE_VISITOR": "lots"}, wantErr: "SERAMBI_WIDGET_RATE_VISITOR"},
		{name: "bad number", env: map[string]string{"SERAMBI_WIDGET_MAX_CHARS": "-1"}, wantErr: "SERAMBI_WIDGET_MAX_CHARS"},
		{name: "bad bool", env: map[string]string{"SERAMBI_WIDGET_DEMO": "ja"}, wantErr: "SERAMBI_WIDGET_DEMO"},
		{name: "bad pre-chat", env: map[string]string{"SERAMBI_WIDGET_PRECHAT": "name,phone"}, wantErr: "SERAMBI_WIDGET_PRECHAT"},
		{name: "bad field", env: map[string]string{"SERAMBI_WIDGET_PRECHAT_FIELDS": "order"}, wantErr: "SERAMBI_WIDGET_PRECHAT_FIELDS"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := widget.LoadFromEnv(envOf(tt.env))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v; want one naming %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "abc") && tt.wantErr == "at least 32 bytes" {
					t.Fatal("the error shows the secret")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, c)
		})
	}
}

func TestConfigNeverPrintsTheSecret(t *testing.T) {
	c, err := widget.LoadFromEnv(envOf(map[string]string{"SERAMBI_WIDGET_JWT_SECRET": string(jwtSecret)}))
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	slog.New(slog.NewJSONHandler(&b, nil)).Info("config", "widget", c, "inbox", c.Default, "secret", c.Default.JWTSecret)
	out := b.String() + fmt.Sprintf("%v %+v %#v", c, c, c.Default)
	if strings.Contains(out, jwtSecret.Reveal()) {
		t.Fatalf("the secret printed: %s", out)
	}
}

func TestParseRate(t *testing.T) {
	tests := []struct {
		in   string
		want widget.Rate
		bad  bool
	}{
		{"30/1m", widget.Rate{Count: 30, Per: time.Minute}, false},
		{" 5 / 10s ", widget.Rate{Count: 5, Per: 10 * time.Second}, false},
		{"off", widget.Rate{}, false},
		{"0", widget.Rate{}, false},
		{"30", widget.Rate{}, true},
		{"0/1m", widget.Rate{}, true},
		{"5/soon", widget.Rate{}, true},
		{"5/-1s", widget.Rate{}, true},
	}
	for _, tt := range tests {
		got, err := widget.ParseRate(tt.in)
		if (err != nil) != tt.bad || got != tt.want {
			t.Errorf("ParseRate(%q) = %v, %v; want %v (error %v)", tt.in, got, err, tt.want, tt.bad)
		}
	}
}
