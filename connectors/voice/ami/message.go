// Package ami speaks the Asterisk Manager Interface, the line protocol Asterisk serves on TCP
// port 5038. The server first sends one banner line ("Asterisk Call Manager/5.0.1"); from then on
// both sides exchange packets of "Key: Value" lines, each line ended by CRLF and each packet ended
// by an empty line. A client sends actions ("Action: Login"); the server answers every action
// with one response ("Response: Success" or "Response: Error") that repeats the action's ActionID,
// and sends events ("Event: Newchannel") whenever something happens on the PBX. Some actions
// answer with a list: a response carrying "EventList: start", events carrying the same ActionID,
// and a last event carrying "EventList: Complete".
//
// No Go AMI library is available to this project, so this package is the whole client: the
// packet codec (this file), one connection with ActionID correlation (conn.go) and a client that
// stays connected, pings and reconnects with backoff (client.go).
package ami

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Limits that keep a broken or hostile peer from making the reader buffer without end.
const (
	MaxLine    = 64 << 10 // longest line accepted, CRLF included
	MaxHeaders = 1024     // most lines in one packet
)

// ErrProtocol is returned for input that is not AMI: a wrong banner, an overlong line or packet.
var ErrProtocol = errors.New("ami: protocol error")

// Header is one "Key: Value" line. Keys repeat in some packets (several Variable lines).
type Header struct {
	Key   string
	Value string
}

// Message is one packet, an action, a response or an event, with its lines in order.
type Message struct {
	Headers []Header
}

// NewAction returns an action packet: "Action: name" followed by the key/value pairs in kv.
func NewAction(name string, kv ...string) Message {
	m := Message{Headers: []Header{{"Action", name}}}
	for i := 0; i+1 < len(kv); i += 2 {
		m.Add(kv[i], kv[i+1])
	}
	return m
}

// NewEvent returns an event packet; tests and the fake server build the PBX's side with it.
func NewEvent(name string, kv ...string) Message {
	m := Message{Headers: []Header{{"Event", name}}}
	for i := 0; i+1 < len(kv); i += 2 {
		m.Add(kv[i], kv[i+1])
	}
	return m
}

// Get returns the value of the first line whose key matches key, ignoring case as Asterisk
// does; "" when there is none.
func (m Message) Get(key string) string {
	for _, h := range m.Headers {
		if strings.EqualFold(h.Key, key) {
			return h.Value
		}
	}
	return ""
}

// Has reports whether the packet has a line with key.
func (m Message) Has(key string) bool {
	for _, h := range m.Headers {
		if strings.EqualFold(h.Key, key) {
			return true
		}
	}
	return false
}

// Values returns the values of every line with key, in order.
func (m Message) Values(key string) []string {
	var out []string
	for _, h := range m.Headers {
		if strings.EqualFold(h.Key, key) {
			out = append(out, h.Value)
		}
	}
	return out
}

// Set replaces the value of the first line with key, or adds the line.
func (m *Message) Set(key, value string) {
	for i, h := range m.Headers {
		if strings.EqualFold(h.Key, key) {
			m.Headers[i].Value = value
			return
		}
	}
	m.Add(key, value)
}

// Add appends a line, even if key is there already.
func (m *Message) Add(key, value string) { m.Headers = append(m.Headers, Header{key, value}) }

// Clone returns a copy that shares nothing with m.
func (m Message) Clone() Message {
	return Message{Headers: append([]Header(nil), m.Headers...)}
}

// Event returns the event name, "" for actions and responses.
func (m Message) Event() string { return m.Get("Event") }

// IsResponse reports whether m answers an action.
func (m Message) IsResponse() bool { return m.Has("Response") }

// secretKeys are never printed: a Login's Secret, an MD5 challenge answer.
var secretKeys = []string{"Secret", "Key"}

// String renders the packet on one line for logs, with secrets replaced.
func (m Message) String() string {
	var b strings.Builder
	for i, h := range m.Headers {
		if i > 0 {
			b.WriteString(" | ")
		}
		v := h.Value
		for _, k := range secretKeys {
			if strings.EqualFold(h.Key, k) {
				v = "[redacted]"
			}
		}
		b.WriteString(h.Key)
		b.WriteString(": ")
		b.WriteString(v)
	}
	return b.String()
}

// Encode renders the packet for the wire. A key or value that contains CR or LF would let its
// content start a new line or packet (an injected "Action:"), so it is refused, as is a key that
// is empty or contains ':'.
func (m Message) Encode() ([]byte, error) {
	var b bytes.Buffer
	for _, h := range m.Headers {
		if h.Key == "" || strings.ContainsAny(h.Key, ":\r\n") {
			return nil, fmt.Errorf("ami: header key %q must be non-empty and hold no ':' or line break", h.Key)
		}
		if strings.ContainsAny(h.Value, "\r\n") {
			return nil, fmt.Errorf("ami: value of %s holds a line break", h.Key)
		}
		b.WriteString(h.Key)
		b.WriteString(": ")
		b.WriteString(h.Value)
		b.WriteString("\r\n")
	}
	b.WriteString("\r\n")
	return b.Bytes(), nil
}

// Reader reads the banner and then packets from a connection.
type Reader struct {
	br *bufio.Reader
}

// NewReader returns a Reader on r.
func NewReader(r io.Reader) *Reader { return &Reader{br: bufio.NewReaderSize(r, MaxLine)} }

// BannerPrefix starts the line an AMI server greets with.
const BannerPrefix = "Asterisk Call Manager/"

// ReadBanner reads the greeting line and returns the protocol version it names ("5.0.1").
func (r *Reader) ReadBanner() (string, error) {
	line, err := r.line()
	if err != nil {
		return "", err
	}
	v, ok := strings.CutPrefix(line, BannerPrefix)
	if !ok {
		return "", fmt.Errorf("%w: the server greeted with %q, not %q", ErrProtocol, clip(line, 80), BannerPrefix+"...")
	}
	return v, nil
}

// ReadMessage reads the next packet. Empty lines between packets are skipped. Lines are ended by
// CRLF; a bare LF is accepted too, as some proxies and older servers send it. A line without a
// colon (the body of a legacy "Response: Follows") is kept with an empty key.
func (r *Reader) ReadMessage() (Message, error) {
	var m Message
	for {
		line, err := r.line()
		if err != nil {
			if errors.Is(err, io.EOF) && len(m.Headers) > 0 {
				err = io.ErrUnexpectedEOF // the connection ended inside a packet
			}
			return Message{}, err
		}
		if line == "" {
			if len(m.Headers) == 0 {
				continue
			}
			return m, nil
		}
		if len(m.Headers) >= MaxHeaders {
			return Message{}, fmt.Errorf("%w: a packet of more than %d lines", ErrProtocol, MaxHeaders)
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			m.Headers = append(m.Headers, Header{"", line})
			continue
		}
		m.Headers = append(m.Headers, Header{strings.TrimSpace(k), strings.TrimSpace(v)})
	}
}

func (r *Reader) line() (string, error) {
	b, err := r.br.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		return "", fmt.Errorf("%w: a line longer than %d bytes", ErrProtocol, MaxLine)
	}
	if err != nil {
		if len(b) > 0 && errors.Is(err, io.EOF) {
			return "", io.ErrUnexpectedEOF
		}
		return "", err
	}
	b = bytes.TrimSuffix(b[:len(b)-1], []byte("\r"))
	return string(b), nil
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
