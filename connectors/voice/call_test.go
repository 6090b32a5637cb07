package voice

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 3, 2, 9, 30, 0, 0, time.UTC)

func at(sec int) time.Time { return t0.Add(time.Duration(sec) * time.Second) }

// in returns an update of an incoming call from +6281234567890 to the support line.
func in(kind UpdateKind, sec int, set ...func(*Update)) Update {
	u := Update{CallID: "cti:c1", Source: SourceCTI, Kind: kind, At: at(sec), Direction: DirectionIn,
		From: "+6281234567890", FromNumber: "+6281234567890", To: "+62215550100", ToNumber: "+62215550100"}
	for _, f := range set {
		f(&u)
	}
	return u
}

func out(kind UpdateKind, sec int, set ...func(*Update)) Update {
	u := Update{CallID: "cti:c2", Source: SourceCTI, Kind: kind, At: at(sec), Direction: DirectionOut,
		From: "201", To: "+6281234567890", ToNumber: "+6281234567890", Agent: "Emma", Extension: "201"}
	for _, f := range set {
		f(&u)
	}
	return u
}

func agent(name, ext string) func(*Update) {
	return func(u *Update) { u.Agent, u.Extension = name, ext }
}

func TestApply(t *testing.T) {
	type want struct {
		state      State
		answeredAt time.Time
		endedAt    time.Time
		duration   int
		agent      string
		recording  string
	}
	tests := []struct {
		name string
		ups  []Update
		want want
	}{
		{"a new call rings", []Update{in(UpdateRinging, 0)}, want{state: StateRinging}},
		{"answered, then hung up: ended after the talk time",
			[]Update{in(UpdateRinging, 0), in(UpdateAnswered, 5, agent("Emma", "201")), in(UpdateHangup, 277)},
			want{state: StateEnded, answeredAt: at(5), endedAt: at(277), duration: 272, agent: "Emma"}},
		{"an incoming call nobody answered is missed",
			[]Update{in(UpdateRinging, 0), in(UpdateHangup, 25)},
			want{state: StateMissed, endedAt: at(25)}},
		{"an outgoing call nobody answered is ended, not missed",
			[]Update{out(UpdateRinging, 0), out(UpdateHangup, 30)},
			want{state: StateEnded, endedAt: at(30), agent: "Emma"}},
		{"a late ringing after the hang-up does not bring the call back",
			[]Update{in(UpdateRinging, 0), in(UpdateHangup, 25), in(UpdateRinging, 3)},
			want{state: StateMissed, endedAt: at(25)}},
		{"a repeated hang-up keeps the first end",
			[]Update{in(UpdateRinging, 0), in(UpdateAnswered, 5), in(UpdateHangup, 65), in(UpdateHangup, 90)},
			want{state: StateEnded, answeredAt: at(5), endedAt: at(65), duration: 60}},
		{"an answer delivered after the hang-up turns the miss into an ended call",
			[]Update{in(UpdateRinging, 0), in(UpdateHangup, 30), in(UpdateAnswered, 5, agent("Emma", "201"))},
			want{state: StateEnded, answeredAt: at(5), endedAt: at(30), duration: 25, agent: "Emma"}},
		{"the earliest answer is who answered, even when it is delivered last",
			[]Update{in(UpdateAnswered, 10, agent("Budi", "202")), in(UpdateAnswered, 5, agent("Emma", "201"))},
			want{state: StateAnswered, answeredAt: at(5), agent: "Emma"}},
		{"a recording of a call that ended missed makes it a voicemail",
			[]Update{in(UpdateRinging, 0), in(UpdateHangup, 40), in(UpdateRecording, 41, func(u *Update) { u.RecordingURL = "https://r/1" })},
			want{state: StateVoicemail, endedAt: at(40), recording: "https://r/1"}},
		{"a recording before the hang-up of an unanswered call makes the hang-up a voicemail",
			[]Update{in(UpdateRinging, 0), in(UpdateRecording, 39, func(u *Update) { u.RecordingURL = "https://r/1" }), in(UpdateHangup, 40)},
			want{state: StateVoicemail, endedAt: at(40), recording: "https://r/1"}},
		{"a recording of an answered call is a recording, not a voicemail",
			[]Update{in(UpdateRinging, 0), in(UpdateAnswered, 5), in(UpdateRecording, 60, func(u *Update) { u.RecordingURL = "https://r/2" }), in(UpdateHangup, 65)},
			want{state: StateEnded, answeredAt: at(5), endedAt: at(65), duration: 60, recording: "https://r/2"}},
		{"a hang-up into voicemail (Asterisk VMSTATUS) is a voicemail",
			[]Update{in(UpdateRinging, 0), in(UpdateHangup, 50, func(u *Update) { u.Voicemail = true })},
			want{state: StateVoicemail, endedAt: at(50)}},
		{"a call forwarded elsewhere is not missed",
			[]Update{in(UpdateRinging, 0), in(UpdateHangup, 8, func(u *Update) { u.Handled, u.Cause = true, "forwarded" })},
			want{state: StateEnded, endedAt: at(8)}},
		{"the provider's talk time wins over the clock difference",
			[]Update{out(UpdateRinging, 0), out(UpdateAnswered, 10), out(UpdateHangup, 100, func(u *Update) { u.Duration = 88 })},
			want{state: StateEnded, answeredAt: at(10), endedAt: at(100), duration: 88, agent: "Emma"}},
		{"a call first heard of by its hang-up",
			[]Update{in(UpdateHangup, 40)},
			want{state: StateMissed, endedAt: at(40)}},
		{"a recording heard of before anything else leaves the state unknown",
			[]Update{in(UpdateRecording, 40, func(u *Update) { u.RecordingURL = "https://r/3" })},
			want{state: "", recording: "https://r/3"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c Call
			for _, u := range tt.ups {
				c = Apply(c, u)
			}
			got := want{c.State, c.AnsweredAt, c.EndedAt, c.Duration, c.Agent, c.RecordingURL}
			if got != tt.want {
				t.Fatalf("after %d updates:\n got %+v\nwant %+v", len(tt.ups), got, tt.want)
			}
			// Delivering every update a second time, in any order, changes nothing.
			again := c
			for _, u := range slices.Backward(tt.ups) {
				again = Apply(again, u)
			}
			if fmt.Sprint(again) != fmt.Sprint(c) {
				t.Fatalf("repeating the updates changed the call:\nbefore %+v\n after %+v", c, again)
			}
		})
	}
}

func TestApplyKeepsFacts(t *testing.T) {
	c := Apply(Call{}, in(UpdateRinging, 0, func(u *Update) { u.Ringing = []string{"201", "202"}; u.Queue = "support"; u.DedupeKey = "seq:1" }))
	c = Apply(c, in(UpdateRinging, 1, func(u *Update) { u.Ringing = []string{"202", "203"}; u.Queue = "sales"; u.Direction = DirectionOut }))
	c = Apply(c, in(UpdateTransfer, 60, func(u *Update) { u.TransferTo = "301" }))
	c = Apply(c, in(UpdateTransfer, 61, func(u *Update) { u.TransferTo = "301" }))
	if c.ID != "cti:c1" || c.Source != SourceCTI || c.Direction != DirectionIn {
		t.Fatalf("identity: %+v", c)
	}
	if c.CustomerNumber != "+6281234567890" {
		t.Fatalf("the customer of an incoming call is the caller, got %q", c.CustomerNumber)
	}
	if !slices.Equal(c.Ringing, []string{"201", "202", "203"}) || c.Queue != "support" {
		t.Fatalf("ringing %v queue %q: the first queue stays, every rung extension is listed once", c.Ringing, c.Queue)
	}
	if !slices.Equal(c.Transfers, []string{"301"}) || !slices.Equal(c.Seen, []string{"seq:1"}) || !c.StartedAt.Equal(at(0)) {
		t.Fatalf("transfers %v seen %v started %v", c.Transfers, c.Seen, c.StartedAt)
	}
	if !c.Rings("203") || c.Rings("301") || Apply(c, in(UpdateAnswered, 2)).Rings("203") {
		t.Fatal("Rings: a ringing call rings the extensions it lists, an answered one rings nobody")
	}
	o := Apply(Call{}, out(UpdateRinging, 0))
	if o.CustomerNumber != "+6281234567890" || o.Agent != "Emma" {
		t.Fatalf("the customer of an outgoing call is the callee and the agent the caller: %+v", o)
	}
	var many Call
	for i := range 100 {
		many = Apply(many, in(UpdateRinging, 0, func(u *Update) { u.DedupeKey = fmt.Sprint("k", i) }))
	}
	if len(many.Seen) != maxSeen || many.Seen[maxSeen-1] != "k99" {
		t.Fatalf("Seen keeps the latest %d keys, got %d ending %q", maxSeen, len(many.Seen), many.Seen[len(many.Seen)-1])
	}
}

func TestEntries(t *testing.T) {
	ringing := Apply(Call{}, in(UpdateRinging, 0, func(u *Update) { u.Queue = "support" }))
	answered := Apply(ringing, in(UpdateAnswered, 5, agent("Emma Taylor", "201")))
	ended := Apply(answered, in(UpdateHangup, 277))
	missed := Apply(ringing, in(UpdateHangup, 25))
	voicemail := Apply(missed, in(UpdateRecording, 70, func(u *Update) {
		u.RecordingURL, u.RecordingDuration = "https://r/vm.mp3", 42
	}))
	withTranscript := Apply(voicemail, in(UpdateTranscript, 90, func(u *Update) { u.Transcript = "Halo, saya mau tanya pesanan 1042." }))
	transferred := Apply(answered, in(UpdateTransfer, 60, func(u *Update) { u.TransferTo = "202" }))
	transferredEnded := Apply(transferred, in(UpdateHangup, 277))
	endedRecorded := Apply(ended, in(UpdateRecording, 300, func(u *Update) { u.RecordingURL, u.RecordingDuration = "https://r/call.mp3", 272 }))
	outEnded := Apply(Apply(Apply(Call{}, out(UpdateRinging, 0)), out(UpdateAnswered, 9)), out(UpdateHangup, 69))
	outNoAnswer := Apply(Apply(Call{}, out(UpdateRinging, 0)), out(UpdateHangup, 30, func(u *Update) { u.Cause = "busy" }))
	corrected := Apply(missed, in(UpdateAnswered, 5, agent("", "201")))

	tests := []struct {
		name     string
		old, new Call
		want     []string // "suffix|text"
	}{
		{"ringing adds nothing (the first entry is ingested)", Call{}, ringing, nil},
		{"answered", ringing, answered, []string{"answered|Answered by Emma Taylor (201)"}},
		{"ended after the talk time", answered, ended, []string{"ended|Answered by Emma Taylor (201) · ended after 4:32"}},
		{"answered and ended in one step, in order", ringing, ended, []string{"answered|Answered by Emma Taylor (201)", "ended|Answered by Emma Taylor (201) · ended after 4:32"}},
		{"missed", ringing, missed, []string{"missed|Missed call from +6281234567890 in queue support · rang 0:25"}},
		{"voicemail after the miss", missed, voicemail, []string{"voicemail|Voicemail from +6281234567890 · 0:42"}},
		{"a transcript after the voicemail entry gets its own entry", voicemail, withTranscript, []string{"transcript|Transcript: Halo, saya mau tanya pesanan 1042."}},
		{"a transfer", answered, transferred, []string{"transferred:202|Transferred to 202"}},
		{"ended after a transfer", transferred, transferredEnded, []string{"ended|Answered by Emma Taylor (201) · transferred to 202 · ended after 4:32"}},
		{"a recording after the end gets its own entry", ended, endedRecorded, []string{"recording|Recording · 4:32"}},
		{"an outgoing call", Call{}, outEnded, []string{"answered|Answered by the customer", "ended|Outgoing call by Emma (201) · ended after 1:00"}},
		{"an outgoing call nobody answered", Call{}, outNoAnswer, []string{"ended|Outgoing call by Emma (201) not answered (busy)"}},
		{"a miss corrected by a late answer", missed, corrected, []string{"answered|Answered by 201", "ended|Answered by 201 · ended after 0:20"}},
		{"nothing new", ended, ended, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, e := range entries(tt.old, tt.new) {
				got = append(got, e.suffix+"|"+e.event.Data["text"])
				if e.event.Data["callId"] != tt.new.ID || e.event.Data["state"] != string(tt.new.State) {
					t.Errorf("%s: data %v does not describe the call", e.suffix, e.event.Data)
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("entries:\n got %q\nwant %q", got, tt.want)
			}
		})
	}

	d := event(voicemail, EventVoicemail, "x").Data
	if d["recordingUrl"] != "https://r/vm.mp3" || d["recordingDuration"] != "42" || d["ringSeconds"] != "25" ||
		d["endedAt"] != "2026-03-02T09:30:25Z" || d["queue"] != "support" || d["customerNumber"] != "+6281234567890" {
		t.Fatalf("voicemail data: %v", d)
	}
	if d := event(ended, EventCallEnded, "x").Data; d["duration"] != "272" || d["durationText"] != "4:32" || d["agent"] != "Emma Taylor" || d["extension"] != "201" {
		t.Fatalf("ended data: %v", d)
	}
}

func TestClock(t *testing.T) {
	for secs, want := range map[int]string{0: "0:00", 9: "0:09", 272: "4:32", 3600: "1:00:00", 3725: "1:02:05"} {
		if got := clock(secs); got != want {
			t.Errorf("clock(%d) = %q, want %q", secs, got, want)
		}
	}
	if got := shorten(strings.Repeat("a ", 300), 10); got != "a a a a a…" {
		t.Errorf("shorten = %q", got)
	}
}
