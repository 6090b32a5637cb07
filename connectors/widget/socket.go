package widget

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/gorilla/websocket"

	"github.com/serambi/serambi/bus"
	"github.com/serambi/serambi/inbox"
)

// socket is one browser tab's connection.
type socket struct {
	c     *Connector
	conn  *websocket.Conn
	ip    string
	inbox string // widget inbox id

	// Set by hello, then read-only.
	anonID string
	ident  *verified
	page   string

	// Guarded by the hub's lock.
	key, conv, customer string
	gone                bool

	// Guarded by mu: the outgoing queue.
	mu          sync.Mutex
	out         [][]byte
	writing     bool
	closed      bool // takes no more frames
	closeCode   int  // set by closeWith: drain closes the connection after the queue
	closeReason string
	recent      *[recentLen]string
	rpos        int

	// For the idle wait (see awaitInput): the buffered reader gorilla reads from, and the raw
	// connection under it. Nil when not available.
	br  *bufio.Reader
	raw syscall.RawConn

	// The read goroutine's own.
	typingOn  bool
	typingAt  time.Time
	badFrames int
	closeOnce sync.Once
}

const (
	helloWait    = 10 * time.Second
	maxBadFrames = 20
	maxIDs       = 100
	maxAtt       = 5
	maxPageLen   = 500
	maxFieldLen  = 500
	typingEvery  = 3 * time.Second
	opTimeout    = 15 * time.Second
)

// sent reports whether message id was queued to this socket already.
func (s *socket) sent(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hasLocked(id)
}

func (s *socket) hasLocked(id string) bool {
	if s.recent == nil {
		return false
	}
	for _, r := range s.recent {
		if r == id {
			return true
		}
	}
	return false
}

// remember records that the socket has message id (its ack carries it), so pushes skip it.
func (s *socket) remember(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.hasLocked(id) {
		s.rememberLocked(id)
	}
}

func (s *socket) rememberLocked(id string) {
	if s.recent == nil {
		s.recent = new([recentLen]string)
	}
	s.recent[s.rpos] = id
	s.rpos = (s.rpos + 1) % recentLen
}

// send queues a frame. With a message id, a frame already sent for that id is not sent again.
// A socket whose queue is full is dropped: the visitor's browser reconnects and resumes, which
// costs less than holding frames for a tab that stopped reading.
func (s *socket) send(frame []byte, id string) bool {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return false
	}
	if id != "" {
		if s.hasLocked(id) {
			s.mu.Unlock()
			return false
		}
		s.rememberLocked(id)
	}
	if len(s.out) >= maxQueue {
		s.closed, s.out = true, nil
		s.mu.Unlock()
		s.kill()
		return false
	}
	s.out = append(s.out, frame)
	start := !s.writing
	s.writing = true
	s.mu.Unlock()
	if start {
		go s.drain()
	}
	return true
}

// drain writes the queue until it is empty, then exits; send starts it again when needed. A
// close asked for by closeWith is written after the frames queued before it.
func (s *socket) drain() {
	for {
		s.mu.Lock()
		batch := s.out
		s.out = nil
		if len(batch) == 0 {
			code, reason := s.closeCode, s.closeReason
			s.writing = false
			s.mu.Unlock()
			if code != 0 {
				_ = s.conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason), time.Now().Add(time.Second))
				s.kill()
			}
			return
		}
		s.mu.Unlock()
		_ = s.conn.SetWriteDeadline(time.Now().Add(writeWait))
		for _, f := range batch {
			if err := s.conn.WriteMessage(websocket.TextMessage, f); err != nil {
				s.mu.Lock()
				s.closed, s.writing, s.out = true, false, nil
				s.mu.Unlock()
				s.kill()
				return
			}
		}
	}
}

// kill drops the connection; the read goroutine sees it and cleans up.
func (s *socket) kill() {
	s.closeOnce.Do(func() { _ = s.conn.Close() })
}

// closeWith sends what is queued, then a close frame saying why, then drops the connection.
func (s *socket) closeWith(code int, reason string) {
	s.mu.Lock()
	if s.closeCode != 0 {
		s.mu.Unlock()
		return
	}
	s.closed = true
	s.closeCode, s.closeReason = code, reason
	start := !s.writing
	s.writing = true
	s.mu.Unlock()
	if start {
		go s.drain()
	}
}

func (s *socket) fail(code, msg, cid string, retry time.Duration) {
	s.send(encode(errorFrame{T: tError, Code: code, Message: msg, CID: cid, RetryMs: retry.Milliseconds()}), "")
}

// errBadFrame: a frame that is not a valid frame; the socket stays open (up to a point).
var errBadFrame = errors.New("bad frame")

// readRaw reads the next frame into a pooled buffer; the caller gives it back with putBuf.
func (s *socket) readRaw() (*bytes.Buffer, error) {
	typ, r, err := s.conn.NextReader()
	if err != nil {
		return nil, err
	}
	buf := s.c.bufs.Get().(*bytes.Buffer)
	buf.Reset()
	if _, err := buf.ReadFrom(r); err != nil {
		s.putBuf(buf)
		return nil, err
	}
	if typ != websocket.TextMessage {
		s.putBuf(buf)
		return nil, fmt.Errorf("%w: frames are JSON text, not binary", errBadFrame)
	}
	return buf, nil
}

func (s *socket) putBuf(b *bytes.Buffer) {
	if b.Cap() <= 64<<10 {
		s.c.bufs.Put(b)
	}
}

// aside runs f on a goroutine of its own and waits for it. See run.
func aside(f func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	<-done
}

const pingRaw = `{"t":"ping"}`

// run is the socket's goroutine, for as long as the socket lives: hello, then one frame at a
// time. Frames are handled in order, each before the next is read, so a visitor's messages are
// stored in the order they were sent, and a visitor who sends faster than they can be stored is
// slowed down by TCP, not buffered here.
//
// This goroutine only waits: for the socket to become readable (awaitInput, a few frames deep)
// and then for a helper goroutine that reads, decodes and handles the frame. Reading a frame
// (gorilla), decoding it (JSON) and handling it (the inbox, SQLite) need deep stacks; done here,
// they would leave every idle socket holding a grown stack until the next GC shrinks it. So an
// idle socket keeps a 2 KB stack, which with 19,000 sockets is tens of MiB.
func (s *socket) run() {
	c := s.c
	defer func() {
		s.mu.Lock()
		closing := s.closeCode != 0
		s.mu.Unlock()
		if !closing {
			s.kill() // a close asked for by closeWith is sent (and the connection dropped) by drain
		}
		c.hub.unregister(s)
		if s.typingOn {
			s.publishTyping(false)
		}
	}()
	s.conn.SetReadLimit(int64(c.cfg.MaxMessageChars)*4 + 16<<10)
	_ = s.conn.SetReadDeadline(time.Now().Add(helloWait))
	if s.awaitInput() != nil {
		return
	}
	ok := false
	aside(func() { ok = s.first() })
	if !ok {
		return
	}
	for {
		_ = s.conn.SetReadDeadline(time.Now().Add(c.cfg.PingTimeout))
		if s.awaitInput() != nil {
			return
		}
		more := false
		aside(func() { more = s.next() })
		if !more {
			return
		}
	}
}

// first reads the hello and answers it; false ends the socket.
func (s *socket) first() bool {
	buf, err := s.readRaw()
	if err != nil && !errors.Is(err, errBadFrame) {
		return false
	}
	var f clientFrame
	if err == nil {
		f, err = decodeClient(buf.Bytes())
		s.putBuf(buf)
	}
	if err != nil || f.T != tHello {
		s.fail(codeHelloFirst, "the first frame must be a hello", "", 0)
		s.closeWith(closePolicy, "hello first")
		return false
	}
	return s.hello(f)
}

// next reads one frame and handles it; false ends the socket.
func (s *socket) next() bool {
	buf, err := s.readRaw()
	if err != nil && !errors.Is(err, errBadFrame) {
		return false
	}
	if err == nil && string(buf.Bytes()) == pingRaw {
		s.putBuf(buf) // the heartbeat, most of an idle socket's traffic, needs no decoding
		s.send(s.c.pong, "")
		return true
	}
	var f clientFrame
	if err == nil {
		f, err = decodeClient(buf.Bytes())
		s.putBuf(buf)
		if err != nil {
			err = fmt.Errorf("%w: %v", errBadFrame, err)
		}
	}
	if err != nil {
		if s.badFrames++; s.badFrames > maxBadFrames {
			s.closeWith(closePolicy, "too many bad frames")
			return false
		}
		s.fail(codeBadFrame, err.Error(), "", 0)
		return true
	}
	s.handle(f)
	return true
}

// awaitInput waits until the socket has something to read: bytes already in the read buffer,
// or in the kernel (checked with a non-consuming peek, then waited for in the runtime's poller
// like any Read). It returns an error when the connection ends or the read deadline passes.
// Without a raw connection (other platforms, or a handshake that kept its own buffer) it returns
// at once and the read blocks in the helper instead.
func (s *socket) awaitInput() error {
	if s.raw == nil || s.br == nil || s.br.Buffered() > 0 {
		return nil
	}
	var perr error
	err := s.raw.Read(func(fd uintptr) bool {
		ready, e := peekReady(fd)
		perr = e
		return ready || e != nil
	})
	if err != nil {
		return err
	}
	return perr
}

func (s *socket) handle(f clientFrame) {
	switch f.T {
	case tPing:
		s.send(s.c.pong, "")
	case tMsg:
		s.onMessage(f)
	case tEmail:
		s.onEmail(f)
	case tTyping:
		s.onTyping(f.On)
	case tRead:
		s.onReceipt(f.IDs, inbox.DeliveryRead)
	case tRecv:
		s.onReceipt(f.IDs, inbox.DeliveryDelivered)
	case tHello:
		s.fail(codeBadFrame, "hello is sent once, first", "", 0)
	default:
		s.fail(codeBadFrame, fmt.Sprintf("unknown frame type %q", f.T), "", 0)
	}
}

func (s *socket) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(s.c.base, opTimeout)
}

// hello identifies the visitor, finds their conversation, and answers with welcome and history.
func (s *socket) hello(f clientFrame) bool {
	c := s.c
	ctx, cancel := s.ctx()
	defer cancel()
	if f.Inbox != "" && f.Inbox != s.inbox {
		s.fail(codeBadFrame, "hello names another widget inbox than the connection", "", 0)
		s.closeWith(closePolicy, "wrong inbox")
		return false
	}
	settings, err := c.inboxSettings(ctx, s.inbox)
	if err != nil {
		s.fail(codeRetry, "the widget is not available right now", "", 0)
		s.closeWith(websocket.CloseTryAgainLater, "try again")
		return false
	}
	token := f.Token
	if !validToken(token) {
		token = newToken()
	}
	s.anonID = visitorID(token)
	if len(f.Page) <= maxPageLen && utf8.ValidString(f.Page) {
		s.page = f.Page
	}
	if f.JWT != "" {
		v, err := verifyJWT(f.JWT, settings.JWTSecret, c.now())
		if err != nil {
			c.log.Info("widget signed identity refused", "inbox", s.inbox, "ip", s.ip, "err", err)
			s.fail(codeBadIdentity, err.Error(), "", 0)
		} else {
			s.ident = &v
		}
	}
	key := anonPrefix + s.anonID
	if s.ident != nil {
		key = s.ident.widgetValue()
	}
	conv, cust, err := c.resolve(ctx, from(s.anonID, s.ident, ""))
	if err != nil {
		c.log.Warn("widget could not look up a visitor's conversation", "err", err)
		s.fail(codeRetry, "the chat history is not available right now", "", 0)
		s.closeWith(websocket.CloseTryAgainLater, "try again")
		return false
	}
	// Attached before the history is read, so that nothing stored in between is missed: it is
	// either in the history or pushed live (the browser drops what it has twice, by id).
	if !c.hub.place(s, key, conv, cust) {
		s.closeWith(closeGoing, "server restarting")
		return false
	}
	w := welcomeFrame{T: tWelcome, Token: token, Visitor: s.anonID, Identified: s.ident != nil,
		Online: c.online.Load(), Settings: settings.public(c.cfg)}
	if s.ident != nil {
		w.Name, w.Email = s.ident.Name, s.ident.Email
	}
	s.send(encode(w), "")
	h, err := c.history(ctx, conv, f.Since)
	if err != nil {
		c.log.Warn("widget could not read a visitor's history", "conversation", conv, "err", err)
		s.closeWith(websocket.CloseTryAgainLater, "try again")
		return false
	}
	s.send(encode(h), "")
	return true
}

// limited applies the visitor's and the address's message rates.
func (s *socket) limited(cid string) bool {
	now := s.c.now()
	ok, wait := s.c.visitorLim.allow(s.anonID, now)
	if ok {
		ok, wait = s.c.ipLim.allow(s.ip, now)
	}
	if !ok {
		s.fail(codeRateLimited, "too many messages; wait a moment", cid, wait)
	}
	return !ok
}

func (s *socket) onMessage(f clientFrame) {
	c := s.c
	if !validClientID(f.CID) {
		s.fail(codeBadFrame, "cid must be 8-64 characters of A-Z a-z 0-9 _ -", "", 0)
		return
	}
	text := strings.TrimSpace(strings.ReplaceAll(f.Text, "\r\n", "\n"))
	if !utf8.ValidString(text) {
		s.fail(codeBadFrame, "text must be UTF-8", f.CID, 0)
		return
	}
	if text == "" && len(f.Att) == 0 {
		s.fail(codeEmpty, "a message needs text or a file", f.CID, 0)
		return
	}
	if n := utf8.RuneCountInString(text); n > c.cfg.MaxMessageChars {
		s.fail(codeTooLong, fmt.Sprintf("a message may have at most %d characters (this one has %d)", c.cfg.MaxMessageChars, n), f.CID, 0)
		return
	}
	ctx, cancel := s.ctx()
	defer cancel()
	settings, err := c.inboxSettings(ctx, s.inbox)
	if err != nil {
		s.fail(codeRetry, "could not store the message now; it will be sent again", f.CID, time.Second)
		return
	}
	var atts []inbox.Attachment
	if len(f.Att) > 0 {
		if !settings.Uploads || len(f.Att) > maxAtt {
			s.fail(codeBadAttachment, fmt.Sprintf("files are off for this chat, or more than %d in one message", maxAtt), f.CID, 0)
			return
		}
		for _, a := range f.Att {
			if !c.checkUpload(s.anonID, a) {
				s.fail(codeBadAttachment, "an attachment was not uploaded by this visitor", f.CID, 0)
				return
			}
			atts = append(atts, inbox.Attachment{SHA256: a.SHA, Name: a.Name, ContentType: a.Type, Size: a.Size})
		}
	}
	meta := map[string]string{MetaInbox: s.inbox}
	if s.page != "" {
		meta[MetaPage] = s.page
	}
	var name, typed string
	if p := f.Profile; p != nil {
		name = strings.TrimSpace(p.Name)
		if utf8.RuneCountInString(name) > 120 || !utf8.ValidString(name) {
			s.fail(codeBadFrame, "a name may have at most 120 characters", f.CID, 0)
			return
		}
		if e := strings.TrimSpace(p.Email); e != "" {
			if typed, err = inbox.NormalizeEmail(e); err != nil {
				s.fail(codeBadEmail, "that does not look like an email address", f.CID, 0)
				return
			}
		}
		for _, fld := range settings.PreChat.Fields {
			if v := strings.TrimSpace(p.Fields[fld.Key]); v != "" && utf8.ValidString(v) {
				if utf8.RuneCountInString(v) > maxFieldLen {
					v = string([]rune(v)[:maxFieldLen])
				}
				meta[MetaFieldPref+fld.Key] = v
			}
		}
	}
	if name == "" && s.ident != nil {
		name = s.ident.Name
	}
	if s.limited(f.CID) {
		return
	}
	s.ingest(ctx, f.CID, inbox.Inbound{
		Channel: inbox.ChannelWidget, ExternalID: inPrefix + s.anonID + ":" + f.CID,
		From: from(s.anonID, s.ident, typed), Name: name, Text: text, Attachments: atts, Meta: meta, SentAt: c.now(),
	})
	if s.typingOn {
		s.publishTyping(false)
	}
}

// onEmail records the address a visitor leaves for replies when nobody is online. It is an
// inbound entry in the timeline, so the agent sees it where they read the chat, and it carries
// the address as an unverified identity: a merge suggestion, never a link.
func (s *socket) onEmail(f clientFrame) {
	if !validClientID(f.CID) {
		s.fail(codeBadFrame, "cid must be 8-64 characters of A-Z a-z 0-9 _ -", "", 0)
		return
	}
	email, err := inbox.NormalizeEmail(strings.TrimSpace(f.Email))
	if err != nil {
		s.fail(codeBadEmail, "that does not look like an email address", f.CID, 0)
		return
	}
	if s.limited(f.CID) {
		return
	}
	ctx, cancel := s.ctx()
	defer cancel()
	s.ingest(ctx, f.CID, inbox.Inbound{
		Channel: inbox.ChannelWidget, ExternalID: inPrefix + s.anonID + ":" + f.CID,
		From: from(s.anonID, s.ident, email), Text: "📧 " + email,
		Meta: map[string]string{MetaInbox: s.inbox, MetaKind: "email"}, SentAt: s.c.now(),
	})
}

// ingest stores a visitor's message, acknowledges it with the stored message, and shows it in
// the visitor's other tabs. A retry of the same client id is acknowledged with the message
// stored the first time.
func (s *socket) ingest(ctx context.Context, cid string, in inbox.Inbound) {
	c := s.c
	res, err := c.deps.Ingester.Ingest(ctx, in)
	if errors.Is(err, inbox.ErrInvalid) || errors.Is(err, inbox.ErrNoIdentity) {
		s.fail(codeBadFrame, err.Error(), cid, 0)
		return
	}
	if err != nil {
		c.log.Error("widget message not stored; the browser will send it again", "err", err)
		s.fail(codeRetry, "could not store the message now; it will be sent again", cid, 2*time.Second)
		return
	}
	conv := res.Conversation.ID
	if conv == "" {
		conv = res.Message.ConversationID
	}
	c.hub.attach(s, conv, res.CustomerID)
	w := c.wire(res.Message)
	s.remember(res.Message.ID)
	s.send(encode(ackFrame{T: tAck, CID: cid, Dup: res.Duplicate, Msg: w}), "")
	c.hub.push(conv, res.Message.ID, encode(msgFrame{T: tMsg, wireMsg: w}))
}

// Bus topics the widget publishes. The console shows a visitor typing in the conversation
// (ConversationID, CustomerID); it calls AgentTyping for the other direction.
const (
	TopicVisitorTyping        bus.Topic = "widget.visitor_typing"
	TopicVisitorTypingStopped bus.Topic = "widget.visitor_typing_stopped"
	// TopicAgentTyping carries AgentTyping between instances; OtherID is the agent's display name.
	TopicAgentTyping        bus.Topic = "widget.agent_typing"
	TopicAgentTypingStopped bus.Topic = "widget.agent_typing_stopped"
)

func (s *socket) onTyping(on bool) {
	now := s.c.now()
	if on && s.typingOn && now.Sub(s.typingAt) < typingEvery {
		return // the console keeps showing it for a few seconds; no need to repeat every keystroke
	}
	if !on && !s.typingOn {
		return
	}
	s.typingAt = now
	s.publishTyping(on)
}

func (s *socket) publishTyping(on bool) {
	s.typingOn = on
	s.c.hub.mu.Lock()
	conv, cust := s.conv, s.customer
	s.c.hub.mu.Unlock()
	if conv == "" {
		return // nobody to show it to before the first message
	}
	t := TopicVisitorTyping
	if !on {
		t = TopicVisitorTypingStopped
	}
	s.c.deps.Events.Publish(s.c.base, bus.Event{Topic: t, ConversationID: conv, CustomerID: cust, At: s.c.now()})
}

// onReceipt records that the visitor's browser received (recv) or showed (read) agent replies.
func (s *socket) onReceipt(ids []string, state inbox.Delivery) {
	if len(ids) > maxIDs {
		s.fail(codeBadFrame, fmt.Sprintf("at most %d ids per receipt", maxIDs), "", 0)
		return
	}
	conv := s.c.hub.conversationOf(s)
	if conv == "" || len(ids) == 0 {
		return
	}
	ctx, cancel := s.ctx()
	defer cancel()
	for _, id := range ids {
		if err := s.c.receipt(ctx, conv, id, state); err != nil && !errors.Is(err, inbox.ErrNotFound) {
			s.c.log.Warn("widget receipt not recorded", "message", id, "state", state, "err", err)
		}
	}
}
