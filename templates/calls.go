package templates

import (
	"encoding/hex"
	"encoding/json"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/a-h/templ"

	"github.com/serambi/serambi/inbox"
)

// CallPopup is a ringing call as the screen-pop shows it: who calls, on which queue, what they
// wrote lately, and (when the commerce part provides it) what they bought.
type CallPopup struct {
	CallID         string
	CallerName     string // the customer's name; empty when unknown
	Number         string // E.164, or what the PBX reported ("anonymous")
	Queue          string
	ConversationID string // empty for a withheld number: nothing to open
	StartedAt      time.Time
	// Recent are the customer's latest messages, oldest first.
	Recent []inbox.Message
	// Commerce is a compact cart and orders summary; nil leaves its slot empty.
	Commerce templ.Component
}

// CallDOMID is the element id of a call's screen-pop. Call ids carry ':' and '.', which are
// legal in ids but not in CSS selectors, so the id is hex-encoded.
func CallDOMID(callID string) string { return "call-" + hex.EncodeToString([]byte(callID)) }

// RecordingURL is where the console streams a call's recording: an agent-only route that
// fetches it from the provider with the provider's credentials.
func RecordingURL(callID string) string { return "/calls/" + url.PathEscape(callID) + "/recording" }

// isCallEvent reports whether a timeline entry is one a phone call left.
func isCallEvent(m inbox.Message) bool {
	return m.Direction == inbox.DirectionEvent && m.Channel == inbox.ChannelVoice && m.Event != nil
}

// callText says what a call entry records, in the viewer's language where the kind is known;
// other kinds keep the connector's words.
func callText(v Viewer, m inbox.Message) string {
	d := m.Event.Data
	number := d["customerNumber"]
	data := map[string]any{"Number": number, "Agent": who(d["agent"], d["extension"]), "Duration": d["durationText"], "Queue": d["queue"]}
	switch m.Event.Kind {
	case "call_answered":
		if d["direction"] == "out" {
			return v.T("CallAnsweredByCustomer")
		}
		if data["Agent"] != "" {
			return v.L.F("CallAnsweredBy", data)
		}
		return v.T("CallAnswered")
	case "call_missed":
		if number != "" {
			return v.L.F("CallMissedFrom", data)
		}
		return v.T("CallMissed")
	case "voicemail":
		if number != "" {
			return v.L.F("VoicemailFrom", data)
		}
		return v.T("Voicemail")
	case "callback_requested":
		return v.L.F("CallbackRequested", data)
	case "call_ended":
		if d["answeredAt"] != "" && d["durationText"] != "" && d["transfers"] == "" {
			return v.L.F("CallEndedAfter", data)
		}
	}
	return m.Text
}

func who(agent, ext string) string {
	switch {
	case agent != "" && ext != "" && agent != ext:
		return agent + " (" + ext + ")"
	case agent != "":
		return agent
	}
	return ext
}

func callKindClass(m inbox.Message) string { return "call-" + string(m.Event.Kind) }

// callMissedKind marks entries that ask for attention (a missed call, a call-back task).
func callMissedKind(m inbox.Message) bool {
	switch m.Event.Kind {
	case "call_missed", "voicemail", "callback_requested":
		return true
	}
	return false
}

func callerLabel(v Viewer, p CallPopup) string {
	if p.CallerName != "" {
		return p.CallerName
	}
	if p.Number != "" {
		return identityValue(inbox.Identity{Kind: inbox.KindPhone, Value: p.Number})
	}
	return v.T("WithheldNumber")
}

func ringingFor(v Viewer, p CallPopup) string {
	if p.StartedAt.IsZero() {
		return ""
	}
	secs := int(v.Now.Sub(p.StartedAt).Seconds())
	if secs < 0 {
		secs = 0
	}
	return strconv.Itoa(secs/60) + ":" + pad2(secs%60)
}

func pad2(n int) string {
	if n < 10 {
		return "0" + strconv.Itoa(n)
	}
	return strconv.Itoa(n)
}

// ChannelStatus is one configured connector as the admin's Channels page shows it. It holds
// nothing secret: addresses and ids, states and errors.
type ChannelStatus struct {
	Channel inbox.Channel
	// Name is the account: a mailbox address, a bot, a phone number id.
	Name string
	// State is one of the ChannelState_* message ids' suffixes: connected, idle, polling,
	// standby, webhook, configured, error, not_configured.
	State       string
	LastSync    time.Time
	LastError   string
	LastErrorAt time.Time
	// Detail is a short note in English (the mode, counters); it is data, not prose.
	Detail string
}

// MessageTemplate is an approved WhatsApp template the composer offers outside the 24-hour window.
type MessageTemplate struct {
	Name, Language string
	Params         int
	Text           string
}

// Key names a template in the form: name and language.
func (t MessageTemplate) Key() string { return t.Name + "|" + t.Language }

func paramIndexes(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i + 1
	}
	return out
}

// previewText is one line of a message for the screen-pop: its text cut short, or the name of
// its first file.
func previewText(m inbox.Message) string {
	t := strings.Join(strings.Fields(m.Text), " ")
	if t == "" && len(m.Attachments) > 0 {
		t = m.Attachments[0].Name
	}
	if r := []rune(t); len(r) > 120 {
		t = string(r[:119]) + "…"
	}
	return t
}

func hasTemplatesOnly(chs []ReplyChannel) bool {
	for _, c := range chs {
		if c.TemplatesOnly {
			return true
		}
	}
	return false
}

// Dialable says whether identities of kind k are phone numbers click-to-call can dial. WhatsApp
// ids are E.164 numbers too, and often the only number a customer gave.
func Dialable(k inbox.IdentityKind) bool { return k == inbox.KindPhone || k == inbox.KindWhatsApp }

// callVals is the body of a Call button: the number to dial.
func callVals(number string) string {
	b, _ := json.Marshal(map[string]string{"number": number})
	return string(b)
}
