package voice

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/serambi/serambi/bus"
	"github.com/serambi/serambi/inbox"
)

const (
	statusPath    = "/api/v1/voice/twilio/status"
	recordingPath = "/api/v1/voice/twilio/recording"
	caller        = "+6281234567890"
	ourNumber     = "+62215550100"
)

// The callbacks of one incoming call that TwiML <Dial>s to the agent "client:emma" (the child
// leg), as Twilio documents their parameters.
var (
	childRinging   = statusForm(childSid, parentSid, "outbound-dial", "ringing", caller, "client:emma", 0, at(2))
	childAnswered  = statusForm(childSid, parentSid, "outbound-dial", "in-progress", caller, "client:emma", 1, at(7))
	childCompleted = statusForm(childSid, parentSid, "outbound-dial", "completed", caller, "client:emma", 2, at(279), "CallDuration", "272")
	parentDone     = statusForm(parentSid, "", "inbound", "completed", caller, ourNumber, 0, at(279), "CallDuration", "279")
	voicemailRec   = url.Values{
		"AccountSid": {"AC" + strings.Repeat("a", 32)}, "CallSid": {parentSid}, "RecordingSid": {"RE" + strings.Repeat("3", 32)},
		"RecordingUrl": {"https://api.twilio.com/2010-04-01/Accounts/AC/Recordings/RE3"}, "RecordingStatus": {"completed"},
		"RecordingDuration": {"42"}, "RecordingChannels": {"1"}, "RecordingSource": {"RecordVerb"},
		"RecordingStartTime": {at(30).Format(time.RFC1123Z)},
	}
	transcription = url.Values{
		"AccountSid": {"AC" + strings.Repeat("a", 32)}, "CallSid": {parentSid}, "TranscriptionSid": {"TR" + strings.Repeat("4", 32)},
		"TranscriptionText": {"Halo, ini Siti. Tolong telepon balik soal pesanan 1042."}, "TranscriptionStatus": {"completed"},
		"RecordingSid": {"RE" + strings.Repeat("3", 32)}, "RecordingUrl": {"https://api.twilio.com/2010-04-01/Accounts/AC/Recordings/RE3"},
		"From": {caller}, "To": {ourNumber}, "CallStatus": {"completed"}, "Direction": {"inbound"}, "ApiVersion": {"2010-04-01"},
	}
)

func TestTwilioRefusesWithoutStoring(t *testing.T) {
	body := childRinging.Encode()
	good := docSign(testTwilioToken, testPublicURL+statusPath, flat(childRinging))
	tests := []struct {
		name   string
		mutate func(*Config)
		form   string
		sig    string
		want   int
	}{
		{"a forged signature", nil, body, docSign("not-the-token", testPublicURL+statusPath, flat(childRinging)), http.StatusForbidden},
		{"no signature", nil, body, "", http.StatusForbidden},
		{"a parameter changed after signing", nil, strings.Replace(body, "ringing", "in-progress", 1), good, http.StatusForbidden},
		{"signed for the Host behind the proxy instead of the public URL", nil, body, docSign(testTwilioToken, "http://example.com"+statusPath, flat(childRinging)), http.StatusForbidden},
		{"a callback of another account", func(c *Config) { c.TwilioAccountSID = "AC" + strings.Repeat("b", 32) }, body, good, http.StatusForbidden},
		{"Twilio not enabled", func(c *Config) { c.TwilioAuthToken = "" }, body, good, http.StatusNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var muts []func(*Config)
			if tt.mutate != nil {
				muts = append(muts, tt.mutate)
			}
			e := newEnv(t, muts...)
			rec := e.serve(e.echo, http.MethodPost, statusPath, "application/x-www-form-urlencoded", tt.form, map[string]string{TwilioSignatureHeader: tt.sig})
			if rec.Code != tt.want {
				t.Fatalf("status %d (%s), want %d", rec.Code, rec.Body, tt.want)
			}
			e.nothingStored("twilio:" + parentSid)
		})
	}
	t.Run("a signed callback without a valid CallSid", func(t *testing.T) {
		e := newEnv(t)
		bad := url.Values{"CallSid": {"CA-not-a-sid"}, "CallStatus": {"ringing"}}
		if rec := e.twilio(statusPath, bad); rec.Code != http.StatusBadRequest {
			t.Fatalf("status %d", rec.Code)
		}
	})
}

func TestTwilioAnsweredCallWithRepeatedCallbacks(t *testing.T) {
	e := newEnv(t)
	for _, f := range []url.Values{childRinging, childRinging, childAnswered, childRinging, childAnswered, childCompleted, parentDone, childCompleted, parentDone} {
		if rec := e.twilio(statusPath, f); rec.Code != http.StatusNoContent {
			t.Fatalf("callback %s/%s: %d %s", f.Get("CallSid")[:6], f.Get("CallStatus"), rec.Code, rec.Body)
		}
	}
	call := e.call("twilio:" + parentSid)
	if call.State != StateEnded || call.Duration != 272 || call.Agent != "emma" || call.CustomerNumber != caller ||
		!slices.Equal(call.Ringing, []string{"emma"}) || !call.AnsweredAt.Equal(at(7)) || !call.EndedAt.Equal(at(279)) {
		t.Fatalf("call %+v", call)
	}
	want := []string{"in|Incoming call", "call_answered|Answered by emma", "call_ended|Answered by emma · ended after 4:32"}
	if got := e.timeline(call.ConversationID); !slices.Equal(got, want) {
		t.Fatalf("timeline\n got %q\nwant %q", got, want)
	}
	waitFor(t, "the screen-pop", func() bool { return len(e.events.topic(bus.CallRinging)) > 0 })
	time.Sleep(50 * time.Millisecond)
	if pops := e.events.topic(bus.CallRinging); len(pops) != 1 || pops[0].CustomerID != call.CustomerID || pops[0].OtherID != call.ID {
		t.Fatalf("CallRinging %+v", pops)
	}
}

func TestTwilioDeliveryIsDedupedOnCallSidAndSequenceNumber(t *testing.T) {
	e := newEnv(t)
	if rec := e.twilio(statusPath, childRinging); rec.Code != http.StatusNoContent {
		t.Fatal(rec.Body)
	}
	before := e.call("twilio:" + parentSid)
	e.clock.Advance(time.Minute)
	if rec := e.twilio(statusPath, childRinging); rec.Code != http.StatusNoContent {
		t.Fatal(rec.Body)
	}
	if after := e.call("twilio:" + parentSid); !after.UpdatedAt.Equal(before.UpdatedAt) {
		t.Fatalf("a repeated delivery was applied again (updated %v, then %v)", before.UpdatedAt, after.UpdatedAt)
	}
	// The same status with another sequence number is another delivery.
	next := statusForm(childSid, parentSid, "outbound-dial", "ringing", caller, "client:budi", 5, at(3))
	if rec := e.twilio(statusPath, next); rec.Code != http.StatusNoContent {
		t.Fatal(rec.Body)
	}
	if call, _ := e.c.loadCall(context.Background(), "twilio:"+parentSid); !slices.Equal(call.Ringing, []string{"emma", "budi"}) || len(call.Seen) != 2 {
		t.Fatalf("call %+v", call)
	}
}

func TestTwilioCallbacksOutOfOrder(t *testing.T) {
	e := newEnv(t)
	// The agent leg's completion overtakes everything, the rest trickles in late.
	for _, f := range []url.Values{childCompleted, parentDone, childRinging, childAnswered} {
		if rec := e.twilio(statusPath, f); rec.Code != http.StatusNoContent {
			t.Fatal(rec.Body)
		}
	}
	call := e.call("twilio:" + parentSid)
	if call.State != StateEnded || call.Duration != 272 || !call.AnsweredAt.Equal(at(7)) {
		t.Fatalf("call %+v", call)
	}
	want := []string{"in|Incoming call", "call_answered|Answered by emma", "call_ended|Answered by emma · ended after 4:32"}
	if got := e.timeline(call.ConversationID); !slices.Equal(got, want) {
		t.Fatalf("timeline\n got %q\nwant %q", got, want)
	}
	time.Sleep(50 * time.Millisecond)
	if n := len(e.events.topic(bus.CallRinging)); n != 0 {
		t.Fatalf("a call first heard of as answered popped up %d times", n)
	}
}

func TestTwilioVoicemail(t *testing.T) {
	for _, tt := range []struct {
		name  string
		order []string
		want  []string
	}{
		{
			name:  "the recording after the miss",
			order: []string{"status", "recording", "recording", "transcription"},
			want: []string{"in|Incoming call", "call_missed|Missed call from +6281234567890", "callback_requested|Call back +6281234567890",
				"voicemail|Voicemail from +6281234567890 · 0:42", "call_transcript|Transcript: Halo, ini Siti. Tolong telepon balik soal pesanan 1042."},
		},
		{
			name:  "the recording before the call's status",
			order: []string{"recording", "status", "transcription"},
			want: []string{"in|Incoming call", "voicemail|Voicemail from +6281234567890 · 0:42", "callback_requested|Call back +6281234567890",
				"call_transcript|Transcript: Halo, ini Siti. Tolong telepon balik soal pesanan 1042."},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			for _, step := range tt.order {
				path, form := statusPath, parentDone
				switch step {
				case "recording":
					path, form = recordingPath, voicemailRec
				case "transcription":
					path, form = recordingPath, transcription
				}
				if rec := e.twilio(path, form); rec.Code != http.StatusNoContent {
					t.Fatalf("%s: %d %s", step, rec.Code, rec.Body)
				}
			}
			call := e.call("twilio:" + parentSid)
			if call.State != StateVoicemail || call.RecordingURL != voicemailRec.Get("RecordingUrl") || call.RecordingDuration != 42 || call.Transcript == "" {
				t.Fatalf("call %+v", call)
			}
			if got := e.timeline(call.ConversationID); !slices.Equal(got, tt.want) {
				t.Fatalf("timeline\n got %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestOpenRecordingFetchesTwilioMediaWithTheAccountsCredentials(t *testing.T) {
	const sid = "AC" + "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	audio := []byte("ID3\x04\x00fake mp3 frames")
	media := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, pass, ok := r.BasicAuth()
		if !ok || user != sid || pass != testTwilioToken {
			w.Header().Set("WWW-Authenticate", `Basic realm="Twilio API"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		if r.URL.Path != "/2010-04-01/Accounts/"+sid+"/Recordings/RE3.mp3" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "audio/mpeg")
		w.Write(audio)
	}))
	defer media.Close()
	e := newEnv(t, func(c *Config) { c.TwilioAccountSID, c.TwilioAPIBase = sid, media.URL })
	rec := url.Values{}
	for k, v := range voicemailRec {
		rec[k] = v
	}
	rec.Set("AccountSid", sid)
	rec.Set("RecordingUrl", media.URL+"/2010-04-01/Accounts/"+sid+"/Recordings/RE3")
	for _, step := range []struct {
		path string
		form url.Values
	}{{statusPath, statusForm(parentSid, "", "inbound", "completed", caller, ourNumber, 0, at(60), "AccountSid", sid)}, {recordingPath, rec}} {
		if r := e.twilio(step.path, step.form); r.Code != http.StatusNoContent {
			t.Fatalf("%s: %d %s", step.path, r.Code, r.Body)
		}
	}
	ctx := context.Background()
	r, err := e.c.OpenRecording(ctx, "twilio:"+parentSid)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(r.Body)
	r.Body.Close()
	if !bytes.Equal(got, audio) || r.ContentType != "audio/mpeg" {
		t.Fatalf("recording %q (%s)", got, r.ContentType)
	}

	noSID := e.connector("instance-c")
	noSID.cfg.TwilioAccountSID = ""
	if _, err := noSID.OpenRecording(ctx, "twilio:"+parentSid); !errors.Is(err, ErrNotConfigured) {
		t.Fatalf("without the account SID: %v", err)
	}
	if rec := e.twilio(statusPath, statusForm(childSid, "", "inbound", "ringing", caller, ourNumber, 0, at(0), "AccountSid", sid)); rec.Code != http.StatusNoContent {
		t.Fatal(rec.Body)
	}
	if _, err := e.c.OpenRecording(ctx, "twilio:"+childSid); !errors.Is(err, ErrNoRecording) {
		t.Fatalf("a call without a recording: %v", err)
	}
	if _, err := e.c.OpenRecording(ctx, "twilio:nope"); !errors.Is(err, inbox.ErrNotFound) {
		t.Fatalf("an unknown call: %v", err)
	}
}
