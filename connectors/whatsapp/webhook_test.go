package whatsapp

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/serambi/serambi/connectors/whatsapp/whatsappfake"
	"github.com/serambi/serambi/inbox"
)

func TestVerification(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name       string
		query      url.Values
		wantStatus int
		wantBody   string
	}{
		{"Meta's check is answered with the challenge", url.Values{"hub.mode": {"subscribe"}, "hub.verify_token": {testVerify}, "hub.challenge": {"1158201444"}}, 200, "1158201444"},
		{"wrong verify token", url.Values{"hub.mode": {"subscribe"}, "hub.verify_token": {"guess"}, "hub.challenge": {"1"}}, 403, ""},
		{"wrong mode", url.Values{"hub.mode": {"unsubscribe"}, "hub.verify_token": {testVerify}, "hub.challenge": {"1"}}, 403, ""},
		{"nothing", url.Values{}, 403, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := http.Get(e.hook + "?" + tc.query.Encode())
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.wantStatus || (tc.wantBody != "" && string(body) != tc.wantBody) {
				t.Errorf("%d %q, want %d %q", resp.StatusCode, body, tc.wantStatus, tc.wantBody)
			}
		})
	}
}

// TestWebhook is the POST contract, one delivery per scenario on a fresh store.
func TestWebhook(t *testing.T) {
	text := fixture(t, "message_text.json")
	const textWAMID = "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA="
	tests := []struct {
		name       string
		body       []byte
		signature  string // "" signs correctly; "-" sends none
		wantStatus int
		stored     []string
	}{
		{name: "signed delivery is stored", body: text, wantStatus: 200, stored: []string{textWAMID}},
		{name: "no signature", body: text, signature: "-", wantStatus: 401},
		{name: "forged signature", body: text, signature: "sha256=" + strings.Repeat("ab", 32), wantStatus: 401},
		{name: "signed with another secret", body: text, signature: whatsappfake.Sign("not-the-app-secret", text), wantStatus: 401},
		{name: "signature of another body", body: text, signature: whatsappfake.Sign(testAppSecret, fixture(t, "message_image.json")), wantStatus: 401},
		{name: "forged signature on malformed JSON is 401, not 400", body: []byte(`{"object":`), signature: "sha256=00", wantStatus: 401},
		{name: "signed malformed JSON", body: []byte(`{"object":"whatsapp_business_account","entry":[{"changes":[{"value":{"messages":[{"id":"wamid.X","from":"1",`), wantStatus: 400},
		{name: "signed JSON of the wrong shape", body: []byte(`{"object":"whatsapp_business_account","entry":"nope"}`), wantStatus: 400},
		{name: "unsupported message becomes a notice", body: fixture(t, "message_unsupported.json"), wantStatus: 200, stored: []string{"wamid.UNK1"}},
		{name: "a type nobody knows becomes a notice", body: fixture(t, "message_new_type.json"), wantStatus: 200, stored: []string{"wamid.NEW1"}},
		{name: "another product's webhook is acknowledged", body: []byte(`{"object":"page","entry":[{"id":"1","changes":[{"field":"feed","value":{}}]}]}`), wantStatus: 200},
		{name: "an oversized body is refused", body: append([]byte(`{"object":"whatsapp_business_account","x":"`), append(bytes.Repeat([]byte("a"), 4<<20), `"}`...)...), wantStatus: 413},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			var sig []string
			switch tc.signature {
			case "":
			case "-":
				sig = []string{""}
			default:
				sig = []string{tc.signature}
			}
			status, msg := e.deliver(tc.body, sig...)
			if status != tc.wantStatus {
				t.Fatalf("status %d (%s), want %d", status, msg, tc.wantStatus)
			}
			for _, w := range tc.stored {
				e.mustMessage(w)
			}
			if n := e.ingest.stored.Load(); n != int64(len(tc.stored)) {
				t.Errorf("%d messages stored, want %d", n, len(tc.stored))
			}
		})
	}
}

// TestEveryFixtureIsStored delivers every documented message type and checks the timeline.
func TestEveryFixtureIsStored(t *testing.T) {
	e := newEnv(t)
	e.fake.AddMedia(whatsappfake.Media{ID: "1003383421387256", MimeType: "image/jpeg", Data: []byte("JPEG image")})
	e.fake.AddMedia(whatsappfake.Media{ID: "1003383421387257", MimeType: "application/pdf", Data: []byte("%PDF invoice")})
	e.fake.AddMedia(whatsappfake.Media{ID: "1003383421387258", MimeType: "audio/ogg; codecs=opus", Data: []byte("OggS voice")})
	e.fake.AddMedia(whatsappfake.Media{ID: "1003383421387259", MimeType: "video/mp4", Data: []byte("mp4 video")})
	e.fake.AddMedia(whatsappfake.Media{ID: "1003383421387260", MimeType: "image/webp", Data: []byte("RIFF WEBP")})
	e.fake.AddMedia(whatsappfake.Media{ID: "1003383421387299", MimeType: "video/mp4", Size: 150 << 20})
	files := map[string]string{"wamid.IMG1": "JPEG image", "wamid.DOC1": "%PDF invoice", "wamid.AUD1": "OggS voice", "wamid.VID1": "mp4 video", "wamid.STK1": "RIFF WEBP"}
	all := []string{"message_text.json", "message_image.json", "message_document.json", "message_audio_voice.json", "message_video.json",
		"message_video_big.json", "message_sticker.json", "message_location.json", "message_contacts.json", "message_interactive_button.json",
		"message_interactive_list.json", "message_button.json", "message_reaction.json", "message_reaction_removed.json",
		"message_unsupported.json", "message_new_type.json", "message_reply_forwarded.json"}
	for _, f := range all {
		if status, msg := e.deliver(fixture(t, f)); status != 200 {
			t.Fatalf("%s: %d %s", f, status, msg)
		}
	}
	for wamid, data := range files {
		m := e.mustMessage(wamid)
		if len(m.Attachments) != 1 || string(e.blob(m.Attachments[0].SHA256)) != data {
			t.Errorf("%s: attachments %+v", wamid, m.Attachments)
		}
	}
	big := e.mustMessage("wamid.VIDBIG")
	if len(big.Attachments) != 0 || !strings.Contains(big.Text, "video.mp4 (150.0 MB) is larger than the 100.0 MB") {
		t.Errorf("oversized video: %q %+v", big.Text, big.Attachments)
	}
	if e.fake.Calls("media-download") != 5 {
		t.Errorf("%d downloads; the oversized video must not be fetched", e.fake.Calls("media-download"))
	}
	if n := e.ingest.stored.Load(); n != int64(len(all)) {
		t.Errorf("stored %d of %d", n, len(all))
	}
	m := e.mustMessage("wamid.IMG1")
	conv, _ := e.inbox.ConversationOfCustomer(context.Background(), m.CustomerID)
	if msgs, _ := e.store.ListMessages(context.Background(), conv.ID, inbox.Cursor{}, 100); len(msgs) != len(all) {
		t.Errorf("one customer's timeline has %d entries, want %d", len(msgs), len(all))
	}
}

// TestMediaFailures: Meta's trouble is answered 500 (redelivered later); media that is gone is a notice.
func TestMediaFailures(t *testing.T) {
	t.Run("Graph is down: 500, nothing stored, then the redelivery is complete", func(t *testing.T) {
		e := newEnv(t)
		e.fake.AddMedia(whatsappfake.Media{ID: "1003383421387256", MimeType: "image/jpeg", Data: []byte("JPEG")})
		e.fake.Fail("media-info", 1, whatsappfake.GraphError{Status: 500, Code: 2, Type: "OAuthException", Message: "Service temporarily unavailable"})
		if status, _ := e.deliver(fixture(t, "message_image.json")); status != 500 {
			t.Fatalf("status %d, want 500", status)
		}
		if _, ok := e.message("wamid.IMG1"); ok {
			t.Fatal("stored without its image")
		}
		if status, _ := e.deliver(fixture(t, "message_image.json")); status != 200 {
			t.Fatalf("redelivery status %d", status)
		}
		if m := e.mustMessage("wamid.IMG1"); len(m.Attachments) != 1 {
			t.Errorf("attachments %+v", m.Attachments)
		}
	})
	t.Run("the download is throttled: 500", func(t *testing.T) {
		e := newEnv(t)
		e.fake.AddMedia(whatsappfake.Media{ID: "1003383421387256", MimeType: "image/jpeg", Data: []byte("JPEG")})
		e.fake.Fail("media-download", 1, whatsappfake.GraphError{Status: 429, Code: 4, Message: "(#4) Application request limit reached"})
		if status, _ := e.deliver(fixture(t, "message_image.json")); status != 500 {
			t.Fatalf("status %d, want 500", status)
		}
	})
	t.Run("media that no longer exists is a notice", func(t *testing.T) {
		e := newEnv(t) // the fake has no such media: Graph answers 400 code 100
		if status, _ := e.deliver(fixture(t, "message_image.json")); status != 200 {
			t.Fatalf("status %d", status)
		}
		m := e.mustMessage("wamid.IMG1")
		if len(m.Attachments) != 0 || !strings.Contains(m.Text, "image.jpg could not be downloaded from WhatsApp") || !strings.Contains(m.Text, "This one, in blue?") {
			t.Errorf("text %q", m.Text)
		}
	})
}

// TestBatchedDelivery: entries, changes and messages in one body, out of order, for two
// customers, with a change for another number and another field; then the whole batch again.
func TestBatchedDelivery(t *testing.T) {
	e := newEnv(t)
	body := fixture(t, "batch.json")
	for round := 1; round <= 2; round++ {
		if status, msg := e.deliver(body); status != 200 {
			t.Fatalf("round %d: %d %s", round, status, msg)
		}
	}
	b1, b2, b3 := e.mustMessage("wamid.BATCH1"), e.mustMessage("wamid.BATCH2"), e.mustMessage("wamid.BATCH3")
	if _, ok := e.message("wamid.OTHERNUMBER"); ok {
		t.Error("a message for another phone number id was stored")
	}
	if b2.CustomerID != b3.CustomerID || b1.CustomerID == b2.CustomerID {
		t.Errorf("customers %s %s %s: want Budi's two messages together and Sheena apart", b1.CustomerID, b2.CustomerID, b3.CustomerID)
	}
	if s, d := e.ingest.stored.Load(), e.ingest.duplicates.Load(); s != 3 || d != 3 {
		t.Errorf("stored %d, duplicates %d; want 3 and 3", s, d)
	}
	budi, _ := e.inbox.Customer(context.Background(), b2.CustomerID)
	if budi.Name != "Budi Santoso" {
		t.Errorf("name %q", budi.Name)
	}
}

func TestConcurrentRedeliveries(t *testing.T) {
	e := newEnv(t)
	body := fixture(t, "message_text.json")
	var wg sync.WaitGroup
	for range 25 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if status, msg := e.deliver(body); status != 200 {
				t.Errorf("%d %s", status, msg)
			}
		}()
	}
	wg.Wait()
	if s, d := e.ingest.stored.Load(), e.ingest.duplicates.Load(); s != 1 || d != 24 {
		t.Errorf("stored %d, duplicates %d", s, d)
	}
}

// TestSameCustomerAsPhone: a customer first known by phone (a shop order, a call) writes on
// WhatsApp and is the same customer.
func TestSameCustomerAsPhone(t *testing.T) {
	e := newEnv(t)
	known, err := e.inbox.Ingest(context.Background(), inbox.Inbound{Channel: inbox.ChannelVoice, ExternalID: "call-1",
		From: []inbox.Identity{{Kind: inbox.KindPhone, Value: "+1 650-555-1234", Verified: true}}, Text: "Missed call"})
	if err != nil {
		t.Fatal(err)
	}
	e.deliver(fixture(t, "message_text.json"))
	m := e.mustMessage("wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=")
	if m.CustomerID != known.CustomerID {
		t.Fatalf("WhatsApp customer %s, phone customer %s: want one", m.CustomerID, known.CustomerID)
	}
	c, _ := e.inbox.Customer(context.Background(), m.CustomerID)
	if wa, ok := c.Identity(inbox.KindWhatsApp); !ok || wa.Value != "+16505551234" {
		t.Errorf("identities %+v", c.Identities)
	}
}
