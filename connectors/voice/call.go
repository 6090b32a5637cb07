package voice

import (
	"slices"
	"time"
)

// State is where a call stands. Calls only move forward: ringing → answered → ended, or
// ringing → missed → voicemail. The one step back in order is a correction: a miss becomes
// ended when proof that the call was answered arrives late (out-of-order webhooks).
type State string

const (
	StateRinging   State = "ringing"
	StateAnswered  State = "answered"
	StateEnded     State = "ended"     // over; answered, or an outgoing call nobody picked up
	StateMissed    State = "missed"    // an incoming call that nobody answered
	StateVoicemail State = "voicemail" // an incoming call that nobody answered, and the caller left a message
)

// Final reports whether the call is over.
func (s State) Final() bool { return s == StateEnded || s == StateMissed || s == StateVoicemail }

// Direction says who called whom.
type Direction string

const (
	DirectionIn  Direction = "in"  // the customer called
	DirectionOut Direction = "out" // an agent called the customer
)

// Source names where a call's events come from; it prefixes call ids so that two providers'
// ids never collide.
type Source string

const (
	SourceCTI      Source = "cti"
	SourceTwilio   Source = "twilio"
	SourceAsterisk Source = "asterisk"
)

// Call is one phone call, whichever source reported it. It is kept as JSON in the connector
// state store under "voice:call:<id>" so that every instance and a restarted one agree on it.
type Call struct {
	// ID is "<source>:<the provider's id>" (Twilio CallSid, CTI callId, Asterisk Linkedid).
	ID        string    `json:"id"`
	Source    Source    `json:"source"`
	Direction Direction `json:"direction"`
	// From and To are E.164 when they are phone numbers, otherwise as the source gave them (an
	// extension, "anonymous", "client:alice").
	From string `json:"from,omitempty"`
	To   string `json:"to,omitempty"`
	// CustomerNumber is the customer's side in E.164: From of an incoming call, To of an outgoing
	// one. Empty when the caller withheld the number.
	CustomerNumber string `json:"customerNumber,omitempty"`
	CallerName     string `json:"callerName,omitempty"`
	State          State  `json:"state"`
	Queue          string `json:"queue,omitempty"`
	// Ringing lists the agents or extensions the call rang (or rings now).
	Ringing []string `json:"ringing,omitempty"`
	// Agent and Extension name who answered an incoming call, or who placed an outgoing one.
	Agent     string   `json:"agent,omitempty"`
	Extension string   `json:"extension,omitempty"`
	Transfers []string `json:"transfers,omitempty"`
	Cause     string   `json:"cause,omitempty"`

	StartedAt  time.Time `json:"startedAt,omitzero"`
	AnsweredAt time.Time `json:"answeredAt,omitzero"`
	EndedAt    time.Time `json:"endedAt,omitzero"`
	// Duration is the talk time in seconds: from answer to hang-up.
	Duration int `json:"duration,omitempty"`
	// ProviderDuration is the talk time the provider reported; it wins over the clock difference.
	ProviderDuration int `json:"providerDuration,omitempty"`

	RecordingURL      string `json:"recordingUrl,omitempty"`
	RecordingDuration int    `json:"recordingDuration,omitempty"`
	Transcript        string `json:"transcript,omitempty"`
	// VoicemailPending: a message was recorded before the hang-up was reported.
	VoicemailPending bool `json:"voicemailPending,omitempty"`
	// Handled: nobody here answered but the call was dealt with (forwarded elsewhere), so it is
	// no missed call.
	Handled bool `json:"handled,omitempty"`

	CustomerID     string `json:"customerId,omitempty"`
	ConversationID string `json:"conversationId,omitempty"`
	// Seen holds the dedupe keys of updates already applied (Twilio CallSid+SequenceNumber).
	Seen      []string  `json:"seen,omitempty"`
	UpdatedAt time.Time `json:"updatedAt,omitzero"`
}

// Answered reports whether somebody picked up.
func (c Call) Answered() bool { return !c.AnsweredAt.IsZero() }

// Rings reports whether the call is ringing for the agent or extension who: the console pops
// it up for them first.
func (c Call) Rings(who string) bool {
	return c.State == StateRinging && slices.Contains(c.Ringing, who)
}

// UpdateKind is what a source reports about a call.
type UpdateKind string

const (
	UpdateRinging    UpdateKind = "ringing"    // the call exists and rings (possibly a new target)
	UpdateAnswered   UpdateKind = "answered"   // somebody picked up
	UpdateTransfer   UpdateKind = "transfer"   // the call went on to TransferTo
	UpdateHangup     UpdateKind = "hangup"     // the call is over
	UpdateRecording  UpdateKind = "recording"  // a recording of the call (or the caller's voicemail) exists
	UpdateTranscript UpdateKind = "transcript" // a transcript of the recording exists
)

// Update is one thing a source reported about a call, normalised. Sources fill what they know;
// empty fields change nothing.
type Update struct {
	CallID string
	Source Source
	Kind   UpdateKind
	// At is when it happened by the source's clock; zero means when Serambi received it.
	At        time.Time
	Direction Direction
	// From and To as the source wrote them; the connector turns phone numbers into E.164 and
	// fills FromNumber and ToNumber (empty when a side is no phone number).
	From, To             string
	FromNumber, ToNumber string
	CallerName           string
	Queue                string
	Ringing              []string
	Agent, Extension     string
	TransferTo           string
	Cause                string
	// Duration is the talk time in seconds when the source reports it with the hang-up.
	Duration int
	// Voicemail: the hang-up followed a message left in voicemail, or the recording is one.
	Voicemail bool
	// Handled: a hang-up of a call that was dealt with elsewhere (forwarded), never a miss.
	Handled           bool
	RecordingURL      string
	RecordingDuration int
	Transcript        string
	// DedupeKey identifies a delivery that may be repeated (Twilio CallSid:SequenceNumber). An
	// update whose key the call has seen changes nothing.
	DedupeKey string
}

// maxSeen bounds the dedupe keys kept per call; a call has a handful of callbacks.
const maxSeen = 64

// Apply returns c with u applied. It is pure and tolerant: updates may come twice, late or out
// of order, and a call never moves back (a "ringing" that arrives after the hang-up changes
// nothing but facts still missing). Times are merged as earliest start and earliest answer.
func Apply(c Call, u Update) Call {
	c.Ringing = slices.Clone(c.Ringing)
	c.Transfers = slices.Clone(c.Transfers)
	c.Seen = slices.Clone(c.Seen)
	if c.ID == "" {
		c.ID, c.Source = u.CallID, u.Source
	}
	if c.Direction == "" {
		c.Direction = u.Direction
	}
	fill(&c.From, u.From)
	fill(&c.To, u.To)
	if c.CustomerNumber == "" {
		switch c.Direction {
		case DirectionIn:
			c.CustomerNumber = u.FromNumber
		case DirectionOut:
			c.CustomerNumber = u.ToNumber
		}
	}
	fill(&c.CallerName, u.CallerName)
	fill(&c.Queue, u.Queue)
	for _, r := range u.Ringing {
		if r != "" && !slices.Contains(c.Ringing, r) {
			c.Ringing = append(c.Ringing, r)
		}
	}
	if u.DedupeKey != "" && !slices.Contains(c.Seen, u.DedupeKey) {
		c.Seen = append(c.Seen, u.DedupeKey)
		if len(c.Seen) > maxSeen {
			c.Seen = c.Seen[len(c.Seen)-maxSeen:]
		}
	}
	at := u.At
	if !at.IsZero() && u.Kind != UpdateRecording && u.Kind != UpdateTranscript &&
		(c.StartedAt.IsZero() || at.Before(c.StartedAt)) {
		c.StartedAt = at
	}

	switch u.Kind {
	case UpdateRinging:
		if c.State == "" {
			c.State = StateRinging
		}
		if c.Direction == DirectionOut {
			fill(&c.Agent, u.Agent)
			fill(&c.Extension, u.Extension)
		}
	case UpdateAnswered:
		if c.State == "" {
			c.State = StateRinging
		}
		if !c.Answered() || (!at.IsZero() && at.Before(c.AnsweredAt)) {
			// The earliest answer is who answered: a late-delivered earlier answer replaces a later one.
			c.AnsweredAt = at
			if c.Direction != DirectionOut || c.Agent == "" {
				if u.Agent != "" || u.Extension != "" {
					c.Agent, c.Extension = u.Agent, u.Extension
				}
			}
		}
		fill(&c.Agent, u.Agent)
		fill(&c.Extension, u.Extension)
		switch c.State {
		case StateRinging:
			c.State = StateAnswered
		case StateMissed:
			c.State = StateEnded // it was answered after all: the "missed" came first by accident
		}
	case UpdateTransfer:
		if u.TransferTo != "" && !slices.Contains(c.Transfers, u.TransferTo) {
			c.Transfers = append(c.Transfers, u.TransferTo)
		}
	case UpdateHangup:
		fill(&c.Cause, u.Cause)
		if c.Answered() {
			fill(&c.Agent, u.Agent)
			fill(&c.Extension, u.Extension)
		}
		if u.Duration > 0 {
			c.ProviderDuration = u.Duration
		}
		c.Handled = c.Handled || u.Handled
		if c.State.Final() {
			break // a repeated or late hang-up: facts above are kept, the state is not
		}
		c.EndedAt = at
		switch {
		case u.Voicemail || (c.VoicemailPending && !c.Answered()):
			c.State = StateVoicemail
		case c.Answered() || c.Direction == DirectionOut || c.Handled:
			c.State = StateEnded
		default:
			c.State = StateMissed
		}
	case UpdateRecording:
		if u.RecordingURL != "" && (c.RecordingURL == "" || u.Voicemail) {
			c.RecordingURL, c.RecordingDuration = u.RecordingURL, u.RecordingDuration
		}
		if u.Voicemail || !c.Answered() {
			// A recording of a call nobody answered is the caller's message.
			switch {
			case c.State == StateMissed:
				c.State = StateVoicemail
			case !c.State.Final():
				c.VoicemailPending = true
			}
		}
	case UpdateTranscript:
		if u.Transcript != "" {
			c.Transcript = u.Transcript
		}
	}
	if c.State.Final() {
		c.VoicemailPending = false
	}
	c.Duration = 0
	if c.State == StateEnded && c.Answered() {
		switch {
		case c.ProviderDuration > 0:
			c.Duration = c.ProviderDuration
		case c.EndedAt.After(c.AnsweredAt):
			c.Duration = int(c.EndedAt.Sub(c.AnsweredAt).Round(time.Second) / time.Second)
		}
	}
	return c
}

func fill(dst *string, v string) {
	if *dst == "" {
		*dst = v
	}
}
