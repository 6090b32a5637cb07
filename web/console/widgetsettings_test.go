package console_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/gorilla/websocket"
	"github.com/labstack/echo/v4"

	"github.com/serambi/serambi/connectors/widget"
	"github.com/serambi/serambi/inbox"
	"github.com/serambi/serambi/web/console"
)

// The chat widget's settings page runs against the real widget connector on the same store and
// bus, the way the instance wires them: what the admin saves is what the next visitor's browser
// is told, through the widget's own socket.

const (
	widgetShop   = "https://shop.example"
	widgetSecret = widget.Secret("env-secret-0123456789abcdef0123456789abcdef")
)

// widgetSide is the widget connector beside a console env, serving its own routes.
type widgetSide struct {
	conn *widget.Connector
	srv  *httptest.Server
}

func widgetDefault() widget.Settings {
	return widget.Settings{ID: "shop", Name: "Toko Sekar", Color: "#9a3412", AllowedOrigins: []string{widgetShop},
		JWTSecret: widgetSecret, OfflineEmail: true, Uploads: true, Source: widget.SourceEnv}
}

// newWidgetEnv is a console env with a running widget connector wired in as the instance wires it.
func newWidgetEnv(t *testing.T, opts ...envOption) (*env, *widgetSide) {
	t.Helper()
	w := &widgetSide{}
	e := newEnvWith(t, func(e *env, d *console.Deps) {
		w.conn = widget.New(widget.Config{Default: widgetDefault(),
			VisitorRate: widget.Rate{Count: 1000, Per: time.Minute}, IPRate: widget.Rate{Count: 1000, Per: time.Minute},
			StatusEvery: 50 * time.Millisecond, Demo: true},
			widget.Deps{Ingester: e.inbox, Deliveries: e.inbox, Store: e.store, State: e.store, Blobs: e.blobs,
				Events: e.bus, Subscriber: e.bus, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
				// Set once the console exists, before the connector runs.
				AgentsOnline: func() bool { return e.console != nil && e.console.Hub().AnyoneOnline() }})
		d.WidgetInboxes, d.WidgetTyping = w.conn.Settings(), w.conn
		d.Install = &console.Install{BaseURL: "https://help.toko.example", WidgetEnabled: true, WidgetInbox: "shop", WidgetDemo: true}
	}, opts...)
	// The outbox sends agents' widget replies through the connector, as in the instance.
	d := inbox.NewDispatcher(e.store, map[inbox.Channel]inbox.Sender{inbox.ChannelWidget: w.conn}, e.bus,
		inbox.DispatcherConfig{Poll: 20 * time.Millisecond}, time.Now, slog.New(slog.NewTextHandler(io.Discard, nil)))
	e.inbox.SetOutboxWaker(d.Wake)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{}, 2)
	go func() { defer func() { done <- struct{}{} }(); _ = w.conn.Run(ctx) }()
	go func() { defer func() { done <- struct{}{} }(); _ = d.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done; <-done })
	select {
	case <-w.conn.Ready():
	case <-time.After(5 * time.Second):
		t.Fatal("the widget connector did not start")
	}
	ec := echo.New()
	w.conn.Register(ec)
	w.srv = httptest.NewServer(ec)
	t.Cleanup(w.srv.Close)
	return e.withAgents(), w
}

// visitor is a browser tab with the widget, speaking docs/WIDGET.md's protocol.
type visitor struct {
	t    testing.TB
	conn *websocket.Conn
}

// dialWidget opens a visitor socket from a page at origin; status is the refusal's, 0 on success.
func (w *widgetSide) dial(t testing.TB, inboxID, origin string) (*visitor, int) {
	t.Helper()
	u := "ws" + strings.TrimPrefix(w.srv.URL, "http") + "/widget/ws?inbox=" + url.QueryEscape(inboxID)
	conn, res, err := websocket.DefaultDialer.Dial(u, http.Header{"Origin": {origin}})
	if err != nil {
		if res != nil {
			return nil, res.StatusCode
		}
		t.Fatalf("dial the widget: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	return &visitor{t: t, conn: conn}, 0
}

func (v *visitor) send(f map[string]any) {
	v.t.Helper()
	if err := v.conn.WriteJSON(f); err != nil {
		v.t.Fatal(err)
	}
}

// next reads frames until match accepts one.
func (v *visitor) next(what string, match func(map[string]any) bool) map[string]any {
	v.t.Helper()
	_ = v.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		_, b, err := v.conn.ReadMessage()
		if err != nil {
			v.t.Fatalf("waiting for %s: %v", what, err)
		}
		var f map[string]any
		if err := json.Unmarshal(b, &f); err != nil {
			v.t.Fatalf("frame %s: %v", b, err)
		}
		if match(f) {
			return f
		}
	}
}

func frameType(t string) func(map[string]any) bool {
	return func(f map[string]any) bool { return f["t"] == t }
}

// publicSettings is the settings part of the welcome frame: what every visitor's browser gets.
type publicSettings struct {
	Name       string `json:"name"`
	Color      string `json:"color"`
	Position   string `json:"position"`
	Language   string `json:"language"`
	GreetingEN string `json:"greetingEn"`
	GreetingID string `json:"greetingId"`
	PreChat    *struct {
		Enabled      bool `json:"enabled"`
		AskName      bool `json:"askName"`
		AskEmail     bool `json:"askEmail"`
		RequireEmail bool `json:"requireEmail"`
		Fields       []struct {
			Key      string `json:"key"`
			LabelEN  string `json:"labelEn"`
			LabelID  string `json:"labelId"`
			Required bool   `json:"required"`
		} `json:"fields"`
	} `json:"preChat"`
	OfflineEmail bool `json:"offlineEmail"`
	Uploads      bool `json:"uploads"`
}

type welcome struct {
	Identified bool           `json:"identified"`
	Settings   publicSettings `json:"settings"`
	raw        map[string]any
}

// hello says hello (with a signed identity when jwt is set) and returns the welcome frame.
func (v *visitor) hello(inboxID, token string) welcome {
	v.t.Helper()
	f := map[string]any{"t": "hello", "inbox": inboxID}
	if token != "" {
		f["jwt"] = token
	}
	v.send(f)
	raw := v.next("welcome", frameType("welcome"))
	b, _ := json.Marshal(raw)
	var w welcome
	if err := json.Unmarshal(b, &w); err != nil {
		v.t.Fatal(err)
	}
	w.raw = raw
	return w
}

// visit opens the widget from origin and returns what it is told.
func (w *widgetSide) visit(t testing.TB, inboxID, origin string) welcome {
	t.Helper()
	v, status := w.dial(t, inboxID, origin)
	if status != 0 {
		t.Fatalf("the widget refused a visitor from %s: status %d", origin, status)
	}
	defer v.conn.Close()
	return v.hello(inboxID, "")
}

// settingsForm is the form the page posts, filled from s.
func settingsForm(csrf string, s widget.Settings) url.Values {
	f := url.Values{"_csrf": {csrf}, "name": {s.Name}, "color": {s.Color}, "position": {s.Position}, "language": {s.Language},
		"greeting_en": {s.GreetingEN}, "greeting_id": {s.GreetingID}, "origins": {strings.Join(s.AllowedOrigins, "\n")}}
	tick := func(k string, on bool) {
		if on {
			f.Set(k, "1")
		}
	}
	tick("prechat", s.PreChat.Enabled)
	tick("ask_name", s.PreChat.AskName)
	tick("ask_email", s.PreChat.AskEmail)
	tick("require_email", s.PreChat.RequireEmail)
	tick("offline_email", s.OfflineEmail)
	tick("uploads", s.Uploads)
	return f
}

func TestWidgetSettingsReachVisitorsAtOnce(t *testing.T) {
	e, w := newWidgetEnv(t)
	admin := e.login("dewi@toko.id")

	// A visitor before the change: the connector has the environment's settings cached now.
	before := w.visit(t, "shop", widgetShop)
	if before.Settings.Color != "#9a3412" || before.Settings.Name != "Toko Sekar" {
		t.Fatalf("before any change the widget says %+v", before.Settings)
	}

	edited := widgetDefault()
	edited.Name, edited.Color, edited.Position, edited.Language = "Toko Sekar Batik", "#1D4ED8", "left", "id"
	edited.GreetingEN, edited.GreetingID = "Hello from Bandung!", "Halo dari Bandung!"
	edited.AllowedOrigins = []string{"https://batik.example", "  https://www.batik.example/  ", "https://batik.example"}
	edited.PreChat = widget.PreChat{Enabled: true, AskName: true, RequireEmail: true}
	edited.OfflineEmail, edited.Uploads = false, false
	form := settingsForm(admin.csrf, edited)
	form.Set("field.0.key", "order")
	form.Set("field.0.en", "Order number")
	form.Set("field.0.id", "Nomor pesanan")
	form.Set("field.0.required", "1")
	form.Set("field.1.key", "") // a blank row adds nothing
	res := admin.post("/admin/widget/shop", form, nil)
	if res.status != http.StatusSeeOther || res.header.Get("Location") != "/admin/widget/shop?ok=WidgetSaved" {
		t.Fatalf("save: status %d, location %q: %s", res.status, res.header.Get("Location"), res.body)
	}

	// The old site is refused at once, the new ones are served the new settings at once.
	if _, status := w.dial(t, "shop", widgetShop); status != http.StatusForbidden {
		t.Errorf("a visitor on the site no longer allowed: status %d, want 403", status)
	}
	got := w.visit(t, "shop", "https://www.batik.example").Settings
	want := publicSettings{Name: "Toko Sekar Batik", Color: "#1d4ed8", Position: "left", Language: "id",
		GreetingEN: "Hello from Bandung!", GreetingID: "Halo dari Bandung!"}
	if got.Name != want.Name || got.Color != want.Color || got.Position != want.Position || got.Language != want.Language ||
		got.GreetingEN != want.GreetingEN || got.GreetingID != want.GreetingID || got.OfflineEmail || got.Uploads {
		t.Errorf("the widget says %+v\nwant %+v with offline email and uploads off", got, want)
	}
	pc := got.PreChat
	if pc == nil || !pc.Enabled || !pc.AskName || !pc.AskEmail || !pc.RequireEmail || len(pc.Fields) != 1 ||
		pc.Fields[0].Key != "order" || pc.Fields[0].LabelEN != "Order number" || pc.Fields[0].LabelID != "Nomor pesanan" || !pc.Fields[0].Required {
		t.Errorf("pre-chat form %+v; want name and a required email (asked), and one required field", pc)
	}

	stored, err := w.conn.Settings().Get(context.Background(), "shop")
	if err != nil {
		t.Fatal(err)
	}
	if stored.Source != widget.SourceConsole {
		t.Errorf("source %q after a save in the console, want %q", stored.Source, widget.SourceConsole)
	}
	if strings.Join(stored.AllowedOrigins, ",") != "https://batik.example,https://www.batik.example/" {
		t.Errorf("origins stored %q: one per line, trimmed, duplicates once", stored.AllowedOrigins)
	}
	if stored.JWTSecret != widgetSecret {
		t.Error("saving the form changed the identity secret, which the form never carries")
	}
	page := admin.get("/admin/widget/shop?ok=WidgetSaved", nil)
	for _, s := range []string{"Saved. New visitors get these settings now.", `value="#1d4ed8"`, "Hello from Bandung!", "https://www.batik.example/",
		`data-serambi-inbox=&#34;shop&#34;`, "https://help.toko.example/widget.js", `value="order"`} {
		if !strings.Contains(page.body, s) {
			t.Errorf("the saved page lacks %q", s)
		}
	}
}

func TestWidgetSettingsRefuseWhatTheWidgetWouldRefuse(t *testing.T) {
	e, w := newWidgetEnv(t)
	admin := e.login("dewi@toko.id")
	ctx := context.Background()
	tests := []struct {
		name     string
		edit     func(s *widget.Settings, f url.Values)
		wantBody string
	}{
		{"an origin with a path", func(s *widget.Settings, f url.Values) {
			f.Set("origins", "https://ok.example\nhttps://shop.example/checkout")
		}, `allowed origin &#34;https://shop.example/checkout&#34; must be scheme://host[:port]`},
		{"an origin without a scheme", func(s *widget.Settings, f url.Values) { f.Set("origins", "shop.example") },
			`allowed origin &#34;shop.example&#34; must be scheme://host[:port]`},
		{"a colour that is not #RRGGBB", func(s *widget.Settings, f url.Values) { f.Set("color", "red") }, `color &#34;red&#34; must be #RRGGBB`},
		{"an unknown position", func(s *widget.Settings, f url.Values) { f.Set("position", "top") }, `position &#34;top&#34; must be right or left`},
		{"an unknown language", func(s *widget.Settings, f url.Values) { f.Set("language", "fr") }, `language &#34;fr&#34; must be auto, en or id`},
		{"no name", func(s *widget.Settings, f url.Values) { f.Set("name", " ") }, "name must be 1-60 characters"},
		{"a greeting too long", func(s *widget.Settings, f url.Values) { f.Set("greeting_id", strings.Repeat("a", 501)) }, "at most 500 characters"},
		{"a field without an English label", func(s *widget.Settings, f url.Values) { f.Set("field.0.key", "city") },
			`pre-chat field &#34;city&#34; needs an English label`},
		{"a field key with capitals", func(s *widget.Settings, f url.Values) { f.Set("field.0.key", "City"); f.Set("field.0.en", "City") },
			`pre-chat field key &#34;City&#34; must be unique`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before, err := w.conn.Settings().Get(ctx, "shop")
			if err != nil {
				t.Fatal(err)
			}
			edited := before
			edited.Name, edited.Color = "Changed", "#000000"
			f := settingsForm(admin.csrf, edited)
			tc.edit(&edited, f)
			res := admin.post("/admin/widget/shop", f, nil)
			if res.status != http.StatusUnprocessableEntity {
				t.Fatalf("status %d, want 422: %s", res.status, res.body)
			}
			if !strings.Contains(res.body, "Not saved. Fix this and save again:") || !strings.Contains(res.body, tc.wantBody) {
				t.Errorf("the answer does not say what is wrong (%q):\n%s", tc.wantBody, section(res.body, `id="wi-errors"`, "</div>"))
			}
			if o := f.Get("origins"); !strings.Contains(res.body, ">"+o+"</textarea>") {
				t.Errorf("the form does not keep the origins as typed (%q)", o)
			}
			after, err := w.conn.Settings().Get(ctx, "shop")
			if err != nil {
				t.Fatal(err)
			}
			if after.Name != before.Name || after.Color != before.Color || !after.UpdatedAt.Equal(before.UpdatedAt) {
				t.Errorf("a refused form changed the stored settings: %+v", after)
			}
			if got := w.visit(t, "shop", widgetShop).Settings; got.Name != before.Name {
				t.Errorf("the widget says name %q after a refused save, want %q", got.Name, before.Name)
			}
		})
	}
}

func TestWidgetSettingsAreForAdminsWithTheirToken(t *testing.T) {
	e, w := newWidgetEnv(t)
	agent := e.login("budi@toko.id")
	admin := e.login("dewi@toko.id")
	ctx := context.Background()
	form := func(csrf string) url.Values {
		s := widgetDefault()
		s.Name = "Hijacked"
		return settingsForm(csrf, s)
	}
	tests := []struct {
		name       string
		who        *client
		method     string
		path       string
		form       url.Values
		wantStatus int
	}{
		{"agent: list", agent, "GET", "/admin/widget", nil, 403},
		{"agent: edit page", agent, "GET", "/admin/widget/shop", nil, 403},
		{"agent: save", agent, "POST", "/admin/widget/shop", form(agent.csrf), 403},
		{"agent: create", agent, "POST", "/admin/widget", url.Values{"_csrf": {agent.csrf}, "id": {"evil"}, "name": {"Evil"}}, 403},
		{"agent: new secret", agent, "POST", "/admin/widget/shop/secret", url.Values{"_csrf": {agent.csrf}, "action": {"generate"}}, 403},
		{"agent: delete", agent, "POST", "/admin/widget/shop/delete", url.Values{"_csrf": {agent.csrf}}, 403},
		{"admin without token: save", admin, "POST", "/admin/widget/shop", form(""), 403},
		{"admin with another session's token: save", admin, "POST", "/admin/widget/shop", form(agent.csrf), 403},
		{"admin without token: new secret", admin, "POST", "/admin/widget/shop/secret", url.Values{"action": {"generate"}}, 403},
		{"admin without token: create", admin, "POST", "/admin/widget", url.Values{"id": {"evil"}, "name": {"Evil"}}, 403},
		{"admin: unknown inbox", admin, "GET", "/admin/widget/nope", nil, 404},
		{"admin: unknown secret action", admin, "POST", "/admin/widget/shop/secret", url.Values{"_csrf": {admin.csrf}, "action": {"show"}}, 400},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var res response
			if tc.method == "GET" {
				res = tc.who.get(tc.path, nil)
			} else {
				res = tc.who.post(tc.path, tc.form, nil)
			}
			if res.status != tc.wantStatus {
				t.Fatalf("status %d, want %d: %s", res.status, tc.wantStatus, res.body)
			}
		})
	}
	s, err := w.conn.Settings().Get(ctx, "shop")
	if err != nil {
		t.Fatal(err)
	}
	if s.Name != "Toko Sekar" || s.JWTSecret != widgetSecret || s.Source != widget.SourceEnv {
		t.Errorf("refused requests changed the settings: name %q, source %q, secret kept %v", s.Name, s.Source, s.JWTSecret == widgetSecret)
	}
	if _, err := w.conn.Settings().Get(ctx, "evil"); err == nil {
		t.Error("a refused create made a widget inbox")
	}
	// The admin menu links the page for admins only.
	if !strings.Contains(admin.get("/settings", nil).body, `href="/admin/widget"`) {
		t.Error("the admin menu has no link to the chat widget page")
	}
	if strings.Contains(agent.get("/settings", nil).body, `href="/admin/widget"`) {
		t.Error("an agent's menu links the chat widget page")
	}
}

// The identity secret is write-only: pages say whether it is set; a new one is shown in the one
// answer that made it, and works for signed identities at once.
func TestWidgetIdentitySecretIsWriteOnly(t *testing.T) {
	e, w := newWidgetEnv(t)
	admin := e.login("dewi@toko.id")
	ctx := context.Background()
	env := widgetSecret.Reveal()

	pages := func() map[string]string {
		return map[string]string{
			"list":      admin.get("/admin/widget", nil).body,
			"edit":      admin.get("/admin/widget/shop", nil).body,
			"checklist": admin.get("/admin/getting-started", nil).body,
			"refused save": admin.post("/admin/widget/shop", func() url.Values {
				f := settingsForm(admin.csrf, widgetDefault())
				f.Set("origins", "nope")
				return f
			}(), nil).body,
		}
	}
	for name, body := range pages() {
		if strings.Contains(body, env) {
			t.Errorf("the %s page shows the stored secret", name)
		}
	}
	if body := admin.get("/admin/widget/shop", nil).body; !strings.Contains(body, "Secret set ✓") {
		t.Error("the page does not say a secret is set")
	}

	res := admin.post("/admin/widget/shop/secret", url.Values{"_csrf": {admin.csrf}, "action": {"generate"}}, nil)
	if res.status != http.StatusOK {
		t.Fatalf("generate: status %d: %s", res.status, res.body)
	}
	if cc := res.header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("the answer with the new secret is cacheable: Cache-Control %q", cc)
	}
	m := regexp.MustCompile(`id="wi-new-secret"[^>]*>([A-Za-z0-9_-]+)</pre>`).FindStringSubmatch(res.body)
	if m == nil {
		t.Fatalf("the new secret is not shown: %s", section(res.body, `id="wi-secret"`, "</section>"))
	}
	fresh := m[1]
	if len(fresh) < 64 || fresh == env || strings.Contains(res.body, env) {
		t.Fatalf("new secret %q: want 64 characters, different from the old one, and the old one not shown", fresh)
	}
	stored, err := w.conn.Settings().Get(ctx, "shop")
	if err != nil {
		t.Fatal(err)
	}
	if stored.JWTSecret.Reveal() != fresh || stored.Source != widget.SourceConsole {
		t.Fatalf("stored secret is not the one shown, or source %q is not console", stored.Source)
	}
	for name, body := range pages() {
		if strings.Contains(body, fresh) {
			t.Errorf("the %s page shows the new secret again", name)
		}
	}

	// The shop signs with the new secret: the visitor is identified; the old one is refused.
	sign := func(secret widget.Secret) string {
		tok, err := widget.SignIdentity(secret, widget.Claims{Email: "siti@example.id", Name: "Siti Rahma",
			RegisteredClaims: jwt.RegisteredClaims{Subject: "cust-1", ExpiresAt: jwt.NewNumericDate(time.Now().Add(time.Hour))}})
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	v, _ := w.dial(t, "shop", widgetShop)
	if got := v.hello("shop", sign(widget.Secret(fresh))); !got.Identified {
		t.Errorf("an identity signed with the new secret was not accepted: %v", got.raw)
	}
	v, _ = w.dial(t, "shop", widgetShop)
	if got := v.hello("shop", sign(widgetSecret)); got.Identified {
		t.Error("an identity signed with the replaced secret was accepted")
	}

	res = admin.post("/admin/widget/shop/secret", url.Values{"_csrf": {admin.csrf}, "action": {"remove"}}, nil)
	if res.status != http.StatusSeeOther {
		t.Fatalf("remove: status %d", res.status)
	}
	if s, _ := w.conn.Settings().Get(ctx, "shop"); s.JWTSecret != "" {
		t.Error("the secret is still set after removing it")
	}
	if body := admin.get(res.header.Get("Location"), nil).body; !strings.Contains(body, "every visitor is anonymous now") {
		t.Error("the page does not confirm the removal")
	}
}

func TestWidgetInboxesCreateAndDelete(t *testing.T) {
	e, w := newWidgetEnv(t)
	admin := e.login("dewi@toko.id")
	ctx := context.Background()

	res := admin.post("/admin/widget", url.Values{"_csrf": {admin.csrf}, "id": {"blog"}, "name": {"Batik Blog"}}, nil)
	if res.status != http.StatusSeeOther || res.header.Get("Location") != "/admin/widget/blog?ok=WidgetCreated" {
		t.Fatalf("create: status %d, location %q", res.status, res.header.Get("Location"))
	}
	s, err := w.conn.Settings().Get(ctx, "blog")
	if err != nil || s.Name != "Batik Blog" || s.Source != widget.SourceConsole || s.JWTSecret != "" {
		t.Fatalf("created inbox %+v, %v", s, err)
	}
	// With no origins yet only Serambi's own pages may embed it: the widget server's own origin.
	if got := w.visit(t, "blog", w.srv.URL).Settings; got.Name != "Batik Blog" || got.Color != widget.DefaultColor {
		t.Errorf("the new inbox's widget says %+v", got)
	}
	list := admin.get("/admin/widget", nil).body
	for _, want := range []string{"Toko Sekar", "Batik Blog", `href="/admin/widget/blog"`, "From the environment"} {
		if !strings.Contains(list, want) {
			t.Errorf("the list lacks %q", want)
		}
	}

	for _, tc := range []struct{ name, id, want string }{
		{"an existing id", "blog", "already exists"},
		{"an id with capitals", "Blog2", "must be 1-40 characters"},
		{"no id", "", "must be 1-40 characters"},
	} {
		res := admin.post("/admin/widget", url.Values{"_csrf": {admin.csrf}, "id": {tc.id}, "name": {"X"}}, nil)
		loc := res.header.Get("Location")
		if res.status != http.StatusSeeOther || !strings.HasPrefix(loc, "/admin/widget?error=") {
			t.Errorf("%s: status %d, location %q", tc.name, res.status, loc)
			continue
		}
		if body := admin.get(loc, nil).body; !strings.Contains(body, tc.want) {
			t.Errorf("%s: the page does not say %q", tc.name, tc.want)
		}
	}
	if s, _ := w.conn.Settings().Get(ctx, "blog"); s.Name != "Batik Blog" {
		t.Error("creating an inbox with an existing id overwrote it")
	}

	// The environment's inbox cannot be deleted here (it would come back); another one can.
	res = admin.post("/admin/widget/shop/delete", url.Values{"_csrf": {admin.csrf}}, nil)
	if !strings.Contains(res.header.Get("Location"), "error=") {
		t.Errorf("deleting the environment's inbox: location %q, want an error", res.header.Get("Location"))
	}
	if _, err := w.conn.Settings().Get(ctx, "shop"); err != nil {
		t.Errorf("the environment's inbox is gone: %v", err)
	}
	res = admin.post("/admin/widget/blog/delete", url.Values{"_csrf": {admin.csrf}}, nil)
	if res.status != http.StatusSeeOther || res.header.Get("Location") != "/admin/widget?ok=WidgetDeleted" {
		t.Fatalf("delete: status %d, location %q", res.status, res.header.Get("Location"))
	}
	if _, status := w.dial(t, "blog", w.srv.URL); status != http.StatusNotFound {
		t.Errorf("a visitor of the deleted inbox: status %d, want 404", status)
	}
}

// Without a widget (SERAMBI_WIDGET_ENABLED=false) the page says so and changes nothing.
func TestWidgetSettingsWithoutAWidget(t *testing.T) {
	e := newEnv(t).withAgents()
	admin := e.login("dewi@toko.id")
	if res := admin.get("/admin/widget", nil); res.status != 200 || !strings.Contains(res.body, "SERAMBI_WIDGET_ENABLED=false") {
		t.Errorf("status %d; the page does not say the widget is off", res.status)
	}
	if res := admin.post("/admin/widget", url.Values{"_csrf": {admin.csrf}, "id": {"x"}, "name": {"X"}}, nil); res.status != http.StatusNotImplemented {
		t.Errorf("create without a widget: status %d, want 501", res.status)
	}
}

// The checklist's widget step links the settings page and counts origins saved there.
func TestChecklistLinksWidgetSettings(t *testing.T) {
	e, _ := newWidgetEnv(t)
	admin := e.login("dewi@toko.id")
	body := admin.get("/admin/getting-started", nil).body
	if !strings.Contains(body, `href="/admin/widget/shop"`) {
		t.Error("the checklist's widget step does not link the widget's settings")
	}
	s := widgetDefault()
	s.AllowedOrigins = []string{"https://saved-here.example"}
	if res := admin.post("/admin/widget/shop", settingsForm(admin.csrf, s), nil); res.status != http.StatusSeeOther {
		t.Fatalf("save: %d", res.status)
	}
	if body := admin.get("/admin/getting-started", nil).body; !strings.Contains(body, "https://saved-here.example") {
		t.Error("the checklist does not show the origins saved in the console")
	}
}

// section is the part of body from the first from to the next to, for failure messages.
func section(body, from, to string) string {
	i := strings.Index(body, from)
	if i < 0 {
		return "(no " + from + ")"
	}
	j := strings.Index(body[i:], to)
	if j < 0 {
		return body[i:]
	}
	return body[i : i+j+len(to)]
}
