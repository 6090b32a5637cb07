package console_test

import (
	"context"
	"strings"
	"testing"
	"time"

	mail "github.com/serambi/serambi/connectors/email"
	"github.com/serambi/serambi/connectors/telegram"
	"github.com/serambi/serambi/connectors/voice"
	wa "github.com/serambi/serambi/connectors/whatsapp"
	"github.com/serambi/serambi/web/console"
)

// Secrets the configured connectors hold; none may reach the Channels page.
var channelSecrets = []string{"TG-BOT-SECRET-tok", "tg-webhook-secret", "EAAG-wa-access-secret", "wa-app-secret", "wa-verify-secret",
	"cti-secret-token", "twilio-auth-secret", "ami-secret-pw", "imap-password"}

func newChannelsEnv(t *testing.T) *env {
	lastSync := time.Now().Add(-2 * time.Minute)
	return newEnvWith(t, func(e *env, d *console.Deps) {
		d.Channels = func(context.Context) []console.ChannelStatus {
			return []console.ChannelStatus{
				console.VoiceChannelStatus(voice.Config{CTIToken: "cti-secret-token", TwilioAuthToken: "twilio-auth-secret", TwilioAccountSID: "AC123",
					AMI: voice.AMIConfig{Addr: "127.0.0.1:5038", Username: "serambi", Secret: "ami-secret-pw"}}),
				console.EmailChannelStatus(mail.Status{Mailbox: "support", Address: "support@toko.id", Connected: true, Idle: true, LastSync: lastSync}),
				console.EmailChannelStatus(mail.Status{Mailbox: "billing", Address: "billing@toko.id", LastError: "dial tcp 10.0.0.9:993: connection refused", LastErrorAt: lastSync}),
				console.TelegramChannelStatus(telegram.Config{Token: "987654:TG-BOT-SECRET-tok", Mode: telegram.ModeWebhook,
					WebhookURL: "https://toko.id/webhooks/telegram", WebhookSecret: "tg-webhook-secret"}),
				console.WhatsAppChannelStatus(wa.Config{}),
			}
		}
	}).withAgents()
}

func TestChannelsPage(t *testing.T) {
	e := newChannelsEnv(t)
	admin := e.login("dewi@toko.id")
	page := admin.get("/admin/channels", nil)
	if page.status != 200 {
		t.Fatalf("admin: status %d", page.status)
	}
	for _, want := range []string{
		"support@toko.id", "Connected (push)", // IDLE
		"billing@toko.id", "connection refused", ">Error<",
		"bot 987654", ">Webhook<",
		`data-channel="whatsapp"`, "Not configured",
		"generic CTI webhook, Twilio, Asterisk AMI 127.0.0.1:5038", ">Configured<",
	} {
		if !strings.Contains(page.body, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	// Email first, voice last, whatever order the connectors reported in.
	if strings.Index(page.body, `data-channel="email"`) > strings.Index(page.body, `data-channel="voice"`) {
		t.Error("channels are not in the page's order")
	}
	for _, s := range channelSecrets {
		if strings.Contains(page.body, s) {
			t.Errorf("the page shows the secret %q", s)
		}
	}
	if !strings.Contains(admin.get("/admin/agents", nil).body, `href="/admin/channels"`) {
		t.Error("the admin navigation has no link to the Channels page")
	}
	if r := e.login("budi@toko.id").get("/admin/channels", nil); r.status != 403 {
		t.Errorf("an agent gets status %d", r.status)
	}
}

func TestEmailChannelState(t *testing.T) {
	tests := []struct {
		name string
		s    mail.Status
		want string
	}{
		{"IDLE pushes new mail", mail.Status{Connected: true, Idle: true}, "idle"},
		{"a server without IDLE is polled", mail.Status{Connected: true}, "polling"},
		{"another instance holds the lease", mail.Status{Standby: true, LastError: "old"}, "standby"},
		{"disconnected after an error", mail.Status{LastError: "auth failed"}, "error"},
		{"starting", mail.Status{}, "connecting"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := console.EmailChannelStatus(tt.s).State; got != tt.want {
				t.Fatalf("state %q, want %q", got, tt.want)
			}
		})
	}
}
