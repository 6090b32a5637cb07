package voice

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/serambi/serambi/bus"
	"github.com/serambi/serambi/connectors/voice/ami"
	"github.com/serambi/serambi/connectors/voice/amifake"
	"github.com/serambi/serambi/inbox"
)

// amiEnv is the connector following a fake Asterisk.
func amiEnv(t *testing.T) (*testEnv, *amifake.Server) {
	t.Helper()
	fake, err := amifake.Start(amifake.Options{Username: "serambi", Secret: testAMISecret})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fake.Close)
	e := newEnv(t, func(c *Config) {
		c.AMI = AMIConfig{Addr: fake.Addr(), Username: "serambi", Secret: testAMISecret,
			Queues: []string{"support"}, Extensions: []string{"201", "202"}}
	})
	return e, fake
}

// run starts the connector's AMI loop and waits for its login number n.
func (e *testEnv) run(t *testing.T, fake *amifake.Server, n int) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.c.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Run did not return after its context ended")
		}
	})
	wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
	defer wcancel()
	if err := fake.WaitLogins(wctx, n); err != nil {
		t.Fatal(err)
	}
}

func (e *testEnv) waitState(t *testing.T, id string, want State) Call {
	t.Helper()
	var c Call
	waitFor(t, "call "+id+" to be "+string(want), func() bool {
		v, err := e.c.Call(context.Background(), id)
		c = v.Call
		return err == nil && c.State == want
	})
	return c
}

// until returns the events of flow up to and including the first one ok accepts, and the rest.
func until(flow []ami.Message, ok func(ami.Message) bool) ([]ami.Message, []ami.Message) {
	i := slices.IndexFunc(flow, ok)
	return flow[:i+1], flow[i+1:]
}

func TestAsteriskQueueCallPopsUpAndEndsInTheTimeline(t *testing.T) {
	e, fake := amiEnv(t)
	e.run(t, fake, 1)
	ctx := context.Background()
	flow := customer.Answered(272 * time.Second)
	ringing, rest := until(flow, func(m ami.Message) bool { return m.Event() == "Newstate" && m.Get("ChannelStateDesc") == "Ringing" })
	fake.Emit(ringing...)
	id := "asterisk:" + customer.Linkedid
	// The call pops up when it joins the queue, and again when it rings agent 201.
	waitFor(t, "the ringing call on the bus", func() bool { return len(e.events.topic(bus.CallRinging)) == 2 })
	active, err := e.c.ActiveCalls(ctx)
	if err != nil || len(active) != 1 {
		t.Fatalf("active %+v, %v", active, err)
	}
	if a := active[0]; a.ID != id || a.State != StateRinging || a.CustomerName != "SITI AMINAH" || a.CustomerNumber != "+6281234567890" ||
		a.Queue != "support" || !slices.Equal(a.Ringing, []string{"201"}) || a.ConversationID == "" {
		t.Fatalf("the screen-pop's call %+v", a)
	}
	pop := e.events.topic(bus.CallRinging)[0]
	if pop.OtherID != id || pop.CustomerID != active[0].CustomerID || pop.ConversationID != active[0].ConversationID {
		t.Fatalf("CallRinging %+v", pop)
	}

	fake.Emit(rest...)
	call := e.waitState(t, id, StateEnded)
	want := []string{"in|Incoming call", "call_answered|Answered by Emma Taylor (201)", "call_ended|Answered by Emma Taylor (201) · ended after 4:32"}
	if got := e.timeline(call.ConversationID); !slices.Equal(got, want) {
		t.Fatalf("timeline\n got %q\nwant %q", got, want)
	}
	if active, _ := e.c.ActiveCalls(ctx); len(active) != 0 {
		t.Fatalf("still active: %+v", active)
	}
}

func TestAsteriskMissedVoicemailAndTransferredCallsOfOneCustomer(t *testing.T) {
	e, fake := amiEnv(t)
	e.run(t, fake, 1)
	missed, vm, transfer := customer, customer, customer
	missed.Linkedid = "1772443800.20"
	vm.Linkedid, vm.Queue, vm.Start = "1772444400.30", "", t0.Add(10*time.Minute)
	transfer.Linkedid, transfer.Queue, transfer.Start = "1772445000.40", "", t0.Add(20*time.Minute)

	fake.Emit(missed.Missed(25 * time.Second)...)
	first := e.waitState(t, "asterisk:"+missed.Linkedid, StateMissed)
	fake.Emit(vm.Voicemail(20*time.Second, 42*time.Second)...)
	e.waitState(t, "asterisk:"+vm.Linkedid, StateVoicemail)
	fake.Emit(transfer.BlindTransfer(60 * time.Second)...)
	last := e.waitState(t, "asterisk:"+transfer.Linkedid, StateEnded)

	if last.ConversationID != first.ConversationID {
		t.Fatal("the calls of one number went to different conversations")
	}
	want := []string{
		"in|Incoming call",
		"call_missed|Missed call from +6281234567890 in queue support · rang 0:26",
		"callback_requested|Call back +6281234567890",
		"in|Incoming call",
		"voicemail|Voicemail from +6281234567890",
		"in|Incoming call",
		"call_answered|Answered by Emma Taylor (201)",
		"callback_done|The customer called again and was answered by Emma Taylor (201)",
		"call_transferred|Transferred to 202",
		"call_ended|Answered by Emma Taylor (201) · transferred to 202 · ended after 2:03",
	}
	if got := e.timeline(first.ConversationID); !slices.Equal(got, want) {
		t.Fatalf("timeline\n got %q\nwant %q", got, want)
	}
}

func TestAsteriskReconnectEndsCallsThatEndedMeanwhile(t *testing.T) {
	e, fake := amiEnv(t)
	e.run(t, fake, 1)
	gone, live := customer, customer
	gone.Linkedid, live.Linkedid = "1772443800.60", "1772443800.70"
	answered, _ := until(gone.Answered(time.Minute), func(m ami.Message) bool { return m.Event() == "AgentConnect" })
	liveRinging, _ := until(live.Missed(time.Minute), func(m ami.Message) bool { return m.Event() == "DialBegin" })
	fake.Emit(answered...)
	fake.Emit(liveRinging...)
	e.waitState(t, "asterisk:"+gone.Linkedid, StateAnswered)
	e.waitState(t, "asterisk:"+live.Linkedid, StateRinging)

	// The connection drops in the middle of a packet, Asterisk takes no connection for a while,
	// and meanwhile the first call ends.
	fake.SetRefuse(true)
	fake.DropMidPacket(ami.NewEvent("Hangup", "Channel", "PJSIP/telkom-00000001", "Uniqueid", gone.Linkedid, "Linkedid", gone.Linkedid, "Cause", "16"))
	_, goneRest := until(gone.Answered(time.Minute), func(m ami.Message) bool { return m.Event() == "AgentConnect" })
	if n := fake.Emit(goneRest...); n != 0 {
		t.Fatalf("the end of the call reached %d sessions; it should happen while Serambi is disconnected", n)
	}
	fake.SetRefuse(false)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := fake.WaitLogins(ctx, 2); err != nil {
		t.Fatalf("no reconnection: %v", err)
	}
	call := e.waitState(t, "asterisk:"+gone.Linkedid, StateEnded)
	if !strings.Contains(call.Cause, "disconnected") || !call.Answered() {
		t.Fatalf("call %+v", call)
	}
	if c := e.call("asterisk:" + live.Linkedid); c.State != StateRinging {
		t.Fatalf("a call that is still live was ended: %+v", c)
	}
	active, _ := e.c.ActiveCalls(context.Background())
	if len(active) != 1 || active[0].ID != "asterisk:"+live.Linkedid {
		t.Fatalf("active %+v", active)
	}
	// Events after the reconnection are followed as before.
	_, rest := until(live.Missed(time.Minute), func(m ami.Message) bool { return m.Event() == "DialBegin" })
	fake.Emit(rest...)
	e.waitState(t, "asterisk:"+live.Linkedid, StateMissed)
}

func TestAsteriskClickToCallResolvesTheCallBack(t *testing.T) {
	e, fake := amiEnv(t)
	e.run(t, fake, 1)
	fake.Emit(customer.Missed(25 * time.Second)...)
	missed := e.waitState(t, "asterisk:"+customer.Linkedid, StateMissed)

	fake.OnOriginate(func(a ami.Message) []ami.Message {
		return amifake.Call{Start: t0.Add(time.Hour), Trunk: "telkom"}.ClickToCall(a, true, true, 90*time.Second)
	})
	id, err := e.c.Originate(context.Background(), "201", "0812-3456-7890")
	if err != nil {
		t.Fatal(err)
	}
	orig := fake.Actions("Originate")
	if len(orig) != 1 {
		t.Fatalf("%d Originate actions", len(orig))
	}
	a := orig[0]
	uid, _ := strings.CutPrefix(id, "asterisk:")
	for k, want := range map[string]string{
		"Channel": "PJSIP/201", "Exten": "+6281234567890", "Context": "from-internal", "Priority": "1",
		"Async": "true", "ChannelId": uid, "Timeout": "30000", "CallerID": `"+6281234567890" <201>`,
	} {
		if got := a.Get(k); got != want {
			t.Errorf("Originate %s = %q, want %q", k, got, want)
		}
	}
	call := e.waitState(t, id, StateEnded)
	if call.ConversationID != missed.ConversationID || call.Direction != DirectionOut || call.Duration != 90 {
		t.Fatalf("call %+v", call)
	}
	got := e.timeline(call.ConversationID)
	want := []string{
		"call_started|Outgoing call by 201 to +6281234567890",
		"call_answered|Answered by the customer",
		"callback_done|Called back by 201",
		"call_ended|Outgoing call by 201 · ended after 1:30",
	}
	if len(got) < len(want) || !slices.Equal(got[len(got)-len(want):], want) {
		t.Fatalf("timeline ends\n got %q\nwant %q", got, want)
	}
}

func TestOriginateRefusals(t *testing.T) {
	e, fake := amiEnv(t)
	ctx := context.Background()
	if _, err := e.c.Originate(ctx, "201", "081234567890"); !errors.Is(err, ami.ErrNotConnected) {
		t.Fatalf("before connecting: %v, want ErrNotConnected", err)
	}
	e.run(t, fake, 1)
	for _, tt := range []struct{ ext, number string }{
		{"301", "081234567890"},                    // not a configured extension
		{"201\r\nAction: Command", "081234567890"}, // an injection attempt
		{"201", "not a number"},                    // no phone number
		{"201", "anonymous"},
	} {
		if _, err := e.c.Originate(ctx, tt.ext, tt.number); !errors.Is(err, inbox.ErrInvalid) {
			t.Errorf("Originate(%q, %q) = %v, want ErrInvalid", tt.ext, tt.number, err)
		}
	}
	if n := len(fake.Actions("Originate")); n != 0 {
		t.Fatalf("%d refused originations reached Asterisk", n)
	}
	plain := newEnv(t)
	if _, err := plain.c.Originate(ctx, "201", "081234567890"); !errors.Is(err, ErrNotConfigured) {
		t.Fatalf("without AMI: %v", err)
	}
	if err := plain.c.Run(ctx); err != nil {
		t.Fatalf("Run without AMI: %v", err)
	}
}
