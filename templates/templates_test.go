package templates

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/microcosm-cc/bluemonday"

	"github.com/serambi/serambi/agents"
	"github.com/serambi/serambi/i18n"
	"github.com/serambi/serambi/inbox"
)

func viewer(t *testing.T, lang string) Viewer {
	t.Helper()
	c, err := i18n.New()
	if err != nil {
		t.Fatal(err)
	}
	jkt, _ := time.LoadLocation("Asia/Jakarta")
	return Viewer{L: c.Localizer(lang), Loc: jkt, Now: time.Date(2026, 11, 24, 2, 0, 0, 0, time.UTC),
		Dir: NewDirectory([]agents.Agent{{ID: "a1", Name: "Dewi"}}, []agents.Team{{ID: "t1", Name: "Billing"}}), HTML: bluemonday.UGCPolicy()}
}

func TestMessageBody(t *testing.T) {
	v := viewer(t, "en")
	tests := []struct {
		name               string
		m                  inbox.Message
		html, main, quoted string
	}{
		{"plain chat text", inbox.Message{Channel: inbox.ChannelWhatsApp, Direction: inbox.DirectionIn, Text: "> not a quote on chat"},
			"", "> not a quote on chat", ""},
		{"email reply collapses the quote", inbox.Message{Channel: inbox.ChannelEmail, Direction: inbox.DirectionIn,
			Text: "Thanks!\n\nOn Mon, 23 Nov 2026 Toko wrote:\n> shipped"}, "", "Thanks!", "On Mon, 23 Nov 2026 Toko wrote:\n> shipped"},
		{"Indonesian quote header", inbox.Message{Channel: inbox.ChannelEmail, Direction: inbox.DirectionIn,
			Text: "Baik\nPada Sen, 23 Nov 2026 Toko menulis:\n> dikirim"}, "", "Baik", "Pada Sen, 23 Nov 2026 Toko menulis:\n> dikirim"},
		{"a message that is only a quote keeps it", inbox.Message{Channel: inbox.ChannelEmail, Direction: inbox.DirectionIn,
			Text: "> only quoted"}, "", "> only quoted", ""},
		{"email HTML is sanitised again", inbox.Message{Channel: inbox.ChannelEmail, Direction: inbox.DirectionIn,
			HTML: `<p onclick="x()">Hi<script>alert(1)</script></p>`, Text: "Hi"}, "<p>Hi</p>", "", ""},
		{"outbound HTML is not trusted as HTML", inbox.Message{Channel: inbox.ChannelEmail, Direction: inbox.DirectionOut,
			HTML: `<b>x</b>`, Text: "x"}, "", "x", ""},
		{"inline image parts point at the attachment route", inbox.Message{ID: "m1", Channel: inbox.ChannelEmail, Direction: inbox.DirectionIn,
			HTML: `<img src="cid:logo@x" alt="logo">`, Attachments: []inbox.Attachment{{SHA256: "abc", ContentType: "image/png", ContentID: "<logo@x>"}}},
			`<img src="/files/m1/abc" alt="logo">`, "", ""},
		{"a call's first entry in the agent's language", inbox.Message{Channel: inbox.ChannelVoice, Direction: inbox.DirectionIn,
			Text: "Incoming call", Meta: map[string]string{"callId": "c1"}}, "", "Panggilan masuk", ""},
		{"other voice text stays as written", inbox.Message{Channel: inbox.ChannelVoice, Direction: inbox.DirectionIn,
			Text: "Voicemail: tolong telepon balik", Meta: map[string]string{"callId": "c2"}}, "", "Voicemail: tolong telepon balik", ""},
	}
	idv := viewer(t, "id")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := v
			if tt.m.Channel == inbox.ChannelVoice {
				v = idv
			}
			b := messageBody(v, tt.m)
			if b.HTML != tt.html || b.Main != tt.main || b.Quoted != tt.quoted {
				t.Fatalf("got html %q main %q quoted %q", b.HTML, b.Main, b.Quoted)
			}
		})
	}
}

func TestListPreview(t *testing.T) {
	id, en := viewer(t, "id"), viewer(t, "en")
	call := inbox.Conversation{LastChannel: inbox.ChannelVoice, Preview: "Incoming call"}
	chat := inbox.Conversation{LastChannel: inbox.ChannelWhatsApp, Preview: "Incoming call"}
	for _, tc := range []struct {
		v    Viewer
		c    inbox.Conversation
		want string
	}{{id, call, "Panggilan masuk"}, {en, call, "Incoming call"}, {id, chat, "Incoming call"}} {
		if got := listPreview(tc.v, tc.c); got != tc.want {
			t.Errorf("listPreview(%s, %+v) = %q, want %q", tc.v.L.Lang(), tc.c, got, tc.want)
		}
	}
}

func TestMentionSegments(t *testing.T) {
	got := mentionSegments("@dewi cek stok, cc @budi.s; mail a@b.id")
	var marks []string
	for _, s := range got {
		if s.Mention {
			marks = append(marks, s.Text)
		}
	}
	if strings.Join(marks, " ") != "@dewi @budi.s" {
		t.Fatalf("mentions %v", marks)
	}
	var all strings.Builder
	for _, s := range got {
		all.WriteString(s.Text)
	}
	if all.String() != "@dewi cek stok, cc @budi.s; mail a@b.id" {
		t.Fatalf("segments lose text: %q", all.String())
	}
}

func TestInlineImageOnlyForSafeTypes(t *testing.T) {
	for ct, want := range map[string]bool{"image/png": true, "IMAGE/JPEG": true, "image/webp": true, "image/svg+xml": false, "text/html": false, "": false} {
		if got := InlineImage(inbox.Attachment{ContentType: ct}); got != want {
			t.Errorf("InlineImage(%q) = %v, want %v", ct, got, want)
		}
	}
}

func TestListViewQueryIsCanonical(t *testing.T) {
	tests := []struct {
		lv   ListView
		want string
	}{
		{ListView{View: "mine"}, "view=mine"},
		{ListView{View: "mine", Status: "open"}, "view=mine"},
		{ListView{View: "team", TeamID: "t1", Status: "any", Tag: "vip"}, "status=any&tag=vip&team=t1&view=team"},
		{ListView{View: "all"}.With("view", "team:t9"), "team=t9&view=team"},
		{ListView{View: "all", Status: "any", Cart: CartAbandoned}, "cart=abandoned&status=any&view=all"},
		{ListView{View: "mine", Channel: "email"}.With("cart", CartAbandoned), "cart=abandoned&channel=email&view=mine"},
		// Another view keeps the filters, the cart filter among them.
		{ListView{View: "mine", Cart: CartAbandoned, Tag: "vip"}.With("view", "team:t2"), "cart=abandoned&tag=vip&team=t2&view=team"},
		{ListView{View: "unassigned", Cart: CartAbandoned}.With("cart", ""), "view=unassigned"},
	}
	for _, tt := range tests {
		if got := tt.lv.Query(); got != tt.want {
			t.Errorf("%+v.Query() = %q, want %q", tt.lv, got, tt.want)
		}
	}
}

// The same component renders a page's entry and a pushed fragment, in the viewer's language and
// zone, and escapes what customers write.
func TestMessageItemRendering(t *testing.T) {
	m := inbox.Message{ID: "m1", Direction: inbox.DirectionIn, Channel: inbox.ChannelWhatsApp, Text: "<b>halo</b>",
		CreatedAt: time.Date(2026, 11, 23, 18, 5, 0, 0, time.UTC)}
	for lang, want := range map[string]string{"en": `aria-label="Siti via WhatsApp, Tue 24 Nov 2026, 01:05 WIB"`, "id": `aria-label="Siti lewat WhatsApp, Sel 24 Nov 2026, 01:05 WIB"`} {
		var b bytes.Buffer
		if err := MessageItem(viewer(t, lang), m, "Siti").Render(context.Background(), &b); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(b.String(), want) || !strings.Contains(b.String(), "&lt;b&gt;halo&lt;/b&gt;") {
			t.Errorf("%s rendering:\n%s", lang, b.String())
		}
	}
	ev := inbox.Message{ID: "e1", Direction: inbox.DirectionEvent, Channel: inbox.ChannelInternal,
		Event: &inbox.Event{Kind: inbox.EventAssigned, ActorID: "a1", To: "a1"}, CreatedAt: m.CreatedAt}
	var b bytes.Buffer
	if err := MessageItem(viewer(t, "id"), ev, "").Render(context.Background(), &b); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "Dewi menugaskan ini ke Dewi") {
		t.Errorf("event rendering:\n%s", b.String())
	}
}

// Call entries speak the agent's language where the kind is known and keep the connector's
// words otherwise.
func TestCallText(t *testing.T) {
	call := func(kind inbox.EventKind, text string, data map[string]string) inbox.Message {
		return inbox.Message{Direction: inbox.DirectionEvent, Channel: inbox.ChannelVoice, Text: text, Event: &inbox.Event{Kind: kind, Data: data}}
	}
	tests := []struct {
		name, lang string
		m          inbox.Message
		want       string
	}{
		{"answered by an agent at an extension", "en", call("call_answered", "Answered by Emma (201)", map[string]string{"agent": "Emma", "extension": "201"}), "Answered by Emma (201)"},
		{"answered, in Indonesian", "id", call("call_answered", "x", map[string]string{"agent": "Emma"}), "Diangkat oleh Emma"},
		{"an outgoing call picked up", "en", call("call_answered", "x", map[string]string{"direction": "out"}), "Answered by the customer"},
		{"missed", "id", call("call_missed", "x", map[string]string{"customerNumber": "+6281234567890"}), "Panggilan tak terjawab dari +6281234567890"},
		{"withheld number missed", "en", call("call_missed", "x", nil), "Missed call"},
		{"ended after talk time", "en", call("call_ended", "x", map[string]string{"answeredAt": "2026-11-24T02:00:00Z", "durationText": "4:32"}), "Call ended after 4:32"},
		{"a transferred call keeps the connector's words", "en", call("call_ended", "Answered by Emma · transferred to 202 · ended after 1:00",
			map[string]string{"answeredAt": "x", "durationText": "1:00", "transfers": "202"}), "Answered by Emma · transferred to 202 · ended after 1:00"},
		{"an unknown kind keeps the connector's words", "id", call("call_recording", "Recording · 0:42", nil), "Recording · 0:42"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := callText(viewer(t, tt.lang), tt.m); got != tt.want {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
}
