package voice

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/serambi/serambi/inbox"
)

// Kinds of the timeline entries a call leaves. Each entry is an inbox channel event on
// ChannelVoice whose external id is "<call id>:<suffix>", so a repeated callback adds nothing.
const (
	EventCallStarted       inbox.EventKind = "call_started" // first entry of an outgoing call to a known customer
	EventCallAnswered      inbox.EventKind = "call_answered"
	EventCallTransferred   inbox.EventKind = "call_transferred"
	EventCallEnded         inbox.EventKind = "call_ended"
	EventCallMissed        inbox.EventKind = "call_missed"
	EventVoicemail         inbox.EventKind = "voicemail"
	EventCallRecording     inbox.EventKind = "call_recording"
	EventCallTranscript    inbox.EventKind = "call_transcript"
	EventCallbackRequested inbox.EventKind = "callback_requested"
	EventCallbackDone      inbox.EventKind = "callback_done"
)

// entry is one timeline entry a call change produces.
type entry struct {
	suffix string // the external id is "<call id>:<suffix>"
	event  inbox.Event
}

// entries lists the timeline entries that the change from old to c adds: each milestone the
// call reached with this change, in the order they happened. Entries of milestones reached
// before were written then (and are idempotent if written again).
func entries(old, c Call) []entry {
	var out []entry
	if c.Answered() && !old.Answered() {
		out = append(out, entry{"answered", event(c, EventCallAnswered, answeredText(c))})
	}
	for _, to := range c.Transfers[min(len(old.Transfers), len(c.Transfers)):] {
		e := event(c, EventCallTransferred, "Transferred to "+to)
		e.Data["transferTo"] = to
		out = append(out, entry{"transferred:" + to, e})
	}
	if c.State.Final() && c.State != old.State {
		switch c.State {
		case StateEnded:
			out = append(out, entry{"ended", event(c, EventCallEnded, endedText(c))})
		case StateMissed:
			out = append(out, entry{"missed", event(c, EventCallMissed, missedText(c))})
		case StateVoicemail:
			out = append(out, entry{"voicemail", event(c, EventVoicemail, voicemailText(c))})
		}
		return out // the final entry carries recording and transcript
	}
	if c.State.Final() && old.State.Final() {
		// The call was over when these came: they get their own entries.
		if c.RecordingURL != "" && c.RecordingURL != old.RecordingURL {
			out = append(out, entry{"recording", event(c, EventCallRecording, "Recording"+durationSuffix(c.RecordingDuration))})
		}
		if c.Transcript != "" && c.Transcript != old.Transcript {
			out = append(out, entry{"transcript", event(c, EventCallTranscript, "Transcript: "+shorten(c.Transcript, 200))})
		}
	}
	return out
}

// event builds a call event whose Data holds everything the console shows about the call.
func event(c Call, kind inbox.EventKind, text string) inbox.Event {
	d := map[string]string{"text": text, "callId": c.ID, "direction": string(c.Direction), "state": string(c.State)}
	set := func(k, v string) {
		if v != "" {
			d[k] = v
		}
	}
	setTime := func(k string, t time.Time) {
		if !t.IsZero() {
			d[k] = t.UTC().Format(time.RFC3339)
		}
	}
	set("from", c.From)
	set("to", c.To)
	set("customerNumber", c.CustomerNumber)
	set("queue", c.Queue)
	set("agent", c.Agent)
	set("extension", c.Extension)
	set("cause", c.Cause)
	set("transfers", strings.Join(c.Transfers, ","))
	setTime("startedAt", c.StartedAt)
	setTime("answeredAt", c.AnsweredAt)
	setTime("endedAt", c.EndedAt)
	if c.Duration > 0 {
		d["duration"] = strconv.Itoa(c.Duration)
		d["durationText"] = clock(c.Duration)
	}
	if w := waited(c); w > 0 && !c.Answered() {
		d["ringSeconds"] = strconv.Itoa(w)
	}
	set("recordingUrl", c.RecordingURL)
	if c.RecordingDuration > 0 {
		d["recordingDuration"] = strconv.Itoa(c.RecordingDuration)
	}
	set("transcript", c.Transcript)
	return inbox.Event{Kind: kind, Data: d}
}

// who names an agent: "Emma Taylor (201)", "201", or "" when unknown.
func who(agent, ext string) string {
	switch {
	case agent != "" && ext != "" && agent != ext:
		return agent + " (" + ext + ")"
	case agent != "":
		return agent
	}
	return ext
}

func answeredText(c Call) string {
	if c.Direction == DirectionOut {
		return "Answered by the customer"
	}
	if w := who(c.Agent, c.Extension); w != "" {
		return "Answered by " + w
	}
	return "Answered"
}

func endedText(c Call) string {
	var parts []string
	if c.Direction == DirectionOut {
		p := "Outgoing call"
		if w := who(c.Agent, c.Extension); w != "" {
			p += " by " + w
		}
		if !c.Answered() {
			p += " not answered"
			if c.Cause != "" {
				p += " (" + c.Cause + ")"
			}
			return p
		}
		parts = append(parts, p)
	} else if c.Answered() {
		parts = append(parts, answeredText(c))
	} else {
		p := "Call forwarded"
		if c.Cause != "" && c.Cause != "forwarded" {
			p = "Call ended (" + c.Cause + ")"
		}
		return p
	}
	if len(c.Transfers) > 0 {
		parts = append(parts, "transferred to "+strings.Join(c.Transfers, ", "))
	}
	if c.Duration > 0 {
		parts = append(parts, "ended after "+clock(c.Duration))
	} else {
		parts = append(parts, "ended")
	}
	return strings.Join(parts, " · ")
}

func missedText(c Call) string {
	t := "Missed call"
	if c.CustomerNumber != "" {
		t += " from " + c.CustomerNumber
	}
	if c.Queue != "" {
		t += " in queue " + c.Queue
	}
	if w := waited(c); w > 0 {
		t += " · rang " + clock(w)
	}
	return t
}

func voicemailText(c Call) string {
	t := "Voicemail"
	if c.CustomerNumber != "" {
		t += " from " + c.CustomerNumber
	}
	t += durationSuffix(c.RecordingDuration)
	if c.Transcript != "" {
		t += ": " + shorten(c.Transcript, 200)
	}
	return t
}

func callbackText(number string) string { return "Call back " + number }

func durationSuffix(secs int) string {
	if secs <= 0 {
		return ""
	}
	return " · " + clock(secs)
}

// waited is how long an unanswered call rang, in seconds.
func waited(c Call) int {
	if c.StartedAt.IsZero() || !c.EndedAt.After(c.StartedAt) {
		return 0
	}
	return int(c.EndedAt.Sub(c.StartedAt).Round(time.Second) / time.Second)
}

// clock renders seconds as m:ss, or h:mm:ss from an hour on.
func clock(secs int) string {
	if secs >= 3600 {
		return fmt.Sprintf("%d:%02d:%02d", secs/3600, secs/60%60, secs%60)
	}
	return fmt.Sprintf("%d:%02d", secs/60, secs%60)
}

func shorten(s string, n int) string {
	r := []rune(strings.Join(strings.Fields(s), " "))
	if len(r) <= n {
		return string(r)
	}
	return string(r[:n-1]) + "…"
}
