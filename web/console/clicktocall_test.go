package console_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/serambi/serambi/agents"
	"github.com/serambi/serambi/connectors/voice"
	"github.com/serambi/serambi/connectors/voice/ami"
	"github.com/serambi/serambi/inbox"
	"github.com/serambi/serambi/web/console"
)

func TestAdminSetsAgentExtension(t *testing.T) {
	e := newEnv(t).withAgents()
	admin := e.login("dewi@toko.id")
	ctx := context.Background()
	byEmail := func(email string) (agents.Agent, bool) {
		list, err := e.agents.Agents(ctx)
		if err != nil {
			t.Fatal(err)
		}
		i := slices.IndexFunc(list, func(a agents.Agent) bool { return a.Email == email })
		if i < 0 {
			return agents.Agent{}, false
		}
		return list[i], true
	}
	newAgent := func(email, ext string) url.Values {
		return url.Values{"email": {email}, "name": {"Sari"}, "password": {password}, "role": {"agent"}, "extension": {ext}}
	}
	tests := []struct {
		name     string
		path     string
		form     url.Values
		wantLoc  string
		email    string // whose extension to check afterwards
		wantExt  string
		wantGone bool // the account must not exist
	}{
		{name: "created with an extension", path: "/admin/agents", form: newAgent("sari@toko.id", " 201 "),
			wantLoc: "/admin/agents?ok=AgentCreated", email: "sari@toko.id", wantExt: "201"},
		{name: "created without one", path: "/admin/agents", form: newAgent("rina@toko.id", ""),
			wantLoc: "/admin/agents?ok=AgentCreated", email: "rina@toko.id", wantExt: ""},
		{name: "a bad extension creates nothing", path: "/admin/agents", form: newAgent("joko@toko.id", "20a"),
			wantLoc: "/admin/agents?error=", email: "joko@toko.id", wantGone: true},
		{name: "edit sets it", path: "/admin/agents/{agent}", form: url.Values{"role": {"agent"}, "extension": {"305"}},
			wantLoc: "/admin/agents?ok=AgentSaved", email: "budi@toko.id", wantExt: "305"},
		{name: "too long is refused and the old one stays", path: "/admin/agents/{agent}", form: url.Values{"role": {"agent"}, "extension": {strings.Repeat("1", 21)}},
			wantLoc: "/admin/agents?error=", email: "budi@toko.id", wantExt: "305"},
		{name: "a dial string is refused", path: "/admin/agents/{agent}", form: url.Values{"role": {"agent"}, "extension": {"SIP/305"}},
			wantLoc: "/admin/agents?error=", email: "budi@toko.id", wantExt: "305"},
		{name: "twenty digits are accepted", path: "/admin/agents/{agent}", form: url.Values{"role": {"agent"}, "extension": {strings.Repeat("9", 20)}},
			wantLoc: "/admin/agents?ok=AgentSaved", email: "budi@toko.id", wantExt: strings.Repeat("9", 20)},
		{name: "a form without the field keeps it", path: "/admin/agents/{agent}", form: url.Values{"role": {"agent"}},
			wantLoc: "/admin/agents?ok=AgentSaved", email: "budi@toko.id", wantExt: strings.Repeat("9", 20)},
		{name: "empty clears it", path: "/admin/agents/{agent}", form: url.Values{"role": {"agent"}, "extension": {""}},
			wantLoc: "/admin/agents?ok=AgentSaved", email: "budi@toko.id", wantExt: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := strings.ReplaceAll(tt.path, "{agent}", e.agent.ID)
			r := admin.post(path, tt.form, map[string]string{"X-CSRF-Token": admin.csrf})
			if r.status != http.StatusSeeOther || !strings.HasPrefix(r.header.Get("Location"), tt.wantLoc) {
				t.Fatalf("status %d Location %q, want 303 to %q\n%s", r.status, r.header.Get("Location"), tt.wantLoc, trim(r.body))
			}
			a, ok := byEmail(tt.email)
			if tt.wantGone {
				if ok {
					t.Fatalf("%s was created despite the bad extension", tt.email)
				}
				return
			}
			if !ok || a.Extension != tt.wantExt {
				t.Fatalf("%s extension %q (exists %v), want %q", tt.email, a.Extension, ok, tt.wantExt)
			}
		})
	}

	if _, err := e.agents.Update(ctx, e.agent.ID, agents.AgentChange{Extension: ptr("412")}); err != nil {
		t.Fatal(err)
	}
	page := admin.get("/admin/agents", nil)
	if !strings.Contains(page.body, `name="extension" value="412"`) {
		t.Errorf("the agents page does not show Budi's extension in his row:\n%s", trim(page.body))
	}
	if !strings.Contains(page.body, `id="na-ext" name="extension"`) {
		t.Errorf("the new-agent form has no extension field")
	}
}

func ptr[T any](v T) *T { return &v }

// originator records the calls the console asks for, and answers with err.
type originator struct {
	mu    sync.Mutex
	calls [][2]string // extension, number
	err   error
}

func (o *originator) Originate(_ context.Context, ext, number string) (string, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.calls = append(o.calls, [2]string{ext, number})
	if o.err != nil {
		return "", o.err
	}
	return fmt.Sprintf("asterisk:serambi-%d", len(o.calls)), nil
}

func (o *originator) take() [][2]string {
	o.mu.Lock()
	defer o.mu.Unlock()
	c := o.calls
	o.calls = nil
	return c
}

func (o *originator) fail(err error) {
	o.mu.Lock()
	o.err = err
	o.mu.Unlock()
}

var _ console.Originator = (*voice.Connector)(nil)

func TestClickToCall(t *testing.T) {
	orig := &originator{}
	e := newEnvWith(t, func(_ *env, d *console.Deps) { d.Originator = orig }).withAgents()
	ctx := context.Background()
	if _, err := e.agents.Update(ctx, e.agent.ID, agents.AgentChange{Extension: ptr("201")}); err != nil {
		t.Fatal(err)
	}
	siti := e.ingest(inbox.ChannelWhatsApp, "wamid.1", whatsapp("+6281234567890"), "Siti", "halo kak")
	// Siti also called from a landline once, and was merged: both numbers are hers.
	landline := e.ingest(inbox.ChannelVoice, "call-1", inbox.Identity{Kind: inbox.KindPhone, Value: "+62215550123"}, "Siti", "missed call")
	if _, err := e.inbox.Merge(ctx, siti.CustomerID, landline.CustomerID, e.admin.ID); err != nil {
		t.Fatal(err)
	}
	e.ingest(inbox.ChannelWhatsApp, "wamid.2", whatsapp("+6289876543210"), "Andi", "hi")
	mail := e.ingest(inbox.ChannelEmail, "<m1@mail>", email("rudi@example.id"), "Rudi", "hello")
	budi := e.login("budi@toko.id") // has extension 201
	dewi := e.login("dewi@toko.id") // has none
	callPath := "/customers/" + siti.CustomerID + "/call"

	tests := []struct {
		name       string
		who        *client
		path       string
		number     string
		csrf       string // right | none | wrong
		origErr    error
		wantStatus int
		wantBody   string
		wantCalls  [][2]string
	}{
		{name: "without the CSRF token", who: budi, path: callPath, number: "+6281234567890", csrf: "none", wantStatus: 403},
		{name: "with a wrong CSRF token", who: budi, path: callPath, number: "+6281234567890", csrf: "wrong", wantStatus: 403},
		{name: "an agent without an extension is refused", who: dewi, path: callPath, number: "+6281234567890", csrf: "right",
			wantStatus: 422, wantBody: "no phone extension"},
		{name: "a number that is not the customer's is refused", who: budi, path: callPath, number: "+6280989999999", csrf: "right",
			wantStatus: 422, wantBody: "not one of this customer's"},
		{name: "another customer's number is refused", who: budi, path: callPath, number: "+6289876543210", csrf: "right",
			wantStatus: 422, wantBody: "not one of this customer's"},
		{name: "an email address is not dialled", who: budi, path: "/customers/" + mail.CustomerID + "/call", number: "rudi@example.id", csrf: "right",
			wantStatus: 422, wantBody: "not one of this customer's"},
		{name: "an unknown customer", who: budi, path: "/customers/nope/call", number: "+6281234567890", csrf: "right", wantStatus: 404},
		{name: "the WhatsApp number rings the agent then the customer", who: budi, path: callPath, number: "+6281234567890", csrf: "right",
			wantStatus: 200, wantCalls: [][2]string{{"201", "+6281234567890"}}},
		{name: "the landline too", who: budi, path: callPath, number: " +62215550123 ", csrf: "right",
			wantStatus: 200, wantCalls: [][2]string{{"201", "+62215550123"}}},
		{name: "phone system not connected", who: budi, path: callPath, number: "+6281234567890", csrf: "right",
			origErr: fmt.Errorf("originate: %w", ami.ErrNotConnected), wantStatus: 503, wantBody: "not connected",
			wantCalls: [][2]string{{"201", "+6281234567890"}}},
		{name: "call center without AMI", who: budi, path: callPath, number: "+6281234567890", csrf: "right",
			origErr: voice.ErrNotConfigured, wantStatus: 501, wantBody: "No call center",
			wantCalls: [][2]string{{"201", "+6281234567890"}}},
		{name: "extension the PBX does not know", who: budi, path: callPath, number: "+6281234567890", csrf: "right",
			origErr: fmt.Errorf(`extension "201" is not in SERAMBI_VOICE_AMI_EXTENSIONS: %w`, inbox.ErrInvalid), wantStatus: 422,
			wantBody: "SERAMBI_VOICE_AMI_EXTENSIONS", wantCalls: [][2]string{{"201", "+6281234567890"}}},
		{name: "the PBX refuses", who: budi, path: callPath, number: "+6281234567890", csrf: "right",
			origErr: errors.New("Originate failed: Extension does not exist"), wantStatus: 502, wantBody: "could not be started",
			wantCalls: [][2]string{{"201", "+6281234567890"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			orig.fail(tt.origErr)
			h := map[string]string{"HX-Request": "true"}
			switch tt.csrf {
			case "right":
				h["X-CSRF-Token"] = tt.who.csrf
			case "wrong":
				h["X-CSRF-Token"] = "x" + tt.who.csrf
			}
			r := tt.who.post(tt.path, url.Values{"number": {tt.number}}, h)
			if r.status != tt.wantStatus {
				t.Fatalf("status %d, want %d\n%s", r.status, tt.wantStatus, trim(r.body))
			}
			if tt.wantBody != "" && !strings.Contains(r.body, tt.wantBody) {
				t.Errorf("body %q lacks %q", r.body, tt.wantBody)
			}
			if got := orig.take(); !slices.Equal(got, tt.wantCalls) {
				t.Errorf("Originate calls %v, want %v", got, tt.wantCalls)
			}
			if tt.wantStatus == 200 {
				trig := r.header.Get("HX-Trigger")
				if !strings.Contains(trig, `"serambi:toast"`) || !strings.Contains(trig, "Calling "+tt.wantCalls[0][1]) {
					t.Errorf("HX-Trigger %q: want a Calling toast", trig)
				}
			}
		})
	}

	// The sidebar offers a Call button per phone number to Budi, who has an extension, and none
	// to Dewi, who has not.
	conv := "/conversations/" + siti.Conversation.ID
	page := budi.get(conv, nil)
	for _, n := range []string{"+6281234567890", "+62215550123"} {
		if !strings.Contains(page.body, `hx-vals="{&#34;number&#34;:&#34;`+n+`&#34;}"`) {
			t.Errorf("no Call button for %s in Budi's sidebar:\n%s", n, trim(page.body[strings.Index(page.body, `class="customer"`):]))
		}
	}
	if strings.Count(page.body, `hx-post="`+callPath+`"`) != 2 {
		t.Errorf("want exactly 2 Call buttons in Budi's sidebar, got %d", strings.Count(page.body, `hx-post="`+callPath+`"`))
	}
	if p := dewi.get(conv, nil); strings.Contains(p.body, "/call\"") || p.status != 200 {
		t.Errorf("Dewi has no extension but is offered a Call button (status %d)", p.status)
	}
}

func TestClickToCallWithoutACallCenter(t *testing.T) {
	e := newEnv(t).withAgents()
	if _, err := e.agents.Update(context.Background(), e.agent.ID, agents.AgentChange{Extension: ptr("201")}); err != nil {
		t.Fatal(err)
	}
	siti := e.ingest(inbox.ChannelWhatsApp, "wamid.1", whatsapp("+6281234567890"), "Siti", "halo kak")
	budi := e.login("budi@toko.id")
	r := budi.htmx("/customers/"+siti.CustomerID+"/call", url.Values{"number": {"+6281234567890"}})
	if r.status != http.StatusNotImplemented || !strings.Contains(r.body, "No call center") {
		t.Fatalf("status %d %q, want 501 saying no call center is set up", r.status, r.body)
	}
	if p := budi.get("/conversations/"+siti.Conversation.ID, nil); strings.Contains(p.body, "/call\"") {
		t.Errorf("a Call button is offered with no call center")
	}
}
