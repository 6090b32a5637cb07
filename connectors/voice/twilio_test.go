package voice

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"net/url"
	"sort"
	"strconv"
	"testing"
	"time"
)

// docSign is the signature algorithm exactly as Twilio's security documentation states it,
// written out independently of TwilioSignature: take the full URL, append each POST parameter's
// name and value (no delimiters) in name order, HMAC-SHA1 with the auth token, base64.
func docSign(token, fullURL string, params map[string]string) string {
	names := make([]string, 0, len(params))
	for k := range params {
		names = append(names, k)
	}
	sort.Strings(names)
	s := fullURL
	for _, k := range names {
		s += k + params[k]
	}
	m := hmac.New(sha1.New, []byte(token))
	m.Write([]byte(s))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

func values(m map[string]string) url.Values {
	v := url.Values{}
	for k, s := range m {
		v.Set(k, s)
	}
	return v
}

func TestTwilioSignaturePublishedVectors(t *testing.T) {
	// twilio-ruby's request validator spec: a real inbound voice webhook.
	voice := map[string]string{
		"ToState": "California", "CalledState": "California", "Direction": "inbound", "FromState": "CA",
		"AccountSid": "ACba8bc05eacf94afdae398e642c9cc32d", "Caller": "+14153595711", "CallerZip": "94108",
		"CallerCountry": "US", "From": "+14153595711", "FromCity": "SAN FRANCISCO", "CallerCity": "SAN FRANCISCO",
		"To": "+14157669926", "FromZip": "94108", "FromCountry": "US", "ToCity": "", "CallStatus": "ringing",
		"CalledCity": "", "CallerState": "CA", "CalledZip": "", "ToZip": "", "ToCountry": "US",
		"CallSid": "CA136d09cd59a3c0ec8dbff44da5c03f31", "CalledCountry": "US", "Called": "+14157669926",
		"ApiVersion": "2010-04-01", "ApplicationSid": "AP44efecad51364e80b133bb7c07eb8204",
	}
	// The example of Twilio's webhook security page, in the two spellings found in Twilio's SDK tests.
	doc := func(caller string) map[string]string {
		return map[string]string{"CallSid": "CA1234567890ABCDE", "Caller": caller, "Digits": "1234", "From": caller, "To": "+18005551212"}
	}
	tests := []struct {
		name, token, url string
		params           map[string]string
		want             string
	}{
		{"twilio-ruby voice request", "2bd9e9638872de601313dc77410d3b23", "http://twiliotests.heroku.com/validate/voice", voice, "oVb2kXoVy8GEfwBDjR8bk/ZZ6eA="},
		{"security docs example (+14158675309)", "12345", "https://mycompany.com/myapp.php?foo=1&bar=2", doc("+14158675309"), "RSOYDt4T1cUTdK1PDd93/VVr8B8="},
		{"security docs example (+14158675310)", "12345", "https://mycompany.com/myapp.php?foo=1&bar=2", doc("+14158675310"), "GvWf1cFY/Q7PnoempGyD5oXAezc="},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := docSign(tt.token, tt.url, tt.params); got != tt.want {
				t.Fatalf("the documented algorithm gives %q, Twilio published %q", got, tt.want)
			}
			if got := TwilioSignature(tt.token, tt.url, values(tt.params)); got != tt.want {
				t.Fatalf("TwilioSignature = %q, want %q", got, tt.want)
			}
			if !ValidTwilioSignature(tt.token, tt.url, values(tt.params), tt.want) {
				t.Fatal("ValidTwilioSignature refused the published signature")
			}
		})
	}
}

func TestValidTwilioSignature(t *testing.T) {
	const token = "d5e1bb0f2ab6f4d0a3a1b2c3d4e5f607"
	params := map[string]string{"CallSid": "CA" + "0123456789abcdef0123456789abcdef", "CallStatus": "ringing", "From": "+6281234567890"}
	const u = "https://support.example.com/api/v1/voice/twilio/status"
	good := docSign(token, u, params)
	tests := []struct {
		name, url, sig string
		params         map[string]string
		token          string
		want           bool
	}{
		{"as signed", u, good, params, token, true},
		{"Twilio signed the URL with the default port", u, docSign(token, "https://support.example.com:443/api/v1/voice/twilio/status", params), params, token, true},
		{"a changed parameter", u, good, map[string]string{"CallSid": params["CallSid"], "CallStatus": "completed", "From": "+6281234567890"}, token, false},
		{"an added parameter", u, good, map[string]string{"CallSid": params["CallSid"], "CallStatus": "ringing", "From": "+6281234567890", "X": "1"}, token, false},
		{"another URL (the Host behind a proxy)", "http://10.0.0.5:8080/api/v1/voice/twilio/status", good, params, token, false},
		{"another token", u, good, params, "0000", false},
		{"no signature", u, "", params, token, false},
		{"no token configured", u, good, params, "", false},
	}
	for _, tt := range tests {
		if got := ValidTwilioSignature(tt.token, tt.url, values(tt.params), tt.sig); got != tt.want {
			t.Errorf("%s: valid = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// statusForm is a Voice status callback with the parameters Twilio documents.
func statusForm(sid, parent, direction, status, from, to string, seq int, ts time.Time, extra ...string) url.Values {
	v := url.Values{
		"AccountSid": {"AC" + "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}, "ApiVersion": {"2010-04-01"}, "CallSid": {sid},
		"CallStatus": {status}, "Direction": {direction}, "From": {from}, "Caller": {from}, "To": {to}, "Called": {to},
		"CallbackSource": {"call-progress-events"}, "SequenceNumber": {strconv.Itoa(seq)}, "Timestamp": {ts.Format(time.RFC1123Z)},
		"FromCountry": {"ID"}, "ToCountry": {"ID"},
	}
	if parent != "" {
		v.Set("ParentCallSid", parent)
	}
	for i := 0; i+1 < len(extra); i += 2 {
		v.Set(extra[i], extra[i+1])
	}
	return v
}

const (
	parentSid = "CA" + "11111111111111111111111111111111"
	childSid  = "CA" + "22222222222222222222222222222222"
)

func TestTwilioStatusUpdates(t *testing.T) {
	now := at(999)
	tests := []struct {
		name string
		form url.Values
		want []Update // CallID, Kind, At, Agent/Ringing, Duration, Cause, DedupeKey as expected
	}{
		{"an incoming call rings", statusForm(parentSid, "", "inbound", "ringing", "+6281234567890", "+62215550100", 0, at(0)),
			[]Update{{CallID: "twilio:" + parentSid, Kind: UpdateRinging, At: at(0), DedupeKey: "seq:" + parentSid + ":0"}}},
		{"Twilio answering an incoming call is no agent's answer", statusForm(parentSid, "", "inbound", "in-progress", "+6281234567890", "+62215550100", 1, at(1)),
			[]Update{{CallID: "twilio:" + parentSid, Kind: UpdateRinging, At: at(1), DedupeKey: "seq:" + parentSid + ":1"}}},
		{"the agent leg rings", statusForm(childSid, parentSid, "outbound-dial", "ringing", "+6281234567890", "client:emma", 0, at(2)),
			[]Update{{CallID: "twilio:" + parentSid, Kind: UpdateRinging, At: at(2), Ringing: []string{"emma"}, DedupeKey: "seq:" + childSid + ":0"}}},
		{"the agent answers", statusForm(childSid, parentSid, "outbound-dial", "in-progress", "+6281234567890", "sip:201@acme.sip.twilio.com", 1, at(7)),
			[]Update{{CallID: "twilio:" + parentSid, Kind: UpdateAnswered, At: at(7), Agent: "201", Extension: "201", DedupeKey: "seq:" + childSid + ":1"}}},
		{"a completed agent leg proves the answer", statusForm(childSid, parentSid, "outbound-dial", "completed", "+6281234567890", "client:emma", 2, at(279), "CallDuration", "272"),
			[]Update{{CallID: "twilio:" + parentSid, Kind: UpdateAnswered, At: at(7), Agent: "emma", Extension: "emma", DedupeKey: "seq:" + childSid + ":2"}}},
		{"the customer's call completes", statusForm(parentSid, "", "inbound", "completed", "+6281234567890", "+62215550100", 3, at(280), "CallDuration", "280"),
			[]Update{{CallID: "twilio:" + parentSid, Kind: UpdateHangup, At: at(280), DedupeKey: "seq:" + parentSid + ":3"}}},
		{"an outgoing call that completes after talking", statusForm(parentSid, "", "outbound-api", "completed", "+62215550100", "+6281234567890", 4, at(100), "CallDuration", "90"),
			[]Update{{CallID: "twilio:" + parentSid, Kind: UpdateAnswered, At: at(10), DedupeKey: "seq:" + parentSid + ":4"},
				{CallID: "twilio:" + parentSid, Kind: UpdateHangup, At: at(100), Duration: 90}}},
		{"busy", statusForm(parentSid, "", "outbound-api", "busy", "+62215550100", "+6281234567890", 2, at(5)),
			[]Update{{CallID: "twilio:" + parentSid, Kind: UpdateHangup, At: at(5), Cause: "busy", DedupeKey: "seq:" + parentSid + ":2"}}},
		{"no Timestamp: received now", url.Values{"CallSid": {parentSid}, "CallStatus": {"ringing"}, "Direction": {"inbound"}},
			[]Update{{CallID: "twilio:" + parentSid, Kind: UpdateRinging, At: now}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := twilioStatusUpdates(tt.form, now)
			if len(got) != len(tt.want) {
				t.Fatalf("%d updates, want %d: %+v", len(got), len(tt.want), got)
			}
			for i, w := range tt.want {
				g := got[i]
				if g.CallID != w.CallID || g.Kind != w.Kind || !g.At.Equal(w.At) || g.Agent != w.Agent || g.Extension != w.Extension ||
					g.Duration != w.Duration || g.Cause != w.Cause || g.DedupeKey != w.DedupeKey || len(g.Ringing) != len(w.Ringing) ||
					(len(w.Ringing) > 0 && g.Ringing[0] != w.Ringing[0]) || g.Source != SourceTwilio {
					t.Fatalf("update %d:\n got %+v\nwant %+v", i, g, w)
				}
			}
		})
	}
}

func TestTwilioRecordingUpdates(t *testing.T) {
	rec := url.Values{
		"AccountSid": {"AC" + "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}, "CallSid": {parentSid}, "RecordingSid": {"RE" + "33333333333333333333333333333333"},
		"RecordingUrl": {"https://api.twilio.com/2010-04-01/Accounts/AC/Recordings/RE3"}, "RecordingStatus": {"completed"},
		"RecordingDuration": {"42"}, "RecordingChannels": {"1"}, "RecordingSource": {"RecordVerb"},
		"RecordingStartTime": {"Mon, 02 Mar 2026 09:30:30 +0000"},
	}
	ups := twilioRecordingUpdates(rec, at(0))
	if len(ups) != 1 || ups[0].Kind != UpdateRecording || !ups[0].Voicemail || ups[0].RecordingDuration != 42 ||
		ups[0].RecordingURL != rec.Get("RecordingUrl") || ups[0].DedupeKey != "rec:"+rec.Get("RecordingSid")+":completed" {
		t.Fatalf("voicemail recording: %+v", ups)
	}
	dial := url.Values{}
	for k, v := range rec {
		dial[k] = v
	}
	dial.Set("RecordingSource", "DialVerb")
	if ups := twilioRecordingUpdates(dial, at(0)); len(ups) != 1 || ups[0].Voicemail {
		t.Fatalf("a <Dial record> recording is no voicemail by itself: %+v", ups)
	}
	dial.Set("RecordingStatus", "in-progress")
	if ups := twilioRecordingUpdates(dial, at(0)); len(ups) != 0 {
		t.Fatalf("an unfinished recording: %+v", ups)
	}
	tr := url.Values{"CallSid": {parentSid}, "TranscriptionSid": {"TR1"}, "TranscriptionText": {"Halo, tolong telepon balik."},
		"TranscriptionStatus": {"completed"}, "RecordingSid": {"RE3"}, "RecordingUrl": {"https://api.twilio.com/r/RE3"}}
	ups = twilioRecordingUpdates(tr, at(0))
	if len(ups) != 2 || ups[1].Kind != UpdateTranscript || ups[1].Transcript != "Halo, tolong telepon balik." {
		t.Fatalf("transcription callback: %+v", ups)
	}
}
