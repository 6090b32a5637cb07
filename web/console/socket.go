package console

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"github.com/labstack/echo/v4"

	"github.com/serambi/serambi/agents"
	"github.com/serambi/serambi/inbox"
	"github.com/serambi/serambi/templates"
)

// socket is one console tab's WebSocket. Its fields other than send are guarded by the hub's lock.
type socket struct {
	conn    *websocket.Conn
	agent   agents.Agent
	session string
	vkey    string // language, zone and click-to-call: sockets with equal keys get identical fragments
	send    chan *websocket.PreparedMessage
	closed  bool
	sentSeq uint64
	conv    string // the conversation it shows
	cust    string // that conversation's customer
	list    *listSub
	once    sync.Once
}

type listSub struct {
	view   templates.ListView
	filter inbox.ConversationFilter
	// carts is set for the abandoned-cart list: a row also needs its customer's current cart
	// abandoned, which the shop is asked (once per event) rather than the filter.
	carts AbandonedCarts
}

// enqueue queues a frame without blocking the hub. A socket too slow to take it is closed: the
// browser reconnects and catches up from its last sequence, which costs less than holding up
// every other agent's console.
func (s *socket) enqueue(f *websocket.PreparedMessage, seq uint64) {
	if s.closed {
		return
	}
	select {
	case s.send <- f:
		if seq > s.sentSeq {
			s.sentSeq = seq
		}
	default:
		s.kill()
	}
}

// kill closes the connection; the reader notices and unregisters the socket.
func (s *socket) kill() {
	s.once.Do(func() { _ = s.conn.Close() })
}

// viewMsg is what the browser says it shows, and since which event it needs catching up.
type viewMsg struct {
	Conv  string `json:"conv"`
	List  string `json:"list"`
	Since uint64 `json:"since"`
	Hub   string `json:"hub"`
}

// clientMsg is a message from the browser.
type clientMsg struct {
	T string `json:"t"` // view | typing | away | active | read
	viewMsg
	// Via is, with typing, the channel the reply being typed would leave on; empty for a note.
	Via inbox.Channel `json:"via"`
}

const (
	writeWait  = 10 * time.Second
	pongWait   = 60 * time.Second
	pingPeriod = 25 * time.Second
)

func sameOrigin(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return false
	}
	u, err := url.Parse(origin)
	return err == nil && strings.EqualFold(u.Host, r.Host)
}

// websocket upgrades a signed-in agent's request to the console socket.
func (c *Console) websocket(ctx echo.Context) error {
	a := me(ctx)
	conn, err := c.hub.upgrader.Upgrade(ctx.Response(), ctx.Request(), nil)
	if err != nil {
		return nil // the upgrader has answered already
	}
	s := &socket{conn: conn, agent: a, session: session(ctx).ID, vkey: viewerKey(a, c.canCall(a)),
		send: make(chan *websocket.PreparedMessage, c.opt.SendBuffer)}
	c.hub.register(s)
	go c.hub.write(s)
	c.hub.read(s)
	return nil
}

func (h *Hub) register(s *socket) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.sockets[s] = struct{}{}
	h.setPresence(s, true, false)
}

func (h *Hub) unregister(s *socket) {
	h.mu.Lock()
	if s.closed {
		h.mu.Unlock()
		return
	}
	delete(h.sockets, s)
	s.closed = true
	close(s.send)
	h.setPresence(s, false, false)
	var stops []widgetStop
	if s.conv != "" {
		if m := h.typing[s.conv]; m != nil {
			delete(m, s.agent.ID)
		}
		stops = h.untell(s.conv, s.agent.ID, nil)
		h.pushCollab(context.Background(), s.conv)
	}
	h.mu.Unlock()
	h.tellStopped(context.Background(), stops)
}

func (h *Hub) write(s *socket) {
	ping := time.NewTicker(pingPeriod)
	defer ping.Stop()
	defer s.kill()
	for {
		select {
		case f, ok := <-s.send:
			_ = s.conn.SetWriteDeadline(time.Now().Add(writeWait))
			if !ok {
				_ = s.conn.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""))
				return
			}
			if err := s.conn.WritePreparedMessage(f); err != nil {
				return
			}
		case <-ping.C:
			_ = s.conn.SetWriteDeadline(time.Now().Add(writeWait))
			if err := s.conn.WriteMessage(websocket.PingMessage, nil); err != nil {
				return
			}
		}
	}
}

func (h *Hub) read(s *socket) {
	defer h.unregister(s)
	defer s.kill()
	s.conn.SetReadLimit(4096)
	_ = s.conn.SetReadDeadline(time.Now().Add(pongWait))
	s.conn.SetPongHandler(func(string) error { return s.conn.SetReadDeadline(time.Now().Add(pongWait)) })
	for {
		_, b, err := s.conn.ReadMessage()
		if err != nil {
			return
		}
		_ = s.conn.SetReadDeadline(time.Now().Add(pongWait))
		var m clientMsg
		if json.Unmarshal(b, &m) != nil {
			continue // a malformed message from a tab costs it nothing but that message
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		switch m.T {
		case "view":
			h.subscribe(ctx, s, m.viewMsg)
		case "typing":
			h.startTyping(ctx, s, m.Conv, m.Via)
		case "away", "active":
			h.mu.Lock()
			if !s.closed {
				h.setPresence(s, true, m.T == "away")
			}
			h.mu.Unlock()
		case "read":
			h.mu.Lock()
			viewing := s.conv == m.Conv && m.Conv != ""
			h.mu.Unlock()
			if viewing {
				if err := h.c.Inbox.MarkRead(ctx, m.Conv); err != nil {
					h.c.Log.Warn("could not mark conversation read", "conversation", m.Conv, "err", err)
				}
			}
		}
		cancel()
	}
}

func parseQuery(q string) url.Values {
	v, _ := url.ParseQuery(strings.TrimPrefix(q, "?"))
	return v
}
