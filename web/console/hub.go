package console

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/a-h/templ"
	"github.com/gorilla/websocket"

	"github.com/serambi/serambi/bus"
	"github.com/serambi/serambi/commerce"
	"github.com/serambi/serambi/connectors/voice"
	"github.com/serambi/serambi/connectors/widget"
	"github.com/serambi/serambi/inbox"
	"github.com/serambi/serambi/notifications"
	"github.com/serambi/serambi/templates"
)

// Hub keeps every open console live. It follows the bus, re-reads what an event names, renders
// the affected fragments with the same templ components as the pages, and pushes them to the
// sockets that show them.
//
// Every event gets the next number of the hub's sequence, and the hub keeps the most recent events
// in a ring. A browser remembers the last number it has seen; when it reconnects it sends that
// number and receives everything after it, or an instruction to reload when the ring no longer
// reaches back that far. Fragments are rendered once per event and distinct viewer (language and
// time zone), and framed once per distinct frame, whatever the number of sockets.
//
// The sequence is per process: behind several instances, console sockets need sticky sessions
// (or the browser reloads when it lands on another instance).
type Hub struct {
	unsubscribe func()
	c           *Console
	id          string
	upgrader    websocket.Upgrader

	mu       sync.Mutex
	seq      uint64
	ring     []bus.Event // ring[i] has sequence number ringSeq(i)
	head     int         // index of the oldest entry
	n        int         // entries in the ring
	sockets  map[*socket]struct{}
	presence map[string]map[*socket]bool // agent id → their sockets → away
	typing   map[string]map[string]time.Time
	// visitors are the widget visitors typing, by conversation; told are the agents the widget
	// was told are typing, by conversation and agent id, so that it hears when they stop.
	visitors map[string]visitorTyping
	told     map[string]map[string]toldTyping

	countsMu  sync.Mutex
	gen       uint64 // bumped by every change that can move a count
	pushedGen uint64
	shared    sharedCounts
	mine      map[string]countAt
}

func newHub(c *Console) *Hub {
	h := &Hub{c: c, id: inbox.NewID(), ring: make([]bus.Event, c.opt.RingSize),
		sockets: map[*socket]struct{}{}, presence: map[string]map[*socket]bool{}, typing: map[string]map[string]time.Time{},
		visitors: map[string]visitorTyping{}, told: map[string]map[string]toldTyping{},
		mine: map[string]countAt{},
		upgrader: websocket.Upgrader{ReadBufferSize: 1024, WriteBufferSize: 8192,
			// Same-origin only: a page on another site must not open a socket with our cookie.
			CheckOrigin: sameOrigin}}
	// Subscribed from the start, not when Run begins: an event published between the server
	// starting to serve and Run would otherwise be missing from every console's sequence.
	h.unsubscribe = c.Events.Subscribe(h.handle)
	return h
}

// ID names this hub's sequence; a browser that last saw another hub's numbers must reload.
func (h *Hub) ID() string { return h.id }

// Seq is the number of the last event the hub has handled.
func (h *Hub) Seq() uint64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.seq
}

// Sockets is how many consoles are connected.
func (h *Hub) Sockets() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.sockets)
}

func (h *Hub) run(ctx context.Context) error {
	defer h.unsubscribe()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	lastCounts, lastBeat, lastCheck := time.Now(), time.Now(), time.Now()
	for {
		select {
		case <-ctx.Done():
			h.closeAll()
			return nil
		case now := <-tick.C:
			h.expireTyping(now)
			if now.Sub(lastBeat) >= 10*time.Second {
				h.heartbeat()
				lastBeat = now
			}
			if now.Sub(lastCheck) >= h.c.opt.RecheckSessions {
				h.revalidate(ctx)
				lastCheck = now
			}
			if now.Sub(lastCounts) >= h.c.opt.CountsEvery {
				h.pushCounts(ctx)
				lastCounts = now
			}
		}
	}
}

// event is a bus event with what it names read from the store.
type event struct {
	bus.Event
	seq  uint64
	msg  *inbox.Message
	conv *inbox.Conversation
	cust *inbox.Customer
	gone bool // the conversation no longer exists (merged away)
	// sides is the customer panel's data per viewer key (language and zone): its commerce
	// slot is rendered in the viewer's language and money. nil marks a load that failed.
	sides        map[string]*templates.ConversationData
	mentions     []string
	customerName string
	// A call event: the call as it is now; popup is set while it rings, for the agents in
	// targets (everyone when targets is nil).
	call    *voice.CallView
	popup   *templates.CallPopup
	targets map[string]bool
	// unread is the agent's unread count for a notifications event (OtherID is the agent), -1
	// when it is not known.
	unread int
}

func (h *Hub) load(ctx context.Context, e bus.Event) (*event, error) {
	st := h.c.store
	ev := &event{Event: e}
	var err error
	switch e.Topic {
	case bus.MessageAdded, bus.MessageUpdated:
		m, err := st.MessageByID(ctx, e.MessageID)
		if err != nil {
			return nil, err
		}
		ev.msg = &m
		if ev.customerName, err = h.c.customerName(ctx, m.CustomerID); err != nil {
			return nil, err
		}
		if m.Direction == inbox.DirectionNote && m.Meta["mentions"] != "" {
			ev.mentions = strings.Split(m.Meta["mentions"], ",")
		}
		return ev, nil
	case bus.ConversationChanged:
		conv, err := st.ConversationByID(ctx, e.ConversationID)
		if errors.Is(err, inbox.ErrNotFound) {
			ev.gone = true
			return ev, nil
		}
		if err != nil {
			return nil, err
		}
		ev.conv = &conv
	case bus.CallRinging, bus.CallChanged:
		return h.loadCall(ctx, ev)
	case notifications.TopicChanged:
		return h.loadBell(ctx, ev)
	case commerce.TopicChanged:
		// Nothing to read up front: the panel is read per viewer when a socket shows the customer.
		return ev, nil
	case bus.CustomerChanged, bus.CustomerMerged:
		conv, err := st.ConversationByCustomer(ctx, e.CustomerID)
		if errors.Is(err, inbox.ErrNotFound) {
			return ev, nil // a customer without a conversation yet is in no view
		}
		if err != nil {
			return nil, err
		}
		ev.conv = &conv
	default:
		return ev, nil
	}
	cust, err := h.c.Inbox.Customer(ctx, ev.conv.CustomerID)
	if err != nil {
		return nil, err
	}
	ev.cust = &cust
	return ev, nil
}

// handle is the bus subscriber: one event at a time, in publish order.
func (h *Hub) handle(e bus.Event) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	switch e.Topic {
	case widget.TopicVisitorTyping, widget.TopicVisitorTypingStopped:
		// Typing is ephemeral, like agents' typing: shown now, never replayed.
		h.visitorTyping(ctx, e)
		return
	case widget.TopicAgentTyping, widget.TopicAgentTypingStopped, widget.TopicSettingsChanged:
		return // what the console itself told the widget
	}
	if e.Topic == bus.CustomerChanged || e.Topic == bus.CustomerMerged {
		h.c.names.forget(e.CustomerID, e.OtherID)
	}
	if e.Topic == bus.ConversationChanged || e.Topic == bus.CustomerMerged {
		h.countsMu.Lock()
		h.gen++
		h.countsMu.Unlock()
	}
	// With nobody connected there is nothing to render: the event is only remembered, and a
	// socket that connects later replays it from the ring (loading it then).
	h.mu.Lock()
	idle := len(h.sockets) == 0
	h.mu.Unlock()
	var ev *event
	if !idle {
		var err error
		if ev, err = h.load(ctx, e); err != nil {
			h.c.Log.Warn("console hub could not read what an event names", "topic", e.Topic, "conversation", e.ConversationID, "err", err)
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.seq++
	h.remember(e)
	if ev == nil {
		return
	}
	ev.seq = h.seq
	fc := newFrameCache(h, ctx)
	for s := range h.sockets {
		if f := fc.frameFor(s, ev); f != nil {
			s.enqueue(f, ev.seq)
		}
	}
}

func (h *Hub) remember(e bus.Event) {
	size := len(h.ring)
	if h.n < size {
		h.ring[(h.head+h.n)%size] = e
		h.n++
		return
	}
	h.ring[h.head] = e
	h.head = (h.head + 1) % size
}

// oldest is the sequence number of the oldest event still in the ring.
func (h *Hub) oldest() uint64 { return h.seq - uint64(h.n) + 1 }

// op is one change a browser applies; the fields that apply are set.
type op struct {
	Op       string `json:"op"`
	ID       string `json:"id,omitempty"`
	Conv     string `json:"conv,omitempty"`
	Customer string `json:"customer,omitempty"`
	Sort     string `json:"sort,omitempty"`
	URL      string `json:"url,omitempty"`
	Target   string `json:"target,omitempty"`
	HTML     string `json:"html,omitempty"`
	State    string `json:"state,omitempty"`
	Agent    string `json:"agent,omitempty"`
	Mention  bool   `json:"mention,omitempty"`
	Values   any    `json:"values,omitempty"`
}

// frameCache renders and frames one event: each fragment once per viewer key, each distinct
// frame once, shared by every socket that gets it.
type frameCache struct {
	h       *Hub
	ctx     context.Context
	html    map[string]string
	frames  map[string]*websocket.PreparedMessage
	viewers map[string]templates.Viewer
	// carts and custRow are what the abandoned-cart lists need, read once per event.
	carts     map[string]cartState
	custRow   *templates.Row
	custRowOK bool
}

// cartState is whether a customer's current cart is abandoned, and when it was last touched.
type cartState struct {
	touched   time.Time
	abandoned bool
}

func newFrameCache(h *Hub, ctx context.Context) *frameCache {
	return &frameCache{h: h, ctx: ctx, html: map[string]string{}, frames: map[string]*websocket.PreparedMessage{},
		viewers: map[string]templates.Viewer{}}
}

func (fc *frameCache) viewer(s *socket) (templates.Viewer, error) {
	if v, ok := fc.viewers[s.vkey]; ok {
		return v, nil
	}
	v, err := fc.h.c.viewer(fc.ctx, s.agent.Locale, s.agent.Timezone)
	if err == nil {
		v.CanCall = fc.h.c.canCall(s.agent) // part of vkey, so sockets sharing a key agree
		fc.viewers[s.vkey] = v
	}
	return v, err
}

// render renders comp(v) once per (what, viewer key).
func (fc *frameCache) render(s *socket, what string, comp func(templates.Viewer) templ.Component) (string, bool) {
	key := what + "|" + s.vkey
	if h, ok := fc.html[key]; ok {
		return h, true
	}
	v, err := fc.viewer(s)
	if err != nil {
		fc.h.c.Log.Warn("console hub could not load viewer", "err", err)
		return "", false
	}
	var b bytes.Buffer
	if err := comp(v).Render(fc.ctx, &b); err != nil {
		fc.h.c.Log.Warn("console hub could not render a fragment", "what", what, "err", err)
		return "", false
	}
	fc.html[key] = b.String()
	return fc.html[key], true
}

// frame builds (once per distinct key) the prepared WebSocket message for seq and ops.
func (fc *frameCache) frame(key string, seq uint64, ops []op) *websocket.PreparedMessage {
	if f, ok := fc.frames[key]; ok {
		return f
	}
	f := prepare(seq, ops)
	fc.frames[key] = f
	return f
}

func prepare(seq uint64, ops []op) *websocket.PreparedMessage {
	b, err := json.Marshal(struct {
		Seq uint64 `json:"seq,omitempty"`
		Ops []op   `json:"ops,omitempty"`
	}{seq, ops})
	if err != nil {
		panic("console: an op does not marshal: " + err.Error()) // ops are plain strings; cannot happen
	}
	pm, err := websocket.NewPreparedMessage(websocket.TextMessage, b)
	if err != nil {
		panic("console: prepare frame: " + err.Error())
	}
	return pm
}

// frameFor is what socket s gets for ev, or nil when ev changes nothing it shows.
func (fc *frameCache) frameFor(s *socket, ev *event) *websocket.PreparedMessage {
	var ops []op
	var keys []string
	add := func(key string, o op) {
		keys = append(keys, key)
		ops = append(ops, o)
	}
	switch ev.Topic {
	case bus.MessageAdded, bus.MessageUpdated:
		m := ev.msg
		if s.conv == m.ConversationID {
			if html, ok := fc.render(s, "msg", func(v templates.Viewer) templ.Component { return templates.MessageItem(v, *m, ev.customerName) }); ok {
				add("msg|"+s.vkey, op{Op: "msg", Conv: m.ConversationID, ID: "msg-" + m.ID, HTML: html})
			}
		}
		if ev.Topic == bus.MessageAdded && slices.Contains(ev.mentions, s.agent.ID) && m.AuthorID != s.agent.ID {
			if html, ok := fc.render(s, "mention", func(v templates.Viewer) templ.Component {
				return templates.MentionToast(v, m.AuthorName, ev.customerName, m.ConversationID)
			}); ok {
				add("mention|"+s.vkey, op{Op: "toast", HTML: html, Mention: true})
			}
		}
	case bus.ConversationChanged, bus.CustomerChanged:
		if ev.gone {
			if s.conv == ev.ConversationID {
				add("gone", op{Op: "refresh", URL: "/", Target: "#work"})
			}
			if s.list != nil {
				add("unrow", op{Op: "unrow", ID: "row-" + ev.ConversationID})
			}
			break
		}
		if ev.conv == nil {
			break
		}
		conv, cust := *ev.conv, *ev.cust
		if s.conv == conv.ID {
			if html, ok := fc.render(s, "head", func(v templates.Viewer) templ.Component { return templates.ConversationHeader(v, conv, cust) }); ok {
				add("head|"+s.vkey, op{Op: "replace", ID: "conv-head-" + conv.ID, HTML: html})
			}
			if ev.Topic == bus.CustomerChanged {
				if d := fc.sides(s, ev); d != nil {
					if html, ok := fc.render(s, "customer", func(v templates.Viewer) templ.Component { return templates.CustomerPanel(v, *d) }); ok {
						add("customer|"+s.vkey, op{Op: "replace", ID: "customer-" + cust.ID, HTML: html})
					}
				}
			}
		}
		if s.list != nil {
			fc.listRow(s, templates.Row{Conv: conv, CustomerName: cust.Name}, add)
		}
	case bus.CallRinging, bus.CallChanged:
		if ev.call == nil {
			break
		}
		id := templates.CallDOMID(ev.call.ID)
		if ev.popup != nil && (ev.targets == nil || ev.targets[s.agent.ID]) {
			pop := *ev.popup
			if html, ok := fc.render(s, "call", func(v templates.Viewer) templ.Component {
				pop.Commerce = fc.h.c.callCommerce(fc.ctx, ev.call.CustomerID, v) // in the viewer's language and money
				return templates.CallPop(v, pop)
			}); ok {
				add("call|"+s.vkey, op{Op: "pop", ID: id, Conv: pop.ConversationID, HTML: html})
			}
		} else {
			add("unpop", op{Op: "unpop", ID: id})
		}
	case notifications.TopicChanged:
		if key, o, ok := fc.bellOp(s, ev); ok {
			add(key, o)
		}
	case commerce.TopicChanged:
		if s.list != nil && s.list.carts != nil {
			// The customer's cart changed: they may have joined the abandoned-cart list (the
			// sweep marked it) or left it (they came back to shop).
			if row, ok := fc.customerRow(ev.CustomerID); ok {
				fc.listRow(s, row, add)
			}
		}
		if s.cust != "" && s.cust == ev.CustomerID && fc.h.c.Commerce != nil {
			// Every socket that gets this shows the same customer, so the fragment is keyed by
			// viewer alone. A panel that cannot be read leaves the one shown in place.
			if html, ok := fc.render(s, "commerce", func(v templates.Viewer) templ.Component {
				return fc.h.c.commerceSlot(fc.ctx, ev.CustomerID, v)
			}); ok {
				add("commerce|"+s.vkey, op{Op: "replace", ID: templates.CommerceSlotID, HTML: html})
			}
		}
	case bus.CustomerMerged:
		if s.cust == ev.OtherID && ev.conv != nil {
			add("goto", op{Op: "refresh", URL: "/conversations/" + ev.conv.ID, Target: "#work"})
		} else if s.cust == ev.CustomerID && ev.conv != nil {
			add("refresh", op{Op: "refresh", URL: "/conversations/" + ev.conv.ID, Target: "#work"})
		}
		if s.list != nil {
			add("unrow-customer", op{Op: "unrow-customer", Customer: ev.OtherID})
		}
	}
	if len(ops) == 0 {
		return nil
	}
	return fc.frame(strings.Join(keys, ","), ev.seq, ops)
}

// listRow adds the op that puts row in s's list, or takes it out when it no longer belongs there.
func (fc *frameCache) listRow(s *socket, row templates.Row, add func(string, op)) {
	in := matches(s.list.filter, row.Conv)
	what := "row"
	if s.list.carts != nil {
		touched, abandoned := fc.abandoned(s.list.carts, row.Conv.CustomerID)
		in = in && abandoned
		row.CartTouched, what = touched, "row-cart" // ordered by the cart, so another sort key
	}
	if !in {
		add("unrow", op{Op: "unrow", ID: "row-" + row.Conv.ID})
		return
	}
	if html, ok := fc.render(s, what, func(v templates.Viewer) templ.Component { return templates.ConversationRow(v, row) }); ok {
		add(what+"|"+s.vkey, op{Op: "row", ID: "row-" + row.Conv.ID, Conv: row.Conv.ID, Sort: row.SortKey(), HTML: html})
	}
}

// abandoned asks the shop, once per event and customer, whether the customer's current cart is
// abandoned. A shop that cannot answer leaves the row out: the agent sees it when the list is
// read again, which is better than a row the filter does not hold.
func (fc *frameCache) abandoned(carts AbandonedCarts, customerID string) (time.Time, bool) {
	if a, ok := fc.carts[customerID]; ok {
		return a.touched, a.abandoned
	}
	touched, abandoned, err := carts.AbandonedCartOf(fc.ctx, customerID)
	if err != nil {
		fc.h.c.Log.Warn("console hub could not read a customer's cart", "customer", customerID, "err", err)
	}
	if fc.carts == nil {
		fc.carts = map[string]cartState{}
	}
	fc.carts[customerID] = cartState{touched, abandoned && err == nil}
	return touched, abandoned && err == nil
}

// customerRow is the list row of a customer's conversation, read once per event; false when the
// customer has no conversation (a shop customer who never wrote) or it cannot be read.
func (fc *frameCache) customerRow(customerID string) (templates.Row, bool) {
	if fc.custRow != nil {
		return *fc.custRow, fc.custRowOK
	}
	fc.custRow = &templates.Row{}
	conv, err := fc.h.c.store.ConversationByCustomer(fc.ctx, customerID)
	if err != nil {
		if !errors.Is(err, inbox.ErrNotFound) {
			fc.h.c.Log.Warn("console hub could not read a customer's conversation", "customer", customerID, "err", err)
		}
		return *fc.custRow, false
	}
	name, err := fc.h.c.customerName(fc.ctx, customerID)
	if err != nil {
		fc.h.c.Log.Warn("console hub could not read a customer's name", "customer", customerID, "err", err)
		return *fc.custRow, false
	}
	*fc.custRow, fc.custRowOK = templates.Row{Conv: conv, CustomerName: name}, true
	return *fc.custRow, true
}

// sides loads the customer panel's data once per event and viewer key, when a socket shows it,
// with that socket's viewer: the commerce slot inside is rendered in its language and zone.
func (fc *frameCache) sides(s *socket, ev *event) *templates.ConversationData {
	if d, ok := ev.sides[s.vkey]; ok {
		return d
	}
	if ev.sides == nil {
		ev.sides = map[string]*templates.ConversationData{}
	}
	v, err := fc.viewer(s)
	if err != nil {
		fc.h.c.Log.Warn("console hub could not load viewer", "err", err)
		return nil // not remembered: the next socket with this key may fare better
	}
	d, err := fc.h.c.loadSides(fc.ctx, *ev.conv, v)
	if err != nil {
		fc.h.c.Log.Warn("console hub could not load the customer panel", "customer", ev.cust.ID, "err", err)
		ev.sides[s.vkey] = nil
		return nil
	}
	ev.sides[s.vkey] = &d
	return &d
}

// subscribe sets what a socket shows and brings it up to date: every event after since that
// touches its new view is replayed, or it is told to reload when the ring does not reach back.
func (h *Hub) subscribe(ctx context.Context, s *socket, v viewMsg) {
	var cust string
	if v.Conv != "" {
		if conv, err := h.c.store.ConversationByID(ctx, v.Conv); err == nil {
			cust = conv.CustomerID
		} else {
			v.Conv = ""
		}
	}
	var list *listSub
	if v.List != "" {
		lv := parseListView(parseQuery(v.List))
		list = &listSub{view: lv, filter: filterFor(lv, s.agent)}
		if carts, ok := h.c.Commerce.(AbandonedCarts); ok && lv.Cart == templates.CartAbandoned {
			list.carts = carts
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if s.closed {
		return
	}
	old := s.conv
	s.conv, s.cust, s.list = v.Conv, cust, list
	switch {
	case v.Hub != h.id:
		s.enqueue(prepare(0, []op{{Op: "reload"}}), 0)
		return
	case v.Since+1 < h.oldest() && h.seq > 0 && v.Since < h.seq:
		s.enqueue(prepare(0, []op{{Op: "reload"}}), 0)
		return
	}
	h.replay(ctx, s, v.Since)
	s.enqueue(prepare(h.seq, nil), h.seq) // caught up to here
	s.enqueue(h.presenceSnapshot(), 0)
	if old != s.conv {
		h.pushCollab(ctx, old)
	}
	h.pushCollab(ctx, s.conv)
	if _, ok := h.visitors[s.conv]; ok {
		h.pushVisitor(ctx, s.conv, s)
	}
}

// replay sends s the events after since that touch what it shows. Each thing is re-read as it is
// now, so only the last of several events about the same thing needs sending.
func (h *Hub) replay(ctx context.Context, s *socket, since uint64) {
	if since >= h.seq {
		return
	}
	type item struct {
		seq uint64
		e   bus.Event
	}
	var items []item
	last := map[bus.Event]int{}
	for i := 0; i < h.n; i++ {
		seq := h.oldest() + uint64(i)
		if seq <= since {
			continue
		}
		e := h.ring[(h.head+i)%len(h.ring)]
		key := e
		key.At = time.Time{}
		if j, ok := last[key]; ok {
			items[j].seq = 0 // superseded by this later one
		}
		last[key] = len(items)
		items = append(items, item{seq, e})
	}
	for _, it := range items {
		if it.seq == 0 {
			continue
		}
		ev, err := h.load(ctx, it.e)
		if err != nil {
			if errors.Is(err, inbox.ErrNotFound) {
				continue
			}
			h.c.Log.Warn("console hub could not replay an event; asking the browser to reload", "err", err)
			s.enqueue(prepare(0, []op{{Op: "reload"}}), 0)
			return
		}
		ev.seq = it.seq
		if ev.Topic == bus.MessageAdded && ev.msg != nil {
			ev.mentions = nil // a missed mention is not worth a toast minutes later
		}
		// A cache per event: fragments and frames are keyed by what they show, not by event.
		if f := newFrameCache(h, ctx).frameFor(s, ev); f != nil {
			s.enqueue(f, ev.seq)
		}
	}
}

// heartbeat tells idle sockets the latest sequence: they have seen every event up to it that
// concerns them, so after a disconnect they resume from there rather than from their last
// relevant event, which may have left the ring long ago.
func (h *Hub) heartbeat() {
	h.mu.Lock()
	defer h.mu.Unlock()
	var f *websocket.PreparedMessage
	for s := range h.sockets {
		if s.sentSeq < h.seq {
			if f == nil {
				f = prepare(h.seq, nil)
			}
			s.enqueue(f, h.seq)
		}
	}
}

func (h *Hub) closeAll() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.sockets {
		s.kill()
	}
}

// dropSession closes the sockets of a session that signed out.
func (h *Hub) dropSession(sessionID string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.sockets {
		if s.session == sessionID {
			s.kill()
		}
	}
}

// dropAgent closes every socket of an agent who was disabled.
func (h *Hub) dropAgent(agentID string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.sockets {
		if s.agent.ID == agentID {
			s.kill()
		}
	}
}

// ---- presence, viewing and typing: ephemeral, not sequenced, sent as a snapshot on subscribe.

// AnyoneOnline reports whether at least one agent has a console open and is not away: the chat
// widget then promises a live answer instead of asking for an email address.
func (h *Hub) AnyoneOnline() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	for id := range h.presence {
		if h.presenceState(id) == "online" {
			return true
		}
	}
	return false
}

func (h *Hub) presenceState(agentID string) string {
	socks := h.presence[agentID]
	if len(socks) == 0 {
		return "offline"
	}
	for _, away := range socks {
		if !away {
			return "online"
		}
	}
	return "away"
}

func (h *Hub) setPresence(s *socket, present, away bool) {
	before := h.presenceState(s.agent.ID)
	if present {
		if h.presence[s.agent.ID] == nil {
			h.presence[s.agent.ID] = map[*socket]bool{}
		}
		h.presence[s.agent.ID][s] = away
	} else {
		delete(h.presence[s.agent.ID], s)
		if len(h.presence[s.agent.ID]) == 0 {
			delete(h.presence, s.agent.ID)
		}
	}
	if after := h.presenceState(s.agent.ID); after != before {
		f := prepare(0, []op{{Op: "presence", Agent: s.agent.ID, State: after}})
		for o := range h.sockets {
			o.enqueue(f, 0)
		}
	}
}

func (h *Hub) presenceSnapshot() *websocket.PreparedMessage {
	states := map[string]string{}
	for id := range h.presence {
		states[id] = h.presenceState(id)
	}
	return prepare(0, []op{{Op: "presence-all", Values: states}})
}

// collaborators lists the agents viewing a conversation, and whether they are typing.
func (h *Hub) collaborators(convID string) []templates.Collaborator {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.collaboratorsLocked(convID)
}

func (h *Hub) collaboratorsLocked(convID string) []templates.Collaborator {
	if convID == "" {
		return nil
	}
	seen := map[string]bool{}
	var out []templates.Collaborator
	now := time.Now()
	for s := range h.sockets {
		if s.conv != convID || seen[s.agent.ID] {
			continue
		}
		seen[s.agent.ID] = true
		out = append(out, templates.Collaborator{ID: s.agent.ID, Name: s.agent.Name, Typing: h.typing[convID][s.agent.ID].After(now)})
	}
	slices.SortFunc(out, func(a, b templates.Collaborator) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// pushCollab sends the collaborators bar of a conversation to everyone viewing it.
func (h *Hub) pushCollab(ctx context.Context, convID string) {
	if convID == "" {
		return
	}
	list := h.collaboratorsLocked(convID)
	fc := newFrameCache(h, ctx)
	for s := range h.sockets {
		if s.conv != convID {
			continue
		}
		html, ok := fc.render(s, "collab", func(v templates.Viewer) templ.Component { return templates.Collaborators(v, convID, list) })
		if !ok {
			continue
		}
		s.enqueue(fc.frame("collab|"+s.vkey, 0, []op{{Op: "replace", ID: "collab-" + convID, HTML: html}}), 0)
	}
}

// widgetTypingEvery is how often the widget is told again that an agent is still typing: well
// within the few seconds after which the widget hides "typing…" by itself.
const widgetTypingEvery = 3 * time.Second

// visitorTyping is a widget visitor typing in a conversation.
type visitorTyping struct {
	name  string
	until time.Time
}

// toldTyping is an agent the widget was told is typing.
type toldTyping struct {
	name string
	at   time.Time
}

// widgetStop is an agent to tell the widget has stopped typing, once the hub's lock is released.
type widgetStop struct{ conv, name string }

// startTyping marks an agent as typing in a conversation for a few seconds. via is the channel
// the agent's reply would leave on: when it is the widget, the visitor sees them typing too
// (never for a note, whose composer sends no channel).
func (h *Hub) startTyping(ctx context.Context, s *socket, convID string, via inbox.Channel) {
	h.mu.Lock()
	if s.conv != convID || convID == "" || s.closed {
		h.mu.Unlock()
		return
	}
	if h.typing[convID] == nil {
		h.typing[convID] = map[string]time.Time{}
	}
	now := time.Now()
	was := h.typing[convID][s.agent.ID].After(now)
	h.typing[convID][s.agent.ID] = now.Add(h.c.opt.TypingFor)
	if !was {
		h.pushCollab(ctx, convID)
	}
	tell := via == inbox.ChannelWidget && h.c.WidgetTyping != nil && h.markTold(convID, s.agent.ID, s.agent.Name, now)
	h.mu.Unlock()
	if tell {
		h.c.WidgetTyping.AgentTyping(ctx, convID, s.agent.Name, true)
	}
}

// markTold records that the widget is being told agentID types in conv; false when it was told
// so recently that it still shows it.
func (h *Hub) markTold(conv, agentID, name string, now time.Time) bool {
	m := h.told[conv]
	if m == nil {
		m = map[string]toldTyping{}
		h.told[conv] = m
	}
	if t, ok := m[agentID]; ok && now.Sub(t.at) < widgetTypingEvery {
		return false
	}
	m[agentID] = toldTyping{name: name, at: now}
	return true
}

// untell forgets that the widget was told agentID types in conv, and says whom to tell it stopped.
func (h *Hub) untell(conv, agentID string, stops []widgetStop) []widgetStop {
	t, ok := h.told[conv][agentID]
	if !ok {
		return stops
	}
	delete(h.told[conv], agentID)
	if len(h.told[conv]) == 0 {
		delete(h.told, conv)
	}
	return append(stops, widgetStop{conv: conv, name: t.name})
}

// tellStopped tells the widget's visitors the agents in stops stopped typing. Called without the
// hub's lock: with a bus between instances, telling may wait on the network.
func (h *Hub) tellStopped(ctx context.Context, stops []widgetStop) {
	for _, st := range stops {
		h.c.WidgetTyping.AgentTyping(ctx, st.conv, st.name, false)
	}
}

// stopTyping clears "typing…" at once when the agent sent their reply.
func (h *Hub) stopTyping(convID, agentID string) {
	h.mu.Lock()
	if _, ok := h.typing[convID][agentID]; ok {
		delete(h.typing[convID], agentID)
		h.pushCollab(context.Background(), convID)
	}
	stops := h.untell(convID, agentID, nil)
	h.mu.Unlock()
	h.tellStopped(context.Background(), stops)
}

func (h *Hub) expireTyping(now time.Time) {
	h.mu.Lock()
	var stops []widgetStop
	for conv, m := range h.typing {
		changed := false
		for a, until := range m {
			if !until.After(now) {
				delete(m, a)
				stops = h.untell(conv, a, stops)
				changed = true
			}
		}
		if len(m) == 0 {
			delete(h.typing, conv)
		}
		if changed {
			h.pushCollab(context.Background(), conv)
		}
	}
	for conv, v := range h.visitors {
		if !v.until.After(now) {
			delete(h.visitors, conv)
			h.pushVisitor(context.Background(), conv, nil)
		}
	}
	h.mu.Unlock()
	h.tellStopped(context.Background(), stops)
}

// visitorTyping shows (or clears) "<customer> is typing…" in the conversation's open views when
// the widget says its visitor types. A visitor who leaves without saying so stops showing after
// TypingFor: the widget repeats the event every few seconds while they type.
func (h *Hub) visitorTyping(ctx context.Context, e bus.Event) {
	conv := e.ConversationID
	if conv == "" {
		return
	}
	on := e.Topic == widget.TopicVisitorTyping
	var name string
	if on && e.CustomerID != "" {
		var err error
		if name, err = h.c.customerName(ctx, e.CustomerID); err != nil {
			h.c.Log.Warn("console hub could not name a typing visitor", "customer", e.CustomerID, "err", err)
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	was, showing := h.visitors[conv]
	if !on {
		if showing {
			delete(h.visitors, conv)
			h.pushVisitor(ctx, conv, nil)
		}
		return
	}
	h.visitors[conv] = visitorTyping{name: name, until: time.Now().Add(h.c.opt.TypingFor)}
	if !showing || was.name != name {
		h.pushVisitor(ctx, conv, nil)
	}
}

// pushVisitor sends the visitor-typing line of conv to the sockets showing it (or to only).
func (h *Hub) pushVisitor(ctx context.Context, conv string, only *socket) {
	v, typing := h.visitors[conv]
	fc := newFrameCache(h, ctx)
	for s := range h.sockets {
		if s.conv != conv || (only != nil && s != only) {
			continue
		}
		html, ok := fc.render(s, "visitor-typing", func(vw templates.Viewer) templ.Component {
			return templates.VisitorTyping(vw, conv, v.name, typing)
		})
		if !ok {
			continue
		}
		s.enqueue(fc.frame("visitor-typing|"+s.vkey, 0, []op{{Op: "replace", ID: templates.VisitorTypingID(conv), HTML: html}}), 0)
	}
}

// Disconnect closes every console socket. Browsers reconnect and catch up from their last
// sequence; an operator uses it to move consoles off an instance before stopping it.
func (h *Hub) Disconnect() { h.closeAll() }

// revalidate closes sockets whose session ended since they connected (signed out elsewhere, a
// password change, expiry, a disabled account): a socket is authenticated once, at its upgrade.
func (h *Hub) revalidate(ctx context.Context) {
	h.mu.Lock()
	sessions := map[string]string{} // session → agent
	for s := range h.sockets {
		sessions[s.session] = s.agent.ID
	}
	h.mu.Unlock()
	st := h.c.Agents.Store()
	now := h.c.Now()
	for id, agentID := range sessions {
		sess, err := st.SessionByID(ctx, id)
		live := err == nil && now.Before(sess.ExpiresAt)
		if err != nil && !errors.Is(err, inbox.ErrNotFound) {
			continue // the store did not answer; keep the socket rather than drop everyone
		}
		if live {
			if a, err := st.AgentByID(ctx, agentID); err == nil && a.Disabled {
				live = false
			}
		}
		if !live {
			h.dropSession(id)
		}
	}
}

// loadCall reads the call a call event names. A ringing incoming call gets its screen-pop;
// any other state takes the pop down, so replaying old events after a reconnect shows exactly
// the calls that ring now.
func (h *Hub) loadCall(ctx context.Context, ev *event) (*event, error) {
	if h.c.Calls == nil || ev.OtherID == "" {
		return ev, nil
	}
	call, err := h.c.Calls.Call(ctx, ev.OtherID)
	if err != nil {
		return nil, fmt.Errorf("load call %s: %w", ev.OtherID, err)
	}
	ev.call = &call
	if call.State != voice.StateRinging || call.Direction != voice.DirectionIn {
		return ev, nil
	}
	dir, err := h.c.directory(ctx)
	if err != nil {
		return nil, err
	}
	p := h.c.callPopup(ctx, call)
	ev.popup, ev.targets = &p, callTargets(call, dir)
	return ev, nil
}
