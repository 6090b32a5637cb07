// Package amifake is a stand-in Asterisk Manager Interface server for tests: Asterisk cannot be
// installed where Serambi's tests run. It speaks the documented wire format strictly (banner line,
// CRLF-terminated "Key: Value" lines, packets ended by an empty line, one response per action with
// its ActionID, event lists) and lets a test push event bursts, cut connections (also in the middle
// of a packet) and see every action a client sent. It parses and writes the wire itself rather
// than with package ami, so that a mistake in the client's codec is not mirrored here.
package amifake

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/serambi/serambi/connectors/voice/ami"
)

// Options configures a Server.
type Options struct {
	Username string
	Secret   string
	// Version goes into the banner, "Asterisk Call Manager/<Version>"; default 7.0.3 (Asterisk 18).
	Version string
	// Chunk, when positive, makes every write go out in pieces of at most Chunk bytes, so that
	// clients read packets cut at arbitrary points as TCP may deliver them.
	Chunk int
}

// Server is a fake AMI server on 127.0.0.1.
type Server struct {
	opts Options
	ln   net.Listener
	wg   sync.WaitGroup

	mu          sync.Mutex
	sessions    map[*session]struct{}
	actions     []ami.Message
	logins      int
	loginNotify chan struct{}
	live        []ami.Message // channels that exist now, as CoreShowChannel events
	originate   func(action ami.Message) []ami.Message
	silentPing  bool
	refuse      bool
	closed      bool
}

type session struct {
	nc     net.Conn
	wmu    sync.Mutex
	events bool // logged in with events on
	authed bool
}

// Start listens on a free port of 127.0.0.1 and serves until Close.
func Start(o Options) (*Server, error) {
	if o.Version == "" {
		o.Version = "7.0.3"
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &Server{opts: o, ln: ln, sessions: map[*session]struct{}{}, loginNotify: make(chan struct{})}
	s.wg.Go(s.accept)
	return s, nil
}

// Addr is the host:port clients connect to.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Close stops listening and ends every session.
func (s *Server) Close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.ln.Close()
	s.Drop()
	s.wg.Wait()
}

func (s *Server) accept() {
	for {
		nc, err := s.ln.Accept()
		if err != nil {
			return
		}
		ss := &session{nc: nc}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			nc.Close()
			return
		}
		if s.refuse {
			s.mu.Unlock()
			nc.Close()
			continue
		}
		s.sessions[ss] = struct{}{}
		s.mu.Unlock()
		s.wg.Go(func() { s.serve(ss) })
	}
}

func (s *Server) serve(ss *session) {
	defer func() {
		s.mu.Lock()
		delete(s.sessions, ss)
		s.mu.Unlock()
		ss.nc.Close()
	}()
	if s.write(ss, []byte("Asterisk Call Manager/"+s.opts.Version+"\r\n")) != nil {
		return
	}
	br := bufio.NewReader(ss.nc)
	for {
		a, err := readPacket(br)
		if err != nil {
			return
		}
		s.mu.Lock()
		s.actions = append(s.actions, a)
		s.mu.Unlock()
		if !s.handle(ss, a) {
			return
		}
	}
}

// handle answers one action; false ends the session.
func (s *Server) handle(ss *session, a ami.Message) bool {
	id := a.Get("ActionID")
	reply := func(kv ...string) bool {
		return s.write(ss, packet(append([]string{"Response", kv[0], "ActionID", id}, kv[1:]...)...)) == nil
	}
	name := strings.ToLower(a.Get("Action"))
	if name != "login" && !ss.authed {
		return reply("Error", "Message", "Authentication Required")
	}
	switch name {
	case "login":
		if a.Get("Username") != s.opts.Username || a.Get("Secret") != s.opts.Secret {
			reply("Error", "Message", "Authentication failed")
			return false // Asterisk hangs up after a failed login
		}
		ev := strings.ToLower(a.Get("Events"))
		s.mu.Lock()
		ss.authed = true
		ss.events = ev == "" || ev == "on" || ev == "yes" || strings.Contains(ev, "call")
		s.logins++
		close(s.loginNotify)
		s.loginNotify = make(chan struct{})
		s.mu.Unlock()
		if !reply("Success", "Message", "Authentication accepted") {
			return false
		}
		if ss.events {
			return s.write(ss, packet("Event", "FullyBooted", "Privilege", "system,all", "Uptime", "1234", "LastReload", "1234", "Status", "Fully Booted")) == nil
		}
		return true
	case "ping":
		s.mu.Lock()
		silent := s.silentPing
		s.mu.Unlock()
		if silent {
			return true
		}
		return reply("Success", "Ping", "Pong", "Timestamp", fmt.Sprintf("%d.%06d", time.Now().Unix(), time.Now().Nanosecond()/1000))
	case "logoff":
		reply("Goodbye", "Message", "Thanks for all the fish.")
		return false
	case "originate":
		if a.Get("Channel") == "" || (a.Get("Application") == "" && (a.Get("Exten") == "" || a.Get("Context") == "" || a.Get("Priority") == "")) {
			return reply("Error", "Message", "Channel and Exten/Context/Priority or Application are required")
		}
		if !strings.EqualFold(a.Get("Async"), "true") {
			return reply("Error", "Message", "this fake only originates with Async: true")
		}
		if !reply("Success", "Message", "Originate successfully queued") {
			return false
		}
		s.mu.Lock()
		f := s.originate
		s.mu.Unlock()
		if f != nil {
			if evs := f(a); len(evs) > 0 {
				s.Emit(evs...)
			}
		}
		return true
	case "coreshowchannels":
		s.mu.Lock()
		chans := append([]ami.Message(nil), s.live...)
		s.mu.Unlock()
		var b bytes.Buffer
		b.Write(packet("Response", "Success", "ActionID", id, "EventList", "start", "Message", "Channels will follow"))
		for _, c := range chans {
			c = c.Clone()
			c.Set("ActionID", id)
			b.Write(wire(c))
		}
		b.Write(packet("Event", "CoreShowChannelsComplete", "ActionID", id, "EventList", "Complete", "ListItems", fmt.Sprint(len(chans))))
		return s.write(ss, b.Bytes()) == nil
	}
	return reply("Error", "Message", "Invalid/unknown command")
}

// Emit sends the events, as one burst, to every session logged in with events on, and returns
// how many sessions it reached. Like Asterisk, the server keeps track of the channels the events
// create and hang up, and lists those that exist in answer to CoreShowChannels: events emitted
// while no client is connected are what happened on the PBX meanwhile.
func (s *Server) Emit(events ...ami.Message) int {
	var b bytes.Buffer
	for _, e := range events {
		b.Write(wire(e))
		s.channelEvent(e)
	}
	n := 0
	for _, ss := range s.listeners() {
		if s.write(ss, b.Bytes()) == nil {
			n++
		}
	}
	return n
}

// DropMidPacket writes the first half of e to every listening session and then cuts it: the
// client sees a connection that ended inside a packet.
func (s *Server) DropMidPacket(e ami.Message) {
	b := wire(e)
	for _, ss := range s.listeners() {
		_ = s.write(ss, b[:len(b)/2])
		ss.nc.Close()
	}
}

// Drop ends every session.
func (s *Server) Drop() {
	s.mu.Lock()
	all := make([]*session, 0, len(s.sessions))
	for ss := range s.sessions {
		all = append(all, ss)
	}
	s.mu.Unlock()
	for _, ss := range all {
		ss.nc.Close()
	}
}

func (s *Server) listeners() []*session {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*session
	for ss := range s.sessions {
		if ss.authed && ss.events {
			out = append(out, ss)
		}
	}
	return out
}

// Sessions counts the logged-in sessions.
func (s *Server) Sessions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for ss := range s.sessions {
		if ss.authed {
			n++
		}
	}
	return n
}

// Logins counts successful logins since Start.
func (s *Server) Logins() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.logins
}

// WaitLogins waits until at least n logins have succeeded since Start.
func (s *Server) WaitLogins(ctx context.Context, n int) error {
	for {
		s.mu.Lock()
		got, ch := s.logins, s.loginNotify
		s.mu.Unlock()
		if got >= n {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("waiting for login %d (have %d): %w", n, got, ctx.Err())
		}
	}
}

// Actions returns the actions received whose name is name (any case), or all when name is "".
func (s *Server) Actions(name string) []ami.Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []ami.Message
	for _, a := range s.actions {
		if name == "" || strings.EqualFold(a.Get("Action"), name) {
			out = append(out, a.Clone())
		}
	}
	return out
}

func (s *Server) channelEvent(e ami.Message) {
	s.mu.Lock()
	defer s.mu.Unlock()
	uid := e.Get("Uniqueid")
	switch e.Event() {
	case "Newchannel":
		s.live = append(s.live, ami.NewEvent("CoreShowChannel", "Channel", e.Get("Channel"), "Uniqueid", uid,
			"Linkedid", e.Get("Linkedid"), "ChannelState", e.Get("ChannelState"), "ChannelStateDesc", e.Get("ChannelStateDesc"),
			"CallerIDNum", e.Get("CallerIDNum"), "Context", e.Get("Context"), "Exten", e.Get("Exten")))
	case "Hangup":
		for i, c := range s.live {
			if c.Get("Uniqueid") == uid {
				s.live = append(s.live[:i], s.live[i+1:]...)
				break
			}
		}
	}
}

// Live counts the channels that exist now.
func (s *Server) Live() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.live)
}

// SetRefuse makes the server close every new connection at once (true), like an Asterisk that
// is restarting, or accept them again (false).
func (s *Server) SetRefuse(refuse bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refuse = refuse
}

// OnOriginate sets what happens after an Originate is accepted: the events f returns are sent
// to every listening session, after the response.
func (s *Server) OnOriginate(f func(action ami.Message) []ami.Message) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.originate = f
}

// SetSilentPing makes the server stop answering pings, like a peer behind a dead NAT mapping.
func (s *Server) SetSilentPing(silent bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.silentPing = silent
}

func (s *Server) write(ss *session, b []byte) error {
	ss.wmu.Lock()
	defer ss.wmu.Unlock()
	_ = ss.nc.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if s.opts.Chunk <= 0 {
		_, err := ss.nc.Write(b)
		return err
	}
	for len(b) > 0 {
		n := min(s.opts.Chunk, len(b))
		if _, err := ss.nc.Write(b[:n]); err != nil {
			return err
		}
		b = b[n:]
	}
	return nil
}

// packet renders key/value pairs as one wire packet.
func packet(kv ...string) []byte {
	var b bytes.Buffer
	for i := 0; i+1 < len(kv); i += 2 {
		b.WriteString(kv[i] + ": " + kv[i+1] + "\r\n")
	}
	b.WriteString("\r\n")
	return b.Bytes()
}

func wire(m ami.Message) []byte {
	kv := make([]string, 0, 2*len(m.Headers))
	for _, h := range m.Headers {
		kv = append(kv, h.Key, h.Value)
	}
	return packet(kv...)
}

var errBareLF = errors.New("amifake: line not ended by CRLF")

// readPacket reads one action strictly as Asterisk expects it: CRLF line ends, "Key: Value".
func readPacket(br *bufio.Reader) (ami.Message, error) {
	var m ami.Message
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			if errors.Is(err, io.EOF) && (len(m.Headers) > 0 || line != "") {
				return m, io.ErrUnexpectedEOF
			}
			return m, err
		}
		if !strings.HasSuffix(line, "\r\n") {
			return m, errBareLF
		}
		line = strings.TrimSuffix(line, "\r\n")
		if line == "" {
			if len(m.Headers) == 0 {
				continue
			}
			return m, nil
		}
		k, v, ok := strings.Cut(line, ": ")
		if !ok {
			return m, fmt.Errorf("amifake: line %q is not \"Key: Value\"", line)
		}
		m.Add(k, v)
	}
}
