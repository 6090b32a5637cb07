package email

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func envMap(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestLoadFromEnv(t *testing.T) {
	pwFile := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pwFile, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		env     map[string]string
		want    []Mailbox
		wantErr []string // every one must appear in the error
	}{
		{name: "nothing configured", env: map[string]string{}, want: nil},
		{name: "one mailbox with defaults",
			env: map[string]string{"SERAMBI_EMAIL_ADDRESS": "Support@Example.com", "SERAMBI_EMAIL_IMAP_HOST": "imap.example.com",
				"SERAMBI_EMAIL_IMAP_PASSWORD": "pw", "SERAMBI_EMAIL_SMTP_HOST": "smtp.example.com", "SERAMBI_EMAIL_NAME": "Example Support"},
			want: []Mailbox{{ID: "default", Address: "support@example.com", DisplayName: "Example Support",
				IMAP: IMAPConfig{Host: "imap.example.com", Port: 993, TLS: TLSImplicit, Username: "support@example.com", Password: "pw",
					Folder: "INBOX", PollInterval: DefaultPollInterval},
				SMTP:     SMTPConfig{Host: "smtp.example.com", Port: 587, TLS: TLSStartTLS, HeloName: "example.com"},
				LookBack: DefaultLookBack, MaxAttachmentBytes: DefaultMaxAttachmentBytes,
				ReconnectMin: DefaultReconnectMin, ReconnectMax: DefaultReconnectMax, LeaseTTL: DefaultLeaseTTL, IdleRestart: DefaultIdleRestart}}},
		{name: "two mailboxes, password file, days",
			env: map[string]string{"SERAMBI_EMAIL_MAILBOXES": "support, sales",
				"SERAMBI_EMAIL_SUPPORT_ADDRESS": "support@example.com", "SERAMBI_EMAIL_SUPPORT_IMAP_HOST": "127.0.0.1",
				"SERAMBI_EMAIL_SUPPORT_IMAP_TLS": "none", "SERAMBI_EMAIL_SUPPORT_IMAP_PASSWORD_FILE": pwFile,
				"SERAMBI_EMAIL_SUPPORT_SMTP_HOST": "127.0.0.1", "SERAMBI_EMAIL_SUPPORT_SMTP_TLS": "none", "SERAMBI_EMAIL_SUPPORT_LOOKBACK": "3d",
				"SERAMBI_EMAIL_SUPPORT_PLUS_ADDRESSING": "true", "SERAMBI_EMAIL_SUPPORT_SENT_FOLDER": "Sent",
				"SERAMBI_EMAIL_SALES_ADDRESS": "sales@example.com", "SERAMBI_EMAIL_SALES_IMAP_HOST": "imap.example.com",
				"SERAMBI_EMAIL_SALES_IMAP_PASSWORD": "x", "SERAMBI_EMAIL_SALES_SMTP_HOST": "smtp.example.com",
				"SERAMBI_EMAIL_SALES_SMTP_TLS": "tls", "SERAMBI_EMAIL_SALES_SMTP_USERNAME": "sales", "SERAMBI_EMAIL_SALES_SMTP_PASSWORD": "y",
				"SERAMBI_EMAIL_SALES_MAX_ATTACHMENT_MB": "10", "SERAMBI_EMAIL_SALES_STORE_RAW": "always"},
			want: []Mailbox{
				{ID: "support", Address: "support@example.com",
					IMAP:     IMAPConfig{Host: "127.0.0.1", Port: 143, TLS: TLSNone, Username: "support@example.com", Password: "from-file", Folder: "INBOX", PollInterval: DefaultPollInterval},
					SMTP:     SMTPConfig{Host: "127.0.0.1", Port: 25, TLS: TLSNone, HeloName: "example.com"},
					LookBack: 3 * 24 * time.Hour, PlusAddressing: true, SentFolder: "Sent", MaxAttachmentBytes: DefaultMaxAttachmentBytes,
					ReconnectMin: DefaultReconnectMin, ReconnectMax: DefaultReconnectMax, LeaseTTL: DefaultLeaseTTL, IdleRestart: DefaultIdleRestart},
				{ID: "sales", Address: "sales@example.com",
					IMAP:     IMAPConfig{Host: "imap.example.com", Port: 993, TLS: TLSImplicit, Username: "sales@example.com", Password: "x", Folder: "INBOX", PollInterval: DefaultPollInterval},
					SMTP:     SMTPConfig{Host: "smtp.example.com", Port: 465, TLS: TLSImplicit, Username: "sales", Password: "y", HeloName: "example.com"},
					LookBack: DefaultLookBack, MaxAttachmentBytes: 10 << 20, StoreRaw: StoreRawAlways,
					ReconnectMin: DefaultReconnectMin, ReconnectMax: DefaultReconnectMax, LeaseTTL: DefaultLeaseTTL, IdleRestart: DefaultIdleRestart},
			}},
		{name: "every missing and wrong value is named",
			env: map[string]string{"SERAMBI_EMAIL_ADDRESS": "x@example.com", "SERAMBI_EMAIL_IMAP_PORT": "abc", "SERAMBI_EMAIL_IMAP_TLS": "ssl",
				"SERAMBI_EMAIL_LOOKBACK": "two weeks", "SERAMBI_EMAIL_PLUS_ADDRESSING": "yes please", "SERAMBI_EMAIL_STORE_RAW": "sometimes"},
			wantErr: []string{"SERAMBI_EMAIL_IMAP_HOST is required", "SERAMBI_EMAIL_IMAP_PASSWORD", "SERAMBI_EMAIL_SMTP_HOST is required",
				`SERAMBI_EMAIL_IMAP_PORT="abc"`, `SERAMBI_EMAIL_IMAP_TLS="ssl"`, `SERAMBI_EMAIL_LOOKBACK="two weeks"`, "SERAMBI_EMAIL_PLUS_ADDRESSING", `SERAMBI_EMAIL_STORE_RAW="sometimes"`}},
		{name: "plaintext to a remote server is refused",
			env: map[string]string{"SERAMBI_EMAIL_ADDRESS": "x@example.com", "SERAMBI_EMAIL_IMAP_HOST": "imap.example.com", "SERAMBI_EMAIL_IMAP_TLS": "none",
				"SERAMBI_EMAIL_IMAP_PASSWORD": "pw", "SERAMBI_EMAIL_SMTP_HOST": "smtp.example.com"},
			wantErr: []string{"IMAP without TLS is only allowed to a loopback server"}},
		{name: "a plus address is not a mailbox address",
			env: map[string]string{"SERAMBI_EMAIL_ADDRESS": "support+x@example.com", "SERAMBI_EMAIL_IMAP_HOST": "h",
				"SERAMBI_EMAIL_IMAP_PASSWORD": "pw", "SERAMBI_EMAIL_SMTP_HOST": "h"},
			wantErr: []string{"must be a plain address"}},
		{name: "a mailbox named twice",
			env:     map[string]string{"SERAMBI_EMAIL_MAILBOXES": "a,a"},
			wantErr: []string{`names "a" twice`, "SERAMBI_EMAIL_A_ADDRESS is required"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := LoadFromEnv(envMap(tc.env))
			if len(tc.wantErr) > 0 {
				if err == nil {
					t.Fatalf("no error, got %+v", got)
				}
				for _, w := range tc.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error lacks %q:\n%v", w, err)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprintf("%#v", got) != fmt.Sprintf("%#v", tc.want) {
				t.Errorf("got  %#v\nwant %#v", got, tc.want)
			}
			for i := range got {
				if got[i].IMAP.Password.Reveal() != tc.want[i].IMAP.Password.Reveal() {
					t.Errorf("password %q, want %q", got[i].IMAP.Password.Reveal(), tc.want[i].IMAP.Password.Reveal())
				}
			}
		})
	}
}

// A mailbox can be logged, printed and marshalled without its passwords.
func TestSecretsNeverPrinted(t *testing.T) {
	mb := Mailbox{ID: "s", Address: "s@example.com", IMAP: IMAPConfig{Host: "h", Password: "imap-pass-123"},
		SMTP: SMTPConfig{Host: "h", Username: "u", Password: "smtp-pass-456"}, TokenSecret: "token-key-789"}.WithDefaults()
	var logged strings.Builder
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("x", "mailbox", mb, "imap", mb.IMAP, "pw", mb.IMAP.Password)
	slog.New(slog.NewTextHandler(&logged, nil)).Info("x", "mailbox", mb, "smtp", mb.SMTP)
	js, _ := json.Marshal(mb)
	outputs := []string{logged.String(), string(js), fmt.Sprintf("%v %+v %#v %s", mb, mb, mb, mb),
		fmt.Sprintf("%v %+v %#v", mb.IMAP, mb.SMTP, mb.IMAP.Password)}
	for _, out := range outputs {
		for _, secret := range []string{"imap-pass-123", "smtp-pass-456", "token-key-789"} {
			if strings.Contains(out, secret) {
				t.Errorf("secret %q leaked in: %s", secret, out)
			}
		}
	}
	if !strings.Contains(string(js), redacted) {
		t.Errorf("JSON does not show that a password is set: %s", js)
	}
}
