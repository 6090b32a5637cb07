package telegram

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/serambi/serambi/inbox"
)

// outboundEnv is a Telegram customer with a conversation, and a real outbox dispatcher whose
// clock the test moves.
type outboundEnv struct {
	*testEnv
	conn       *Connector
	dispatcher *inbox.Dispatcher
	conv       inbox.Conversation
	customerID string
}

func newOutbound(t *testing.T) *outboundEnv {
	e := newEnv(t)
	conn := e.connector()
	res, err := e.inbox.Ingest(context.Background(), inbox.Inbound{Channel: inbox.ChannelTelegram, ExternalID: testBot + ":42:1",
		From: []inbox.Identity{{Kind: inbox.KindTelegram, Value: "42", Verified: true}}, Name: "Ani", Text: "halo"})
	if err != nil {
		t.Fatal(err)
	}
	d := inbox.NewDispatcher(e.store, map[inbox.Channel]inbox.Sender{inbox.ChannelTelegram: conn}, e.events,
		inbox.DispatcherConfig{Owner: "dispatcher-1", MaxAttempts: 8, Workers: 1}, e.clock.Now, e.log)
	return &outboundEnv{testEnv: e, conn: conn, dispatcher: d, conv: res.Conversation, customerID: res.CustomerID}
}

func (o *outboundEnv) reply(text string, atts ...inbox.Attachment) inbox.Message {
	o.t.Helper()
	m, err := o.inbox.Reply(context.Background(), inbox.ReplyRequest{ConversationID: o.conv.ID, AgentID: "agent-1",
		AgentName: "Dewi", Channel: inbox.ChannelTelegram, Text: text, Attachments: atts})
	if err != nil {
		o.t.Fatal(err)
	}
	return m
}

// dispatch runs one dispatcher pass and returns how many jobs it worked on.
func (o *outboundEnv) dispatch() int {
	o.t.Helper()
	n, err := o.dispatcher.RunOnce(context.Background())
	if err != nil {
		o.t.Fatal(err)
	}
	return n
}

func (o *outboundEnv) stored(id string) inbox.Message {
	o.t.Helper()
	m, err := o.store.MessageByID(context.Background(), id)
	if err != nil {
		o.t.Fatal(err)
	}
	return m
}

func (o *outboundEnv) attachment(name, contentType string, data []byte) inbox.Attachment {
	o.t.Helper()
	sha, size, err := o.blobs.Put(context.Background(), bytes.NewReader(data), 1<<30)
	if err != nil {
		o.t.Fatal(err)
	}
	return inbox.Attachment{SHA256: sha, Name: name, ContentType: contentType, Size: size}
}

// TestSendText: what the agent types is what the customer reads, however it is written.
func TestSendText(t *testing.T) {
	texts := []string{
		"Terima kasih! Pesanan #1234 (Rp 150.000) dikirim hari ini.",
		"*not bold* _not italic_ [not](a link) `not code` > not a quote ||no spoiler|| ~no~",
		`Path: C:\Users\ani\new_folder — 50% off!`,
		"Baris satu\nBaris dua\n\n👍🏽",
	}
	for _, text := range texts {
		o := newOutbound(t)
		m := o.reply(text)
		if n := o.dispatch(); n != 1 {
			t.Fatalf("dispatched %d", n)
		}
		sent := o.fake.Sent()
		if len(sent) != 1 || sent[0].Text != text || sent[0].ChatID != 42 || sent[0].ParseMode != "MarkdownV2" {
			t.Fatalf("sent %v, want %q to chat 42", sent, text)
		}
		got := o.stored(m.ID)
		want := MessageExternalID(testBot, 42, sent[0].MessageID)
		if got.Delivery != inbox.DeliverySent || got.ExternalID != want {
			t.Errorf("delivery %s, external id %q; want sent, %q", got.Delivery, got.ExternalID, want)
		}
	}
}

func TestSendLongTextIsSplit(t *testing.T) {
	o := newOutbound(t)
	text := strings.Repeat("Paragraf panjang dengan titik. ", 200) // 6,200 characters
	m := o.reply(text)
	o.dispatch()
	sent := o.fake.Sent()
	if len(sent) != 2 {
		t.Fatalf("%d messages, want 2", len(sent))
	}
	if sent[0].Text+sent[1].Text != strings.TrimSpace(text) {
		t.Error("the pieces do not make the text")
	}
	if got := o.stored(m.ID).ExternalID; got != MessageExternalID(testBot, 42, sent[0].MessageID) {
		t.Errorf("external id %q: want the first piece's", got)
	}
}

func TestSendAttachments(t *testing.T) {
	o := newOutbound(t)
	jpeg := append([]byte{0xff, 0xd8, 0xff}, bytes.Repeat([]byte{1}, 5000)...)
	photo := o.attachment("foto.jpg", "image/jpeg", jpeg)
	o.reply("Ini fotonya.", photo)
	o.dispatch()
	pdf := o.attachment("invoice.pdf", "application/pdf", []byte("%PDF-1.7 ..."))
	o.reply("Invoice dan foto:", pdf, photo)
	o.dispatch()

	sent := o.fake.Sent()
	var got []string
	for _, s := range sent {
		got = append(got, s.Method+"|"+s.Text+"|"+s.FileName)
	}
	want := []string{"sendPhoto|Ini fotonya.|foto.jpg", "sendMessage|Invoice dan foto:|", "sendDocument||invoice.pdf", "sendPhoto||foto.jpg"}
	if !slices.Equal(got, want) {
		t.Fatalf("sent %q, want %q", got, want)
	}
	if !bytes.Equal(sent[0].File, jpeg) || string(sent[2].File) != "%PDF-1.7 ..." {
		t.Error("uploaded bytes differ from the stored attachment")
	}
}

// TestSend429Storm: every 429 is waited out for exactly its retry_after, by the outbox, and the
// message goes out once.
func TestSend429Storm(t *testing.T) {
	o := newOutbound(t)
	o.fake.Fail("sendMessage", 3, 429, "Too Many Requests: retry after 3", 3)
	m := o.reply("sabar ya")
	for attempt := 1; attempt <= 3; attempt++ {
		if n := o.dispatch(); n != 1 {
			t.Fatalf("attempt %d: dispatched %d", attempt, n)
		}
		if got := o.stored(m.ID); got.Delivery != inbox.DeliveryQueued {
			t.Fatalf("attempt %d: delivery %s, want still queued", attempt, got.Delivery)
		}
		o.clock.Advance(2900 * time.Millisecond)
		if n := o.dispatch(); n != 0 {
			t.Fatalf("attempt %d: retried before retry_after passed", attempt)
		}
		o.clock.Advance(100 * time.Millisecond)
	}
	if n := o.dispatch(); n != 1 {
		t.Fatalf("final attempt dispatched %d", n)
	}
	if got := o.stored(m.ID); got.Delivery != inbox.DeliverySent {
		t.Errorf("delivery %s, want sent", got.Delivery)
	}
	if n := len(o.fake.Sent()); n != 1 || o.fake.Calls("sendMessage") != 4 {
		t.Errorf("sent %d in %d calls; want 1 in 4", n, o.fake.Calls("sendMessage"))
	}
}

// TestSendToBlockedUser: 403 fails the message with Telegram's reason at once and marks the
// customer's Telegram identity unreachable, so the console stops offering Telegram.
func TestSendToBlockedUser(t *testing.T) {
	o := newOutbound(t)
	o.fake.Block(42)
	m := o.reply("halo?")
	o.dispatch()
	got := o.stored(m.ID)
	if got.Delivery != inbox.DeliveryFailed || !strings.Contains(got.DeliveryError, "bot was blocked by the user") {
		t.Errorf("delivery %s %q; want failed with Telegram's reason", got.Delivery, got.DeliveryError)
	}
	if o.fake.Calls("sendMessage") != 1 {
		t.Errorf("%d attempts; a block is not retried", o.fake.Calls("sendMessage"))
	}
	cust, err := o.inbox.Customer(context.Background(), o.customerID)
	if err != nil {
		t.Fatal(err)
	}
	if id, _ := cust.Identity(inbox.KindTelegram); !id.Unreachable {
		t.Errorf("telegram identity %+v not marked unreachable", id)
	}
	conv, _ := o.inbox.Conversation(context.Background(), o.conv.ID)
	if slices.Contains(inbox.ReplyChannels(cust, conv), inbox.ChannelTelegram) {
		t.Error("Telegram is still offered for replies")
	}
}

func TestSendFailures(t *testing.T) {
	tests := []struct {
		name      string
		code      int
		desc      string
		wantState inbox.Delivery
	}{
		{"bad request fails at once", 400, "Bad Request: chat not found", inbox.DeliveryFailed},
		{"Telegram's trouble is retried", 502, "Bad Gateway", inbox.DeliveryQueued},
		{"a revoked token is retried until an admin fixes it", 401, "Unauthorized", inbox.DeliveryQueued},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := newOutbound(t)
			o.fake.Fail("sendMessage", 1, tc.code, tc.desc, 0)
			m := o.reply("x")
			o.dispatch()
			if got := o.stored(m.ID); got.Delivery != tc.wantState {
				t.Errorf("delivery %s, want %s (%q)", got.Delivery, tc.wantState, got.DeliveryError)
			}
		})
	}
}
