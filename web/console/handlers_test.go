package console_test

import (
	"bytes"
	"context"
	"fmt"
	"mime/multipart"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"golang.org/x/net/html"

	"github.com/serambi/serambi/agents"
	"github.com/serambi/serambi/inbox"
	"github.com/serambi/serambi/web/console"
)

// fixture is a console with an admin, an agent, two customers and an attachment.
type fixture struct {
	*env
	conv, cust, other, otherConv, msg, sha string
	team                                   agents.Team
}

func newFixture(t *testing.T) *fixture {
	e := newEnv(t).withAgents()
	ctx := context.Background()
	sha, size, err := e.blobs.Put(ctx, strings.NewReader("\x89PNG\r\n\x1a\nnot really a picture"), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	res, err := e.inbox.Ingest(ctx, inbox.Inbound{Channel: inbox.ChannelEmail, ExternalID: "<m1@mail>", Name: "Siti Rahma",
		From: []inbox.Identity{email("siti@example.id")}, Subject: "Order #1042", Text: "Where is my order?",
		Attachments: []inbox.Attachment{{SHA256: sha, Name: "receipt.png", ContentType: "image/png", Size: size}}})
	if err != nil {
		t.Fatal(err)
	}
	other := e.ingest(inbox.ChannelWhatsApp, "wamid.1", whatsapp("+6281234567890"), "Siti R", "halo kak")
	team, err := e.agents.CreateTeam(ctx, "Billing")
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{env: e, conv: res.Conversation.ID, cust: res.CustomerID, msg: res.Message.ID, sha: sha,
		other: other.CustomerID, otherConv: other.Conversation.ID, team: team}
}

func (f *fixture) expand(s string) string {
	return strings.NewReplacer("{conv}", f.conv, "{cust}", f.cust, "{other}", f.other, "{msg}", f.msg, "{sha}", f.sha,
		"{team}", f.team.ID, "{agent}", f.agent.ID, "{admin}", f.admin.ID).Replace(s)
}

// TestRoutes is the console's access table: who may do what, and that state-changing requests
// without the session's CSRF token are refused.
func TestRoutes(t *testing.T) {
	f := newFixture(t)
	anon := f.anon()
	agent := f.login("budi@toko.id")
	admin := f.login("dewi@toko.id")
	clients := map[string]*client{"anon": anon, "agent": agent, "admin": admin}

	type scenario struct {
		name       string
		who        string
		method     string
		path       string
		form       url.Values
		csrf       string // right | none | wrong
		htmx       bool
		wantStatus int
		wantHeader [2]string // name, value prefix
		wantBody   string
	}
	tests := []scenario{
		{name: "static assets need no session", who: "anon", method: "GET", path: "/static/console.css", wantStatus: 200, wantBody: ".console"},
		{name: "unknown static file", who: "anon", method: "GET", path: "/static/nope.js", wantStatus: 404},
		{name: "sign-in page", who: "anon", method: "GET", path: "/login", wantStatus: 200, wantBody: `name="password"`},
		{name: "setup is closed once an admin exists", who: "anon", method: "GET", path: "/setup", wantStatus: 303, wantHeader: [2]string{"Location", "/login"}},
		{name: "setup cannot create a second admin", who: "anon", method: "POST", path: "/setup", form: url.Values{"email": {"x@y.id"}, "name": {"X"}, "password": {"long enough pw"}}, wantStatus: 303, wantHeader: [2]string{"Location", "/login"}},
		{name: "sign-in form without its token", who: "anon", method: "POST", path: "/login", form: url.Values{"email": {"budi@toko.id"}, "password": {password}}, wantStatus: 403},

		{name: "anonymous console redirects to sign-in", who: "anon", method: "GET", path: "/", wantStatus: 303, wantHeader: [2]string{"Location", "/login"}},
		{name: "anonymous conversation keeps where it was going", who: "anon", method: "GET", path: "/conversations/{conv}", wantStatus: 303, wantHeader: [2]string{"Location", "/login?next=%2Fconversations%2F"}},
		{name: "anonymous htmx request is 401 with a redirect", who: "anon", method: "GET", path: "/list?view=all", htmx: true, wantStatus: 401, wantHeader: [2]string{"HX-Redirect", "/login"}},
		{name: "anonymous post is 401", who: "anon", method: "POST", path: "/conversations/{conv}/status", form: url.Values{"status": {"resolved"}}, wantStatus: 401},
		{name: "anonymous attachment", who: "anon", method: "GET", path: "/files/{msg}/{sha}", wantStatus: 303},
		{name: "anonymous websocket", who: "anon", method: "GET", path: "/ws", wantStatus: 401},
		{name: "anonymous admin page", who: "anon", method: "GET", path: "/admin/agents", wantStatus: 303},

		{name: "console", who: "agent", method: "GET", path: "/?view=all", wantStatus: 200, wantBody: "Siti Rahma"},
		{name: "list fragment", who: "agent", method: "GET", path: "/list?view=all&channel=whatsapp", htmx: true, wantStatus: 200, wantBody: "halo kak"},
		{name: "list with a bad cursor", who: "agent", method: "GET", path: "/list/rows?view=all&after=bad", htmx: true, wantStatus: 422},
		{name: "conversation page", who: "agent", method: "GET", path: "/conversations/{conv}", wantStatus: 200, wantBody: "Where is my order?"},
		{name: "conversation fragment", who: "agent", method: "GET", path: "/conversations/{conv}", htmx: true, wantStatus: 200, wantBody: `id="conv"`},
		{name: "unknown conversation", who: "agent", method: "GET", path: "/conversations/nope", wantStatus: 404},
		{name: "older messages", who: "agent", method: "GET", path: "/conversations/{conv}/messages?before=" + "MTAwMDAwMDAwMDAwMDAwMDAwMC56enp6", htmx: true, wantStatus: 200},
		{name: "attachment is served with safe headers", who: "agent", method: "GET", path: "/files/{msg}/{sha}", wantStatus: 200, wantHeader: [2]string{"X-Content-Type-Options", "nosniff"}},
		{name: "attachment of another message", who: "agent", method: "GET", path: "/files/{msg}/0000", wantStatus: 404},
		{name: "canned picker says why it is empty", who: "agent", method: "GET", path: "/canned?conv={conv}&q=", htmx: true, wantStatus: 200, wantBody: "not available"},
		{name: "settings", who: "agent", method: "GET", path: "/settings", wantStatus: 200, wantBody: "Signed-in devices"},

		{name: "status without CSRF token", who: "agent", method: "POST", path: "/conversations/{conv}/status", form: url.Values{"status": {"pending"}}, csrf: "none", htmx: true, wantStatus: 403},
		{name: "status with a wrong CSRF token", who: "agent", method: "POST", path: "/conversations/{conv}/status", form: url.Values{"status": {"pending"}}, csrf: "wrong", htmx: true, wantStatus: 403},
		{name: "status", who: "agent", method: "POST", path: "/conversations/{conv}/status", form: url.Values{"status": {"pending"}}, csrf: "right", htmx: true, wantStatus: 200, wantBody: "s-pending"},
		{name: "snooze needs a time", who: "agent", method: "POST", path: "/conversations/{conv}/status", form: url.Values{"status": {"snoozed"}}, csrf: "right", htmx: true, wantStatus: 422},
		{name: "snooze", who: "agent", method: "POST", path: "/conversations/{conv}/status", form: url.Values{"status": {"snoozed"}, "until": {"2099-01-02T09:00"}}, csrf: "right", htmx: true, wantStatus: 200, wantBody: "s-snoozed"},
		{name: "unknown status", who: "agent", method: "POST", path: "/conversations/{conv}/status", form: url.Values{"status": {"gone"}}, csrf: "right", htmx: true, wantStatus: 422},
		{name: "assign without token", who: "agent", method: "POST", path: "/conversations/{conv}/assign", form: url.Values{"assignee": {"me"}}, csrf: "none", htmx: true, wantStatus: 403},
		{name: "assign to me", who: "agent", method: "POST", path: "/conversations/{conv}/assign", form: url.Values{"assignee": {"me"}}, csrf: "right", htmx: true, wantStatus: 200, wantBody: "selected"},
		{name: "assign to an unknown agent", who: "agent", method: "POST", path: "/conversations/{conv}/assign", form: url.Values{"assignee": {"nobody"}}, csrf: "right", htmx: true, wantStatus: 404},
		{name: "assign to a team", who: "agent", method: "POST", path: "/conversations/{conv}/assign", form: url.Values{"team": {"{team}"}}, csrf: "right", htmx: true, wantStatus: 200},
		{name: "priority without token", who: "agent", method: "POST", path: "/conversations/{conv}/priority", form: url.Values{"priority": {"high"}}, csrf: "wrong", htmx: true, wantStatus: 403},
		{name: "priority", who: "agent", method: "POST", path: "/conversations/{conv}/priority", form: url.Values{"priority": {"high"}}, csrf: "right", htmx: true, wantStatus: 200},
		{name: "tags without token", who: "agent", method: "POST", path: "/conversations/{conv}/tags", form: url.Values{"tags": {"vip"}}, csrf: "none", htmx: true, wantStatus: 403},
		{name: "tags", who: "agent", method: "POST", path: "/conversations/{conv}/tags", form: url.Values{"tags": {"VIP, refund"}}, csrf: "right", htmx: true, wantStatus: 200, wantBody: "refund, vip"},
		{name: "bulk without token", who: "agent", method: "POST", path: "/conversations/bulk", form: url.Values{"ids": {"{conv}"}, "action": {"status:resolved"}}, csrf: "none", htmx: true, wantStatus: 403},
		{name: "bulk resolve", who: "agent", method: "POST", path: "/conversations/bulk", form: url.Values{"ids": {"{conv}", "{otherconv}"}, "action": {"status:resolved"}}, csrf: "right", htmx: true, wantStatus: 200, wantHeader: [2]string{"HX-Trigger", `{"serambi:toast"`}},
		{name: "bulk with nothing checked", who: "agent", method: "POST", path: "/conversations/bulk", form: url.Values{"action": {"status:resolved"}}, csrf: "right", htmx: true, wantStatus: 422},
		{name: "bulk with an unknown action", who: "agent", method: "POST", path: "/conversations/bulk", form: url.Values{"ids": {"{conv}"}, "action": {"delete:all"}}, csrf: "right", htmx: true, wantStatus: 422},
		{name: "note without token", who: "agent", method: "POST", path: "/conversations/{conv}/send", form: url.Values{"mode": {"note"}, "text": {"hi"}}, csrf: "none", htmx: true, wantStatus: 403},
		{name: "empty reply", who: "agent", method: "POST", path: "/conversations/{conv}/send", form: url.Values{"mode": {"reply"}, "text": {"  "}}, csrf: "right", htmx: true, wantStatus: 422},
		{name: "reply on a channel the customer lacks", who: "agent", method: "POST", path: "/conversations/{conv}/send", form: url.Values{"mode": {"reply"}, "channel": {"telegram"}, "text": {"hi"}}, csrf: "right", htmx: true, wantStatus: 422, wantBody: "cannot be reached"},
		{name: "merge without token", who: "agent", method: "POST", path: "/customers/{cust}/merge", form: url.Values{"other": {"{other}"}}, csrf: "wrong", htmx: true, wantStatus: 403},
		{name: "merge into itself", who: "agent", method: "POST", path: "/customers/{cust}/merge", form: url.Values{"other": {"{cust}"}}, csrf: "right", htmx: true, wantStatus: 422},
		{name: "settings without token", who: "agent", method: "POST", path: "/settings", form: url.Values{"locale": {"id"}, "timezone": {"Asia/Makassar"}}, csrf: "none", wantStatus: 403},
		{name: "settings with a bad zone", who: "agent", method: "POST", path: "/settings", form: url.Values{"locale": {"id"}, "timezone": {"Mars/Olympus"}}, csrf: "right", wantStatus: 303, wantHeader: [2]string{"Location", "/settings?error="}},
		{name: "revoke an unknown session", who: "agent", method: "POST", path: "/settings/sessions/abc/revoke", csrf: "right", wantStatus: 303, wantHeader: [2]string{"Location", "/settings?error="}},

		{name: "agent cannot see agents", who: "agent", method: "GET", path: "/admin/agents", wantStatus: 403},
		{name: "agent cannot see teams", who: "agent", method: "GET", path: "/admin/teams", wantStatus: 403},
		{name: "agent cannot see canned responses admin", who: "agent", method: "GET", path: "/admin/canned", wantStatus: 403},
		{name: "agent cannot see the channels admin", who: "agent", method: "GET", path: "/admin/channels", wantStatus: 403},
		{name: "admin sees every channel as not configured when none reports", who: "admin", method: "GET", path: "/admin/channels", wantStatus: 200, wantBody: "Not configured"},
		{name: "signed out cannot play recordings", who: "anon", method: "GET", path: "/calls/cti:1/recording", wantStatus: 303, wantHeader: [2]string{"Location", "/login"}},
		{name: "no call center, no recording", who: "agent", method: "GET", path: "/calls/cti:1/recording", wantStatus: 404},
		{name: "agent cannot create agents", who: "agent", method: "POST", path: "/admin/agents", form: url.Values{"email": {"x@toko.id"}, "name": {"X"}, "password": {password}, "role": {"admin"}}, csrf: "right", wantStatus: 403},
		{name: "agent cannot promote themself", who: "agent", method: "POST", path: "/admin/agents/{agent}", form: url.Values{"role": {"admin"}}, csrf: "right", wantStatus: 403},
		{name: "agent cannot create teams", who: "agent", method: "POST", path: "/admin/teams", form: url.Values{"name": {"Sales"}}, csrf: "right", wantStatus: 403},
		{name: "agent cannot delete teams", who: "agent", method: "POST", path: "/admin/teams/{team}/delete", csrf: "right", wantStatus: 403},
		{name: "agent cannot create canned responses", who: "agent", method: "POST", path: "/admin/canned", form: url.Values{"shortcut": {"hi"}}, csrf: "right", wantStatus: 403},
		{name: "agent cannot delete canned responses", who: "agent", method: "POST", path: "/admin/canned/x/delete", csrf: "right", wantStatus: 403},

		{name: "admin sees agents", who: "admin", method: "GET", path: "/admin/agents", wantStatus: 200, wantBody: "budi@toko.id"},
		{name: "admin sees teams", who: "admin", method: "GET", path: "/admin/teams", wantStatus: 200, wantBody: "Billing"},
		{name: "admin sees why canned responses are off", who: "admin", method: "GET", path: "/admin/canned", wantStatus: 200, wantBody: "not available"},
		{name: "admin create agent without token", who: "admin", method: "POST", path: "/admin/agents", form: url.Values{"email": {"sari@toko.id"}, "name": {"Sari"}, "password": {password}, "role": {"agent"}}, csrf: "none", wantStatus: 403},
		{name: "admin creates an agent", who: "admin", method: "POST", path: "/admin/agents", form: url.Values{"email": {"sari@toko.id"}, "name": {"Sari"}, "password": {password}, "role": {"agent"}, "timezone": {"Asia/Makassar"}}, csrf: "right", wantStatus: 303, wantHeader: [2]string{"Location", "/admin/agents?ok=AgentCreated"}},
		{name: "admin cannot demote the last admin", who: "admin", method: "POST", path: "/admin/agents/{admin}", form: url.Values{"role": {"agent"}}, csrf: "right", wantStatus: 303, wantHeader: [2]string{"Location", "/admin/agents?error="}},
		{name: "admin puts an agent in a team", who: "admin", method: "POST", path: "/admin/agents/{agent}", form: url.Values{"role": {"agent"}, "teams": {"{team}"}}, csrf: "right", wantStatus: 303, wantHeader: [2]string{"Location", "/admin/agents?ok=AgentSaved"}},
		{name: "admin creates a team", who: "admin", method: "POST", path: "/admin/teams", form: url.Values{"name": {"Sales"}}, csrf: "right", wantStatus: 303, wantHeader: [2]string{"Location", "/admin/teams?ok=TeamCreated"}},
		{name: "admin cannot create a duplicate team", who: "admin", method: "POST", path: "/admin/teams", form: url.Values{"name": {"Sales"}}, csrf: "right", wantStatus: 303, wantHeader: [2]string{"Location", "/admin/teams?error="}},
		{name: "canned responses cannot be saved without a store", who: "admin", method: "POST", path: "/admin/canned", form: url.Values{"shortcut": {"hi"}, "title": {"Hi"}, "text": {"Hi {{customer.name}}"}}, csrf: "right", wantStatus: 501},
		{name: "logout without token", who: "admin", method: "POST", path: "/logout", csrf: "none", wantStatus: 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := clients[tt.who]
			h := map[string]string{}
			if tt.htmx {
				h["HX-Request"] = "true"
			}
			switch tt.csrf {
			case "right":
				h["X-CSRF-Token"] = c.csrf
			case "wrong":
				h["X-CSRF-Token"] = "x" + c.csrf
			}
			path := strings.ReplaceAll(f.expand(tt.path), "{otherconv}", f.otherConv)
			var r response
			if tt.method == "GET" {
				r = c.get(path, h)
			} else {
				form := url.Values{}
				for k, vs := range tt.form {
					for _, v := range vs {
						form.Add(k, strings.ReplaceAll(f.expand(v), "{otherconv}", f.otherConv))
					}
				}
				r = c.post(path, form, h)
			}
			if r.status != tt.wantStatus {
				t.Fatalf("%s %s as %s: status %d, want %d\n%s", tt.method, path, tt.who, r.status, tt.wantStatus, trim(r.body))
			}
			if tt.wantHeader[0] != "" && !strings.HasPrefix(r.header.Get(tt.wantHeader[0]), tt.wantHeader[1]) {
				t.Errorf("header %s = %q, want prefix %q", tt.wantHeader[0], r.header.Get(tt.wantHeader[0]), tt.wantHeader[1])
			}
			if tt.wantBody != "" && !strings.Contains(r.body, tt.wantBody) {
				t.Errorf("body lacks %q:\n%s", tt.wantBody, trim(r.body))
			}
		})
	}
}

func trim(s string) string {
	if len(s) > 1500 {
		return s[:1500] + "…"
	}
	return s
}

func TestSessionCookieAndLogout(t *testing.T) {
	e := newEnv(t).withAgents()
	c := e.anon()
	page := c.get("/login", nil)
	token := csrfRE.FindStringSubmatch(page.body)[1]
	r := c.post("/login", url.Values{"email": {"budi@toko.id"}, "password": {password}, "_csrf": {token}}, nil)
	if r.status != http.StatusSeeOther {
		t.Fatalf("login status %d", r.status)
	}
	var session *http.Cookie
	for _, ck := range (&http.Response{Header: r.header}).Cookies() {
		if ck.Name == "serambi_session" {
			session = ck
		}
	}
	if session == nil || !session.HttpOnly || session.SameSite != http.SameSiteLaxMode || session.Secure {
		t.Fatalf("session cookie %+v: want HttpOnly, SameSite=Lax, not Secure over plain http", session)
	}
	home := c.get("/", nil)
	csrf := csrfRE.FindStringSubmatch(home.body)[1]
	if r := c.post("/logout", url.Values{"_csrf": {csrf}}, nil); r.status != http.StatusSeeOther || r.header.Get("Location") != "/login" {
		t.Fatalf("logout: %d %s", r.status, r.header.Get("Location"))
	}
	// The old cookie no longer opens the console, even if a browser kept it.
	replay := e.anon()
	u, _ := url.Parse(e.srv.URL)
	replay.http.Jar.SetCookies(u, []*http.Cookie{{Name: "serambi_session", Value: session.Value}})
	if r := replay.get("/", nil); r.status != http.StatusSeeOther {
		t.Fatalf("a signed-out session still opens the console: %d", r.status)
	}
}

func TestSecureCookiesBehindHTTPS(t *testing.T) {
	e := newEnv(t, func(o *console.Options, _ *agents.Config) { o.SecureCookies = true }).withAgents()
	c := e.anon()
	page := c.get("/login", nil)
	for _, ck := range (&http.Response{Header: page.header}).Cookies() {
		if !ck.Secure || !ck.HttpOnly {
			t.Errorf("cookie %s is not Secure and HttpOnly: %+v", ck.Name, ck)
		}
	}
}

func TestLoginRateLimitShowsWhenToRetry(t *testing.T) {
	e := newEnv(t, func(_ *console.Options, c *agents.Config) { c.LoginFailuresPerAccount = 2 }).withAgents()
	c := e.anon()
	token := csrfRE.FindStringSubmatch(c.get("/login", nil).body)[1]
	attempt := func(pw string) response {
		return c.post("/login", url.Values{"email": {"budi@toko.id"}, "password": {pw}, "_csrf": {token}}, nil)
	}
	for i := 0; i < 2; i++ {
		if r := attempt("wrong password " + string(rune('a'+i))); r.status != http.StatusUnauthorized || !strings.Contains(r.body, "Wrong email or password") {
			t.Fatalf("attempt %d: %d %s", i+1, r.status, trim(r.body))
		}
	}
	r := attempt(password) // even the right password waits now
	if r.status != http.StatusTooManyRequests || !strings.Contains(r.body, "Try again in 15 min") || r.header.Get("Retry-After") == "" {
		t.Fatalf("third attempt: %d Retry-After=%q %s", r.status, r.header.Get("Retry-After"), trim(r.body))
	}
}

func TestFirstRunSetup(t *testing.T) {
	e := newEnv(t)
	c := e.anon()
	if r := c.get("/", nil); r.status != http.StatusSeeOther || r.header.Get("Location") != "/setup" {
		t.Fatalf("with no admin, / goes to %d %s; want /setup", r.status, r.header.Get("Location"))
	}
	if r := c.get("/login", nil); r.header.Get("Location") != "/setup" {
		t.Fatalf("with no admin, /login goes to %q; want /setup", r.header.Get("Location"))
	}
	page := c.get("/setup", nil)
	token := csrfRE.FindStringSubmatch(page.body)[1]
	bad := c.post("/setup", url.Values{"email": {"admin@toko.id"}, "name": {"Admin"}, "password": {"short"}, "_csrf": {token}}, nil)
	if bad.status != http.StatusUnprocessableEntity || !strings.Contains(bad.body, "10 to 1024") {
		t.Fatalf("short password: %d %s", bad.status, trim(bad.body))
	}
	r := c.post("/setup", url.Values{"email": {"admin@toko.id"}, "name": {"Admin"}, "password": {password}, "locale": {"id"}, "timezone": {"Asia/Jakarta"}, "_csrf": {token}}, nil)
	if r.status != http.StatusSeeOther || r.header.Get("Location") != "/admin/getting-started" {
		t.Fatalf("setup: %d %s %s", r.status, r.header.Get("Location"), trim(r.body))
	}
	home := c.get("/", nil)
	if home.status != 200 || !strings.Contains(home.body, "Kotak masuk") {
		t.Fatalf("after setup the admin is signed in and sees the console in Indonesian: %d %s", home.status, trim(home.body))
	}
	if need, _ := e.agents.NeedsSetup(context.Background()); need {
		t.Fatal("setup created no admin")
	}
}

func TestAgentSeesAndRevokesTheirSessions(t *testing.T) {
	e := newEnv(t).withAgents()
	laptop := e.login("budi@toko.id")
	phone := e.login("budi@toko.id")
	page := laptop.get("/settings", nil)
	ids := regexSubmatches(`/settings/sessions/([0-9a-f]+)/revoke`, page.body)
	if len(ids) != 2 {
		t.Fatalf("settings list %d sessions, want 2", len(ids))
	}
	// Revoke the one that is not "this browser".
	var other string
	for _, id := range ids {
		if !strings.Contains(between(page.body, id), "this browser") {
			other = id
		}
	}
	if other == "" {
		other = ids[1]
	}
	r := laptop.post("/settings/sessions/"+other+"/revoke", url.Values{"_csrf": {laptop.csrf}}, nil)
	if r.header.Get("Location") != "/settings?ok=SessionRevoked" {
		t.Fatalf("revoke: %d %s", r.status, r.header.Get("Location"))
	}
	a, b := laptop.get("/", nil).status, phone.get("/", nil).status
	if (a == 200) == (b == 200) {
		t.Fatalf("after revoking one of two sessions: laptop %d, phone %d; want exactly one signed out", a, b)
	}
}

// XSS: whatever a customer sends is shown as text; email HTML is sanitised and the page's CSP
// forbids inline script anyway.
func TestMessageContentIsEscaped(t *testing.T) {
	if len(activeContent(`<p><img src=x onerror=y></p>`)) == 0 || len(activeContent(`<a href="javascript:x">`)) == 0 {
		t.Fatal("the active-content detector misses what it must find")
	}
	e := newEnv(t).withAgents()
	payload := `<script>window.pwned=1</script><img src=x onerror="window.pwned=1"><a href="javascript:alert(1)">x</a>`
	res, err := e.inbox.Ingest(context.Background(), inbox.Inbound{Channel: inbox.ChannelEmail, ExternalID: "<xss@mail>",
		Name: `Eve"><script>alert(1)</script>`, From: []inbox.Identity{email("eve@example.id")},
		Subject: `<img src=x onerror=alert(2)>`, Text: payload, HTML: `<p>hello</p>` + payload + `<div onclick="x()" style="background:url(javascript:x)">y</div>`})
	if err != nil {
		t.Fatal(err)
	}
	c := e.login("budi@toko.id")
	for _, path := range []string{"/conversations/" + res.Conversation.ID, "/?view=all"} {
		r := c.get(path, nil)
		if r.status != 200 {
			t.Fatalf("%s: %d", path, r.status)
		}
		if problems := activeContent(r.body); len(problems) > 0 {
			t.Errorf("%s has active content from the message: %v", path, problems)
		}
		if !strings.Contains(r.header.Get("Content-Security-Policy"), "script-src 'self'") {
			t.Errorf("%s has no script-src CSP", path)
		}
	}
	conv := c.get("/conversations/"+res.Conversation.ID, nil).body
	if !strings.Contains(conv, "<p>hello</p>") {
		t.Error("the sanitised email HTML is not shown")
	}
	if !strings.Contains(conv, "Eve&#34;&gt;&lt;script&gt;") {
		t.Error("the customer's name is not shown escaped")
	}
}

func TestReplyAndNoteWithAttachment(t *testing.T) {
	e := newEnv(t).withAgents()
	res := e.ingest(inbox.ChannelWhatsApp, "wamid.9", whatsapp("+6281234567890"), "Siti", "is size M in stock?")
	c := e.login("budi@toko.id")
	var body bytes.Buffer
	w := multipart.NewWriter(&body)
	_ = w.WriteField("mode", "reply")
	_ = w.WriteField("channel", "whatsapp")
	_ = w.WriteField("text", "Yes, 3 left!")
	fw, _ := w.CreateFormFile("files", `..\..\evil name".png`)
	_, _ = fw.Write([]byte("\x89PNG\r\n\x1a\n0000"))
	_ = w.Close()
	r := c.do("POST", "/conversations/"+res.Conversation.ID+"/send", &body,
		map[string]string{"Content-Type": w.FormDataContentType(), "HX-Request": "true", "X-CSRF-Token": c.csrf})
	if r.status != 200 || !strings.Contains(r.body, "Yes, 3 left!") || !strings.Contains(r.body, `data-op="msg"`) {
		t.Fatalf("reply: %d %s", r.status, trim(r.body))
	}
	msgs, err := e.inbox.Messages(context.Background(), res.Conversation.ID, inbox.Cursor{}, 10)
	if err != nil {
		t.Fatal(err)
	}
	out := msgs[0]
	if out.Direction != inbox.DirectionOut || out.Channel != inbox.ChannelWhatsApp || out.Delivery != inbox.DeliveryQueued ||
		len(out.Attachments) != 1 || out.Attachments[0].Name != `evil name.png` || out.Attachments[0].ContentType != "image/png" {
		t.Fatalf("stored reply %+v", out)
	}
	note := c.htmx("/conversations/"+res.Conversation.ID+"/send", url.Values{"mode": {"note"}, "text": {"@dewi please check stock in BDG"}})
	if note.status != 200 || !strings.Contains(note.body, `<mark class="mention">@dewi</mark>`) {
		t.Fatalf("note: %d %s", note.status, trim(note.body))
	}
	msgs, _ = e.inbox.Messages(context.Background(), res.Conversation.ID, inbox.Cursor{}, 10)
	if msgs[0].Direction != inbox.DirectionNote || msgs[0].Meta["mentions"] != e.admin.ID {
		t.Fatalf("note stored as %+v; want a note mentioning Dewi (%s)", msgs[0], e.admin.ID)
	}
}

func regexSubmatches(pattern, s string) []string {
	var out []string
	for _, m := range regexpMust(pattern).FindAllStringSubmatch(s, -1) {
		out = append(out, m[1])
	}
	return out
}

// between returns the table row of the page that holds id.
func between(body, id string) string {
	i := strings.Index(body, id)
	start := strings.LastIndex(body[:i], "<tr>")
	if start < 0 {
		start = 0
	}
	return body[start:i]
}

// activeContent parses a page as a browser would and lists whatever could run script: a script
// element that is not one of ours, an on* attribute, a javascript: URL.
func activeContent(page string) []string {
	doc, err := html.Parse(strings.NewReader(page))
	if err != nil {
		return []string{"unparseable: " + err.Error()}
	}
	var out []string
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode {
			if n.Data == "script" {
				src := ""
				for _, a := range n.Attr {
					if a.Key == "src" {
						src = a.Val
					}
				}
				if !strings.HasPrefix(src, "/static/") {
					out = append(out, "script element")
				}
			}
			for _, a := range n.Attr {
				v := strings.ToLower(strings.TrimSpace(a.Val))
				if strings.HasPrefix(a.Key, "on") {
					out = append(out, n.Data+" "+a.Key)
				}
				if (a.Key == "href" || a.Key == "src" || a.Key == "action" || a.Key == "style") && strings.Contains(v, "javascript:") {
					out = append(out, n.Data+" "+a.Key+"="+a.Val)
				}
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	return out
}

func TestListPagesAndTimelinePages(t *testing.T) {
	e := newEnv(t).withAgents()
	var conv string
	for i := 0; i < 60; i++ {
		conv = e.ingest(inbox.ChannelWhatsApp, fmt.Sprintf("wamid.%d", i), whatsapp(fmt.Sprintf("+62812000%05d", i)), fmt.Sprintf("Customer %02d", i), "halo").Conversation.ID
	}
	for i := 0; i < 70; i++ {
		e.ingest(inbox.ChannelWhatsApp, fmt.Sprintf("wamid.t%d", i), whatsapp("+6281200000059"), "Customer 59", fmt.Sprintf("line %02d", i))
	}
	c := e.login("budi@toko.id")
	first := c.get("/list?view=all", map[string]string{"HX-Request": "true"})
	rows := regexSubmatches(`id="row-([0-9a-z]+)"`, first.body)
	next := regexSubmatches(`&amp;after=([A-Za-z0-9_-]+)"`, first.body)
	if len(rows) != 50 || len(next) != 1 || rows[0] != conv {
		t.Fatalf("first page: %d rows (first %v), next %v; want 50 newest first and a cursor", len(rows), rows[:1], next)
	}
	more := c.get("/list/rows?view=all&after="+next[0], map[string]string{"HX-Request": "true"})
	rest := regexSubmatches(`id="row-([0-9a-z]+)"`, more.body)
	if len(rest) != 10 || strings.Contains(more.body, "more-rows") {
		t.Fatalf("second page: %d rows, more=%v; want the last 10 and no further page", len(rest), strings.Contains(more.body, "more-rows"))
	}
	for _, r := range rest {
		if slices.Contains(rows, r) {
			t.Fatalf("row %s is on both pages", r)
		}
	}
	page := c.get("/conversations/"+conv, nil)
	older := regexSubmatches(`/messages\?before=([A-Za-z0-9_-]+)"`, page.body)
	if len(older) != 1 || !strings.Contains(page.body, "line 69") || strings.Contains(page.body, ">line 19<") {
		t.Fatalf("timeline: older cursor %v; want the newest 50 entries and a cursor", older)
	}
	prev := c.get("/conversations/"+conv+"/messages?before="+older[0], map[string]string{"HX-Request": "true"})
	if !strings.Contains(prev.body, ">line 19<") || !strings.Contains(prev.body, ">halo<") || strings.Contains(prev.body, ">line 20<") {
		t.Fatalf("older page:\n%s", trim(prev.body))
	}
}

func TestMergeFromTheSuggestion(t *testing.T) {
	f := newFixture(t)
	c := f.login("budi@toko.id")
	r := c.htmx("/customers/"+f.cust+"/merge", url.Values{"other": {f.other}})
	if r.status != 200 || !strings.Contains(r.header.Get("HX-Location"), "/conversations/") {
		t.Fatalf("merge: %d %v %s", r.status, r.header, r.body)
	}
	loser, err := f.inbox.Store().CustomerByID(context.Background(), f.other)
	if err != nil || loser.MergedInto != f.cust {
		t.Fatalf("the other customer was not merged: %+v %v", loser, err)
	}
	page := c.get("/conversations/"+f.conv, nil)
	if !strings.Contains(page.body, "halo kak") || !strings.Contains(page.body, "merged Siti R into this customer") {
		t.Fatalf("the merged timeline lacks the other customer's message or the merge event:\n%s", trim(page.body))
	}
}

// A made-up X-Forwarded-For does not give a guesser a fresh address to fail from.
func TestLoginLimitIgnoresForgedForwardedFor(t *testing.T) {
	e := newEnv(t, func(_ *console.Options, c *agents.Config) { c.LoginFailuresPerIP = 2 }).withAgents()
	c := e.anon()
	token := csrfRE.FindStringSubmatch(c.get("/login", nil).body)[1]
	for i := 0; i < 3; i++ {
		r := c.post("/login", url.Values{"email": {fmt.Sprintf("guess%d@toko.id", i)}, "password": {"wrong password"}, "_csrf": {token}},
			map[string]string{"X-Forwarded-For": fmt.Sprintf("203.0.113.%d", i)})
		want := http.StatusUnauthorized
		if i == 2 {
			want = http.StatusTooManyRequests
		}
		if r.status != want {
			t.Fatalf("attempt %d from forged address: %d, want %d", i+1, r.status, want)
		}
	}
}
