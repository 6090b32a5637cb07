package ami

import (
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
)

func TestReadMessage(t *testing.T) {
	tests := []struct {
		name    string
		wire    string
		want    []Message
		wantErr error // after the packets in want
	}{
		{
			name: "a response as Asterisk writes it",
			wire: "Response: Success\r\nActionID: 7\r\nMessage: Authentication accepted\r\n\r\n",
			want: []Message{{Headers: []Header{{"Response", "Success"}, {"ActionID", "7"}, {"Message", "Authentication accepted"}}}},
		},
		{
			name: "two packets back to back, blank lines between them skipped",
			wire: "\r\nEvent: FullyBooted\r\nStatus: Fully Booted\r\n\r\n\r\nEvent: Newchannel\r\nChannel: PJSIP/201-00000001\r\n\r\n",
			want: []Message{
				{Headers: []Header{{"Event", "FullyBooted"}, {"Status", "Fully Booted"}}},
				{Headers: []Header{{"Event", "Newchannel"}, {"Channel", "PJSIP/201-00000001"}}},
			},
		},
		{
			name: "a value that holds colons is kept whole",
			wire: "Event: Newexten\r\nAppData: sip:201@pbx.example.com,30\r\nTimestamp: 1772443800.000000\r\n\r\n",
			want: []Message{{Headers: []Header{{"Event", "Newexten"}, {"AppData", "sip:201@pbx.example.com,30"}, {"Timestamp", "1772443800.000000"}}}},
		},
		{
			name: "repeated keys stay in order",
			wire: "Event: X\r\nVariable: a=1\r\nVariable: b=2\r\n\r\n",
			want: []Message{{Headers: []Header{{"Event", "X"}, {"Variable", "a=1"}, {"Variable", "b=2"}}}},
		},
		{
			name: "bare LF line ends are accepted",
			wire: "Event: Hangup\nCause: 16\n\n",
			want: []Message{{Headers: []Header{{"Event", "Hangup"}, {"Cause", "16"}}}},
		},
		{
			name: "an empty value",
			wire: "Event: Newchannel\r\nAccountCode: \r\nExten:\r\n\r\n",
			want: []Message{{Headers: []Header{{"Event", "Newchannel"}, {"AccountCode", ""}, {"Exten", ""}}}},
		},
		{
			name: "a line without a colon (legacy command output) is kept with an empty key",
			wire: "Response: Follows\r\nPrivilege: Command\r\nsome output\r\n--END COMMAND--\r\n\r\n",
			want: []Message{{Headers: []Header{{"Response", "Follows"}, {"Privilege", "Command"}, {"", "some output"}, {"", "--END COMMAND--"}}}},
		},
		{
			name:    "the connection ends inside a packet",
			wire:    "Event: Newchannel\r\nChannel: PJSIP/2",
			wantErr: io.ErrUnexpectedEOF,
		},
		{
			name:    "the connection ends after a line but before the blank line",
			wire:    "Event: Newchannel\r\n",
			wantErr: io.ErrUnexpectedEOF,
		},
		{
			name:    "the connection ends between packets",
			wire:    "Event: A\r\n\r\n",
			want:    []Message{{Headers: []Header{{"Event", "A"}}}},
			wantErr: io.EOF,
		},
		{
			name:    "an overlong line is a protocol error",
			wire:    "Event: X\r\nData: " + strings.Repeat("x", MaxLine) + "\r\n\r\n",
			wantErr: ErrProtocol,
		},
		{
			name:    "a packet of too many lines is a protocol error",
			wire:    "Event: X\r\n" + strings.Repeat("K: v\r\n", MaxHeaders) + "\r\n",
			wantErr: ErrProtocol,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := NewReader(strings.NewReader(tt.wire))
			for i, want := range tt.want {
				got, err := r.ReadMessage()
				if err != nil {
					t.Fatalf("packet %d: %v", i, err)
				}
				if !reflect.DeepEqual(got, want) {
					t.Fatalf("packet %d = %#v\nwant %#v", i, got, want)
				}
			}
			wantErr := tt.wantErr
			if wantErr == nil {
				wantErr = io.EOF
			}
			if _, err := r.ReadMessage(); !errors.Is(err, wantErr) {
				t.Fatalf("after the packets: err = %v, want %v", err, wantErr)
			}
		})
	}
}

func TestReadBanner(t *testing.T) {
	tests := []struct {
		wire, want string
		wantErr    bool
	}{
		{"Asterisk Call Manager/5.0.1\r\n", "5.0.1", false},
		{"Asterisk Call Manager/9.0.0\n", "9.0.0", false},
		{"HTTP/1.1 400 Bad Request\r\n", "", true},
		{"SSH-2.0-OpenSSH_9.2\r\n", "", true},
	}
	for _, tt := range tests {
		got, err := NewReader(strings.NewReader(tt.wire)).ReadBanner()
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("ReadBanner(%q) = %q, %v; want %q, error %v", tt.wire, got, err, tt.want, tt.wantErr)
		}
		if tt.wantErr && !errors.Is(err, ErrProtocol) {
			t.Errorf("ReadBanner(%q) error %v is not ErrProtocol", tt.wire, err)
		}
	}
}

func TestEncode(t *testing.T) {
	got, err := NewAction("Originate", "Channel", "PJSIP/201", "Exten", "+6281234567890", "Async", "true").Encode()
	if err != nil {
		t.Fatal(err)
	}
	want := "Action: Originate\r\nChannel: PJSIP/201\r\nExten: +6281234567890\r\nAsync: true\r\n\r\n"
	if string(got) != want {
		t.Fatalf("Encode = %q, want %q", got, want)
	}

	refused := []struct {
		name string
		m    Message
	}{
		{"a CRLF in a value would inject a second action", NewAction("Originate", "Exten", "123\r\n\r\nAction: Command\r\nCommand: core stop now")},
		{"a bare LF in a value", NewAction("Ping", "X", "a\nb")},
		{"a colon in a key", Message{Headers: []Header{{"Action: Ping\r\nX", "1"}}}},
		{"an empty key", Message{Headers: []Header{{"", "1"}}}},
	}
	for _, tt := range refused {
		if b, err := tt.m.Encode(); err == nil {
			t.Errorf("%s: Encode = %q, want an error", tt.name, b)
		}
	}
}

func TestMessageAccessors(t *testing.T) {
	m := NewEvent("VarSet", "Variable", "VMSTATUS", "value", "SUCCESS", "Variable", "second")
	if m.Get("event") != "VarSet" || m.Get("VALUE") != "SUCCESS" {
		t.Fatalf("Get ignores case: event=%q value=%q", m.Get("event"), m.Get("VALUE"))
	}
	if got := m.Values("variable"); !reflect.DeepEqual(got, []string{"VMSTATUS", "second"}) {
		t.Fatalf("Values = %q", got)
	}
	m.Set("Value", "FAILED")
	m.Set("Uniqueid", "1.2")
	if m.Get("Value") != "FAILED" || m.Get("Uniqueid") != "1.2" || len(m.Headers) != 5 {
		t.Fatalf("Set: %v", m)
	}
	login := NewAction("Login", "Username", "serambi", "Secret", "s3cret")
	if s := login.String(); strings.Contains(s, "s3cret") || !strings.Contains(s, "serambi") {
		t.Fatalf("String must hide the secret and keep the rest: %q", s)
	}
}

func FuzzReadMessage(f *testing.F) {
	f.Add("Event: A\r\nB: c\r\n\r\n")
	f.Add("Response: Success\nActionID: 1\n\n")
	f.Add("x\r\n\r\n:\r\n\r\n")
	f.Fuzz(func(t *testing.T, wire string) {
		r := NewReader(strings.NewReader(wire))
		for range 100 {
			m, err := r.ReadMessage()
			if err != nil {
				return
			}
			if len(m.Headers) == 0 || len(m.Headers) > MaxHeaders {
				t.Fatalf("a packet of %d lines", len(m.Headers))
			}
			// Whatever was read with a key encodes and reads back the same.
			var keyed Message
			for _, h := range m.Headers {
				if h.Key != "" && !strings.ContainsAny(h.Key, ":\r\n") && !strings.ContainsAny(h.Value, "\r\n") {
					keyed.Add(h.Key, h.Value)
				}
			}
			if len(keyed.Headers) == 0 {
				continue
			}
			b, err := keyed.Encode()
			if err != nil {
				t.Fatalf("encode %v: %v", keyed, err)
			}
			back, err := NewReader(strings.NewReader(string(b))).ReadMessage()
			if err != nil || !reflect.DeepEqual(back, keyed) {
				t.Fatalf("round trip of %#v gave %#v, %v", keyed, back, err)
			}
		}
	})
}
