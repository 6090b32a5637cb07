package whatsapp

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/serambi/serambi/connectors/whatsapp/whatsappfake"
	"github.com/serambi/serambi/inbox"
)

// outboundEnv is a WhatsApp customer who wrote at the env's clock, and a real outbox dispatcher.
type outboundEnv struct {
	*testEnv
	dispatcher *inbox.Dispatcher
	conv       inbox.Conversation
}

func newOutbound(t *testing.T) *outboundEnv {
	e := newEnv(t)
	if status, msg := e.deliver(fixture(t, "message_text.json")); status != 200 {
		t.Fatalf("%d %s", status, msg)
	}
	m := e.mustMessage("wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=")
	conv, err := e.inbox.ConversationOfCustomer(context.Background(), m.CustomerID)
	if err != nil {
		t.Fatal(err)
	}
	d := inbox.NewDispatcher(e.store, map[inbox.Channel]inbox.Sender{inbox.ChannelWhatsApp: e.conn}, e.events,
		inbox.DispatcherConfig{Owner: "dispatcher-1", MaxAttempts: 8, Workers: 1}, e.clock.Now, e.log)
	return &outboundEnv{testEnv: e, dispatcher: d, conv: conv}
}

func (o *outboundEnv) reply(text string, meta map[string]string, atts ...inbox.Attachment) inbox.Message {
	o.t.Helper()
	m, err := o.inbox.Reply(context.Background(), inbox.ReplyRequest{ConversationID: o.conv.ID, AgentID: "agent-1",
		Channel: inbox.ChannelWhatsApp, Text: text, Meta: meta, Attachments: atts})
	if err != nil {
		o.t.Fatal(err)
	}
	return m
}

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

func TestSendText(t *testing.T) {
	o := newOutbound(t)
	m := o.reply("Yes, in blue and red. *Bold* stays _as typed_.", nil)
	o.dispatch()
	sent := o.fake.Sent()
	if len(sent) != 1 || sent[0].To != "16505551234" || sent[0].Type != "text" || sent[0].Text != "Yes, in blue and red. *Bold* stays _as typed_." {
		t.Fatalf("sent %+v", sent)
	}
	if got := o.stored(m.ID); got.Delivery != inbox.DeliverySent || got.ExternalID != sent[0].WAMID {
		t.Errorf("delivery %s, external id %q; want sent with wamid %q", got.Delivery, got.ExternalID, sent[0].WAMID)
	}
}

func TestSendAttachments(t *testing.T) {
	o := newOutbound(t)
	jpeg := o.attachment("biru.jpg", "image/jpeg", []byte("\xff\xd8\xff blue"))
	pdf := o.attachment("katalog.pdf", "application/pdf", []byte("%PDF catalogue"))
	o.reply("Ini warna biru", nil, jpeg)
	o.dispatch()
	o.reply("Katalog lengkap:", nil, pdf, jpeg)
	o.dispatch()
	var got []string
	for _, s := range o.fake.Sent() {
		got = append(got, fmt.Sprintf("%s|%s|%s|%s", s.Type, s.Text, s.FileName, s.Data))
	}
	want := []string{"image|Ini warna biru||\xff\xd8\xff blue", "text|Katalog lengkap:||", "document||katalog.pdf|%PDF catalogue", "image|||\xff\xd8\xff blue"}
	if !slices.Equal(got, want) {
		t.Errorf("sent %q, want %q", got, want)
	}
	if o.fake.Calls("media-upload") != 3 {
		t.Errorf("%d uploads", o.fake.Calls("media-upload"))
	}
}

// TestCustomerServiceWindow: after 24 hours a free-form reply fails at once, with the reason,
// without a call to Meta; an approved template still goes.
func TestCustomerServiceWindow(t *testing.T) {
	o := newOutbound(t)
	o.clock.Advance(25 * time.Hour)
	m := o.reply("Masih ada yang bisa dibantu?", nil)
	o.dispatch()
	got := o.stored(m.ID)
	if got.Delivery != inbox.DeliveryFailed || !strings.Contains(got.DeliveryError, "more than 24 hours ago") {
		t.Errorf("delivery %s %q", got.Delivery, got.DeliveryError)
	}
	if o.fake.Calls("messages") != 0 {
		t.Error("a free-form message was sent outside the window")
	}
	if err := o.conn.CheckReply(o.conv, nil); !errors.Is(err, ErrWindowClosed) || !errors.Is(err, inbox.ErrInvalid) {
		t.Errorf("CheckReply = %v, want ErrWindowClosed (an ErrInvalid)", err)
	}

	tpl, _ := o.conn.Config().Template("order_update", "id")
	params := []string{"#1234", "dikirim"}
	meta := map[string]string{MetaTemplate: "order_update", MetaTemplateLanguage: "id", MetaTemplateParams: `["#1234","dikirim"]`}
	if err := o.conn.CheckReply(o.conv, meta); err != nil {
		t.Errorf("CheckReply refused a configured template: %v", err)
	}
	m = o.reply(tpl.Render(params), meta)
	o.dispatch()
	sent := o.fake.Sent()
	if len(sent) != 1 || sent[0].Type != "template" || sent[0].Template != "order_update" || sent[0].Language != "id" || !slices.Equal(sent[0].Params, params) {
		t.Fatalf("sent %+v", sent)
	}
	if got := o.stored(m.ID); got.Delivery != inbox.DeliverySent || got.Text != "Pesanan #1234 sudah dikirim." {
		t.Errorf("template message: %s %q", got.Delivery, got.Text)
	}
}

func TestTemplateRules(t *testing.T) {
	tests := []struct {
		name string
		meta map[string]string
	}{
		{"not configured", map[string]string{MetaTemplate: "promo_blast", MetaTemplateLanguage: "id"}},
		{"wrong language", map[string]string{MetaTemplate: "order_update", MetaTemplateLanguage: "en_US", MetaTemplateParams: `["a","b"]`}},
		{"too few parameters", map[string]string{MetaTemplate: "order_update", MetaTemplateParams: `["a"]`}},
		{"parameters not a list", map[string]string{MetaTemplate: "order_update", MetaTemplateParams: `{"1":"a"}`}},
		{"a parameter with a new line", map[string]string{MetaTemplate: "order_update", MetaTemplateParams: `["a","b\nc"]`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := newOutbound(t)
			if err := o.conn.CheckReply(o.conv, tc.meta); !errors.Is(err, inbox.ErrInvalid) {
				t.Errorf("CheckReply = %v", err)
			}
			m := o.reply("x", tc.meta)
			o.dispatch()
			if got := o.stored(m.ID); got.Delivery != inbox.DeliveryFailed || o.fake.Calls("messages") != 0 {
				t.Errorf("delivery %s after %d calls", got.Delivery, o.fake.Calls("messages"))
			}
		})
	}
}

// TestSendErrors: Meta's documented error codes decide between failing now and retrying.
func TestSendErrors(t *testing.T) {
	tests := []struct {
		name      string
		err       whatsappfake.GraphError
		wantState inbox.Delivery
		wantError string
		// retryAfter, when set, is when the next attempt may come.
		retryAfter time.Duration
	}{
		{"re-engagement (131047) fails with the reason", whatsappfake.GraphError{Status: 400, Code: 131047, Message: "(#131047) Re-engagement message",
			Details: "Message failed to send because more than 24 hours have passed since the customer last replied to this number."}, inbox.DeliveryFailed, "24-hour window", 0},
		{"invalid parameter fails", whatsappfake.GraphError{Status: 400, Code: 100, Message: "(#100) Invalid parameter"}, inbox.DeliveryFailed, "Invalid parameter", 0},
		{"recipient not on WhatsApp fails", whatsappfake.GraphError{Status: 400, Code: 131026, Message: "(#131026) Message undeliverable"}, inbox.DeliveryFailed, "131026", 0},
		{"throughput limit is retried", whatsappfake.GraphError{Status: 400, Code: 130429, Message: "(#130429) Rate limit hit"}, inbox.DeliveryQueued, "", 0},
		{"pair rate limit waits Retry-After", whatsappfake.GraphError{Status: 400, Code: 131056, Message: "(#131056) Pair rate limit hit", RetryAfter: 6}, inbox.DeliveryQueued, "", 6 * time.Second},
		{"app rate limit is retried", whatsappfake.GraphError{Status: 403, Code: 4, Message: "(#4) Application request limit reached"}, inbox.DeliveryQueued, "", 0},
		{"spam rate limit is retried", whatsappfake.GraphError{Status: 400, Code: 131048, Message: "(#131048) Spam rate limit hit"}, inbox.DeliveryQueued, "", 0},
		{"Meta's trouble is retried", whatsappfake.GraphError{Status: 500, Code: 131000, Message: "Something went wrong"}, inbox.DeliveryQueued, "", 0},
		{"an expired token is retried until an admin fixes it", whatsappfake.GraphError{Status: 401, Code: 190, Message: "Error validating access token"}, inbox.DeliveryQueued, "", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := newOutbound(t)
			o.fake.Fail("messages", 1, tc.err)
			m := o.reply("halo", nil)
			o.dispatch()
			got := o.stored(m.ID)
			if got.Delivery != tc.wantState || !strings.Contains(got.DeliveryError, tc.wantError) {
				t.Fatalf("delivery %s %q, want %s with %q", got.Delivery, got.DeliveryError, tc.wantState, tc.wantError)
			}
			if tc.retryAfter > 0 {
				o.clock.Advance(tc.retryAfter - time.Millisecond)
				if n := o.dispatch(); n != 0 {
					t.Fatal("retried before Retry-After")
				}
				o.clock.Advance(time.Millisecond)
				if n := o.dispatch(); n != 1 {
					t.Fatal("not retried after Retry-After")
				}
				if got := o.stored(m.ID); got.Delivery != inbox.DeliverySent {
					t.Errorf("delivery %s after the retry", got.Delivery)
				}
			}
		})
	}
}

// TestStatuses: receipts arrive batched and out of order; the message only moves forward, a
// failure carries Meta's reason, and a receipt for a message we never sent is acknowledged.
func TestStatuses(t *testing.T) {
	o := newOutbound(t)
	first := o.reply("satu", nil)
	second := o.reply("dua", nil)
	o.dispatch()
	w1, w2 := o.stored(first.ID).ExternalID, o.stored(second.ID).ExternalID
	status := func(file, wamid string) []byte {
		return []byte(strings.ReplaceAll(string(fixture(t, file)), "WAMID_PLACEHOLDER", wamid))
	}
	for _, d := range [][]byte{status("status_read.json", w1), status("status_delivered.json", w1), status("status_sent.json", w1),
		status("status_failed.json", w2), status("status_delivered.json", "wamid.NOT_OURS")} {
		if code, msg := o.deliver(d); code != 200 {
			t.Fatalf("%d %s", code, msg)
		}
	}
	if got := o.stored(first.ID); got.Delivery != inbox.DeliveryRead {
		t.Errorf("first: %s, want read (late receipts must not move it back)", got.Delivery)
	}
	got := o.stored(second.ID)
	if got.Delivery != inbox.DeliveryFailed || !strings.Contains(got.DeliveryError, "131047 Re-engagement message: Message failed to send because more than 24 hours") {
		t.Errorf("second: %s %q", got.Delivery, got.DeliveryError)
	}
	// A forged receipt changes nothing.
	if code, _ := o.deliver(status("status_failed.json", w1), "sha256="+strings.Repeat("0", 64)); code != 401 {
		t.Errorf("forged receipt answered %d", code)
	}
	if got := o.stored(first.ID); got.Delivery != inbox.DeliveryRead {
		t.Errorf("first after a forged receipt: %s", got.Delivery)
	}
}

// TestSendRateLimitStorm: a run of throttling answers is retried, waiting what Meta asked each
// time, and the message goes out once.
func TestSendRateLimitStorm(t *testing.T) {
	o := newOutbound(t)
	o.fake.Fail("messages", 4, whatsappfake.GraphError{Status: 429, Code: 130429, Message: "(#130429) Rate limit hit", RetryAfter: 2})
	m := o.reply("sabar ya", nil)
	for attempt := 1; attempt <= 4; attempt++ {
		if n := o.dispatch(); n != 1 {
			t.Fatalf("attempt %d: dispatched %d", attempt, n)
		}
		if got := o.stored(m.ID); got.Delivery != inbox.DeliveryQueued {
			t.Fatalf("attempt %d: %s %q", attempt, got.Delivery, got.DeliveryError)
		}
		o.clock.Advance(1900 * time.Millisecond)
		if n := o.dispatch(); n != 0 {
			t.Fatalf("attempt %d: retried before Retry-After", attempt)
		}
		o.clock.Advance(100 * time.Millisecond)
	}
	o.dispatch()
	if got := o.stored(m.ID); got.Delivery != inbox.DeliverySent || len(o.fake.Sent()) != 1 || o.fake.Calls("messages") != 5 {
		t.Errorf("delivery %s, %d sent in %d calls", got.Delivery, len(o.fake.Sent()), o.fake.Calls("messages"))
	}
}
