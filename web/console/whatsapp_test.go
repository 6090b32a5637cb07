package console_test

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	wa "github.com/serambi/serambi/connectors/whatsapp"
	"github.com/serambi/serambi/connectors/whatsapp/whatsappfake"
	"github.com/serambi/serambi/inbox"
	"github.com/serambi/serambi/web/console"
)

// waEnv is a console two days after the customer last wrote on WhatsApp, with the real WhatsApp
// connector as the inbox's reply policy and the console's template list, talking to a fake Graph
// API that speaks Meta's wire format.
type waEnv struct {
	*env
	wa   *wa.Connector
	meta *whatsappfake.Server
	conv string
	now  func() time.Time
}

func newWhatsAppEnv(t *testing.T, later time.Duration) *waEnv {
	t.Helper()
	w := &waEnv{meta: whatsappfake.New(t, "wa-token", "1065550100")}
	w.now = func() time.Time { return time.Now().Add(later) }
	w.env = newEnvWith(t, func(e *env, d *console.Deps) {
		w.wa = wa.New(wa.Config{AccessToken: "wa-token", AppSecret: "app-secret", VerifyToken: "verify", PhoneNumberID: "1065550100",
			GraphBase: w.meta.URL(), Templates: []wa.Template{
				{Name: "order_update", Language: "id", Params: 2, Text: "Halo {{1}}, pesanan {{2}} sudah dikirim."},
				{Name: "follow_up", Language: "en", Params: 0, Text: "Hi! Do you still need help with your order?"},
			}}, wa.Deps{Ingester: e.inbox, Deliveries: e.inbox, Blobs: e.blobs, Now: w.now})
		e.inbox.SetReplyPolicy(inbox.ChannelWhatsApp, w.wa)
		d.WhatsApp, d.Now = w.wa, w.now
	}).withAgents()
	w.conv = w.ingest(inbox.ChannelWhatsApp, "wamid.in1", whatsapp("+6281234567890"), "Siti Rahma", "Kak, pesanan saya?").Conversation.ID
	return w
}

// dispatch runs the outbox once with the test's clock: the reply goes to the fake Graph API.
func (w *waEnv) dispatch(t *testing.T) {
	t.Helper()
	d := inbox.NewDispatcher(w.store, map[inbox.Channel]inbox.Sender{inbox.ChannelWhatsApp: w.wa}, w.bus, inbox.DispatcherConfig{Owner: "test"}, w.now, w.env.console.Log)
	if _, err := d.RunOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// The composer follows WhatsApp's 24-hour window: inside it free text, outside it only the
// approved templates, with the reason.
func TestComposerWhatsAppWindow(t *testing.T) {
	tests := []struct {
		name      string
		later     time.Duration
		want, not []string
	}{
		{"inside the window the composer takes free text", time.Hour,
			[]string{`id="reply-text"`}, []string{`id="wa-templates"`, "order_update"}},
		{"outside the window it offers the approved templates and says why", 48 * time.Hour,
			[]string{`id="wa-templates"`, "more than 24 hours ago", `value="order_update|id"`, "Halo {{1}}, pesanan {{2}} sudah dikirim.",
				`name="tparam:order_update|id"`, `value="follow_up|en"`, "data-templates-only"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWhatsAppEnv(t, tt.later)
			page := w.login("budi@toko.id").get("/conversations/"+w.conv, nil)
			for _, s := range tt.want {
				if !strings.Contains(page.body, s) {
					t.Errorf("the page lacks %q", s)
				}
			}
			for _, s := range tt.not {
				if strings.Contains(page.body, s) {
					t.Errorf("the page has %q", s)
				}
			}
		})
	}
}

// Outside the window: a template goes out as that template, free text is refused with the reason
// (the browser shows it in a toast), a template with missing values is refused and nothing is stored.
func TestComposerSendsWhatsAppTemplates(t *testing.T) {
	w := newWhatsAppEnv(t, 48*time.Hour)
	budi := w.login("budi@toko.id")
	send := "/conversations/" + w.conv + "/send"

	r := budi.htmx(send, url.Values{"mode": {"reply"}, "channel": {"whatsapp"}, "text": {"Halo kak, ada yang bisa dibantu?"}})
	if r.status != 422 || !strings.Contains(r.body, "more than 24 hours ago") {
		t.Fatalf("free text outside the window: status %d body %q", r.status, r.body)
	}
	r = budi.htmx(send, url.Values{"mode": {"reply"}, "channel": {"whatsapp"}, "template": {"order_update|id"}, "tparam:order_update|id": {"Siti", ""}})
	if r.status != 422 || !strings.Contains(r.body, "Fill in every value") {
		t.Fatalf("a template with an empty value: status %d body %q", r.status, r.body)
	}
	r = budi.htmx(send, url.Values{"mode": {"reply"}, "channel": {"whatsapp"}, "template": {"secret_promo|id"}})
	if r.status != 422 || !strings.Contains(r.body, "not one an admin made available") {
		t.Fatalf("an unknown template: status %d body %q", r.status, r.body)
	}
	msgs, err := w.inbox.Messages(context.Background(), w.conv, inbox.Cursor{}, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 1 {
		t.Fatalf("refused replies were stored: %d messages", len(msgs))
	}

	r = budi.htmx(send, url.Values{"mode": {"reply"}, "channel": {"whatsapp"}, "template": {"order_update|id"},
		"tparam:order_update|id": {"Siti", "#1042"}, "tparam:follow_up|en": {"ignored"}, "text": {"a draft left in the hidden box"}})
	if r.status != 200 || !strings.Contains(r.body, "Halo Siti, pesanan #1042 sudah dikirim.") {
		t.Fatalf("template send: status %d body %q", r.status, r.body)
	}
	msgs, err = w.inbox.Messages(context.Background(), w.conv, inbox.Cursor{}, 1)
	if err != nil {
		t.Fatal(err)
	}
	m := msgs[0]
	if m.Text != "Halo Siti, pesanan #1042 sudah dikirim." || m.Meta[wa.MetaTemplate] != "order_update" ||
		m.Meta[wa.MetaTemplateLanguage] != "id" || m.Meta[wa.MetaTemplateParams] != `["Siti","#1042"]` {
		t.Fatalf("stored reply %+v", m)
	}
	w.dispatch(t)
	sent := w.meta.Sent()
	if len(sent) != 1 || sent[0].Type != "template" || sent[0].Template != "order_update" || sent[0].Language != "id" ||
		strings.Join(sent[0].Params, "|") != "Siti|#1042" || sent[0].To != "6281234567890" {
		t.Fatalf("Meta received %+v", sent)
	}
}
