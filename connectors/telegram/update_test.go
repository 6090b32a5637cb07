package telegram

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

const testBot = "7000000001"

func fixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestDraftOf is the specification of how each kind of Telegram update becomes an inbox message.
func TestDraftOf(t *testing.T) {
	siti := inbox.Identity{Kind: inbox.KindTelegram, Value: "777000111", Verified: true}
	tests := []struct {
		fixture     string
		allowGroups bool
		skip        string // substring of the skip reason; empty: the update is stored
		externalID  string
		from        []inbox.Identity
		text        []string // substrings the text must contain
		media       []mediaRef
		meta        map[string]string
	}{
		{fixture: "update_text.json", externalID: testBot + ":777000111:41", from: []inbox.Identity{siti},
			text: []string{"Halo, pesanan saya #1234 belum sampai"}, meta: map[string]string{"chatId": "777000111", "messageId": "41", "username": "sitirahma"}},
		{fixture: "update_photo.json", externalID: testBot + ":777000111:42", from: []inbox.Identity{siti},
			text:  []string{"Paketnya rusak"},
			media: []mediaRef{{FileID: "AgACAgQAAxkBAAIBZ2_large", Name: "photo_AQADq7Ex_x.jpg", ContentType: "image/jpeg", Size: 81234}}},
		{fixture: "update_document.json", externalID: testBot + ":777000111:43", text: []string{"Ini invoicenya"},
			media: []mediaRef{{FileID: "BQACAgQAAxkBAAIBaGdoc", Name: "invoice-1234.pdf", ContentType: "application/pdf", Size: 52311}}},
		{fixture: "update_voice.json", externalID: testBot + ":777000111:45", text: []string{"Voice message (7s)"},
			media: []mediaRef{{FileID: "AwACAgQAAxkBAAIBamvoice", Name: "voice.ogg", ContentType: "audio/ogg", Size: 11520}}},
		{fixture: "update_video.json", externalID: testBot + ":777000111:46",
			media: []mediaRef{{FileID: "BAACAgQAAxkBAAIBa2video", Name: "rusak.mp4", ContentType: "video/mp4", Size: 904511}}},
		{fixture: "update_sticker.json", externalID: testBot + ":777000111:47", text: []string{"Sticker 👍"},
			media: []mediaRef{{FileID: "CAACAgIAAxkBAAIBbHsticker", Name: "sticker.webp", ContentType: "image/webp", Size: 22016}}},
		{fixture: "update_sticker_animated.json", externalID: testBot + ":777000111:48", text: []string{"Sticker 😂"}},
		{fixture: "update_location.json", externalID: testBot + ":777000111:49",
			text: []string{"Location", "mlat=-6.175392&mlon=106.827153"}, meta: map[string]string{"latitude": "-6.175392", "longitude": "106.827153"}},
		{fixture: "update_contact_own.json", externalID: testBot + ":777000111:50",
			from: []inbox.Identity{siti, {Kind: inbox.KindPhone, Value: "+6281234567890", Verified: true}},
			text: []string{"Shared their phone number: +6281234567890"}, meta: map[string]string{"sharedPhone": "+6281234567890"}},
		{fixture: "update_contact_other.json", externalID: testBot + ":777000111:51", from: []inbox.Identity{siti},
			text: []string{"Contact: Budi, +6289876543210"}},
		{fixture: "update_edited.json", externalID: testBot + ":777000111:41:edit:1732400200",
			text: []string{"#1235"}, meta: map[string]string{"edited": "true", "editOf": testBot + ":777000111:41"}},
		{fixture: "update_reply.json", externalID: testBot + ":777000111:52", text: []string{"Kapan sampainya?"},
			meta: map[string]string{"replyTo": testBot + ":777000111:1001", "replyToText": "Pesanan Anda sedang dikirim."}},
		{fixture: "update_group.json", skip: "group chat"},
		{fixture: "update_group.json", allowGroups: true, externalID: testBot + ":-1001234567890:53", from: []inbox.Identity{siti},
			meta: map[string]string{"chatType": "supergroup", "chatTitle": "Pelanggan Setia"}},
		{fixture: "update_poll.json", externalID: testBot + ":777000111:54",
			text: []string{"Unsupported Telegram message: poll"}, meta: map[string]string{"unsupported": "poll"}},
		{fixture: "update_dice.json", externalID: testBot + ":777000111:55", text: []string{"Unsupported Telegram message: dice"}},
		{fixture: "update_reaction.json", externalID: testBot + ":update:500016", from: []inbox.Identity{siti},
			text: []string{`"message_reaction" update`}, meta: map[string]string{"updateKind": "message_reaction"}},
		{fixture: "update_callback.json", externalID: testBot + ":update:500017", text: []string{"Pressed a button: order_status:1234"}},
		{fixture: "update_channel_post.json", skip: "without a sender"},
		{fixture: "update_business_message.json", externalID: testBot + ":update:500020", from: []inbox.Identity{siti},
			text: []string{`"business_message" update`}},
	}
	for _, tc := range tests {
		name := strings.TrimSuffix(tc.fixture, ".json")
		if tc.allowGroups {
			name += "/groups enabled"
		}
		t.Run(name, func(t *testing.T) {
			u, err := DecodeUpdate(fixture(t, tc.fixture))
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			d := draftOf(u, testBot, tc.allowGroups)
			if tc.skip != "" {
				if !strings.Contains(d.Skip, tc.skip) {
					t.Fatalf("skip = %q, want it to say %q", d.Skip, tc.skip)
				}
				return
			}
			if d.Skip != "" {
				t.Fatalf("skipped: %s", d.Skip)
			}
			if d.In.Channel != inbox.ChannelTelegram || d.In.ExternalID != tc.externalID {
				t.Errorf("channel/external id = %s/%q, want telegram/%q", d.In.Channel, d.In.ExternalID, tc.externalID)
			}
			if tc.from != nil && !reflect.DeepEqual(d.In.From, tc.from) {
				t.Errorf("from = %+v, want %+v", d.In.From, tc.from)
			}
			for _, s := range tc.text {
				if !strings.Contains(d.In.Text, s) {
					t.Errorf("text %q does not contain %q", d.In.Text, s)
				}
			}
			if !reflect.DeepEqual(d.Media, tc.media) {
				t.Errorf("media = %+v, want %+v", d.Media, tc.media)
			}
			for k, v := range tc.meta {
				if d.In.Meta[k] != v {
					t.Errorf("meta[%s] = %q, want %q", k, d.In.Meta[k], v)
				}
			}
			if d.In.Name != "Siti Rahma" {
				t.Errorf("name = %q", d.In.Name)
			}
		})
	}
}

func TestDraftSentAt(t *testing.T) {
	u, err := DecodeUpdate(fixture(t, "update_text.json"))
	if err != nil {
		t.Fatal(err)
	}
	if got := draftOf(u, testBot, false).In.SentAt; !got.Equal(time.Unix(1732400000, 0)) {
		t.Errorf("sent at %v", got)
	}
	u, _ = DecodeUpdate(fixture(t, "update_edited.json"))
	if got := draftOf(u, testBot, false).In.SentAt; !got.Equal(time.Unix(1732400200, 0)) {
		t.Errorf("an edit is dated by its edit_date, got %v", got)
	}
}

func TestDecodeUpdateRejectsWhatIsNotAnUpdate(t *testing.T) {
	tests := []struct {
		name, body string
		wantID     int64
	}{
		{"not JSON", `{"update_id":1,`, 0},
		{"not an object", `[1,2]`, 0},
		{"null", `null`, 0},
		{"no update_id", `{"message":{"message_id":1}}`, 0},
		{"string update_id", `{"update_id":"7"}`, 0},
		{"message is not an object", `{"update_id":9,"message":"hi"}`, 9},
		{"message_id of the wrong type", `{"update_id":10,"message":{"message_id":"x","chat":{"id":1,"type":"private"}}}`, 10},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			u, err := DecodeUpdate([]byte(tc.body))
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("err = %v, want ErrMalformed", err)
			}
			if u.ID != tc.wantID {
				t.Errorf("id = %d, want %d (kept so a poller can move past it)", u.ID, tc.wantID)
			}
		})
	}
}

func TestDecodeUpdateIgnoresUnknownFields(t *testing.T) {
	u, err := DecodeUpdate([]byte(`{"update_id":3,"message":{"message_id":5,"from":{"id":1,"first_name":"A","is_premium":true},
		"chat":{"id":1,"type":"private"},"date":1,"text":"hi","link_preview_options":{"is_disabled":true},"brand_new_field":{"x":1}}}`))
	if err != nil {
		t.Fatal(err)
	}
	d := draftOf(u, testBot, false)
	if d.In.Text != "hi" || d.In.Meta["unsupported"] != "" {
		t.Errorf("text %q, unsupported %q: unknown fields must not change a known message", d.In.Text, d.In.Meta["unsupported"])
	}
}

func TestLargestPhotoDoesNotTrustOrder(t *testing.T) {
	u, err := DecodeUpdate([]byte(`{"update_id":1,"message":{"message_id":1,"from":{"id":1,"first_name":"A"},"chat":{"id":1,"type":"private"},"date":1,
		"photo":[{"file_id":"big","file_unique_id":"b","width":1280,"height":960},{"file_id":"small","file_unique_id":"s","width":90,"height":67}]}}`))
	if err != nil {
		t.Fatal(err)
	}
	if got := draftOf(u, testBot, false).Media[0].FileID; got != "big" {
		t.Errorf("picked %q, want the largest", got)
	}
}

// FuzzDecodeUpdate feeds the webhook decoder arbitrary bodies: it must never panic, and whatever
// it accepts must become either a skip or an inbound message the inbox can key.
func FuzzDecodeUpdate(f *testing.F) {
	entries, err := os.ReadDir("testdata")
	if err != nil {
		f.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".json") {
			f.Add(fixture(f, e.Name()))
		}
	}
	f.Add([]byte(`{"update_id":1}`))
	f.Add([]byte(`{"update_id":1,"message":null,"x":{}}`))
	f.Add([]byte(`{"update_id":2,"message":{"message_id":1,"from":{"id":1},"chat":{"id":1,"type":"private"},"photo":[]}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		u, err := DecodeUpdate(body)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v is not ErrMalformed", err)
			}
			return
		}
		for _, groups := range []bool{false, true} {
			d := draftOf(u, testBot, groups)
			if d.Skip != "" {
				continue
			}
			if d.In.ExternalID == "" || !strings.HasPrefix(d.In.ExternalID, testBot+":") {
				t.Fatalf("external id %q", d.In.ExternalID)
			}
			if len(d.In.From) == 0 || d.In.From[0].Kind != inbox.KindTelegram {
				t.Fatalf("from %+v", d.In.From)
			}
			if d.In.Text == "" && len(d.Media) == 0 {
				t.Fatalf("update %s became an empty message", body)
			}
		}
	})
}
