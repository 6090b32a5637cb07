package widget_test

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/gorilla/websocket"

	"github.com/serambi/serambi/bus"
	"github.com/serambi/serambi/connectors/widget"
	"github.com/serambi/serambi/inbox"
)

func TestHelloMintsATokenAndSendsSettings(t *testing.T) {
	e := newEnv(t)
	c := e.connect(nil)
	w := c.waitFor("welcome", func(f frame) bool { return f.T == "welcome" })
	if len(w.Token) != 32 || w.Visitor == "" || w.Identified {
		t.Fatalf("welcome = token %q visitor %q identified %v; want a fresh 32-character token for an anonymous visitor", w.Token, w.Visitor, w.Identified)
	}
	if w.Settings.Name != "Toko Sekar" || w.Settings.Color != "#9a3412" || w.Settings.Limits.MaxChars != widget.DefaultMaxMessageChars {
		t.Fatalf("settings = %+v; want the widget inbox's name, colour and limits", w.Settings)
	}
	h := c.waitFor("history", func(f frame) bool { return f.T == "history" })
	if !h.Reset || len(h.Msgs) != 0 {
		t.Fatalf("history of a new visitor = %+v; want an empty reset", h)
	}
	// The same token again is the same visitor; a made-up short token is replaced.
	again := e.connect(map[string]any{"token": w.Token}).waitFor("welcome", func(f frame) bool { return f.T == "welcome" })
	if again.Token != w.Token || again.Visitor != w.Visitor {
		t.Fatalf("reconnecting with the token gave visitor %q, want %q", again.Visitor, w.Visitor)
	}
	guessed := e.connect(map[string]any{"token": "1234"}).waitFor("welcome", func(f frame) bool { return f.T == "welcome" })
	if guessed.Token == "1234" || len(guessed.Token) != 32 {
		t.Fatalf("a short chosen token was accepted: %q", guessed.Token)
	}
	if strings.Contains(e.logs.String(), w.Token) {
		t.Fatal("a visitor token reached the logs")
	}
}

func TestVisitorMessageIsStoredOnceAndAcked(t *testing.T) {
	e := newEnv(t)
	c := e.connect(map[string]any{"page": "https://shop.example/produk/kemeja-parang"})
	ack := c.say(cid(1), "  Apakah kemeja parang ukuran L masih ada?  ")
	if ack.Dup || ack.Msg.ID == "" || ack.Msg.From != "visitor" || ack.Msg.CID != cid(1) || ack.Msg.Seq == "" {
		t.Fatalf("ack = %+v", ack)
	}
	m := e.message(ack.Msg.ID)
	if m.Channel != inbox.ChannelWidget || m.Direction != inbox.DirectionIn || m.Text != "Apakah kemeja parang ukuran L masih ada?" ||
		m.Meta[widget.MetaInbox] != "shop" || m.Meta[widget.MetaPage] != "https://shop.example/produk/kemeja-parang" || m.HTML != "" {
		t.Fatalf("stored message = %+v", m)
	}
	cust, err := e.inbox.Customer(context.Background(), m.CustomerID)
	if err != nil {
		t.Fatal(err)
	}
	if id, ok := cust.Identity(inbox.KindWidget); !ok || !id.Verified || !strings.HasPrefix(id.Value, "v:") || strings.Contains(id.Value, c.token) {
		t.Fatalf("customer identities = %+v; want a verified widget identity that is not the token itself", cust.Identities)
	}

	// The same client id again, on this socket and after a reconnect, is the same message.
	again := c.say(cid(1), "Apakah kemeja parang ukuran L masih ada?")
	c.ws.Close()
	c2 := e.connect(map[string]any{"token": c.token})
	third := c2.say(cid(1), "Apakah kemeja parang ukuran L masih ada?")
	if !again.Dup || !third.Dup || again.Msg.ID != ack.Msg.ID || third.Msg.ID != ack.Msg.ID {
		t.Fatalf("repeats of one client id = %+v / %+v; want dup acks of message %s", again, third, ack.Msg.ID)
	}
	if n := len(e.timeline(m.ConversationID)); n != 1 {
		t.Fatalf("timeline has %d messages; want the one message once", n)
	}

	// Two visitors may use the same client id: ids are per visitor.
	other := e.connect(nil).say(cid(1), "Halo")
	if other.Dup || other.Msg.ID == ack.Msg.ID {
		t.Fatalf("another visitor's message with the same client id was taken for a duplicate: %+v", other)
	}
}

func TestEveryTabOfAVisitorSeesTheConversation(t *testing.T) {
	e := newEnv(t)
	a := e.connect(nil)
	// A second tab open before the first message has no conversation yet: it must still see it.
	b := e.connect(map[string]any{"token": a.token})
	stranger := e.connect(nil)
	ack := a.say(cid(1), "Halo, saya mau tanya")
	b.waitFor("the first tab's message", func(f frame) bool { return f.T == "msg" && f.ID == ack.Msg.ID && f.From == "visitor" })

	reply := e.reply(e.message(ack.Msg.ID).ConversationID, "Halo! Silakan, ada yang bisa dibantu?")
	for _, c := range []*client{a, b} {
		got := c.agentMsg("Halo! Silakan, ada yang bisa dibantu?")
		if got.ID != reply.ID || got.Agent == nil || got.Agent.Name != "Dewi" {
			t.Fatalf("agent reply frame = %+v; want message %s by Dewi", got, reply.ID)
		}
	}
	eventually(t, "the reply is marked sent with its widget id", func() bool {
		m := e.message(reply.ID)
		return m.Delivery != inbox.DeliveryQueued && m.ExternalID == "out:"+reply.ID
	})
	// Each tab got the reply exactly once, although both the bus and the outbox pushed it.
	for _, c := range []*client{a, b} {
		if n := c.count(func(f frame) bool { return f.T == "msg" && f.ID == reply.ID }); n != 1 {
			t.Fatalf("a tab got the reply %d times", n)
		}
	}
	time.Sleep(100 * time.Millisecond)
	if n := stranger.count(func(f frame) bool { return f.T == "msg" }); n != 0 {
		t.Fatalf("another visitor saw %d of this conversation's messages", n)
	}
}

func TestResumeGetsWhatWasMissed(t *testing.T) {
	e := newEnv(t)
	c := e.connect(nil)
	first := c.say(cid(1), "Pesanan #1042 sudah dikirim?")
	conv := e.message(first.Msg.ID).ConversationID
	e.reply(conv, "Sedang kami cek.")
	c.agentMsg("Sedang kami cek.")
	e.clock.advance(time.Minute)
	last := e.reply(conv, "Sebentar ya.")
	seen := c.agentMsg("Sebentar ya.")
	c.ws.Close()

	// While the visitor is away: two replies, a note and an email, which the widget must not show.
	e.clock.advance(time.Minute)
	missed := []inbox.Message{e.reply(conv, "Sudah dikirim kemarin via JNE."), e.reply(conv, "Resi: JNE0123456789")}
	if _, err := e.inbox.Note(context.Background(), inbox.NoteRequest{ConversationID: conv, AgentID: "a", Text: "cek gudang BDG"}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the replies are sent", func() bool { return e.message(missed[1].ID).Delivery == inbox.DeliverySent })

	r := e.connect(map[string]any{"token": c.token, "since": seen.Seq})
	h := r.waitFor("history", func(f frame) bool { return f.T == "history" })
	var got []string
	for _, m := range h.Msgs {
		got = append(got, m.ID)
	}
	// Everything after the cursor, and what is within resumeMargin (30 s) before it (here the
	// cursor's own message): the browser drops what it has by id. Nothing older.
	want := []string{last.ID, missed[0].ID, missed[1].ID}
	if h.Reset || !slices.Equal(got, want) {
		t.Fatalf("resume from %s = reset %v %v; want %v, oldest first", seen.Seq, h.Reset, got, want)
	}
	for i := 1; i < len(h.Msgs); i++ {
		if h.Msgs[i-1].Seq >= h.Msgs[i].Seq {
			t.Fatalf("history is not in sequence order: %v", h.Msgs)
		}
	}

	// A new page (no cursor) gets the recent history, the visitor's own messages included.
	fresh := e.connect(map[string]any{"token": c.token}).waitFor("history", func(f frame) bool { return f.T == "history" })
	if !fresh.Reset || len(fresh.Msgs) != 5 || fresh.Msgs[0].ID != first.Msg.ID || fresh.Msgs[0].CID != cid(1) {
		t.Fatalf("history of a new page = %+v; want the 5 widget messages from the first", fresh.Msgs)
	}
	// A cursor that is not one gets the recent history too.
	junk := e.connect(map[string]any{"token": c.token, "since": "yesterday"}).waitFor("history", func(f frame) bool { return f.T == "history" })
	if !junk.Reset || len(junk.Msgs) != 5 {
		t.Fatalf("history for a junk cursor = reset %v, %d messages", junk.Reset, len(junk.Msgs))
	}
}

func TestServerRestartLosesNothing(t *testing.T) {
	e := newEnv(t)
	c := e.connect(nil)
	first := c.say(cid(1), "Halo")
	conv := e.message(first.Msg.ID).ConversationID
	var reply inbox.Message
	e.restart(func() {
		e.clock.advance(time.Minute)
		// Written while no connector runs: it waits in the outbox.
		reply = e.reply(conv, "Maaf menunggu, ini jawabannya.")
	})
	if code := c.waitClosed(); code != websocket.CloseGoingAway {
		t.Fatalf("sockets closed with %d at shutdown; want 1001 going away", code)
	}
	r := e.connect(map[string]any{"token": c.token, "since": first.Msg.Seq})
	got := r.waitFor("the reply written during the restart", func(f frame) bool {
		if f.T == "msg" && f.ID == reply.ID {
			return true
		}
		return f.T == "history" && slices.ContainsFunc(f.Msgs, func(w wire) bool { return w.ID == reply.ID })
	})
	if got.T == "" {
		t.Fatal("unreachable")
	}
	// The visitor's message sent again after the restart (the browser did not see the ack) is no duplicate.
	if again := r.say(cid(1), "Halo"); !again.Dup || again.Msg.ID != first.Msg.ID {
		t.Fatalf("resent message after restart = %+v", again)
	}
}

func TestLimitsAnswerWithClearErrors(t *testing.T) {
	e := newEnv(t, withConfig(func(c *widget.Config) {
		c.MaxMessageChars = 20
		c.VisitorRate = widget.Rate{Count: 3, Per: time.Hour}
		c.IPRate = widget.Rate{Count: 5, Per: time.Hour}
	}))
	c := e.connect(nil)
	tests := []struct {
		name     string
		frame    map[string]any
		wantCode string
	}{
		{"too long", map[string]any{"t": "msg", "cid": cid(1), "text": strings.Repeat("a", 21)}, "too_long"},
		{"blank", map[string]any{"t": "msg", "cid": cid(2), "text": "   "}, "empty"},
		{"attachment not uploaded by the visitor", map[string]any{"t": "msg", "cid": cid(3), "text": "x",
			"att": []map[string]any{{"sha": strings.Repeat("a", 64), "name": "x.png", "type": "image/png", "size": 3, "sig": "forged"}}}, "bad_attachment"},
		{"bad pre-chat email", map[string]any{"t": "msg", "cid": cid(4), "text": "x", "profile": map[string]any{"email": "not an email"}}, "bad_email"},
		{"bad offline email", map[string]any{"t": "email", "cid": cid(5), "email": "siti@"}, "bad_email"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c.send(tt.frame)
			f := c.ackOrError(tt.frame["cid"].(string))
			if f.T != "error" || f.Code != tt.wantCode || f.Message == "" {
				t.Fatalf("answer = %+v; want error %s with a message", f, tt.wantCode)
			}
		})
	}
	// Exactly 20 characters is fine; three messages pass the visitor's rate, the fourth does not.
	for i := 10; i < 13; i++ {
		if f := c.ackOrError(cidSend(c, i, strings.Repeat("b", 20))); f.T != "ack" {
			t.Fatalf("message %d within limits refused: %+v", i, f)
		}
	}
	limited := c.ackOrError(cidSend(c, 13, "lagi"))
	if limited.Code != "rate_limited" || limited.RetryMs <= 0 {
		t.Fatalf("fourth message = %+v; want rate_limited with retryMs", limited)
	}
	// Another visitor on the same address has their own visitor budget, but shares the address's.
	d := e.connect(nil)
	for i := 20; i < 22; i++ {
		if f := d.ackOrError(cidSend(d, i, "halo")); f.T != "ack" {
			t.Fatalf("second visitor's message %d refused: %+v", i, f)
		}
	}
	if f := d.ackOrError(cidSend(d, 22, "halo")); f.Code != "rate_limited" {
		t.Fatalf("sixth message from one address = %+v; want rate_limited", f)
	}
	// Nothing refused was stored.
	if n := len(e.timeline(e.message(c.waitFor("ack", func(f frame) bool { return f.T == "ack" }).Msg.ID).ConversationID)); n != 3 {
		t.Fatalf("the visitor's timeline has %d messages; want the 3 accepted", n)
	}
}

func cidSend(c *client, n int, text string) string {
	c.send(map[string]any{"t": "msg", "cid": cid(n), "text": text})
	return cid(n)
}

func TestMalformedFrames(t *testing.T) {
	e := newEnv(t)
	c := e.connect(nil)
	tests := []struct{ name, raw string }{
		{"not JSON", `hello`},
		{"unknown field", `{"t":"msg","cid":"client-0001","text":"x","html":"<b>x</b>"}`},
		{"unknown type", `{"t":"shout"}`},
		{"bad client id", `{"t":"msg","cid":"x","text":"hi"}`},
		{"hello twice", `{"t":"hello","inbox":"shop"}`},
		{"two objects", `{"t":"ping"}{"t":"ping"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := c.count(func(f frame) bool { return f.T == "error" })
			c.sendRaw(tt.raw)
			eventually(t, "an error frame", func() bool { return c.count(func(f frame) bool { return f.T == "error" }) > before })
			last := c.all()
			if f := last[len(last)-1]; f.T != "error" || f.Code != "bad_frame" {
				t.Fatalf("answer = %+v; want bad_frame", f)
			}
		})
	}
	// The socket survived all of that and still works.
	c.say(cid(9), "masih bisa")
	c.send(map[string]any{"t": "ping"})
	c.waitFor("pong", func(f frame) bool { return f.T == "pong" })

	// A first frame that is not hello ends the connection.
	ws, _, err := e.dial("shop", shopOrigin)
	if err != nil {
		t.Fatal(err)
	}
	n := newClient(t, ws)
	n.send(map[string]any{"t": "msg", "cid": cid(1), "text": "x"})
	n.waitFor("hello_first", func(f frame) bool { return f.T == "error" && f.Code == "hello_first" })
	if code := n.waitClosed(); code != websocket.ClosePolicyViolation {
		t.Fatalf("close code = %d; want policy violation", code)
	}
}

func TestOriginsAndInboxesAreChecked(t *testing.T) {
	e := newEnv(t)
	if err := e.conn.Settings().Put(context.Background(), widget.Settings{ID: "anywhere", AllowedOrigins: []string{"*"}, Source: widget.SourceConsole}); err != nil {
		t.Fatal(err)
	}
	if err := e.conn.Settings().Put(context.Background(), widget.Settings{ID: "own", Source: widget.SourceConsole}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, inbox, origin string
		want                int
	}{
		{"the shop's origin", "shop", shopOrigin, http.StatusSwitchingProtocols},
		{"the shop's origin, other case", "shop", "HTTPS://SHOP.example", http.StatusSwitchingProtocols},
		{"another site", "shop", "https://evil.example", http.StatusForbidden},
		{"a look-alike", "shop", "https://shop.example.evil.example", http.StatusForbidden},
		{"http instead of https", "shop", "http://shop.example", http.StatusForbidden},
		{"no origin (not a browser)", "shop", "", http.StatusForbidden},
		{"unknown inbox", "nope", shopOrigin, http.StatusNotFound},
		{"malformed inbox id", "../x", shopOrigin, http.StatusBadRequest},
		{"an inbox open to any site", "anywhere", "https://evil.example", http.StatusSwitchingProtocols},
		{"no list: only Serambi's own pages", "own", "http://" + e.addr, http.StatusSwitchingProtocols},
		{"no list: not other sites", "own", shopOrigin, http.StatusForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ws, resp, err := e.dial(tt.inbox, tt.origin)
			if ws != nil {
				ws.Close()
			}
			if resp == nil {
				t.Fatalf("no response: %v", err)
			}
			if resp.StatusCode != tt.want {
				t.Fatalf("handshake = %d (%v); want %d", resp.StatusCode, err, tt.want)
			}
		})
	}
}

func TestConnectionsPerAddressAreBounded(t *testing.T) {
	e := newEnv(t, withConfig(func(c *widget.Config) { c.MaxConnsPerIP = 2 }))
	a, b := e.connect(nil), e.connect(nil)
	_, resp, err := e.dial("shop", shopOrigin)
	if err == nil || resp == nil || resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("third socket from one address: %v %v; want 429", resp, err)
	}
	a.ws.Close()
	eventually(t, "a closed socket frees its place", func() bool { return e.conn.Sockets() == 1 })
	e.connect(nil)
	_ = b
}

func signed(t *testing.T, secret widget.Secret, method jwt.SigningMethod, claims widget.Claims) string {
	t.Helper()
	tok, err := jwt.NewWithClaims(method, claims).SignedString([]byte(secret.Reveal()))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestSignedIdentity(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	// Siti is a customer already: she emailed the shop.
	mail, err := e.inbox.Ingest(ctx, inbox.Inbound{Channel: inbox.ChannelEmail, ExternalID: "<1@mail.example>",
		From: []inbox.Identity{{Kind: inbox.KindEmail, Value: "siti@example.id"}}, Name: "Siti Rahma", Text: "Invoice saya?"})
	if err != nil {
		t.Fatal(err)
	}
	future := jwt.NewNumericDate(e.clock.Now().Add(time.Hour))
	good := widget.Claims{Email: "Siti@Example.ID", Name: "Siti Rahma", RegisteredClaims: jwt.RegisteredClaims{Subject: "cust-42", ExpiresAt: future}}
	expired := good
	expired.ExpiresAt = jwt.NewNumericDate(e.clock.Now().Add(-time.Hour))
	noExp := good
	noExp.ExpiresAt = nil
	nobody := widget.Claims{Name: "X", RegisteredClaims: jwt.RegisteredClaims{ExpiresAt: future}}

	tests := []struct {
		name  string
		token string
		ok    bool
	}{
		{"valid", signed(t, jwtSecret, jwt.SigningMethodHS256, good), true},
		{"expired", signed(t, jwtSecret, jwt.SigningMethodHS256, expired), false},
		{"another secret", signed(t, "another-secret-0123456789abcdef0123456789", jwt.SigningMethodHS256, good), false},
		{"HS512 with the right secret", signed(t, jwtSecret, jwt.SigningMethodHS512, good), false},
		{"alg none", func() string {
			s, _ := jwt.NewWithClaims(jwt.SigningMethodNone, good).SignedString(jwt.UnsafeAllowNoneSignatureType)
			return s
		}(), false},
		{"no expiry", signed(t, jwtSecret, jwt.SigningMethodHS256, noExp), false},
		{"names nobody", signed(t, jwtSecret, jwt.SigningMethodHS256, nobody), false},
		{"tampered payload", func() string {
			s := signed(t, jwtSecret, jwt.SigningMethodHS256, good)
			parts := strings.Split(s, ".")
			other := strings.Split(signed(t, jwtSecret, jwt.SigningMethodHS256, widget.Claims{Email: "budi@example.id",
				RegisteredClaims: jwt.RegisteredClaims{Subject: "cust-7", ExpiresAt: future}}), ".")
			return parts[0] + "." + other[1] + "." + parts[2]
		}(), false},
		{"garbage", "not.a.jwt", false},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := e.connect(map[string]any{"jwt": tt.token})
			w := c.waitFor("welcome", func(f frame) bool { return f.T == "welcome" })
			ack := c.say(cid(i), "Halo dari "+tt.name)
			m := e.message(ack.Msg.ID)
			if tt.ok {
				if !w.Identified || w.Email != "siti@example.id" || w.Name != "Siti Rahma" {
					t.Fatalf("welcome = %+v; want Siti identified", w)
				}
				if m.CustomerID != mail.CustomerID || m.ConversationID != mail.Conversation.ID {
					t.Fatalf("the identified visitor's message went to customer %s; want Siti's (%s), in her one conversation", m.CustomerID, mail.CustomerID)
				}
				cust, _ := e.inbox.Customer(ctx, mail.CustomerID)
				if id, ok := cust.Identity(inbox.KindShop); !ok || id.Value != "cust-42" || !id.Verified {
					t.Fatalf("Siti's identities = %+v; want the shop id linked, verified", cust.Identities)
				}
				// A new tab of the identified visitor opens on her conversation, email history and all
				// (the widget shows only the widget part of it).
				h := e.connect(map[string]any{"jwt": tt.token}).waitFor("history", func(f frame) bool { return f.T == "history" })
				if len(h.Msgs) != 1 || h.Msgs[0].ID != m.ID {
					t.Fatalf("identified visitor's history = %+v; want the widget message only", h.Msgs)
				}
				return
			}
			refusal := c.waitFor("bad_identity", func(f frame) bool { return f.T == "error" && f.Code == "bad_identity" })
			if w.Identified || refusal.Message == "" {
				t.Fatalf("welcome %+v, refusal %+v; want an anonymous visitor and a reason", w, refusal)
			}
			if m.CustomerID == mail.CustomerID {
				t.Fatal("a refused token still linked the visitor to Siti")
			}
		})
	}
}

func TestPreChatEmailOnlySuggestsAMerge(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	budi, err := e.inbox.Ingest(ctx, inbox.Inbound{Channel: inbox.ChannelEmail, ExternalID: "<2@mail.example>",
		From: []inbox.Identity{{Kind: inbox.KindEmail, Value: "budi@example.id"}}, Name: "Budi", Text: "Halo"})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.conn.Settings().Put(ctx, widget.Settings{ID: "shop", AllowedOrigins: []string{shopOrigin}, Source: widget.SourceConsole,
		PreChat: widget.PreChat{Enabled: true, AskName: true, AskEmail: true, Fields: []widget.Field{{Key: "order", LabelEN: "Order number"}}}}); err != nil {
		t.Fatal(err)
	}
	c := e.connect(nil)
	c.send(map[string]any{"t": "msg", "cid": cid(1), "text": "Pesanan saya belum sampai",
		"profile": map[string]any{"name": "Budi S.", "email": "BUDI@example.id", "fields": map[string]string{"order": "#1042", "unasked": "x"}}})
	ack := c.waitFor("ack", func(f frame) bool { return f.T == "ack" })
	m := e.message(ack.Msg.ID)
	if m.CustomerID == budi.CustomerID {
		t.Fatal("an email typed into the widget linked the visitor to the customer who owns it")
	}
	if m.Meta["widget.field.order"] != "#1042" || m.Meta["widget.field.unasked"] != "" {
		t.Fatalf("meta = %v; want the configured pre-chat field only", m.Meta)
	}
	cust, _ := e.inbox.Customer(ctx, m.CustomerID)
	email, ok := cust.Identity(inbox.KindEmail)
	if cust.Name != "Budi S." || !ok || email.Verified || email.Value != "budi@example.id" {
		t.Fatalf("visitor customer = %+v; want the typed name and an unverified email", cust)
	}
	sugg, err := e.store.ListSuggestions(ctx, m.CustomerID)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(sugg, func(s inbox.MergeSuggestion) bool { return s.OtherID == budi.CustomerID }) {
		t.Fatalf("suggestions = %+v; want 'possibly the same customer' as Budi", sugg)
	}
}

func TestOfflineEmailNote(t *testing.T) {
	e := newEnv(t)
	c := e.connect(nil)
	if w := c.waitFor("welcome", func(f frame) bool { return f.T == "welcome" }); w.Online || !w.Settings.OfflineEmail {
		t.Fatalf("welcome = %+v; want offline (no agent online) with the email prompt on", w)
	}
	c.say(cid(1), "Ada yang online?")
	c.send(map[string]any{"t": "email", "cid": cid(2), "email": "Rina@Example.id"})
	ack := c.waitFor("ack", func(f frame) bool { return f.T == "ack" && f.CID == cid(2) })
	if ack.Msg.Kind != "email" || !strings.Contains(ack.Msg.Text, "rina@example.id") {
		t.Fatalf("ack of the email = %+v", ack.Msg)
	}
	cust, _ := e.inbox.Customer(context.Background(), e.message(ack.Msg.ID).CustomerID)
	if id, ok := cust.Identity(inbox.KindEmail); !ok || id.Verified || id.Value != "rina@example.id" {
		t.Fatalf("identities = %+v; want rina@example.id, unverified", cust.Identities)
	}
}

func TestAgentsOnlineIsPushed(t *testing.T) {
	e := newEnv(t)
	c := e.connect(nil)
	e.setOnline(true)
	c.waitFor("status online", func(f frame) bool { return f.T == "status" && f.Online })
	e.setOnline(false)
	c.waitFor("status away", func(f frame) bool { return f.T == "status" && !f.Online })
	if w := e.connect(nil).waitFor("welcome", func(f frame) bool { return f.T == "welcome" }); w.Online {
		t.Fatal("welcome says online while nobody is")
	}
}

func TestTypingBothWays(t *testing.T) {
	e := newEnv(t)
	events := make(chan bus.Event, 16)
	cancel := e.events.Subscribe(func(ev bus.Event) {
		if ev.Topic == widget.TopicVisitorTyping || ev.Topic == widget.TopicVisitorTypingStopped {
			events <- ev
		}
	})
	defer cancel()
	c := e.connect(nil)
	ack := c.say(cid(1), "Halo")
	conv := e.message(ack.Msg.ID).ConversationID

	c.send(map[string]any{"t": "typing", "on": true})
	c.send(map[string]any{"t": "typing", "on": true}) // a keystroke later: not repeated on the bus
	c.send(map[string]any{"t": "typing", "on": false})
	var got []bus.Topic
	for len(got) < 2 {
		select {
		case ev := <-events:
			if ev.ConversationID != conv {
				t.Fatalf("typing event for %s; want %s", ev.ConversationID, conv)
			}
			got = append(got, ev.Topic)
		case <-time.After(5 * time.Second):
			t.Fatalf("typing events = %v", got)
		}
	}
	if !slices.Equal(got, []bus.Topic{widget.TopicVisitorTyping, widget.TopicVisitorTypingStopped}) {
		t.Fatalf("typing events = %v", got)
	}
	select {
	case ev := <-events:
		t.Fatalf("unexpected extra typing event %v", ev.Topic)
	case <-time.After(100 * time.Millisecond):
	}

	e.conn.AgentTyping(context.Background(), conv, "Dewi", true)
	f := c.waitFor("agent typing", func(f frame) bool { return f.T == "typing" && f.On })
	if f.Name != "Dewi" {
		t.Fatalf("typing frame = %+v", f)
	}
	e.conn.AgentTyping(context.Background(), conv, "Dewi", false)
	c.waitFor("agent stopped typing", func(f frame) bool { return f.T == "typing" && !f.On })
}

func TestReceiptsMoveDeliveryForward(t *testing.T) {
	e := newEnv(t)
	c := e.connect(nil)
	ack := c.say(cid(1), "Halo")
	conv := e.message(ack.Msg.ID).ConversationID
	r1 := e.reply(conv, "Balasan satu")
	c.agentMsg("Balasan satu")
	eventually(t, "sent", func() bool { return e.message(r1.ID).Delivery == inbox.DeliverySent })

	// Another visitor cannot mark this visitor's replies.
	other := e.connect(nil)
	other.say(cid(2), "Saya orang lain")
	other.send(map[string]any{"t": "read", "ids": []string{r1.ID}})

	c.send(map[string]any{"t": "recv", "ids": []string{r1.ID}})
	eventually(t, "delivered", func() bool { return e.message(r1.ID).Delivery == inbox.DeliveryDelivered })
	c.send(map[string]any{"t": "read", "ids": []string{r1.ID, ack.Msg.ID}})
	eventually(t, "read", func() bool { return e.message(r1.ID).Delivery == inbox.DeliveryRead })
	// A late recv does not move it back.
	c.send(map[string]any{"t": "recv", "ids": []string{r1.ID}})
	c.send(map[string]any{"t": "ping"})
	c.waitFor("pong", func(f frame) bool { return f.T == "pong" })
	if d := e.message(r1.ID).Delivery; d != inbox.DeliveryRead {
		t.Fatalf("delivery after a late recv = %s", d)
	}
	if m := e.message(ack.Msg.ID); m.Delivery != inbox.DeliveryNone {
		t.Fatalf("the visitor's own message got delivery %q", m.Delivery)
	}
}

func TestReplyReadBeforeTheOutboxFinished(t *testing.T) {
	// A reply reaches the browser from the bus as soon as it is stored; the browser can mark it
	// read before the outbox has sent it. The read sticks, and the outbox does not send it again.
	e := newEnv(t, withManualOutbox())
	c := e.connect(nil)
	ack := c.say(cid(1), "Halo")
	r := e.reply(e.message(ack.Msg.ID).ConversationID, "Cepat sekali")
	got := c.agentMsg("Cepat sekali")
	if m := e.message(r.ID); m.Delivery != inbox.DeliveryQueued {
		t.Fatalf("delivery = %s before the outbox ran; the test needs it queued", m.Delivery)
	}
	c.send(map[string]any{"t": "read", "ids": []string{got.ID}})
	eventually(t, "read", func() bool { return e.message(r.ID).Delivery == inbox.DeliveryRead })
	if n := e.dispatch(); n != 1 {
		t.Fatalf("outbox handled %d jobs; want the reply's", n)
	}
	if depth, _ := e.store.OutboxDepth(context.Background()); depth != 0 {
		t.Fatalf("outbox depth %d after the run", depth)
	}
	c.send(map[string]any{"t": "ping"})
	c.waitFor("pong", func(f frame) bool { return f.T == "pong" })
	if d := e.message(r.ID).Delivery; d != inbox.DeliveryRead {
		t.Fatalf("delivery after the outbox ran = %s; want read to stay", d)
	}
	if n := c.count(func(f frame) bool { return f.T == "msg" && f.ID == r.ID }); n != 1 {
		t.Fatalf("the reply arrived %d times", n)
	}
}

func TestMergeMakesTheVisitorRejoin(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	c := e.connect(nil)
	ack := c.say(cid(1), "Halo")
	visitor := e.message(ack.Msg.ID).CustomerID
	other, err := e.inbox.Ingest(ctx, inbox.Inbound{Channel: inbox.ChannelEmail, ExternalID: "<m@x>",
		From: []inbox.Identity{{Kind: inbox.KindEmail, Value: "lama@example.id"}}, Text: "email lama"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.inbox.Merge(ctx, other.CustomerID, visitor, "agent-1"); err != nil {
		t.Fatal(err)
	}
	if code := c.waitClosed(); code != 4001 {
		t.Fatalf("close code after a merge = %d; want 4001 (rejoin)", code)
	}
	r := e.connect(map[string]any{"token": c.token})
	h := r.waitFor("history", func(f frame) bool { return f.T == "history" })
	if len(h.Msgs) != 1 || h.Msgs[0].ID != ack.Msg.ID {
		t.Fatalf("history after the merge = %+v; want the visitor's message, now in the survivor's conversation", h.Msgs)
	}
	reply := e.reply(other.Conversation.ID, "Sudah kami gabungkan")
	if got := r.agentMsg("Sudah kami gabungkan"); got.ID != reply.ID {
		t.Fatal("reply after merge not pushed")
	}
}

func TestSendRefusesOtherChannels(t *testing.T) {
	e := newEnv(t)
	_, err := e.conn.Send(context.Background(), inbox.Outbound{Message: inbox.Message{ID: "x", Channel: inbox.ChannelEmail}})
	var perm *inbox.PermanentError
	if !errors.As(err, &perm) {
		t.Fatalf("Send of an email message = %v; want a permanent error", err)
	}
}

func TestSilentSocketsAreClosedAndPingsKeepThemOpen(t *testing.T) {
	e := newEnv(t, withConfig(func(c *widget.Config) { c.PingTimeout = 400 * time.Millisecond }))
	silent := e.connect(nil)
	talking := e.connect(nil)
	stop := time.After(1500 * time.Millisecond)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
loop:
	for {
		select {
		case <-tick.C:
			talking.send(map[string]any{"t": "ping"})
		case <-stop:
			break loop
		}
	}
	select {
	case <-silent.closed:
	default:
		t.Fatal("a socket silent for longer than the ping timeout is still open")
	}
	select {
	case <-talking.closed:
		t.Fatalf("a socket that pings was closed (code %d)", talking.closeCode())
	default:
	}
	if n := talking.count(func(f frame) bool { return f.T == "pong" }); n < 10 {
		t.Fatalf("%d pongs for ~14 pings", n)
	}
	eventually(t, "the server forgets the closed socket", func() bool { return e.conn.Sockets() == 1 })
}

func TestOversizedFrameClosesTheSocket(t *testing.T) {
	e := newEnv(t, withConfig(func(c *widget.Config) { c.MaxMessageChars = 20 }))
	c := e.connect(nil)
	c.sendRaw(`{"t":"msg","cid":"client-0001","text":"` + strings.Repeat("x", 40<<10) + `"}`)
	if code := c.waitClosed(); code != websocket.CloseMessageTooBig {
		t.Fatalf("close code = %d; want 1009 message too big", code)
	}
}

// Two instances share the store and the bus; the visitor is connected to one, the outbox of the
// other sends the reply and an agent on the other types: the visitor sees both.
func TestRepliesReachVisitorsOnAnotherInstance(t *testing.T) {
	e := newEnv(t, withManualOutbox())
	other := widget.New(e.cfg, e.deps)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- other.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	<-other.Ready()
	d := inbox.NewDispatcher(e.store, map[inbox.Channel]inbox.Sender{inbox.ChannelWidget: other}, e.events,
		inbox.DispatcherConfig{Owner: "instance-b"}, e.clock.Now, e.log)

	c := e.connect(nil)
	ack := c.say(cid(1), "Halo")
	conv := e.message(ack.Msg.ID).ConversationID
	r := e.reply(conv, "Dari instance lain")
	if n, err := d.RunOnce(context.Background()); err != nil || n != 1 {
		t.Fatalf("instance B's outbox ran %d jobs: %v", n, err)
	}
	if m := e.message(r.ID); m.Delivery != inbox.DeliverySent || m.ExternalID != "out:"+r.ID {
		t.Fatalf("reply after instance B sent it = %s %q", m.Delivery, m.ExternalID)
	}
	c.agentMsg("Dari instance lain")
	other.AgentTyping(context.Background(), conv, "Budi", true)
	if f := c.waitFor("typing from instance B", func(f frame) bool { return f.T == "typing" && f.On }); f.Name != "Budi" {
		t.Fatalf("typing = %+v", f)
	}
	if other.Sockets() != 0 || e.conn.Sockets() != 1 {
		t.Fatalf("sockets: A %d, B %d", e.conn.Sockets(), other.Sockets())
	}
}
