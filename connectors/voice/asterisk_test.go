package voice

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/serambi/serambi/connectors/voice/ami"
	"github.com/serambi/serambi/connectors/voice/amifake"
	"github.com/serambi/serambi/inbox"
)

var testNumbers = numbers{norm: inbox.NewNormalizer("ID"), bare: BareInternational}

// replay feeds AMI events to a tracker and returns the updates and the calls they make.
func replay(tr *tracker, msgs []ami.Message) ([]Update, map[string]Call) {
	var ups []Update
	calls := map[string]Call{}
	for _, m := range msgs {
		for _, u := range tr.handle(m, t0) {
			u.FromNumber, u.ToNumber = testNumbers.phone(u.From), testNumbers.phone(u.To)
			ups = append(ups, u)
			calls[u.CallID] = Apply(calls[u.CallID], u)
		}
	}
	return ups, calls
}

func kinds(ups []Update) string {
	var k []string
	for _, u := range ups {
		k = append(k, string(u.Kind))
	}
	return strings.Join(k, ",")
}

var customer = amifake.Call{
	Linkedid: "1772443800.10", Start: t0, Caller: "081234567890", CallerName: "SITI AMINAH", DID: "0215550100",
	Trunk: "telkom", Queue: "support", Agent: "201", AgentName: "Emma Taylor", Transfer: "202",
}

func TestTrackerFollowsDocumentedCallFlows(t *testing.T) {
	const talk = 272 * time.Second
	direct := customer
	direct.Queue = ""
	tests := []struct {
		name        string
		cfg         AMIConfig
		flow        []ami.Message
		wantKinds   string
		wantState   State
		wantAgent   string
		wantRinging []string
		wantDur     int
		check       func(t *testing.T, c Call)
	}{
		{
			name: "a queue call answered by an agent", cfg: AMIConfig{Queues: []string{"support"}, Extensions: []string{"201"}},
			flow:      customer.Answered(talk),
			wantKinds: "ringing,ringing,answered,hangup", wantState: StateEnded, wantAgent: "Emma Taylor", wantRinging: []string{"201"}, wantDur: 272,
			check: func(t *testing.T, c Call) {
				if c.Direction != DirectionIn || c.CustomerNumber != "+6281234567890" || c.Queue != "support" || c.CallerName != "SITI AMINAH" ||
					c.Extension != "201" || !c.StartedAt.Equal(t0) || !c.AnsweredAt.Equal(at(6)) {
					t.Fatalf("call %+v", c)
				}
			},
		},
		{
			name: "a queue call the caller gives up on", cfg: AMIConfig{Queues: []string{"support"}},
			flow:      customer.Missed(25 * time.Second),
			wantKinds: "ringing,ringing,hangup", wantState: StateMissed, wantRinging: []string{"201"},
			check: func(t *testing.T, c Call) {
				if !c.EndedAt.Equal(at(26)) {
					t.Fatalf("ended at %v", c.EndedAt)
				}
			},
		},
		{
			name: "no answer, then the caller leaves a voicemail", cfg: AMIConfig{Extensions: []string{"201"}},
			flow:      direct.Voicemail(20*time.Second, 42*time.Second),
			wantKinds: "ringing,hangup", wantState: StateVoicemail, wantRinging: []string{"201"},
		},
		{
			name: "answered, then transferred blind to another extension", cfg: AMIConfig{Extensions: []string{"201", "202"}},
			flow:      direct.BlindTransfer(60 * time.Second),
			wantKinds: "ringing,answered,transfer,hangup", wantState: StateEnded, wantAgent: "Emma Taylor", wantRinging: []string{"201"}, wantDur: 123,
			check: func(t *testing.T, c Call) {
				if !slices.Equal(c.Transfers, []string{"202"}) || c.Extension != "201" {
					t.Fatalf("transfers %v extension %q", c.Transfers, c.Extension)
				}
			},
		},
		{
			name: "with nothing configured every outside call is followed from its first channel", cfg: AMIConfig{},
			flow:      direct.Answered(talk),
			wantKinds: "ringing,ringing,answered,hangup", wantState: StateEnded, wantAgent: "Emma Taylor", wantRinging: []string{"201"}, wantDur: 272,
		},
		{
			name: "an agent calls a customer who answers", cfg: AMIConfig{Extensions: []string{"201"}},
			flow:      customer.Outbound(true, 60*time.Second),
			wantKinds: "ringing,answered,hangup", wantState: StateEnded, wantAgent: "201", wantDur: 60,
			check: func(t *testing.T, c Call) {
				if c.Direction != DirectionOut || c.CustomerNumber != "+6281234567890" || c.From != "201" {
					t.Fatalf("call %+v", c)
				}
			},
		},
		{
			name: "an agent calls a customer who does not answer", cfg: AMIConfig{Extensions: []string{"201"}},
			flow:      customer.Outbound(false, 0),
			wantKinds: "ringing,hangup", wantState: StateEnded, wantAgent: "201",
			check: func(t *testing.T, c Call) {
				if c.Answered() || c.Cause != "Normal Clearing" {
					t.Fatalf("call %+v", c)
				}
			},
		},
		{
			name: "a queue that is not followed", cfg: AMIConfig{Queues: []string{"sales"}, Extensions: []string{"301"}},
			flow: customer.Answered(talk),
		},
		{
			name: "an internal call between extensions", cfg: AMIConfig{},
			flow: amifake.Call{Linkedid: "1772443800.50", Start: t0, Caller: "202", Trunk: "202", Agent: "201"}.Outbound(true, time.Minute),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ups, calls := replay(newTracker(tt.cfg, testNumbers), tt.flow)
			if got := kinds(ups); got != tt.wantKinds {
				t.Fatalf("updates %q, want %q", got, tt.wantKinds)
			}
			if tt.wantKinds == "" {
				return
			}
			if len(calls) != 1 {
				t.Fatalf("%d calls, want 1", len(calls))
			}
			c := calls["asterisk:"+tt.flow[0].Get("Linkedid")]
			if c.State != tt.wantState || c.Agent != tt.wantAgent || !slices.Equal(c.Ringing, tt.wantRinging) || c.Duration != tt.wantDur {
				t.Fatalf("call: state %s agent %q ringing %v duration %d; want %s %q %v %d",
					c.State, c.Agent, c.Ringing, c.Duration, tt.wantState, tt.wantAgent, tt.wantRinging, tt.wantDur)
			}
			if tt.check != nil {
				tt.check(t, c)
			}
		})
	}
}

func TestTrackerClickToCall(t *testing.T) {
	tr := newTracker(AMIConfig{Extensions: []string{"201"}}, testNumbers)
	orig := ami.NewAction("Originate", "ActionID", "a-7", "Channel", "PJSIP/201", "Exten", "+6281234567890",
		"Context", "from-internal", "Priority", "1", "Async", "true", "ChannelId", "serambi-01")
	c := amifake.Call{Start: t0, Trunk: "telkom"}

	tr.expect("serambi-01", originated{number: "+6281234567890", ext: "201", until: at(600)})
	tr.originateAccepted("serambi-01", "a-7")
	ups, calls := replay(tr, c.ClickToCall(orig, true, true, 90*time.Second))
	call := calls["asterisk:serambi-01"]
	if kinds(ups) != "ringing,answered,hangup" || call.State != StateEnded || call.Direction != DirectionOut ||
		call.CustomerNumber != "+6281234567890" || call.Agent != "201" || call.Duration != 90 {
		t.Fatalf("updates %q call %+v", kinds(ups), call)
	}
	if tr.originating("serambi-01") {
		t.Fatal("the origination is still pending after the call ended")
	}

	// The agent does not pick up: the origination fails and the call ends unanswered.
	orig.Set("ChannelId", "serambi-02")
	tr.expect("serambi-02", originated{number: "+6281234567890", ext: "201", until: at(600)})
	ups, calls = replay(tr, c.ClickToCall(orig, false, false, 0))
	call = calls["asterisk:serambi-02"]
	if kinds(ups) != "ringing,hangup" || call.State != StateEnded || call.Answered() || call.Cause != "No user responding" {
		t.Fatalf("updates %q call %+v", kinds(ups), call)
	}

	// Asterisk could not even create the channel: only OriginateResponse tells.
	tr.expect("serambi-03", originated{number: "+6281234567890", ext: "201", until: at(600)})
	tr.originateAccepted("serambi-03", "a-9")
	ups = tr.handle(ami.NewEvent("OriginateResponse", "ActionID", "a-9", "Response", "Failure", "Reason", "0", "Uniqueid", "<null>"), t0)
	if len(ups) != 1 || ups[0].CallID != "asterisk:serambi-03" || ups[0].Kind != UpdateHangup || ups[0].Cause != "failed" {
		t.Fatalf("updates %+v", ups)
	}
}

func TestTrackerRecordingsAndMemory(t *testing.T) {
	tr := newTracker(AMIConfig{RecordingBaseURL: "https://pbx.example.com/rec"}, testNumbers)
	flow := customer.Answered(time.Minute)
	var withRec []ami.Message
	for _, m := range flow {
		withRec = append(withRec, m)
		if m.Event() == "BridgeEnter" && len(withRec) > 0 && m.Get("Uniqueid") == customer.Linkedid {
			withRec = append(withRec, ami.NewEvent("VarSet", "Channel", m.Get("Channel"), "Uniqueid", m.Get("Uniqueid"),
				"Linkedid", m.Get("Linkedid"), "Variable", "MIXMONITOR_FILENAME", "Value", "/var/spool/asterisk/monitor/2026/03/02/in-1772443800.10.wav"))
		}
		if m.Event() == "Hangup" && m.Get("Uniqueid") == customer.Linkedid {
			break
		}
	}
	ups, calls := replay(tr, withRec)
	c := calls["asterisk:"+customer.Linkedid]
	if c.RecordingURL != "https://pbx.example.com/rec/in-1772443800.10.wav" || c.State != StateEnded || !strings.Contains(kinds(ups), "recording,hangup") {
		t.Fatalf("updates %q call %+v", kinds(ups), c)
	}
	if len(tr.calls) != 0 {
		t.Fatalf("the tracker still holds %d calls after they ended", len(tr.calls))
	}
	// A call whose end is never seen is dropped after a while, and retain drops calls that are gone.
	tr.handle(customer.Answered(time.Minute)[0], t0)
	mark := tr.mark()
	tr.retain(map[string]bool{customer.Linkedid: true}, mark)
	if len(tr.calls) != 1 {
		t.Fatal("retain dropped a live call")
	}
	late := customer
	late.Linkedid = "1772443800.90"
	tr.handle(late.Answered(time.Minute)[0], t0)
	tr.retain(map[string]bool{customer.Linkedid: true}, mark)
	if len(tr.calls) != 2 {
		t.Fatal("retain dropped a call that started after the list of live channels was made")
	}
	tr.retain(map[string]bool{}, tr.mark())
	if len(tr.calls) != 0 {
		t.Fatal("retain kept calls that are gone")
	}
	tr.handle(customer.Answered(time.Minute)[0], t0)
	tr.prune(t0.Add(stale + time.Minute))
	if len(tr.calls) != 0 {
		t.Fatal("prune kept a stale call")
	}
}

func TestPeerAndDialString(t *testing.T) {
	for name, want := range map[string]string{
		"PJSIP/201-0000000a": "201", "PJSIP/201": "201", "SIP/telkom-00000001": "telkom",
		"Local/201@from-queue-00000003;1": "201@from-queue", "IAX2/alice-1234": "alice", "bogus": "",
	} {
		if got := peer(name); got != want {
			t.Errorf("peer(%q) = %q, want %q", name, got, want)
		}
	}
	for ds, want := range map[string]string{"+6281234567890@telkom": "+6281234567890", "telkom/081234567890": "081234567890", "201": "201", "weird": "cid"} {
		if got := dialledNumber(ds, "cid"); got != want {
			t.Errorf("dialledNumber(%q) = %q, want %q", ds, got, want)
		}
	}
	if got := amiTime("1772443800.250000", time.Time{}); !got.Equal(t0.Add(250 * time.Millisecond)) {
		t.Errorf("amiTime = %v", got)
	}
	if got := amiTime("", t0); !got.Equal(t0) {
		t.Errorf("amiTime without a timestamp = %v, want now", got)
	}
}
