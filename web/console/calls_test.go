package console_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/serambi/serambi/agents"
	"github.com/serambi/serambi/connectors/voice"
	"github.com/serambi/serambi/inbox"
	"github.com/serambi/serambi/templates"
	"github.com/serambi/serambi/web/console"
)

// pbx is the real call-center connector with its generic CTI webhook served over HTTP, the way
// a PBX script reaches it.
type pbx struct {
	t     testing.TB
	voice *voice.Connector
	srv   *httptest.Server
}

const ctiToken = "cti-test-token-0123456789"

// newCallEnv is a console wired to a real voice connector on the same store and bus.
func newCallEnv(t testing.TB) (*env, *pbx) {
	t.Helper()
	p := &pbx{t: t}
	e := newEnvWith(t, func(e *env, d *console.Deps) {
		p.voice = voice.New(voice.Config{CTIToken: voice.Secret(ctiToken)}, voice.Deps{Inbox: e.inbox, State: e.store, Events: e.bus})
		d.Calls, d.Recordings = p.voice, p.voice
	}).withAgents()
	api := echo.New()
	p.voice.Register(api.Group("/api/v1"))
	p.srv = httptest.NewServer(api)
	t.Cleanup(p.srv.Close)
	return e, p
}

// event posts one CTI event (Zammad's shape).
func (p *pbx) event(fields map[string]any) {
	p.t.Helper()
	b, _ := json.Marshal(fields)
	res, err := http.Post(p.srv.URL+"/api/v1/voice/cti/"+ctiToken, "application/json", bytes.NewReader(b))
	if err != nil {
		p.t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		p.t.Fatalf("CTI %v: status %d", fields, res.StatusCode)
	}
}

const sitiPhone = "+6281234567890"

// knownCaller is a customer who wrote before and is known by the number that will call.
func knownCaller(t testing.TB, e *env) inbox.IngestResult {
	t.Helper()
	res, err := e.inbox.Ingest(context.Background(), inbox.Inbound{Channel: inbox.ChannelAPI, ExternalID: "shop-1", Name: "Siti Rahma",
		From: []inbox.Identity{{Kind: inbox.KindPhone, Value: sitiPhone, Verified: true}}, Text: "Pesanan #1042 saya belum sampai"})
	if err != nil {
		t.Fatal(err)
	}
	// The hub hears of the message through the bus, asynchronously: wait until it has, so that
	// consoles opened next start from a sequence past it.
	deadline := time.Now().Add(10 * time.Second)
	for e.console.Hub().Seq() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the console hub never saw the caller's message")
		}
		time.Sleep(5 * time.Millisecond)
	}
	return res
}

func setExtension(t testing.TB, e *env, a agents.Agent, ext string) {
	t.Helper()
	if _, err := e.agents.Update(context.Background(), a.ID, agents.AgentChange{Extension: &ext}); err != nil {
		t.Fatal(err)
	}
}

// A ringing call pops up in every console with the caller's context; answered, it goes away.
func TestScreenPopRingsEveryAgentAndGoesWhenAnswered(t *testing.T) {
	e, p := newCallEnv(t)
	siti := knownCaller(t, e)
	hub := e.console.Hub()
	budi, dewi := e.login("budi@toko.id").socket(t), e.login("dewi@toko.id").socket(t)
	for _, w := range []*wsClient{budi, dewi} {
		w.view(hub.ID(), "", "view=all", hub.Seq())
		w.next("caught up", func(f frame) bool { return len(f.Ops) == 0 && f.Seq > 0 })
	}
	p.event(map[string]any{"event": "newCall", "callId": "c1", "from": "0812-3456-7890", "to": "+62215550100", "direction": "in", "queue": "sales"})
	id := templates.CallDOMID("cti:c1")
	for name, w := range map[string]*wsClient{"Budi": budi, "Dewi": dewi} {
		f := w.next(name+"'s screen-pop", hasOp("pop", id))
		html := opHTML(f, "pop")
		for _, want := range []string{"Siti Rahma", "+62 812-3456-7890", "queue sales", "Pesanan #1042 saya belum sampai",
			`href="/conversations/` + siti.Conversation.ID + `"`, `data-slot="call-commerce"`} {
			if !strings.Contains(html, want) {
				t.Errorf("%s's pop lacks %q:\n%s", name, want, html)
			}
		}
	}
	p.event(map[string]any{"event": "answer", "callId": "c1", "from": "0812-3456-7890", "to": "+62215550100", "direction": "in", "user": "Budi Santoso", "answeringNumber": "201"})
	for name, w := range map[string]*wsClient{"Budi": budi, "Dewi": dewi} {
		w.next(name+"'s pop going away", hasOp("unpop", id))
	}
	// A console opened now shows no ringing call.
	if page := e.login("budi@toko.id").get("/", nil); strings.Contains(page.body, `class="call-pop"`) {
		t.Error("the console page shows a call that was answered")
	}
}

// When agents have extensions and the call names the ringing ones, only those agents see it.
func TestScreenPopOnlyForTheExtensionThatRings(t *testing.T) {
	e, p := newCallEnv(t)
	knownCaller(t, e)
	setExtension(t, e, e.agent, "201")
	setExtension(t, e, e.admin, "202")
	hub := e.console.Hub()
	budi, dewi := e.login("budi@toko.id").socket(t), e.login("dewi@toko.id").socket(t)
	for _, w := range []*wsClient{budi, dewi} {
		w.view(hub.ID(), "", "view=all", hub.Seq())
		w.next("caught up", func(f frame) bool { return len(f.Ops) == 0 && f.Seq > 0 })
	}
	p.event(map[string]any{"event": "newCall", "callId": "c2", "from": sitiPhone, "to": "+62215550100", "direction": "in", "user": []string{"201"}})
	id := templates.CallDOMID("cti:c2")
	budi.next("Budi's pop", hasOp("pop", id))
	f := dewi.next("Dewi told the call is not hers", hasOp("unpop", id))
	if hasOp("pop", id)(f) {
		t.Fatal("Dewi got the pop of a call ringing extension 201")
	}
	// A console Budi opens while it rings shows it; Dewi's does not.
	if page := e.login("budi@toko.id").get("/", nil); !strings.Contains(page.body, `id="`+id+`"`) {
		t.Error("Budi's console page does not show the ringing call")
	}
	if page := e.login("dewi@toko.id").get("/", nil); strings.Contains(page.body, `id="`+id+`"`) {
		t.Error("Dewi's console page shows a call that rings Budi's extension")
	}
}

// A call's entries render as call entries; a recording plays through the agent-only proxy,
// which fetches the URL stored with the call and nothing the browser names.
func TestCallTimelineAndRecordingProxy(t *testing.T) {
	audio := []byte("ID3\x03\x00\x00\x00fake mp3 frames")
	rec := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/rec/c3.mp3" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "audio/mpeg")
		_, _ = w.Write(audio)
	}))
	t.Cleanup(rec.Close)
	e, p := newCallEnv(t)
	siti := knownCaller(t, e)
	p.event(map[string]any{"event": "newCall", "callId": "c3", "from": sitiPhone, "to": "+62215550100", "direction": "in"})
	p.event(map[string]any{"event": "hangup", "callId": "c3", "from": sitiPhone, "to": "+62215550100", "direction": "in", "cause": "voicemail",
		"recordingUrl": rec.URL + "/rec/c3.mp3", "transcript": "Halo, tolong telepon balik soal pesanan 1042."})
	budi := e.login("budi@toko.id")
	page := budi.get("/conversations/"+siti.Conversation.ID, nil)
	for _, want := range []string{`class="event call-event call-voicemail attention"`, "Voicemail from +6281234567890",
		`<audio controls preload="none" src="/calls/cti:c3/recording"`, "Halo, tolong telepon balik soal pesanan 1042.",
		"Call back +6281234567890"} {
		if !strings.Contains(page.body, want) {
			t.Errorf("the timeline lacks %q", want)
		}
	}
	if strings.Contains(page.body, rec.URL) {
		t.Error("the page shows the provider's recording URL")
	}
	tests := []struct {
		name       string
		who        *client
		path       string
		wantStatus int
		wantType   string
	}{
		{"an agent plays the recording", budi, "/calls/cti:c3/recording", 200, "audio/mpeg"},
		{"a call without recording", budi, "/calls/cti:nope/recording", 404, ""},
		{"signed out", e.anon(), "/calls/cti:c3/recording", 303, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.who.get(tt.path, nil)
			if r.status != tt.wantStatus {
				t.Fatalf("status %d, want %d", r.status, tt.wantStatus)
			}
			if tt.wantType != "" {
				if got := r.header.Get("Content-Type"); got != tt.wantType {
					t.Errorf("content type %q", got)
				}
				if r.body != string(audio) {
					t.Errorf("body %q", r.body)
				}
				if csp := r.header.Get("Content-Security-Policy"); !strings.Contains(csp, "sandbox") {
					t.Errorf("CSP %q", csp)
				}
			}
		})
	}
}
