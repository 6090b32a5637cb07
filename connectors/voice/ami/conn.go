package ami

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

var (
	// ErrClosed is returned by actions on a connection that has ended.
	ErrClosed = errors.New("ami: connection closed")
	// ErrAuth is returned when the server refuses the login.
	ErrAuth = errors.New("ami: login refused")
)

// ActionError is the server's "Response: Error" to an action.
type ActionError struct {
	Action  string
	Message string
}

func (e *ActionError) Error() string {
	return fmt.Sprintf("ami: %s refused: %s", e.Action, e.Message)
}

// Login is how a connection authenticates.
type Login struct {
	Username string
	Secret   string
	// Events is the Login's Events header: "on", "off" or a list of event classes such as
	// "call,agent,dialplan". Empty means "on".
	Events string
}

// eventBuffer is how many events a connection holds for a slow consumer before it stops reading
// from the socket (and Asterisk buffers, then drops, on its side).
const eventBuffer = 4096

// maxListItems bounds an event list (CoreShowChannels on a huge PBX) kept in memory.
const maxListItems = 100000

// Conn is one logged-in AMI connection. Actions may be sent from any goroutine; each waits for
// the response with its ActionID. Events arrive on Events in the order the server sent them.
type Conn struct {
	nc      net.Conn
	version string
	prefix  string
	seq     atomic.Uint64

	wmu sync.Mutex // one packet on the wire at a time

	mu      sync.Mutex
	pending map[string]*pending

	events    chan Message
	done      chan struct{}
	closeOnce sync.Once
	err       error // why the connection ended; set before done is closed
}

type pending struct {
	action string
	list   bool
	resp   chan listResult // buffered, receives exactly once
	// For list actions: the opening response, once it came, and the events collected since.
	started bool
	first   Message
	items   []Message
}

type listResult struct {
	resp  Message
	items []Message
}

// Dial connects to addr, reads the banner and logs in. ctx bounds the whole handshake.
func Dial(ctx context.Context, addr string, l Login) (*Conn, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("ami: connect %s: %w", addr, err)
	}
	c, err := Handshake(ctx, nc, l)
	if err != nil {
		nc.Close()
		return nil, err
	}
	return c, nil
}

// Handshake runs the AMI greeting and login on an established connection and starts reading.
func Handshake(ctx context.Context, nc net.Conn, l Login) (*Conn, error) {
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(30 * time.Second)
	}
	r := NewReader(nc)
	_ = nc.SetReadDeadline(deadline)
	version, err := r.ReadBanner()
	if err != nil {
		return nil, fmt.Errorf("ami: read banner: %w", err)
	}
	_ = nc.SetReadDeadline(time.Time{})
	c := &Conn{
		nc: nc, version: version, prefix: strconv.FormatInt(time.Now().UnixNano(), 36) + "-",
		pending: map[string]*pending{}, events: make(chan Message, eventBuffer), done: make(chan struct{}),
	}
	go c.readLoop(r)
	events := l.Events
	if events == "" {
		events = "on"
	}
	if _, err := c.Action(ctx, NewAction("Login", "Username", l.Username, "Secret", l.Secret, "Events", events)); err != nil {
		c.Close()
		var ae *ActionError
		if errors.As(err, &ae) {
			return nil, fmt.Errorf("%w: %s", ErrAuth, ae.Message)
		}
		return nil, fmt.Errorf("ami: login: %w", err)
	}
	return c, nil
}

// Version is the protocol version from the banner.
func (c *Conn) Version() string { return c.version }

// Events delivers the server's events; it is closed when the connection ends, after the events
// read before the end.
func (c *Conn) Events() <-chan Message { return c.events }

// Done is closed when the connection has ended; Err then says why.
func (c *Conn) Done() <-chan struct{} { return c.done }

// Err is why the connection ended, nil while it is up.
func (c *Conn) Err() error {
	select {
	case <-c.done:
		return c.err
	default:
		return nil
	}
}

// Close ends the connection.
func (c *Conn) Close() error {
	c.fail(ErrClosed)
	return nil
}

func (c *Conn) fail(err error) {
	c.closeOnce.Do(func() {
		c.err = err
		close(c.done)
		c.nc.Close()
	})
}

// Action sends m with a fresh ActionID and returns the server's response. A "Response: Error"
// comes back as an *ActionError. Values holding line breaks are refused before anything is sent.
func (c *Conn) Action(ctx context.Context, m Message) (Message, error) {
	r, err := c.do(ctx, m, false)
	return r.resp, err
}

// ActionList sends an action that answers with an event list (CoreShowChannels, QueueStatus)
// and returns the response and the listed events, without the closing "EventList: Complete" one.
func (c *Conn) ActionList(ctx context.Context, m Message) (Message, []Message, error) {
	r, err := c.do(ctx, m, true)
	return r.resp, r.items, err
}

func (c *Conn) do(ctx context.Context, m Message, list bool) (listResult, error) {
	m = m.Clone()
	action := m.Get("Action")
	id := c.prefix + strconv.FormatUint(c.seq.Add(1), 10)
	m.Set("ActionID", id)
	b, err := m.Encode()
	if err != nil {
		return listResult{}, err
	}
	p := &pending{action: action, list: list, resp: make(chan listResult, 1)}
	c.mu.Lock()
	c.pending[id] = p
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.pending, id)
		c.mu.Unlock()
	}()
	if err := c.write(ctx, b); err != nil {
		return listResult{}, err
	}
	answered := func(r listResult) (listResult, error) {
		if strings.EqualFold(r.resp.Get("Response"), "Error") {
			return r, &ActionError{Action: action, Message: r.resp.Get("Message")}
		}
		return r, nil
	}
	select {
	case r := <-p.resp:
		return answered(r)
	case <-ctx.Done():
		return listResult{}, fmt.Errorf("ami: %s: %w", action, ctx.Err())
	case <-c.done:
		// A server that refuses a login answers and hangs up at once: the answer, when it was
		// read before the end, is what the caller needs to hear.
		select {
		case r := <-p.resp:
			return answered(r)
		default:
			return listResult{}, fmt.Errorf("ami: %s: %w", action, c.err)
		}
	}
}

func (c *Conn) write(ctx context.Context, b []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	select {
	case <-c.done:
		return c.err
	default:
	}
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(30 * time.Second)
	}
	_ = c.nc.SetWriteDeadline(deadline)
	if _, err := c.nc.Write(b); err != nil {
		// A half-written packet leaves the stream unusable: end the connection.
		c.fail(fmt.Errorf("ami: write: %w", err))
		return c.err
	}
	return nil
}

func (c *Conn) readLoop(r *Reader) {
	defer close(c.events)
	for {
		m, err := r.ReadMessage()
		if err != nil {
			c.fail(fmt.Errorf("ami: read: %w", err))
			return
		}
		if !c.route(m) {
			continue
		}
		select {
		case c.events <- m:
		case <-c.done:
			return
		}
	}
}

// route hands responses and list items to the action waiting for them; it reports whether m
// is an event for the Events channel. OriginateResponse and other events that repeat an
// ActionID after its response was delivered are events like any other.
func (c *Conn) route(m Message) bool {
	id := m.Get("ActionID")
	c.mu.Lock()
	defer c.mu.Unlock()
	p := c.pending[id]
	if m.IsResponse() {
		if p == nil {
			return false // the answer to an action whose caller gave up
		}
		if p.list && !p.started && strings.EqualFold(m.Get("EventList"), "start") {
			p.started, p.first = true, m
			return false
		}
		delete(c.pending, id)
		p.resp <- listResult{resp: m}
		return false
	}
	if p == nil || !p.list || !p.started {
		return true
	}
	if strings.EqualFold(m.Get("EventList"), "Complete") {
		delete(c.pending, id)
		p.resp <- listResult{resp: p.first, items: p.items}
		return false
	}
	if len(p.items) < maxListItems {
		p.items = append(p.items, m)
	}
	return false
}
