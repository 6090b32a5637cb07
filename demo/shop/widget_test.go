package shop

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/gorilla/websocket"
	"github.com/labstack/echo/v4"

	"github.com/serambi/serambi/bus"
	"github.com/serambi/serambi/connectors/widget"
	"github.com/serambi/serambi/database/sqlite"
	"github.com/serambi/serambi/inbox"
)

// The widget's identities are the ones a simulation cannot take on faith: an anonymous visitor is
// known by a hash of a token, a signed one by the shop's JWT. This test runs the real widget
// connector over the seeded store and comes back as seeded visitors.
func TestSeededWidgetVisitorsComeBack(t *testing.T) {
	ctx := t.Context()
	log := slog.New(slog.DiscardHandler)
	store, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "serambi.db"), log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	w, err := Seed(ctx, Stores{Inbox: store, Commerce: store, BaseURL: "http://127.0.0.1:8080", Agents: testAgents}, time.Now())
	if err != nil {
		t.Fatal(err)
	}

	const origin = "https://toko.example"
	secret := widget.Secret("demo-widget-secret-0123456789abcdef")
	events := bus.NewLocal(log, 0)
	x := inbox.New(store, events, inbox.NewNormalizer("ID"), time.Now, log)
	cfg := widget.Config{
		Default:     widget.Settings{ID: WidgetInbox, Name: "Toko Serambi", AllowedOrigins: []string{origin}, JWTSecret: secret, Source: widget.SourceEnv},
		VisitorRate: widget.Rate{Count: 100, Per: time.Minute}, IPRate: widget.Rate{Count: 100, Per: time.Minute},
	}
	conn := widget.New(cfg, widget.Deps{Ingester: x, Deliveries: x, Store: store, State: store, Events: events, Subscriber: events, Log: log})
	if err := conn.Settings().Seed(ctx, cfg.WithDefaults().Default); err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- conn.Run(runCtx) }()
	t.Cleanup(func() { stop(); <-done })
	<-conn.Ready()
	e := echo.New()
	conn.Register(e)
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)

	hello := func(t *testing.T, fields map[string]any) (*websocket.Conn, map[string]any, []any) {
		t.Helper()
		ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http")+"/widget/ws?inbox="+WidgetInbox,
			http.Header{"Origin": {origin}})
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		t.Cleanup(func() { ws.Close() })
		f := map[string]any{"t": "hello", "inbox": WidgetInbox}
		for k, v := range fields {
			f[k] = v
		}
		if err := ws.WriteJSON(f); err != nil {
			t.Fatal(err)
		}
		var welcome map[string]any
		for {
			var fr map[string]any
			_ = ws.SetReadDeadline(time.Now().Add(5 * time.Second))
			if err := ws.ReadJSON(&fr); err != nil {
				t.Fatalf("read: %v", err)
			}
			switch fr["t"] {
			case "welcome":
				welcome = fr
			case "history":
				msgs, _ := fr["msgs"].([]any)
				return ws, welcome, msgs
			case "error":
				t.Fatalf("widget error: %v", fr)
			}
		}
	}
	seededWidget := func(c Customer) int {
		conv, err := store.ConversationByCustomer(ctx, c.ID)
		if err != nil {
			return 0
		}
		msgs, err := store.ListMessages(ctx, conv.ID, inbox.Cursor{}, inbox.MaxPage)
		if err != nil {
			t.Fatal(err)
		}
		return len(slices.DeleteFunc(msgs, func(m inbox.Message) bool {
			return m.Channel != inbox.ChannelWidget || (m.Direction != inbox.DirectionIn && m.Direction != inbox.DirectionOut)
		}))
	}

	t.Run("an anonymous visitor's token", func(t *testing.T) {
		i := slices.IndexFunc(w.Customers, func(c Customer) bool { return c.WidgetToken != "" && seededWidget(c) > 0 })
		if i < 0 {
			t.Fatal("no anonymous widget visitor with a seeded chat")
		}
		c := w.Customers[i]
		_, welcome, msgs := hello(t, map[string]any{"token": c.WidgetToken})
		if welcome["visitor"] != strings.TrimPrefix(c.WidgetVisitor, "v:") || welcome["token"] != c.WidgetToken {
			t.Errorf("welcome %v: want visitor %s and the token kept", welcome, c.WidgetVisitor)
		}
		if len(msgs) != seededWidget(c) {
			t.Errorf("history of %s has %d messages, want the %d seeded", c.Name, len(msgs), seededWidget(c))
		}
	})

	t.Run("a visitor the shop signs for", func(t *testing.T) {
		i := slices.IndexFunc(w.Customers, func(c Customer) bool { return strings.HasPrefix(c.WidgetVisitor, "s:") && seededWidget(c) > 0 })
		if i < 0 {
			t.Fatal("no signed widget visitor with a seeded chat")
		}
		c := w.Customers[i]
		token, err := widget.SignIdentity(secret, widget.Claims{Email: c.Email, Name: c.Name,
			RegisteredClaims: jwt.RegisteredClaims{Subject: c.ShopID, ExpiresAt: jwt.NewNumericDate(time.Now().Add(time.Hour))}})
		if err != nil {
			t.Fatal(err)
		}
		ws, welcome, msgs := hello(t, map[string]any{"jwt": token})
		if welcome["identified"] != true {
			t.Errorf("welcome %v: not identified", welcome)
		}
		if want := seededWidget(c); len(msgs) != want {
			t.Errorf("history of %s has %d messages, want the %d seeded", c.Name, len(msgs), want)
		}
		if err := ws.WriteJSON(map[string]any{"t": "msg", "cid": "demo-test-0001", "text": w.Say(c, 2)}); err != nil {
			t.Fatal(err)
		}
		for {
			var fr map[string]any
			_ = ws.SetReadDeadline(time.Now().Add(5 * time.Second))
			if err := ws.ReadJSON(&fr); err != nil {
				t.Fatalf("read: %v", err)
			}
			if fr["t"] == "ack" {
				break
			}
		}
		conv, err := store.ConversationByCustomer(ctx, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		// The newest entries: the message, and the reopening it caused when the chat was resolved.
		latest, err := store.ListMessages(ctx, conv.ID, inbox.Cursor{}, 2)
		if err != nil || !slices.ContainsFunc(latest, func(m inbox.Message) bool {
			return m.Direction == inbox.DirectionIn && m.Text == w.Say(c, 2) && m.CustomerID == c.ID
		}) {
			t.Errorf("the visitor's message did not join %s's seeded conversation: %+v (%v)", c.Name, latest, err)
		}
		if sug, err := store.ListSuggestions(ctx, c.ID); err != nil || len(sug) != 0 {
			t.Errorf("merge suggestions %v (%v): the signed visitor is the seeded customer", sug, err)
		}
	})
}
