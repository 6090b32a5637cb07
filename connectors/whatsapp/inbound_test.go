package whatsapp

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/serambi/serambi/inbox"
)

func fixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestDraftOf is the specification of how each documented message type becomes an inbox message.
func TestDraftOf(t *testing.T) {
	sheena := []inbox.Identity{
		{Kind: inbox.KindWhatsApp, Value: "+16505551234", Verified: true},
		{Kind: inbox.KindPhone, Value: "+16505551234", Verified: true},
	}
	tests := []struct {
		fixture string
		wamid   string
		text    []string
		media   []mediaRef
		meta    map[string]string
	}{
		{fixture: "message_text.json", wamid: "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=", text: []string{"Does it come in another color?"}},
		{fixture: "message_image.json", wamid: "wamid.IMG1", text: []string{"This one, in blue?"},
			media: []mediaRef{{ID: "1003383421387256", Name: "image.jpg", ContentType: "image/jpeg"}}},
		{fixture: "message_document.json", wamid: "wamid.DOC1", text: []string{"Invoice"},
			media: []mediaRef{{ID: "1003383421387257", Name: "invoice-1234.pdf", ContentType: "application/pdf"}}},
		{fixture: "message_audio_voice.json", wamid: "wamid.AUD1", text: []string{"Voice message"},
			media: []mediaRef{{ID: "1003383421387258", Name: "audio.ogg", ContentType: "audio/ogg; codecs=opus"}}},
		{fixture: "message_video.json", wamid: "wamid.VID1", text: []string{"unboxing"},
			media: []mediaRef{{ID: "1003383421387259", Name: "video.mp4", ContentType: "video/mp4"}}},
		{fixture: "message_sticker.json", wamid: "wamid.STK1", text: []string{"Sticker"},
			media: []mediaRef{{ID: "1003383421387260", Name: "sticker.webp", ContentType: "image/webp"}}},
		{fixture: "message_location.json", wamid: "wamid.LOC1", text: []string{"📍 Grand Indonesia, Jl. M.H. Thamrin No.1, Jakarta", "mlat=-6.195000&mlon=106.823000"},
			meta: map[string]string{"latitude": "-6.195", "longitude": "106.823"}},
		{fixture: "message_contacts.json", wamid: "wamid.CON1", text: []string{"Contact: Kerry Fitzgerald +1 (650) 555-1234, kfitz@example.com"}},
		{fixture: "message_interactive_button.json", wamid: "wamid.BTN1", text: []string{"🔘 Change"},
			meta: map[string]string{"buttonId": "change-button", "replyTo": "wamid.OUT1"}},
		{fixture: "message_interactive_list.json", wamid: "wamid.LST1", text: []string{"📋 Express Shipping — Next Day to 2 Days"},
			meta: map[string]string{"listId": "priority_express", "replyTo": "wamid.OUT2"}},
		{fixture: "message_button.json", wamid: "wamid.TBN1", text: []string{"🔘 Stop promotions"},
			meta: map[string]string{"buttonPayload": "Unsubscribe"}},
		{fixture: "message_reaction.json", wamid: "wamid.RCT1", text: []string{"Reacted 👍"}, meta: map[string]string{"reactionTo": "wamid.OUT1"}},
		{fixture: "message_reaction_removed.json", wamid: "wamid.RCT2", text: []string{"Removed a reaction"}},
		{fixture: "message_unsupported.json", wamid: "wamid.UNK1",
			text: []string{"Unsupported WhatsApp message: unsupported (131051 Message type unknown: Message type is currently not supported.)"},
			meta: map[string]string{"unsupported": "unsupported"}},
		{fixture: "message_new_type.json", wamid: "wamid.NEW1", text: []string{"Unsupported WhatsApp message: holographic_postcard"}},
		{fixture: "message_reply_forwarded.json", wamid: "wamid.FWD1", text: []string{"Forwarding this"},
			meta: map[string]string{"forwarded": "true", "replyTo": "wamid.OUT4"}},
	}
	for _, tc := range tests {
		t.Run(strings.TrimSuffix(tc.fixture, ".json"), func(t *testing.T) {
			env, err := DecodeWebhook(fixture(t, tc.fixture))
			if err != nil {
				t.Fatal(err)
			}
			v := env.Entry[0].Changes[0].Value
			d := draftOf(v.Messages[0], v.Contacts)
			if d.Skip != "" {
				t.Fatalf("skipped: %s", d.Skip)
			}
			if d.In.Channel != inbox.ChannelWhatsApp || d.In.ExternalID != tc.wamid {
				t.Errorf("channel/external id = %s/%s, want whatsapp/%s", d.In.Channel, d.In.ExternalID, tc.wamid)
			}
			if !reflect.DeepEqual(d.In.From, sheena) {
				t.Errorf("from %+v, want the number as WhatsApp and verified phone identity", d.In.From)
			}
			if d.In.Name != "Sheena Nelson" {
				t.Errorf("name %q", d.In.Name)
			}
			if !d.In.SentAt.Equal(time.Unix(1749416383, 0)) {
				t.Errorf("sent at %v", d.In.SentAt)
			}
			for _, s := range tc.text {
				if !strings.Contains(d.In.Text, s) {
					t.Errorf("text %q does not contain %q", d.In.Text, s)
				}
			}
			if !reflect.DeepEqual(d.Media, tc.media) {
				t.Errorf("media %+v, want %+v", d.Media, tc.media)
			}
			for k, v := range tc.meta {
				if d.In.Meta[k] != v {
					t.Errorf("meta[%s] = %q, want %q", k, d.In.Meta[k], v)
				}
			}
		})
	}
}

func TestDecodeWebhook(t *testing.T) {
	tests := []struct {
		name, body string
		ok         bool
	}{
		{"documented envelope", string(fixture(t, "message_text.json")), true},
		{"unknown fields everywhere", `{"object":"whatsapp_business_account","new":1,"entry":[{"id":"1","x":[],"changes":[{"field":"messages","value":{"messaging_product":"whatsapp","y":{},"messages":[{"from":"1","id":"w","timestamp":"1","type":"text","text":{"body":"hi","z":1}}]}}]}]}`, true},
		{"numeric timestamp and code", `{"object":"whatsapp_business_account","entry":[{"changes":[{"field":"messages","value":{"statuses":[{"id":"w","status":"failed","timestamp":1749416393,"errors":[{"code":"131047"}]}]}}]}]}`, true},
		{"not JSON", `{"object":`, false},
		{"not an object", `"whatsapp"`, false},
		{"empty object", `{}`, false},
		{"entry of the wrong type", `{"object":"whatsapp_business_account","entry":{"id":"1"}}`, false},
		{"timestamp not a number", `{"object":"whatsapp_business_account","entry":[{"changes":[{"field":"messages","value":{"messages":[{"timestamp":"yesterday"}]}}]}]}`, false},
		{"two documents", `{"object":"a"}{"object":"b"}`, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeWebhook([]byte(tc.body))
			if tc.ok && err != nil {
				t.Fatalf("refused: %v", err)
			}
			if !tc.ok && !errors.Is(err, ErrMalformed) {
				t.Fatalf("err = %v, want ErrMalformed", err)
			}
		})
	}
}

func TestValidSignature(t *testing.T) {
	body := fixture(t, "message_text.json")
	good := Sign("app-secret", body)
	tests := []struct {
		name, header string
		body         []byte
		secret       Secret
		ok           bool
	}{
		{"Meta's signature", good, body, "app-secret", true},
		{"other secret", good, body, "another-secret", false},
		{"body changed by one byte", good, append(append([]byte{}, body...), ' '), "app-secret", false},
		{"no prefix", strings.TrimPrefix(good, "sha256="), body, "app-secret", false},
		{"sha1 header style", "sha1=" + strings.TrimPrefix(good, "sha256="), body, "app-secret", false},
		{"not hex", "sha256=zz", body, "app-secret", false},
		{"empty", "", body, "app-secret", false},
		{"no secret configured", Sign("", body), body, "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := ValidSignature(tc.secret, tc.body, tc.header); got != tc.ok {
				t.Errorf("valid = %v, want %v", got, tc.ok)
			}
		})
	}
}

func TestWindowOpen(t *testing.T) {
	now := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	wa := func(at time.Time) map[inbox.Channel]time.Time {
		return map[inbox.Channel]time.Time{inbox.ChannelWhatsApp: at, inbox.ChannelEmail: now.Add(-time.Minute)}
	}
	for _, tc := range []struct {
		name string
		conv inbox.Conversation
		open bool
	}{
		{"never wrote", inbox.Conversation{}, false},
		{"an hour ago", inbox.Conversation{LastInbound: wa(now.Add(-time.Hour))}, true},
		{"23h59m ago", inbox.Conversation{LastInbound: wa(now.Add(-24*time.Hour + time.Minute))}, true},
		{"exactly 24h ago", inbox.Conversation{LastInbound: wa(now.Add(-24 * time.Hour))}, false},
		{"two days ago, though an email came a minute ago", inbox.Conversation{LastInbound: wa(now.Add(-48 * time.Hour)),
			LastInboundAt: now.Add(-time.Minute)}, false},
		{"only by email today, never on WhatsApp", inbox.Conversation{LastInboundAt: now.Add(-time.Minute),
			LastInbound: map[inbox.Channel]time.Time{inbox.ChannelEmail: now.Add(-time.Minute)}}, false},
		{"recorded before per-channel times: any channel counts", inbox.Conversation{LastInboundAt: now.Add(-time.Hour)}, true},
	} {
		if got := WindowOpen(tc.conv, now); got != tc.open {
			t.Errorf("%s: open = %v, want %v", tc.name, got, tc.open)
		}
	}
}

// FuzzDecodeWebhook feeds the webhook decoder arbitrary bodies: it must never panic, and every
// message it accepts must become a skip or an inbound message keyed by its wamid with a sender.
func FuzzDecodeWebhook(f *testing.F) {
	entries, err := os.ReadDir("testdata")
	if err != nil {
		f.Fatal(err)
	}
	for _, e := range entries {
		f.Add(fixture(f, e.Name()))
	}
	f.Add([]byte(`{"object":"whatsapp_business_account","entry":[{"changes":[{"field":"messages","value":{"messages":[{"id":"w","from":"1","type":"image"}]}}]}]}`))
	f.Add([]byte(`{"object":"x","entry":[{"changes":[{"value":{"messages":[{"timestamp":1e30}]}}]}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		env, err := DecodeWebhook(body)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v is not ErrMalformed", err)
			}
			return
		}
		for _, e := range env.Entry {
			for _, ch := range e.Changes {
				for _, m := range ch.Value.Messages {
					d := draftOf(m, ch.Value.Contacts)
					if d.Skip != "" {
						continue
					}
					if d.In.ExternalID != m.ID || m.ID == "" {
						t.Fatalf("external id %q for wamid %q", d.In.ExternalID, m.ID)
					}
					if len(d.In.From) != 2 || !strings.HasPrefix(d.In.From[0].Value, "+") {
						t.Fatalf("from %+v", d.In.From)
					}
					if strings.TrimSpace(d.In.Text) == "" && len(d.Media) == 0 {
						t.Fatalf("message %+v became an empty message", m)
					}
				}
				for _, s := range ch.Value.Statuses {
					_ = s.Timestamp.Time
					for _, e := range s.Errors {
						_ = e.String()
					}
				}
			}
		}
	})
}
