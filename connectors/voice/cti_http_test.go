package voice

import (
	"context"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/serambi/serambi/bus"
	"github.com/serambi/serambi/inbox"
)

const (
	ctiNew    = `{"event":"newCall","from":"081234567890","to":"0215550100","direction":"in","callId":"307fa962","user":["Christopher Miller","Emma Taylor"],"queue":"support"}`
	ctiAnswer = `{"event":"answer","from":"081234567890","to":"0215550100","direction":"in","callId":"307fa962","user":"Emma Taylor","answeringNumber":"201"}`
	ctiHangup = `{"event":"hangup","from":"081234567890","to":"0215550100","direction":"in","callId":"307fa962","user":"Emma Taylor","answeringNumber":"201","cause":"normalClearing"}`
	ctiCancel = `{"event":"hangup","from":"081234567890","to":"0215550100","direction":"in","callId":"307fa962","cause":"cancel"}`
)

func TestCTIRefusesWithoutStoring(t *testing.T) {
	tests := []struct {
		name        string
		mutate      func(*Config)
		path, ctype string
		body        string
		want        int
	}{
		{"an unknown token", nil, "/api/v1/voice/cti/not-the-token-0123456789", "application/json", ctiNew, http.StatusUnauthorized},
		{"the token with one character changed", nil, "/api/v1/voice/cti/" + testCTIToken[:len(testCTIToken)-1] + "X", "application/json", ctiNew, http.StatusUnauthorized},
		{"malformed JSON", nil, "/api/v1/voice/cti/" + testCTIToken, "application/json", `{"event":"newCall","callId":"307fa962"`, http.StatusBadRequest},
		{"no callId", nil, "/api/v1/voice/cti/" + testCTIToken, "application/json", `{"event":"newCall","from":"081234567890"}`, http.StatusBadRequest},
		{"an unknown event", nil, "/api/v1/voice/cti/" + testCTIToken, "application/json", `{"event":"ring","callId":"307fa962","from":"081234567890"}`, http.StatusBadRequest},
		{"CTI not enabled", func(c *Config) { c.CTIToken = "" }, "/api/v1/voice/cti/" + testCTIToken, "application/json", ctiNew, http.StatusNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var muts []func(*Config)
			if tt.mutate != nil {
				muts = append(muts, tt.mutate)
			}
			e := newEnv(t, muts...)
			rec := e.serve(e.echo, http.MethodPost, tt.path, tt.ctype, tt.body, nil)
			if rec.Code != tt.want {
				t.Fatalf("status %d (%s), want %d", rec.Code, rec.Body, tt.want)
			}
			e.nothingStored("cti:307fa962")
			if n := len(e.events.topic(bus.CallRinging)); n != 0 {
				t.Fatalf("%d CallRinging events for a refused request", n)
			}
		})
	}
}

func TestCTICallFromAnUnknownNumber(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	for range 2 { // a PBX that repeats every event changes nothing the second time
		if rec := e.cti(ctiNew); rec.Code != http.StatusOK || rec.Body.String() != "{}" {
			t.Fatalf("newCall: %d %s", rec.Code, rec.Body)
		}
	}
	customerID := e.customerByPhone("+6281234567890")
	conv, err := e.inbox.ConversationOfCustomer(ctx, customerID)
	if err != nil {
		t.Fatal(err)
	}
	first, err := e.store.MessageByExternalID(ctx, inbox.ChannelVoice, "cti:307fa962")
	if err != nil || first.Direction != inbox.DirectionIn || first.Meta["callId"] != "cti:307fa962" || first.Meta["queue"] != "support" {
		t.Fatalf("first entry %+v, %v", first, err)
	}
	waitFor(t, "the screen-pop event", func() bool { return len(e.events.topic(bus.CallRinging)) > 0 })
	if pops := e.events.topic(bus.CallRinging); len(pops) != 1 || pops[0].CustomerID != customerID ||
		pops[0].ConversationID != conv.ID || pops[0].OtherID != "cti:307fa962" {
		t.Fatalf("CallRinging events %+v", pops)
	}
	active, err := e.c.ActiveCalls(ctx)
	if err != nil || len(active) != 1 || active[0].ID != "cti:307fa962" || active[0].CustomerName != "+6281234567890" ||
		active[0].State != StateRinging || !slices.Equal(active[0].Ringing, []string{"Christopher Miller", "Emma Taylor"}) {
		t.Fatalf("active calls %+v, %v", active, err)
	}

	e.clock.Advance(5 * time.Second)
	for range 2 {
		if rec := e.cti(ctiAnswer); rec.Code != http.StatusOK {
			t.Fatalf("answer: %d %s", rec.Code, rec.Body)
		}
	}
	e.clock.Advance(272 * time.Second)
	for range 2 {
		if rec := e.cti(ctiHangup); rec.Code != http.StatusOK {
			t.Fatalf("hangup: %d %s", rec.Code, rec.Body)
		}
	}
	want := []string{
		"in|Incoming call",
		"call_answered|Answered by Emma Taylor (201)",
		"call_ended|Answered by Emma Taylor (201) · ended after 4:32",
	}
	if got := e.timeline(conv.ID); !slices.Equal(got, want) {
		t.Fatalf("timeline\n got %q\nwant %q", got, want)
	}
	if active, _ := e.c.ActiveCalls(ctx); len(active) != 0 {
		t.Fatalf("an ended call is still active: %+v", active)
	}
	waitFor(t, "call.changed events", func() bool { return len(e.events.topic(bus.CallChanged)) >= 2 })
	if n := len(e.events.topic(bus.CallRinging)); n != 1 {
		t.Fatalf("%d CallRinging events, want 1", n)
	}
}

func TestCTICallFromAKnownCustomerJoinsTheirConversation(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	// The customer wrote an email that also gave their phone number.
	mail, err := e.inbox.Ingest(ctx, inbox.Inbound{
		Channel: inbox.ChannelEmail, ExternalID: "<order-1042@mail.example>", Name: "Siti Aminah", Text: "Where is my order 1042?",
		From: []inbox.Identity{{Kind: inbox.KindEmail, Value: "siti@example.com"}, {Kind: inbox.KindPhone, Value: "+62 812-3456-7890", Verified: true}},
	})
	if err != nil {
		t.Fatal(err)
	}
	// The PBX writes the number the international way without '+'.
	body := `{"event":"newCall","from":"6281234567890","to":"0215550100","direction":"in","callId":"k1"}`
	if rec := e.cti(body); rec.Code != http.StatusOK {
		t.Fatalf("newCall: %d %s", rec.Code, rec.Body)
	}
	call := e.call("cti:k1")
	if call.CustomerID != mail.CustomerID || call.ConversationID != mail.Conversation.ID {
		t.Fatalf("the call went to customer %s / conversation %s, want %s / %s", call.CustomerID, call.ConversationID, mail.CustomerID, mail.Conversation.ID)
	}
	if n, _ := e.store.CountConversations(ctx, inbox.ConversationFilter{}); n != 1 {
		t.Fatalf("%d conversations, want the customer's one", n)
	}
	v, _ := e.c.Call(ctx, "cti:k1")
	if v.CustomerName != "Siti Aminah" {
		t.Fatalf("the screen-pop names %q", v.CustomerName)
	}
	if got := e.timeline(mail.Conversation.ID); !slices.Equal(got, []string{"in|Where is my order 1042?", "in|Incoming call"}) {
		t.Fatalf("timeline %q", got)
	}
}

func TestCTIMissedCallReopensAndAsksForACallBack(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	if rec := e.cti(ctiNew); rec.Code != http.StatusOK {
		t.Fatal(rec.Body)
	}
	call := e.call("cti:307fa962")
	resolved := inbox.StatusResolved
	if _, err := e.inbox.Update(ctx, call.ConversationID, "agent-1", inbox.Change{Status: &resolved}); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(25 * time.Second)
	if rec := e.cti(ctiCancel); rec.Code != http.StatusOK {
		t.Fatal(rec.Body)
	}
	conv, _ := e.inbox.Conversation(ctx, call.ConversationID)
	if conv.Status != inbox.StatusOpen {
		t.Fatalf("after a missed call the conversation is %s, want open", conv.Status)
	}
	// A second missed call while the call back is open adds no second task.
	second := `{"event":"hangup","from":"081234567890","to":"0215550100","direction":"in","callId":"second","cause":"noAnswer"}`
	if rec := e.cti(second); rec.Code != http.StatusOK {
		t.Fatal(rec.Body)
	}
	// The agent calls back from their desk phone and the customer answers.
	for _, b := range []string{
		`{"event":"newCall","from":"201","to":"081234567890","direction":"out","callId":"back","user":"Emma Taylor"}`,
		`{"event":"answer","from":"201","to":"081234567890","direction":"out","callId":"back"}`,
	} {
		e.clock.Advance(10 * time.Second)
		if rec := e.cti(b); rec.Code != http.StatusOK {
			t.Fatal(rec.Body)
		}
	}
	e.clock.Advance(60 * time.Second)
	if rec := e.cti(`{"event":"hangup","from":"201","to":"081234567890","direction":"out","callId":"back","cause":"normalClearing"}`); rec.Code != http.StatusOK {
		t.Fatal(rec.Body)
	}
	want := []string{
		"in|Incoming call",
		"status_changed",
		"call_missed|Missed call from +6281234567890 in queue support · rang 0:25",
		"status_changed", // the resolved conversation reopens on the miss
		"callback_requested|Call back +6281234567890",
		"in|Incoming call",
		"call_missed|Missed call from +6281234567890",
		"call_started|Outgoing call by Emma Taylor (201) to +6281234567890",
		"call_answered|Answered by the customer",
		"callback_done|Called back by Emma Taylor (201)",
		"call_ended|Outgoing call by Emma Taylor (201) · ended after 1:00",
	}
	if got := e.timeline(call.ConversationID); !slices.Equal(got, want) {
		t.Fatalf("timeline\n got %q\nwant %q", got, want)
	}
}

func TestCTIOutOfOrderEvents(t *testing.T) {
	e := newEnv(t)
	// The hang-up overtakes the other events (two PBX worker threads, a retry queue).
	for _, b := range []string{ctiHangup, ctiAnswer, ctiNew} {
		if rec := e.cti(b); rec.Code != http.StatusOK {
			t.Fatalf("%s: %d %s", b, rec.Code, rec.Body)
		}
	}
	call := e.call("cti:307fa962")
	if call.State != StateEnded || call.Agent != "Emma Taylor" {
		t.Fatalf("call %+v", call)
	}
	want := []string{"in|Incoming call", "call_answered|Answered by Emma Taylor (201)", "call_ended|Answered by Emma Taylor (201) · ended"}
	if got := e.timeline(call.ConversationID); !slices.Equal(got, want) {
		t.Fatalf("timeline\n got %q\nwant %q", got, want)
	}
	time.Sleep(50 * time.Millisecond) // let the bus deliver whatever was published
	if n := len(e.events.topic(bus.CallRinging)); n != 0 {
		t.Fatalf("a call that was over when it was first reported popped up %d times", n)
	}
}

func TestTwoInstancesReceivingTheSameEventsAtOnce(t *testing.T) {
	e := newEnv(t)
	other := e.connector("instance-b")
	var wg sync.WaitGroup
	for i := range 8 {
		c := e.c
		if i%2 == 1 {
			c = other
		}
		wg.Go(func() {
			ups, err := ctiEvent{Event: "newCall", CallID: "race", From: "081234567890", To: "0215550100", Direction: "in"}.updates()
			if err != nil {
				t.Error(err)
				return
			}
			if _, err := c.Process(context.Background(), ups...); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	call := e.call("cti:race")
	if got := e.timeline(call.ConversationID); !slices.Equal(got, []string{"in|Incoming call"}) {
		t.Fatalf("timeline %q", got)
	}
	waitFor(t, "the screen-pop", func() bool { return len(e.events.topic(bus.CallRinging)) > 0 })
	time.Sleep(50 * time.Millisecond)
	if n := len(e.events.topic(bus.CallRinging)); n != 1 {
		t.Fatalf("%d CallRinging events from two instances, want 1", n)
	}
}
