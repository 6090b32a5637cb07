package telegram

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/serambi/serambi/connectors/telegram/telegramfake"
	"github.com/serambi/serambi/inbox"
)

// fixtureFiles are the files the message fixtures refer to.
func addFixtureFiles(f *telegramfake.Server) map[string][]byte {
	data := map[string][]byte{
		"AgACAgQAAxkBAAIBZ2_large":  bytes.Repeat([]byte("JPEGDATA"), 1000),
		"BQACAgQAAxkBAAIBaGdoc":     []byte("%PDF-1.7 invoice 1234"),
		"AwACAgQAAxkBAAIBamvoice":   []byte("OggS voice"),
		"BAACAgQAAxkBAAIBa2video":   []byte("ftypmp42 video"),
		"CAACAgIAAxkBAAIBbHsticker": []byte("RIFF....WEBPVP8 sticker"),
	}
	for id, b := range data {
		f.AddFile(telegramfake.File{ID: id, UniqueID: "u" + id[len(id)-6:], Data: b})
	}
	// 70 MB: over the 20 MB getFile limit; the fake holds no bytes for it.
	f.AddFile(telegramfake.File{ID: "BQACAgQAAxkBAAIBaWbig", UniqueID: "AgADbig1", Size: 73400320})
	return data
}

// TestPollingStoresEveryKind runs the poller over every fixture and checks what each became.
func TestPollingStoresEveryKind(t *testing.T) {
	e := newEnv(t)
	files := addFixtureFiles(e.fake)
	fixtures := []string{"update_text.json", "update_photo.json", "update_document.json", "update_document_big.json",
		"update_voice.json", "update_video.json", "update_sticker.json", "update_sticker_animated.json", "update_location.json",
		"update_contact_other.json", "update_edited.json", "update_reply.json", "update_group.json", "update_poll.json",
		"update_reaction.json", "update_callback.json", "update_channel_post.json", "update_dice.json"}
	var last int64
	for _, f := range fixtures {
		last = e.fake.Push(fixture(t, f))
	}
	c := e.connector()
	stop := e.run(c)
	waitFor(t, "every update to be acknowledged", func() bool { return e.offset(c) == last+1 })
	stop()

	photo := e.mustMessage(testBot + ":777000111:42")
	if len(photo.Attachments) != 1 || !bytes.Equal(e.blob(photo.Attachments[0].SHA256), files["AgACAgQAAxkBAAIBZ2_large"]) {
		t.Errorf("photo: want the largest size stored, got %+v", photo.Attachments)
	}
	if photo.Text != "Paketnya rusak" {
		t.Errorf("photo caption %q", photo.Text)
	}
	for ext, id := range map[string]string{"43": "BQACAgQAAxkBAAIBaGdoc", "45": "AwACAgQAAxkBAAIBamvoice", "46": "BAACAgQAAxkBAAIBa2video", "47": "CAACAgIAAxkBAAIBbHsticker"} {
		m := e.mustMessage(testBot + ":777000111:" + ext)
		if len(m.Attachments) != 1 || !bytes.Equal(e.blob(m.Attachments[0].SHA256), files[id]) {
			t.Errorf("message %s: attachment %+v does not hold file %s", ext, m.Attachments, id)
		}
	}
	big := e.mustMessage(testBot + ":777000111:44")
	if len(big.Attachments) != 0 || !strings.Contains(big.Text, "video-unboxing.mov (70.0 MB) is larger than the 20.0 MB") {
		t.Errorf("oversized document: text %q, attachments %+v", big.Text, big.Attachments)
	}
	if e.fake.Calls("getFile") != 5 {
		t.Errorf("getFile called %d times; the oversized file must not be asked for", e.fake.Calls("getFile"))
	}
	if anim := e.mustMessage(testBot + ":777000111:48"); len(anim.Attachments) != 0 || anim.Text != "Sticker 😂" {
		t.Errorf("animated sticker %q %+v", anim.Text, anim.Attachments)
	}
	orig, edit := e.mustMessage(testBot+":777000111:41"), e.mustMessage(testBot+":777000111:41:edit:1732400200")
	if orig.Text != "Halo, pesanan saya #1234 belum sampai" || edit.Meta["edited"] != "true" || edit.Meta["editOf"] != orig.ExternalID {
		t.Errorf("edit: original %q, edit %q %v", orig.Text, edit.Text, edit.Meta)
	}
	if m := e.mustMessage(testBot + ":777000111:54"); !strings.Contains(m.Text, "Unsupported Telegram message: poll") {
		t.Errorf("poll stored as %q", m.Text)
	}
	if m := e.mustMessage(testBot + ":update:500016"); !strings.Contains(m.Text, "message_reaction") {
		t.Errorf("unknown update stored as %q", m.Text)
	}
	if _, ok := e.message(testBot + ":-1001234567890:53"); ok {
		t.Error("a group chat message was stored with groups disabled")
	}
	if _, ok := e.message(testBot + ":-1009876543210:3"); ok {
		t.Error("a channel post was stored")
	}
	// Everything from Siti is one customer with one conversation.
	conv, err := e.inbox.ConversationOfCustomer(context.Background(), photo.CustomerID)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(e.timeline(conv.ID)); n != 16 {
		t.Errorf("%d timeline entries, want 16: 18 updates less the group message and the channel post", n)
	}
	if c, _ := e.inbox.Customer(context.Background(), photo.CustomerID); c.Name != "Siti Rahma" {
		t.Errorf("customer name %q", c.Name)
	}
}

// TestRestartMidStream stops the poller in the middle of a batch, while an update's file is
// being fetched, and starts a new instance: every update ends up stored exactly once.
func TestRestartMidStream(t *testing.T) {
	e := newEnv(t)
	e.fake.AddFile(telegramfake.File{ID: "photo-6", UniqueID: "p6", Data: []byte("photo six")})
	var ids []int64
	for i := 1; i <= 12; i++ {
		msg := map[string]any{"message_id": i, "date": 1732400000 + i, "from": map[string]any{"id": 42, "first_name": "Ani"},
			"chat": map[string]any{"id": 42, "type": "private"}, "text": fmt.Sprintf("message %d", i)}
		if i == 6 {
			delete(msg, "text")
			msg["photo"] = []any{map[string]any{"file_id": "photo-6", "file_unique_id": "p6", "width": 10, "height": 10, "file_size": 9}}
		}
		ids = append(ids, e.fake.PushMessage("message", msg))
	}
	reached := make(chan struct{}, 1)
	e.fake.Hook("getFile", func(r *http.Request) {
		select {
		case reached <- struct{}{}:
		default:
		}
		<-r.Context().Done() // the first instance never gets its answer
	})
	first := e.connector()
	stop := e.run(first)
	select {
	case <-reached:
	case <-time.After(20 * time.Second):
		t.Fatal("the poller never reached the photo")
	}
	stop()
	if got := e.offset(first); got != ids[5] {
		t.Fatalf("after the stop the offset is %d, want %d: the update being fetched is not acknowledged", got, ids[5])
	}
	if n := e.ingest.stored.Load(); n != 5 {
		t.Fatalf("%d stored before the stop, want 5", n)
	}

	e.fake.Hook("getFile", nil)
	second := e.connector(func(c *Config) { c.Instance = "test-b" })
	stop = e.run(second)
	waitFor(t, "the rest of the stream", func() bool { return e.offset(second) == ids[11]+1 })
	stop()

	if s, d := e.ingest.stored.Load(), e.ingest.duplicates.Load(); s != 12 || d != 0 {
		t.Errorf("stored %d, duplicates %d: want 12 stored, none twice", s, d)
	}
	m := e.mustMessage(testBot + ":42:6")
	if len(m.Attachments) != 1 || string(e.blob(m.Attachments[0].SHA256)) != "photo six" {
		t.Errorf("the interrupted update lost its photo: %+v", m.Attachments)
	}
	conv, _ := e.inbox.ConversationOfCustomer(context.Background(), m.CustomerID)
	if n := len(e.timeline(conv.ID)); n != 12 {
		t.Errorf("%d timeline entries, want 12", n)
	}
	if offs := e.fake.Offsets(); !slices.IsSorted(offs) {
		t.Errorf("getUpdates offsets went backwards: %v", offs)
	}
}

// TestCrashBetweenStoreAndOffset covers the one window where an update is delivered again:
// stored, but the process died before the offset was written. It is found stored, not added.
func TestCrashBetweenStoreAndOffset(t *testing.T) {
	e := newEnv(t)
	var ids []int64
	for i := 1; i <= 3; i++ {
		ids = append(ids, e.fake.PushMessage("message", map[string]any{"message_id": i, "date": 1732400000,
			"from": map[string]any{"id": 42, "first_name": "Ani"}, "chat": map[string]any{"id": 42, "type": "private"}, "text": "x"}))
	}
	c := e.connector()
	stop := e.run(c)
	waitFor(t, "the batch", func() bool { return e.offset(c) == ids[2]+1 })
	stop()
	// Roll the offset back as if the last two offset writes were lost. Telegram then still has
	// those updates (it forgets an update only when asked for a higher offset): a fresh fake
	// holds them.
	if err := e.store.PutState(context.Background(), c.offsetKey(), []byte(fmt.Sprint(ids[1]))); err != nil {
		t.Fatal(err)
	}
	telegram := telegramfake.New(t, secretToken)
	for i := 2; i <= 3; i++ {
		telegram.Push(fmt.Appendf(nil, `{"update_id":%d,"message":{"message_id":%d,"date":1732400000,"from":{"id":42,"first_name":"Ani"},"chat":{"id":42,"type":"private"},"text":"x"}}`, ids[i-1], i))
	}
	c = e.connector(func(c *Config) { c.APIBase = telegram.URL() })
	stop = e.run(c)
	waitFor(t, "the redelivered updates", func() bool { return e.offset(c) == ids[2]+1 })
	stop()
	if s, d := e.ingest.stored.Load(), e.ingest.duplicates.Load(); s != 3 || d != 2 {
		t.Errorf("stored %d, duplicates %d: want 3 stored once and 2 redeliveries recognised", s, d)
	}
}

// TestOneInstancePolls: a second instance with the bot's lease held elsewhere never polls.
func TestOneInstancePolls(t *testing.T) {
	e := newEnv(t)
	e.fake.PushMessage("message", map[string]any{"message_id": 1, "date": 1, "from": map[string]any{"id": 42, "first_name": "Ani"},
		"chat": map[string]any{"id": 42, "type": "private"}, "text": "x"})
	a := e.connector()
	stopA := e.run(a)
	waitFor(t, "the first instance to poll", func() bool { return e.fake.Calls("getUpdates") > 0 })
	// The same bot behind another API base, so the second instance's calls can be told apart.
	other := telegramfake.New(t, secretToken)
	other.PushMessage("message", map[string]any{"message_id": 2, "date": 1, "from": map[string]any{"id": 42, "first_name": "Ani"},
		"chat": map[string]any{"id": 42, "type": "private"}, "text": "y"})
	b := e.connector(func(c *Config) { c.Instance = "test-b"; c.APIBase = other.URL() })
	stopB := e.run(b)
	time.Sleep(300 * time.Millisecond)
	if n := other.Calls("getUpdates"); n != 0 {
		t.Fatalf("the second instance polled %d times while the first held the lease", n)
	}
	stopA() // releases the lease
	waitFor(t, "the second instance to take over", func() bool { return other.Calls("getUpdates") > 0 })
	stopB()
}

// TestFloodControl: getUpdates and getFile answering 429 with retry_after are waited out as
// asked, and nothing is acknowledged before it is stored.
func TestFloodControl(t *testing.T) {
	e := newEnv(t)
	e.fake.AddFile(telegramfake.File{ID: "doc", UniqueID: "d", Data: []byte("contract")})
	id := e.fake.PushMessage("message", map[string]any{"message_id": 7, "date": 1, "from": map[string]any{"id": 42, "first_name": "Ani"},
		"chat": map[string]any{"id": 42, "type": "private"}, "document": map[string]any{"file_id": "doc", "file_unique_id": "d", "file_name": "c.pdf", "file_size": 8}})
	e.fake.Fail("getUpdates", 3, 429, "Too Many Requests: retry after 5", 5)
	e.fake.Fail("getFile", 2, 429, "Too Many Requests: retry after 7", 7)
	c := e.connector()
	stop := e.run(c)
	waitFor(t, "the update", func() bool { return e.offset(c) == id+1 })
	stop()
	m := e.mustMessage(testBot + ":42:7")
	if len(m.Attachments) != 1 {
		t.Errorf("attachments %+v", m.Attachments)
	}
	want := []time.Duration{5 * time.Second, 5 * time.Second, 5 * time.Second, 7 * time.Second, 7 * time.Second}
	if got := e.ingest.waited(); !slices.Equal(got, want) {
		t.Errorf("waited %v, want %v (what retry_after asked)", got, want)
	}
	if e.fake.Calls("getFile") != 3 || e.ingest.stored.Load() != 1 {
		t.Errorf("getFile %d calls, %d stored", e.fake.Calls("getFile"), e.ingest.stored.Load())
	}
}

// TestPollingDeletesWebhook: getUpdates is refused while a webhook is set, so polling mode
// removes it first.
func TestPollingDeletesWebhook(t *testing.T) {
	e := newEnv(t)
	c := e.connector()
	if err := c.SetWebhook(context.Background()); err != nil {
		t.Fatal(err)
	}
	id := e.fake.PushMessage("message", map[string]any{"message_id": 1, "date": 1, "from": map[string]any{"id": 42, "first_name": "Ani"},
		"chat": map[string]any{"id": 42, "type": "private"}, "text": "x"})
	stop := e.run(c)
	waitFor(t, "the update", func() bool { return e.offset(c) == id+1 })
	stop()
	if u, _ := e.fake.Webhook(); u != "" {
		t.Errorf("webhook still set to %q", u)
	}
}

// TestContactShareLinksToPhoneCustomer: a customer first known by phone (a shop order, a call)
// shares their phone number from Telegram and becomes one customer with both identities.
func TestContactShareLinksToPhoneCustomer(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	known, err := e.inbox.Ingest(ctx, inbox.Inbound{Channel: inbox.ChannelWhatsApp, ExternalID: "wamid.A",
		From: []inbox.Identity{{Kind: inbox.KindWhatsApp, Value: "+6281234567890", Verified: true}, {Kind: inbox.KindPhone, Value: "+6281234567890", Verified: true}},
		Name: "Siti", Text: "halo dari WhatsApp"})
	if err != nil {
		t.Fatal(err)
	}
	id := e.fake.Push(fixture(t, "update_contact_own.json"))
	c := e.connector()
	stop := e.run(c)
	waitFor(t, "the contact", func() bool { return e.offset(c) == id+1 })
	stop()
	m := e.mustMessage(testBot + ":777000111:50")
	if m.CustomerID != known.CustomerID {
		t.Fatalf("the Telegram user became customer %s, want the phone's customer %s", m.CustomerID, known.CustomerID)
	}
	cust, _ := e.inbox.Customer(ctx, known.CustomerID)
	tg, ok := cust.Identity(inbox.KindTelegram)
	if !ok || tg.Value != "777000111" || !tg.Verified {
		t.Errorf("identities %+v: want the verified Telegram identity linked", cust.Identities)
	}
}

// TestSomeoneElsesContactIsContent: a contact card for another person links nothing.
func TestSomeoneElsesContactIsContent(t *testing.T) {
	e := newEnv(t)
	id := e.fake.Push(fixture(t, "update_contact_other.json"))
	c := e.connector()
	stop := e.run(c)
	waitFor(t, "the contact", func() bool { return e.offset(c) == id+1 })
	stop()
	m := e.mustMessage(testBot + ":777000111:51")
	cust, _ := e.inbox.Customer(context.Background(), m.CustomerID)
	if _, ok := cust.Identity(inbox.KindPhone); ok {
		t.Errorf("identities %+v: another person's number must not become this customer's", cust.Identities)
	}
}

func TestGroupsWhenEnabled(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.AllowGroups = true })
	id := e.fake.Push(fixture(t, "update_group.json"))
	c := e.connector()
	stop := e.run(c)
	waitFor(t, "the group message", func() bool { return e.offset(c) == id+1 })
	stop()
	if m := e.mustMessage(testBot + ":-1001234567890:53"); m.Meta["chatTitle"] != "Pelanggan Setia" {
		t.Errorf("meta %v", m.Meta)
	}
}

// TestPollingGivesUpOnAFileNotOnTheMessage: an update whose file keeps failing is tried a few
// times, then stored with a notice, and the updates behind it follow.
func TestPollingGivesUpOnAFileNotOnTheMessage(t *testing.T) {
	e := newEnv(t)
	e.fake.AddFile(telegramfake.File{ID: "doc", UniqueID: "d", Data: []byte("contract")})
	e.fake.PushMessage("message", map[string]any{"message_id": 1, "date": 1, "from": map[string]any{"id": 42, "first_name": "Ani"},
		"chat": map[string]any{"id": 42, "type": "private"}, "document": map[string]any{"file_id": "doc", "file_unique_id": "d", "file_name": "c.pdf", "file_size": 8}})
	last := e.fake.PushMessage("message", map[string]any{"message_id": 2, "date": 2, "from": map[string]any{"id": 42, "first_name": "Ani"},
		"chat": map[string]any{"id": 42, "type": "private"}, "text": "after"})
	e.fake.Fail("getFile", 100, 500, "Internal Server Error", 0)
	c := e.connector()
	stop := e.run(c)
	waitFor(t, "both updates", func() bool { return e.offset(c) == last+1 })
	stop()
	m := e.mustMessage(testBot + ":42:1")
	if len(m.Attachments) != 0 || !strings.Contains(m.Text, "c.pdf could not be downloaded from Telegram after several tries") {
		t.Errorf("text %q", m.Text)
	}
	if n := e.fake.Calls("getFile"); n != maxTries {
		t.Errorf("%d getFile calls, want %d", n, maxTries)
	}
	e.mustMessage(testBot + ":42:2")
}

// TestBlockAndUnblock: Telegram's my_chat_member updates for a private chat mark the customer's
// Telegram identity unreachable when they block the bot and reachable when they unblock it.
func TestBlockAndUnblock(t *testing.T) {
	e := newEnv(t)
	c := e.connector()
	ctx := context.Background()
	reachable := func() bool {
		m := e.mustMessage(testBot + ":777000111:41")
		cust, err := e.inbox.Customer(ctx, m.CustomerID)
		if err != nil {
			t.Fatal(err)
		}
		id, _ := cust.Identity(inbox.KindTelegram)
		return !id.Unreachable
	}
	for _, step := range []struct {
		fixture   string
		reachable bool
	}{{"update_text.json", true}, {"update_blocked.json", false}, {"update_unblocked.json", true}} {
		id := e.fake.Push(fixture(t, step.fixture))
		stop := e.run(c)
		waitFor(t, step.fixture, func() bool { return e.offset(c) == id+1 })
		stop()
		if got := reachable(); got != step.reachable {
			t.Errorf("after %s: reachable %v, want %v", step.fixture, got, step.reachable)
		}
	}
	if n := e.ingest.stored.Load(); n != 1 {
		t.Errorf("%d messages stored; block changes are not timeline messages", n)
	}
}
