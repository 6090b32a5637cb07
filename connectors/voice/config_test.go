package voice

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

func env(kv map[string]string) func(string) string { return func(k string) string { return kv[k] } }

func TestLoadFromEnv(t *testing.T) {
	t.Run("nothing set: nothing enabled, no error", func(t *testing.T) {
		c, err := LoadFromEnv(env(nil))
		if err != nil || c.Enabled() {
			t.Fatalf("c=%+v err=%v", c, err)
		}
	})
	t.Run("everything set", func(t *testing.T) {
		c, err := LoadFromEnv(env(map[string]string{
			"SERAMBI_BASE_URL":                 "https://support.example.com/",
			"SERAMBI_VOICE_CTI_TOKEN":          "0123456789abcdef0123",
			"SERAMBI_VOICE_TWILIO_AUTH_TOKEN":  "tok",
			"SERAMBI_VOICE_TWILIO_ACCOUNT_SID": "AC" + strings.Repeat("a", 32),
			"SERAMBI_VOICE_AMI_ADDR":           "127.0.0.1:5038",
			"SERAMBI_VOICE_AMI_USERNAME":       "serambi",
			"SERAMBI_VOICE_AMI_SECRET":         "s3cret",
			"SERAMBI_VOICE_AMI_QUEUES":         "support, sales",
			"SERAMBI_VOICE_AMI_EXTENSIONS":     "201,202",
			"SERAMBI_VOICE_AMI_PING_INTERVAL":  "45s",
			"SERAMBI_VOICE_DIAL_FORMAT":        "National",
		}))
		if err != nil {
			t.Fatal(err)
		}
		if c.PublicURL != "https://support.example.com" || !slices.Equal(c.AMI.Queues, []string{"support", "sales"}) ||
			!slices.Equal(c.AMI.Extensions, []string{"201", "202"}) || c.AMI.PingInterval != 45*time.Second ||
			c.AMI.DialFormat != DialNational || c.AMI.OriginateTech != "PJSIP" || c.AMI.OriginateContext != "from-internal" ||
			c.BareNumbers != BareInternational {
			t.Fatalf("config %+v", c)
		}
		for _, s := range []string{fmt.Sprint(c), fmt.Sprintf("%+v", c), fmt.Sprintf("%#v", c)} {
			if strings.Contains(s, "s3cret") || strings.Contains(s, "0123456789abcdef0123") {
				t.Fatalf("a secret printed: %s", s)
			}
		}
	})
	bad := []struct {
		name    string
		kv      map[string]string
		mention string
	}{
		{"short CTI token", map[string]string{"SERAMBI_VOICE_CTI_TOKEN": "short"}, "SERAMBI_VOICE_CTI_TOKEN"},
		{"CTI token with a slash", map[string]string{"SERAMBI_VOICE_CTI_TOKEN": "0123456789abcdef/0123"}, "SERAMBI_VOICE_CTI_TOKEN"},
		{"Twilio without a public URL", map[string]string{"SERAMBI_VOICE_TWILIO_AUTH_TOKEN": "tok"}, "SERAMBI_VOICE_PUBLIC_URL"},
		{"a relative public URL", map[string]string{"SERAMBI_VOICE_PUBLIC_URL": "support.example.com"}, "SERAMBI_VOICE_PUBLIC_URL"},
		{"AMI without credentials", map[string]string{"SERAMBI_VOICE_AMI_ADDR": "127.0.0.1:5038"}, "SERAMBI_VOICE_AMI_USERNAME"},
		{"AMI address without a port", map[string]string{"SERAMBI_VOICE_AMI_ADDR": "pbx", "SERAMBI_VOICE_AMI_USERNAME": "u", "SERAMBI_VOICE_AMI_SECRET": "s"}, "SERAMBI_VOICE_AMI_ADDR"},
		{"an extension that would break the channel name", map[string]string{"SERAMBI_VOICE_AMI_ADDR": "pbx:5038", "SERAMBI_VOICE_AMI_USERNAME": "u", "SERAMBI_VOICE_AMI_SECRET": "s", "SERAMBI_VOICE_AMI_EXTENSIONS": "201/x"}, "SERAMBI_VOICE_AMI_EXTENSIONS"},
		{"an unknown dial format", map[string]string{"SERAMBI_VOICE_AMI_ADDR": "pbx:5038", "SERAMBI_VOICE_AMI_USERNAME": "u", "SERAMBI_VOICE_AMI_SECRET": "s", "SERAMBI_VOICE_DIAL_FORMAT": "x"}, "SERAMBI_VOICE_DIAL_FORMAT"},
		{"a ping interval that is no duration", map[string]string{"SERAMBI_VOICE_AMI_PING_INTERVAL": "often"}, "SERAMBI_VOICE_AMI_PING_INTERVAL"},
		{"an unknown bare number reading", map[string]string{"SERAMBI_VOICE_BARE_NUMBERS": "guess"}, "SERAMBI_VOICE_BARE_NUMBERS"},
		{"a malformed account SID", map[string]string{"SERAMBI_VOICE_TWILIO_ACCOUNT_SID": "AC123"}, "SERAMBI_VOICE_TWILIO_ACCOUNT_SID"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			_, err := LoadFromEnv(env(tt.kv))
			if err == nil || !strings.Contains(err.Error(), tt.mention) {
				t.Fatalf("err = %v, want one naming %s", err, tt.mention)
			}
			for _, v := range tt.kv {
				if len(v) > 8 && strings.Contains(err.Error(), "s3cret") {
					t.Fatalf("error repeats a secret: %v", err)
				}
			}
		})
	}
}
