package widget

import (
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// The hub knows every visitor socket of this instance, grouped by the conversation it shows, so
// that a reply reaches every tab of its visitor. A socket whose visitor has no conversation yet
// (they have not written) waits in pending under its widget identity; their first message
// attaches every such tab at once.
//
// Memory is what limits how many idle visitors one instance holds, so a socket is kept small:
// one goroutine reading (blocked in the kernel's poller while idle), a 512-byte read buffer, no
// write buffer of its own (writes borrow one from a shared pool), and no writer goroutine while
// nothing is being sent: a socket that has frames to send starts one, which drains its queue and
// exits. So a slow visitor never holds up a write to anyone else, and an idle one costs no writer.
type hub struct {
	maxPerIP int
	onLive   func(conv string, live bool) // a conversation gained its first or lost its last socket

	mu     sync.Mutex
	groups map[string]*group
	// pending holds the tabs of visitors without a conversation, by widget identity: a slice,
	// because nearly always there is one tab, and this is the state of most idle sockets.
	pending map[string][]*socket
	byIP    map[string]int
	total   int
	closed  bool
}

type group struct {
	customerID string
	sockets    map[*socket]struct{}
}

var (
	errClosing = errors.New("the server is shutting down")
	errTooMany = errors.New("too many connections from this address")
)

const (
	writeWait   = 10 * time.Second
	maxQueue    = 256 // frames waiting for a slow socket before it is dropped (it resumes on reconnect)
	closeGoing  = websocket.CloseGoingAway
	closeRejoin = 4001 // the visitor's conversation changed (a merge): reconnect at once
	closePolicy = websocket.ClosePolicyViolation
)

// recentLen is how many message ids a socket remembers sending, so the bus does not repeat them.
const recentLen = 16

func newHub(maxPerIP int, onLive func(string, bool)) *hub {
	if onLive == nil {
		onLive = func(string, bool) {}
	}
	return &hub{maxPerIP: maxPerIP, onLive: onLive, groups: map[string]*group{},
		pending: map[string][]*socket{}, byIP: map[string]int{}}
}

// register counts a new socket before its upgrade, so the limits apply before any work is done.
func (h *hub) register(s *socket) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return errClosing
	}
	if h.maxPerIP > 0 && h.byIP[s.ip] >= h.maxPerIP {
		return errTooMany
	}
	h.byIP[s.ip]++
	h.total++
	return nil
}

// place puts a socket that said hello where it belongs: with its conversation, or pending. It
// returns false when the hub is closing.
func (h *hub) place(s *socket, key, conv, customer string) bool {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return false
	}
	s.key = key
	live := h.attachLocked(s, conv, customer)
	h.mu.Unlock()
	if live != "" {
		h.onLive(live, true)
	}
	return true
}

// attach moves s, and every pending socket of the same visitor, to conversation conv.
func (h *hub) attach(s *socket, conv, customer string) {
	h.mu.Lock()
	var gone []string
	if s.conv != conv && s.conv != "" {
		gone = h.detachLocked(s)
	}
	live := h.attachLocked(s, conv, customer)
	for _, o := range slices.Clone(h.pending[s.key]) {
		if l := h.attachLocked(o, conv, customer); l != "" {
			live = l
		}
	}
	h.mu.Unlock()
	for _, g := range gone {
		h.onLive(g, false)
	}
	if live != "" {
		h.onLive(live, true)
	}
}

// attachLocked returns conv when it just got its first socket.
func (h *hub) attachLocked(s *socket, conv, customer string) string {
	if s.gone {
		return ""
	}
	if conv == "" {
		if !slices.Contains(h.pending[s.key], s) {
			h.pending[s.key] = append(h.pending[s.key], s)
		}
		return ""
	}
	h.unpendLocked(s)
	s.conv, s.customer = conv, customer
	g := h.groups[conv]
	first := false
	if g == nil {
		g = &group{sockets: map[*socket]struct{}{}}
		h.groups[conv] = g
		first = true
	}
	g.customerID = customer
	g.sockets[s] = struct{}{}
	if first {
		return conv
	}
	return ""
}

func (h *hub) unpendLocked(s *socket) {
	set := slices.DeleteFunc(h.pending[s.key], func(o *socket) bool { return o == s })
	if len(set) == 0 {
		delete(h.pending, s.key)
	} else {
		h.pending[s.key] = set
	}
}

// detachLocked takes s out of its group or pending set; it returns the conversation that lost
// its last socket, if any.
func (h *hub) detachLocked(s *socket) []string {
	if s.conv == "" {
		h.unpendLocked(s)
		return nil
	}
	conv := s.conv
	s.conv, s.customer = "", ""
	if g := h.groups[conv]; g != nil {
		delete(g.sockets, s)
		if len(g.sockets) == 0 {
			delete(h.groups, conv)
			return []string{conv}
		}
	}
	return nil
}

// unregister forgets a socket that has closed.
func (h *hub) unregister(s *socket) {
	h.mu.Lock()
	if s.gone {
		h.mu.Unlock()
		return
	}
	gone := h.detachLocked(s)
	s.gone = true
	h.total--
	if h.byIP[s.ip]--; h.byIP[s.ip] <= 0 {
		delete(h.byIP, s.ip)
	}
	h.mu.Unlock()
	for _, g := range gone {
		h.onLive(g, false)
	}
}

// conversationOf returns the conversation a socket shows ("" while pending).
func (h *hub) conversationOf(s *socket) string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return s.conv
}

// members returns the sockets showing conv.
func (h *hub) members(conv string) []*socket {
	h.mu.Lock()
	defer h.mu.Unlock()
	g := h.groups[conv]
	if g == nil {
		return nil
	}
	out := make([]*socket, 0, len(g.sockets))
	for s := range g.sockets {
		out = append(out, s)
	}
	return out
}

// needs reports whether some socket showing conv has not been sent message id yet.
func (h *hub) needs(conv, id string) bool {
	for _, s := range h.members(conv) {
		if !s.sent(id) {
			return true
		}
	}
	return false
}

// push sends a message frame to every socket showing conv that has not had it, and returns how
// many sockets show conv.
func (h *hub) push(conv, id string, frame []byte) int {
	ss := h.members(conv)
	for _, s := range ss {
		s.send(frame, id)
	}
	return len(ss)
}

// broadcastConv sends a frame that is not a message (typing) to the sockets showing conv.
func (h *hub) broadcastConv(conv string, frame []byte) {
	for _, s := range h.members(conv) {
		s.send(frame, "")
	}
}

// ofCustomer returns the sockets whose conversation belongs to customer.
func (h *hub) ofCustomer(customer string) []*socket {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []*socket
	for _, g := range h.groups {
		if g.customerID == customer {
			for s := range g.sockets {
				out = append(out, s)
			}
		}
	}
	return out
}

// all returns every socket that said hello.
func (h *hub) all() []*socket {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]*socket, 0, h.total)
	for _, g := range h.groups {
		for s := range g.sockets {
			out = append(out, s)
		}
	}
	for _, set := range h.pending {
		out = append(out, set...)
	}
	return out
}

// liveConversations lists the conversations with at least one socket here.
func (h *hub) liveConversations() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]string, 0, len(h.groups))
	for c := range h.groups {
		out = append(out, c)
	}
	return out
}

// count is how many sockets are open (said hello or not).
func (h *hub) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.total
}

// close refuses new sockets and returns every open one, to be closed by the caller.
func (h *hub) close() []*socket {
	h.mu.Lock()
	h.closed = true
	h.mu.Unlock()
	return h.all()
}
