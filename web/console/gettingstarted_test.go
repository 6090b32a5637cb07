package console_test

import (
	"context"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/serambi/serambi/agents"
	"github.com/serambi/serambi/commerce"
	mail "github.com/serambi/serambi/connectors/email"
	"github.com/serambi/serambi/connectors/telegram"
	"github.com/serambi/serambi/connectors/voice"
	wa "github.com/serambi/serambi/connectors/whatsapp"
	"github.com/serambi/serambi/connectors/widget"
	"github.com/serambi/serambi/web/console"
)

const publicBase = "https://support.toko.id"

// configuredEnv is an install with every channel and both shops set up. Each secret in it is
// also in installSecrets: none may reach the checklist.
var configuredEnv = map[string]string{
	"SERAMBI_BASE_URL":                   publicBase,
	"SERAMBI_WIDGET_INBOX":               "batik",
	"SERAMBI_WIDGET_ORIGINS":             "https://toko.id,https://www.toko.id",
	"SERAMBI_WIDGET_JWT_SECRET":          "widget-jwt-secret-0123456789abcdef-0123",
	"SERAMBI_VOICE_CTI_TOKEN":            "cti-secret-token-0123456789",
	"SERAMBI_VOICE_TWILIO_AUTH_TOKEN":    "twilio-auth-secret",
	"SERAMBI_VOICE_TWILIO_ACCOUNT_SID":   "AC0123456789abcdef0123456789abcdef",
	"SERAMBI_VOICE_AMI_ADDR":             "127.0.0.1:5038",
	"SERAMBI_VOICE_AMI_USERNAME":         "serambi",
	"SERAMBI_VOICE_AMI_SECRET":           "ami-secret-pw",
	"SERAMBI_SHOPIFY_WEBHOOK_SECRET":     "shopify-hook-secret",
	"SERAMBI_WOOCOMMERCE_WEBHOOK_SECRET": "woo-hook-secret",
}

var installSecrets = []string{"widget-jwt-secret-0123456789abcdef-0123", "cti-secret-token-0123456789", "twilio-auth-secret",
	"ami-secret-pw", "shopify-hook-secret", "woo-hook-secret", "TG-BOT-SECRET-tok", "tg-webhook-secret", "EAAG-wa-access-secret",
	"wa-app-secret", "wa-verify-secret"}

func getenv(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

// liveChannels is what the connectors of configuredEnv report.
func liveChannels(context.Context) []console.ChannelStatus {
	return []console.ChannelStatus{
		console.EmailChannelStatus(mail.Status{Mailbox: "support", Address: "support@toko.id", Connected: true, Idle: true, LastSync: time.Now()}),
		console.TelegramChannelStatus(telegram.Config{Token: "987654:TG-BOT-SECRET-tok", Mode: telegram.ModeWebhook,
			WebhookURL: publicBase + "/webhooks/telegram", WebhookSecret: "tg-webhook-secret"}),
		console.WhatsAppChannelStatus(wa.Config{AccessToken: "EAAG-wa-access-secret", AppSecret: "wa-app-secret",
			VerifyToken: "wa-verify-secret", PhoneNumberID: "1234567890"}),
		console.VoiceChannelStatus(voice.Config{CTIToken: "cti-secret-token-0123456789", TwilioAuthToken: "twilio-auth-secret",
			AMI: voice.AMIConfig{Addr: "127.0.0.1:5038", Username: "serambi", Secret: "ami-secret-pw"}}),
	}
}

// newSetupEnv is a console whose checklist sees env and channels; Dewi is an admin, Budi an
// agent, Sari an admin who reads Bahasa Indonesia.
func newSetupEnv(t *testing.T, vars map[string]string, channels func(context.Context) []console.ChannelStatus) *env {
	t.Helper()
	e := newEnvWith(t, func(_ *env, d *console.Deps) {
		d.Channels = channels
		if vars != nil {
			d.Install = console.InstallFromEnv(vars["SERAMBI_BASE_URL"], getenv(vars))
		}
	}).withAgents()
	if _, err := e.agents.Create(context.Background(), agents.NewAgent{Email: "sari@toko.id", Name: "Sari", Password: password,
		Role: agents.RoleAdmin, Locale: "id"}); err != nil {
		t.Fatal(err)
	}
	return e
}

var stepRE = regexp.MustCompile(`data-step="(\w+)" data-done="(true|false)"`)

// steps reads each step's done state from the page.
func steps(t *testing.T, body string) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	for _, m := range stepRE.FindAllStringSubmatch(body, -1) {
		out[m[1]] = m[2] == "true"
	}
	if len(out) != 7 {
		t.Fatalf("the checklist has %d steps (%v), want 7", len(out), out)
	}
	return out
}

func TestSetupLandsOnTheChecklist(t *testing.T) {
	e := newEnv(t)
	c := e.anon()
	token := csrfRE.FindStringSubmatch(c.get("/setup", nil).body)[1]
	r := c.post("/setup", url.Values{"email": {"owner@toko.id"}, "name": {"Owner"}, "password": {password}, "locale": {"en"},
		"timezone": {"Asia/Jakarta"}, "_csrf": {token}}, nil)
	if r.status != http.StatusSeeOther || r.header.Get("Location") != "/admin/getting-started" {
		t.Fatalf("setup answers %d → %q; want 303 to the checklist", r.status, r.header.Get("Location"))
	}
	page := c.get("/admin/getting-started", nil)
	if page.status != 200 || !strings.Contains(page.body, "<h1>Getting started</h1>") {
		t.Fatalf("the new admin's checklist: %d %s", page.status, trim(page.body))
	}
	// Nothing is set up on a fresh install reached on loopback: every step is to do, and the page
	// warns that providers cannot call this address.
	for step, done := range steps(t, page.body) {
		if done {
			t.Errorf("step %s is done on a fresh install", step)
		}
	}
	if !strings.Contains(page.body, "0 of 7 steps done") || !strings.Contains(page.body, "SERAMBI_BASE_URL to this server") {
		t.Error("the page lacks the progress or the base URL warning")
	}
	// With no Install wired, URLs use the address the admin reached the console on.
	if !strings.Contains(html.UnescapeString(page.body), e.srv.URL+"/webhooks/shopify") {
		t.Error("the Shopify webhook URL is not on this server's address")
	}
	// The snippet is text to copy, never markup: the CSP allows no inline script, and the page
	// has none.
	for _, tag := range regexp.MustCompile(`<script[^>]*>`).FindAllString(page.body, -1) {
		if !strings.Contains(tag, ` src="/static/`) {
			t.Errorf("the page has an inline script: %s", tag)
		}
	}
	if !strings.Contains(c.get("/admin/agents", nil).body, `href="/admin/getting-started"`) {
		t.Error("the admin menu has no link to the checklist")
	}
}

func TestChecklistFollowsConfiguration(t *testing.T) {
	tests := []struct {
		name     string
		env      map[string]string
		channels func(context.Context) []console.ChannelStatus
		apiKey   bool
		want     map[string]bool
		progress string
		contains []string // in the unescaped page
		absent   []string
	}{
		{
			name: "nothing configured: every step says what to set",
			env:  map[string]string{"SERAMBI_BASE_URL": publicBase},
			want: map[string]bool{"email": false, "widget": false, "telegram": false, "whatsapp": false, "voice": false, "shop": false, "apikey": false},
			contains: []string{
				"SERAMBI_EMAIL_ADDRESS=", "SERAMBI_EMAIL_IMAP_HOST=", "SERAMBI_EMAIL_SMTP_PASSWORD=",
				`<script src="` + publicBase + `/widget.js" data-serambi-inbox="default" async></script>`,
				`href="/widget/demo?inbox=default"`, "SERAMBI_WIDGET_ORIGINS=",
				"@BotFather", "SERAMBI_TELEGRAM_TOKEN=", "SERAMBI_TELEGRAM_WEBHOOK_URL=" + publicBase + "/webhooks/telegram",
				publicBase + "/webhooks/whatsapp", "SERAMBI_WHATSAPP_APP_SECRET=", "SERAMBI_WHATSAPP_VERIFY_TOKEN=",
				publicBase + "/api/v1/voice/twilio/status", publicBase + "/api/v1/voice/twilio/recording", "SERAMBI_VOICE_AMI_SECRET=",
				publicBase + "/webhooks/shopify", "SERAMBI_SHOPIFY_WEBHOOK_SECRET=", "orders/create",
				publicBase + "/webhooks/woocommerce", "SERAMBI_WOOCOMMERCE_WEBHOOK_SECRET=", "order.created",
				"serambi apikey create --name shop",
			},
			absent:   []string{"configured ✓", "SERAMBI_BASE_URL to this server"},
			progress: "0 of 7 steps done",
		},
		{
			name: "everything configured: done, and no secret on the page",
			env:  configuredEnv, channels: liveChannels, apiKey: true,
			want: map[string]bool{"email": true, "widget": true, "telegram": true, "whatsapp": true, "voice": true, "shop": true, "apikey": true},
			contains: []string{
				"support@toko.id", "Connected (push)", "bot 987654", "phone number id 1234567890",
				`<script src="` + publicBase + `/widget.js" data-serambi-inbox="batik" async></script>`, "https://www.toko.id",
				publicBase + "/webhooks/whatsapp", publicBase + "/api/v1/voice/cti/{SERAMBI_VOICE_CTI_TOKEN}",
				publicBase + "/webhooks/shopify", publicBase + "/webhooks/woocommerce", "1 active API key",
			},
			absent: append([]string{
				// Configured secrets are not offered anew either.
				"SERAMBI_WHATSAPP_VERIFY_TOKEN=", "SERAMBI_VOICE_CTI_TOKEN=", "SERAMBI_VOICE_AMI_SECRET=", "SERAMBI_VOICE_TWILIO_AUTH_TOKEN=",
				"SERAMBI_SHOPIFY_WEBHOOK_SECRET=", "SERAMBI_WOOCOMMERCE_WEBHOOK_SECRET=", "SERAMBI_TELEGRAM_WEBHOOK_SECRET=",
				"SERAMBI_WIDGET_ORIGINS=",
			}, installSecrets...),
			progress: "7 of 7 steps done",
		},
		{
			name: "a failing mailbox and a shop without its secret are not done",
			env:  map[string]string{"SERAMBI_BASE_URL": publicBase, "SERAMBI_WOOCOMMERCE_URL": "https://toko.id"},
			channels: func(context.Context) []console.ChannelStatus {
				return []console.ChannelStatus{console.EmailChannelStatus(mail.Status{Address: "cs@toko.id", LastError: "auth failed"}),
					console.TelegramChannelStatus(telegram.Config{}), console.VoiceChannelStatus(voice.Config{})}
			},
			want:     map[string]bool{"email": false, "widget": false, "telegram": false, "whatsapp": false, "voice": false, "shop": false, "apikey": false},
			contains: []string{"cs@toko.id", "auth failed", ">Error<"},
			absent:   []string{"Not configured"},
			progress: "0 of 7 steps done",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newSetupEnv(t, tt.env, tt.channels)
			if tt.apiKey {
				if _, _, err := agents.NewAPIKeys(e.store, time.Now).Create(context.Background(), "shop"); err != nil {
					t.Fatal(err)
				}
			}
			page := e.login("dewi@toko.id").get("/admin/getting-started", nil)
			if page.status != 200 {
				t.Fatalf("status %d: %s", page.status, trim(page.body))
			}
			if got := steps(t, page.body); !mapsEqual(got, tt.want) {
				t.Errorf("steps done %v, want %v", got, tt.want)
			}
			body := html.UnescapeString(page.body)
			for _, s := range append(tt.contains, tt.progress) {
				if !strings.Contains(body, s) {
					t.Errorf("the page lacks %q", s)
				}
			}
			for _, s := range tt.absent {
				if strings.Contains(body, s) {
					t.Errorf("the page shows %q", s)
				}
			}
		})
	}
}

func mapsEqual(a, b map[string]bool) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// Configured secrets appear only as "configured ✓", each next to its variable.
func TestChecklistSaysWhichSecretsAreSet(t *testing.T) {
	e := newSetupEnv(t, configuredEnv, liveChannels)
	body := html.UnescapeString(e.login("dewi@toko.id").get("/admin/getting-started", nil).body)
	for _, v := range []string{"SERAMBI_WHATSAPP_VERIFY_TOKEN", "SERAMBI_WHATSAPP_APP_SECRET", "SERAMBI_VOICE_CTI_TOKEN",
		"SERAMBI_VOICE_TWILIO_AUTH_TOKEN", "SERAMBI_VOICE_AMI_SECRET", "SERAMBI_SHOPIFY_WEBHOOK_SECRET", "SERAMBI_WOOCOMMERCE_WEBHOOK_SECRET"} {
		if !regexp.MustCompile(`<code>` + v + `</code>\s*<span class="verified gs-configured">configured ✓</span>`).MatchString(body) {
			t.Errorf("%s is not shown as configured", v)
		}
	}
}

// A secret not set yet is offered fresh, strong, the same in the provider's field and in the
// variable, and different on every load (nobody else has seen it).
func TestChecklistOffersFreshSecrets(t *testing.T) {
	e := newSetupEnv(t, map[string]string{"SERAMBI_BASE_URL": publicBase}, nil)
	admin := e.login("dewi@toko.id")
	secretRE := regexp.MustCompile(`SERAMBI_(WOOCOMMERCE_WEBHOOK_SECRET|WHATSAPP_VERIFY_TOKEN|VOICE_CTI_TOKEN|TELEGRAM_WEBHOOK_SECRET|VOICE_AMI_SECRET)=([A-Za-z0-9_-]+)`)
	load := func() map[string]string {
		body := html.UnescapeString(admin.get("/admin/getting-started", nil).body)
		got := map[string]string{}
		for _, m := range secretRE.FindAllStringSubmatch(body, -1) {
			if len(m[2]) < 43 {
				t.Errorf("%s is %d characters; want at least 43 (32 random bytes)", m[1], len(m[2]))
			}
			got[m[1]] = m[2]
		}
		if len(got) != 5 {
			t.Fatalf("found fresh secrets for %v, want 5", got)
		}
		// The copy that goes into the provider is the same secret.
		for _, want := range []string{
			`id="gs-woo-secret" tabindex="0" aria-labelledby="gs-woo-secret-label">` + got["WOOCOMMERCE_WEBHOOK_SECRET"] + "<",
			`id="gs-whatsapp-verify" tabindex="0" aria-labelledby="gs-whatsapp-verify-label">` + got["WHATSAPP_VERIFY_TOKEN"] + "<",
			publicBase + "/api/v1/voice/cti/" + got["VOICE_CTI_TOKEN"] + "<",
		} {
			if !strings.Contains(body, want) {
				t.Errorf("the page lacks %q", want)
			}
		}
		return got
	}
	first, second := load(), load()
	for k, v := range first {
		if second[k] == v {
			t.Errorf("%s is the same on two loads", k)
		}
	}
	seen := map[string]bool{}
	for _, v := range first {
		if seen[v] {
			t.Errorf("one secret %q is offered for two things", v)
		}
		seen[v] = true
	}
}

func TestChecklistIsForAdminsOnly(t *testing.T) {
	e := newSetupEnv(t, nil, nil)
	agent := e.login("budi@toko.id")
	for _, r := range []struct{ method, path string }{
		{"GET", "/admin/getting-started"}, {"GET", "/admin/getting-started/nudge"},
		{"POST", "/admin/getting-started/dismiss"}, {"POST", "/admin/getting-started/restore"},
	} {
		var res response
		if r.method == "GET" {
			res = agent.get(r.path, map[string]string{"HX-Request": "true"})
		} else {
			res = agent.htmx(r.path, nil)
		}
		if res.status != http.StatusForbidden {
			t.Errorf("agent %s %s: status %d, want 403", r.method, r.path, res.status)
		}
	}
	if strings.Contains(agent.get("/", nil).body, "getting-started") {
		t.Error("an agent's inbox links to the checklist")
	}
	if !strings.Contains(e.login("dewi@toko.id").get("/", nil).body, `hx-get="/admin/getting-started/nudge"`) {
		t.Error("an admin's inbox does not load the checklist link")
	}
	if st, _ := e.store.GetState(context.Background(), "console/getting-started"); st != nil {
		t.Errorf("an agent's requests stored %s", st)
	}
}

func TestChecklistDismissal(t *testing.T) {
	e := newSetupEnv(t, map[string]string{"SERAMBI_BASE_URL": publicBase, "SERAMBI_SHOPIFY_WEBHOOK_SECRET": "shopify-hook-secret"}, liveChannels)
	admin := e.login("dewi@toko.id")
	nudge := func() string {
		r := admin.get("/admin/getting-started/nudge", map[string]string{"HX-Request": "true"})
		if r.status != 200 {
			t.Fatalf("nudge: status %d", r.status)
		}
		return r.body
	}
	// Email, Telegram, WhatsApp, phone and the shop are done; the widget and the API key are not.
	if n := nudge(); !strings.Contains(n, "Finish setting up (5/7)") || !strings.Contains(n, `href="/admin/getting-started"`) {
		t.Fatalf("nudge before dismissal: %q", n)
	}

	if r := admin.post("/admin/getting-started/dismiss", url.Values{}, nil); r.status != http.StatusForbidden {
		t.Fatalf("dismiss without a CSRF token: status %d", r.status)
	}
	if r := admin.post("/admin/getting-started/dismiss", url.Values{"_csrf": {"forged-token-forged-token-forged-token"}}, nil); r.status != http.StatusForbidden {
		t.Fatalf("dismiss with a wrong CSRF token: status %d", r.status)
	}
	if !strings.Contains(nudge(), "5/7") {
		t.Fatal("a refused dismissal hid the checklist")
	}

	r := admin.post("/admin/getting-started/dismiss", url.Values{"_csrf": {admin.csrf}}, nil)
	if r.status != http.StatusSeeOther || r.header.Get("Location") != "/" {
		t.Fatalf("dismiss: %d → %q", r.status, r.header.Get("Location"))
	}
	if n := nudge(); strings.TrimSpace(n) != "" {
		t.Fatalf("the inbox still links to a dismissed checklist: %q", n)
	}
	// Kept per install: another admin does not see it either, and it is in the store.
	if n := e.login("sari@toko.id").get("/admin/getting-started/nudge", nil).body; strings.TrimSpace(n) != "" {
		t.Errorf("another admin still sees the link: %q", n)
	}
	if st, err := e.store.GetState(context.Background(), "console/getting-started"); err != nil || !strings.Contains(string(st), `"dismissed":true`) {
		t.Errorf("stored state %s, %v", st, err)
	}
	// Still reachable from the admin menu, and it can come back.
	page := admin.get("/admin/getting-started", nil)
	if page.status != 200 || !strings.Contains(page.body, `action="/admin/getting-started/restore"`) {
		t.Fatalf("dismissed checklist page: %d", page.status)
	}
	if r := admin.htmx("/admin/getting-started/restore", nil); r.status != http.StatusNoContent || r.header.Get("HX-Redirect") != "/admin/getting-started" {
		t.Fatalf("restore: %d %q", r.status, r.header.Get("HX-Redirect"))
	}
	if !strings.Contains(nudge(), "5/7") {
		t.Fatal("the restored checklist is not linked from the inbox")
	}
}

func TestChecklistLinkDisappearsWhenComplete(t *testing.T) {
	e := newSetupEnv(t, configuredEnv, liveChannels)
	admin := e.login("dewi@toko.id")
	if n := admin.get("/admin/getting-started/nudge", nil).body; !strings.Contains(n, "(6/7)") {
		t.Fatalf("before the API key: %q", n)
	}
	if _, _, err := agents.NewAPIKeys(e.store, time.Now).Create(context.Background(), "shop"); err != nil {
		t.Fatal(err)
	}
	if n := admin.get("/admin/getting-started/nudge", nil).body; strings.TrimSpace(n) != "" {
		t.Fatalf("a complete checklist is still linked: %q", n)
	}
}

func TestChecklistInBothLanguages(t *testing.T) {
	e := newSetupEnv(t, map[string]string{"SERAMBI_BASE_URL": publicBase}, nil)
	tests := []struct {
		who  string
		want []string
	}{
		{"dewi@toko.id", []string{`<html lang="en">`, "<h1>Getting started</h1>", "0 of 7 steps done", "Chat widget on your website",
			">Copy<", "Hide this checklist", "Environment variables"}},
		{"sari@toko.id", []string{`<html lang="id">`, "<h1>Panduan memulai</h1>", "0 dari 7 langkah selesai", "Widget chat di situs Anda",
			">Salin<", "Sembunyikan daftar ini", "Variabel lingkungan", "kata sandi kotak surat"}},
	}
	for _, tt := range tests {
		t.Run(tt.who, func(t *testing.T) {
			c := e.login(tt.who)
			body := html.UnescapeString(c.get("/admin/getting-started", nil).body)
			for _, w := range tt.want {
				if !strings.Contains(body, w) {
					t.Errorf("the page lacks %q", w)
				}
			}
			n := c.get("/admin/getting-started/nudge", nil).body
			if want := map[string]string{"dewi@toko.id": "Finish setting up (0/7)", "sari@toko.id": "Selesaikan penyiapan (0/7)"}[tt.who]; !strings.Contains(n, want) {
				t.Errorf("nudge %q lacks %q", n, want)
			}
		})
	}
}

// Every URL the checklist gives a provider is a route the server really serves, and every
// provider route the server serves is on the checklist: the connectors and the shop are
// registered here exactly as the instance registers them.
func TestChecklistURLsAreRealRoutes(t *testing.T) {
	e := newSetupEnv(t, configuredEnv, nil)
	srv := echo.New()
	hooks := srv.Group("/webhooks")
	shopCfg, err := commerce.LoadFromEnv(getenv(configuredEnv))
	if err != nil {
		t.Fatal(err)
	}
	shop, err := commerce.New(shopCfg, commerce.Deps{Store: e.store, Customers: e.store, Timeline: e.inbox, Events: e.bus})
	if err != nil {
		t.Fatal(err)
	}
	shop.RegisterWebhooks(hooks)
	wa.New(wa.Config{AccessToken: "x", AppSecret: "y", VerifyToken: "z", PhoneNumberID: "1"}, wa.Deps{}).Register(hooks)
	telegram.New(telegram.Config{Token: "1:x", Mode: telegram.ModeWebhook}, telegram.Deps{}).Register(hooks)
	vc, err := voice.LoadFromEnv(getenv(configuredEnv))
	if err != nil {
		t.Fatal(err)
	}
	voice.New(vc, voice.Deps{Inbox: e.inbox, State: e.store, Events: e.bus}).Register(srv.Group("/api/v1"))
	wc, err := widget.LoadFromEnv(getenv(configuredEnv))
	if err != nil {
		t.Fatal(err)
	}
	wg := widget.New(wc, widget.Deps{Ingester: e.inbox, Deliveries: e.inbox, Store: e.store, State: e.store, Blobs: e.blobs,
		Events: e.bus, Subscriber: e.bus})
	wg.Register(srv)

	var routes []string
	for _, r := range srv.Routes() {
		routes = append(routes, r.Path)
	}
	served := func(path string) bool {
		for _, r := range routes {
			if routeMatches(r, path) {
				return true
			}
		}
		return false
	}

	body := html.UnescapeString(e.login("dewi@toko.id").get("/admin/getting-started", nil).body)
	var shown []string
	for _, m := range regexp.MustCompile(regexp.QuoteMeta(publicBase)+`(/[^\s"<]*)`).FindAllStringSubmatch(body, -1) {
		shown = append(shown, m[1])
	}
	if len(shown) < 7 {
		t.Fatalf("only %d URLs on the page: %v", len(shown), shown)
	}
	for _, p := range shown {
		if !served(p) {
			t.Errorf("the checklist gives %s, which no route serves (routes: %v)", p, routes)
		}
	}
	for _, r := range routes {
		if !strings.HasPrefix(r, "/webhooks/") && !strings.HasPrefix(r, "/api/v1/voice/") {
			continue
		}
		if !slices.ContainsFunc(shown, func(p string) bool { return routeMatches(r, p) }) {
			t.Errorf("the server serves %s, but the checklist does not give it", r)
		}
	}
}

// routeMatches reports whether an echo route pattern (":name" segments) matches a path.
func routeMatches(route, path string) bool {
	path, _, _ = strings.Cut(path, "?")
	rs, ps := strings.Split(route, "/"), strings.Split(path, "/")
	if len(rs) != len(ps) {
		return false
	}
	for i := range rs {
		if strings.HasPrefix(rs[i], ":") && ps[i] != "" {
			continue
		}
		if rs[i] != ps[i] {
			return false
		}
	}
	return true
}
