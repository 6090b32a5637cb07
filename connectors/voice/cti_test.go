package voice

import (
	"bytes"
	"mime/multipart"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/serambi/serambi/inbox"
)

func TestParseCTI(t *testing.T) {
	var mp bytes.Buffer
	w := multipart.NewWriter(&mp)
	for _, kv := range [][2]string{{"event", "newCall"}, {"from", "493055571600"}, {"to", "491711234567890"}, {"direction", "in"},
		{"callId", "25641e3f-3317-4c48-80b3-fc573c7ffe2b"}, {"user[]", "Christopher Miller"}, {"user[]", "Emma Taylor"}} {
		w.WriteField(kv[0], kv[1])
	}
	w.Close()
	tests := []struct {
		name, contentType, body string
		want                    ctiEvent
		wantErr                 string
	}{
		{
			name: "Zammad's JSON newCall, user as a list", contentType: "application/json",
			body: `{"event": "newCall", "from": "493023125741", "to": "492214710334", "direction": "in",
				"callId": "307fa962-de8d-4ffc-817b-7f6993204159", "user": ["Christopher Miller", "Emma Taylor"]}`,
			want: ctiEvent{Event: "newCall", From: "493023125741", To: "492214710334", Direction: "in",
				CallID: "307fa962-de8d-4ffc-817b-7f6993204159", User: userList{"Christopher Miller", "Emma Taylor"}},
		},
		{
			name: "Zammad's JSON hangup, user as a string, unknown fields ignored", contentType: "application/json; charset=utf-8",
			body: `{"event": "hangup", "from": "493023125741", "to": "492214710334", "direction": "in",
				"callId": "307fa962-de8d-4ffc-817b-7f6993204159", "user": "Emma Taylor",
				"answeringNumber": "emma@chrispresso.com", "cause": "normalClearing", "pbxNode": 3, "extra": {"a": [1]}}`,
			want: ctiEvent{Event: "hangup", From: "493023125741", To: "492214710334", Direction: "in",
				CallID: "307fa962-de8d-4ffc-817b-7f6993204159", User: userList{"Emma Taylor"},
				AnsweringNumber: "emma@chrispresso.com", Cause: "normalClearing"},
		},
		{
			name: "a form post as PBX scripts send it", contentType: "application/x-www-form-urlencoded",
			body: "event=answer&from=493023125741&to=492214710334&direction=in&callId=61868f1e&user%5B%5D=Emma+Taylor&answeringNumber=emma%40chrispresso.com",
			want: ctiEvent{Event: "answer", From: "493023125741", To: "492214710334", Direction: "in", CallID: "61868f1e",
				User: userList{"Emma Taylor"}, AnsweringNumber: "emma@chrispresso.com"},
		},
		{
			name: "a multipart form (curl --form)", contentType: w.FormDataContentType(), body: mp.String(),
			want: ctiEvent{Event: "newCall", From: "493055571600", To: "491711234567890", Direction: "in",
				CallID: "25641e3f-3317-4c48-80b3-fc573c7ffe2b", User: userList{"Christopher Miller", "Emma Taylor"}},
		},
		{name: "malformed JSON", contentType: "application/json", body: `{"event": "newCall",`, wantErr: "not a JSON CTI event"},
		{name: "user of the wrong type", contentType: "application/json", body: `{"event": "newCall", "callId": "x", "user": 7}`, wantErr: "user"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseCTI(tt.contentType, []byte(tt.body))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one mentioning %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Event != tt.want.Event || got.CallID != tt.want.CallID || got.From != tt.want.From || got.To != tt.want.To ||
				got.Direction != tt.want.Direction || !slices.Equal(got.User, tt.want.User) || got.Cause != tt.want.Cause ||
				got.AnsweringNumber != tt.want.AnsweringNumber {
				t.Fatalf("parsed\n %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestCTIUpdates(t *testing.T) {
	tests := []struct {
		name    string
		ev      ctiEvent
		want    string // kinds
		check   func(t *testing.T, ups []Update)
		wantErr string
	}{
		{name: "an incoming newCall rings the users", ev: ctiEvent{Event: "newCall", CallID: "a", From: "0812", To: "021", Direction: "in", User: userList{"Emma", "Budi"}, Queue: "support"},
			want: "ringing", check: func(t *testing.T, ups []Update) {
				if u := ups[0]; u.CallID != "cti:a" || u.Direction != DirectionIn || !slices.Equal(u.Ringing, []string{"Emma", "Budi"}) || u.Queue != "support" {
					t.Fatalf("%+v", u)
				}
			}},
		{name: "an outgoing newCall names the calling agent", ev: ctiEvent{Event: "newCall", CallID: "b", From: "201", To: "0812", Direction: "out", User: userList{"Emma"}},
			want: "ringing", check: func(t *testing.T, ups []Update) {
				if u := ups[0]; u.Direction != DirectionOut || u.Agent != "Emma" || u.Extension != "201" || len(u.Ringing) != 0 {
					t.Fatalf("%+v", u)
				}
			}},
		{name: "answer names who answered", ev: ctiEvent{Event: "answer", CallID: "a", Direction: "in", User: userList{"Emma"}, AnsweringNumber: "201"},
			want: "answered", check: func(t *testing.T, ups []Update) {
				if ups[0].Agent != "Emma" || ups[0].Extension != "201" {
					t.Fatalf("%+v", ups[0])
				}
			}},
		{name: "normalClearing is an established call, answer event or not", ev: ctiEvent{Event: "hangup", CallID: "a", Direction: "in", Cause: "normalClearing", AnsweringNumber: "201"},
			want: "answered,hangup"},
		{name: "cancel is a call nobody answered", ev: ctiEvent{Event: "hangup", CallID: "a", Direction: "in", Cause: "cancel"}, want: "hangup",
			check: func(t *testing.T, ups []Update) {
				if ups[0].Cause != "cancel" || ups[0].Handled || ups[0].Voicemail {
					t.Fatalf("%+v", ups[0])
				}
			}},
		{name: "forwarded is handled elsewhere", ev: ctiEvent{Event: "hangup", CallID: "a", Cause: "forwarded"}, want: "hangup",
			check: func(t *testing.T, ups []Update) {
				if !ups[0].Handled {
					t.Fatalf("%+v", ups[0])
				}
			}},
		{name: "voicemail with a recording and a transcript", ev: ctiEvent{Event: "hangup", CallID: "a", Cause: "voicemail", RecordingURL: "https://pbx/vm/1.mp3", Transcript: "Halo"},
			want: "recording,transcript,hangup", check: func(t *testing.T, ups []Update) {
				if !ups[0].Voicemail || !ups[2].Voicemail || ups[1].Transcript != "Halo" {
					t.Fatalf("%+v", ups)
				}
			}},
		{name: "direction defaults to in", ev: ctiEvent{Event: "newCall", CallID: "a"}, want: "ringing"},
		{name: "no callId", ev: ctiEvent{Event: "newCall"}, wantErr: "callId"},
		{name: "an overlong callId", ev: ctiEvent{Event: "newCall", CallID: strings.Repeat("x", 251)}, wantErr: "callId"},
		{name: "an unknown direction", ev: ctiEvent{Event: "newCall", CallID: "a", Direction: "sideways"}, wantErr: "direction"},
		{name: "an unknown event", ev: ctiEvent{Event: "transfer", CallID: "a"}, wantErr: "event"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ups, err := tt.ev.updates()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one mentioning %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := kinds(ups); got != tt.want {
				t.Fatalf("updates %q, want %q", got, tt.want)
			}
			if tt.check != nil {
				tt.check(t, ups)
			}
		})
	}
}

func TestEqualSecret(t *testing.T) {
	if !equalSecret("0123456789abcdef", "0123456789abcdef") || equalSecret("0123456789abcdeX", "0123456789abcdef") ||
		equalSecret("", "") || equalSecret("0123", "0123456789abcdef") {
		t.Fatal("equalSecret")
	}
}

func FuzzCTIBody(f *testing.F) {
	f.Add("application/json", ctiNew)
	f.Add("application/json", `{"event":"hangup","callId":"x","user":["a",null],"cause":"voicemail","recordingUrl":"javascript:alert(1)"}`)
	f.Add("application/x-www-form-urlencoded", "event=answer&callId=%ff%fe&user%5B%5D=x")
	n := numbers{norm: inbox.NewNormalizer("ID"), bare: BareInternational}
	f.Fuzz(func(t *testing.T, contentType, body string) {
		ev, err := parseCTI(contentType, []byte(body))
		if err != nil {
			return
		}
		ups, err := ev.updates()
		if err != nil {
			return
		}
		var c Call
		for _, u := range ups {
			if !strings.HasPrefix(u.CallID, "cti:") || !utf8.ValidString(u.CallID) {
				t.Fatalf("call id %q", u.CallID)
			}
			if p := n.phone(u.From); p != "" && !strings.HasPrefix(p, "+") {
				t.Fatalf("phone(%q) = %q", u.From, p)
			}
			c = Apply(c, u)
		}
		if c.State == "" && len(ups) > 0 && ups[len(ups)-1].Kind != UpdateRecording && ups[len(ups)-1].Kind != UpdateTranscript {
			t.Fatalf("a call event left the call without a state: %+v", c)
		}
	})
}
