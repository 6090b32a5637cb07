// Package widget is the live-chat widget: a script a shop embeds on its site, a WebSocket per
// visitor tab, and the outbox sender that brings agents' replies back to the visitor. Visitor
// messages become inbox messages of channel widget; the inbox decides whose conversation they
// join from the visitor's identity (anonymous, or signed by the shop).
package widget

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/serambi/serambi/bus"
	"github.com/serambi/serambi/connectors"
	"github.com/serambi/serambi/inbox"
)

// Store is what the widget reads from the inbox's store; inbox.Store implements it.
type Store interface {
	CustomerIDByIdentity(ctx context.Context, kind inbox.IdentityKind, value string) (string, error)
	CustomerByID(ctx context.Context, id string) (inbox.Customer, error)
	ConversationByCustomer(ctx context.Context, customerID string) (inbox.Conversation, error)
	MessageByID(ctx context.Context, id string) (inbox.Message, error)
	ListMessages(ctx context.Context, conversationID string, before inbox.Cursor, limit int) ([]inbox.Message, error)
	UpdateDelivery(ctx context.Context, messageID string, u inbox.DeliveryUpdate) (bool, error)
}

// Deliveries records receipts; *inbox.Inbox implements it.
type Deliveries interface {
	RecordDelivery(ctx context.Context, ch inbox.Channel, externalID string, u inbox.DeliveryUpdate) error
}

// Replier queues a reply; *inbox.Inbox implements it. The email fallback uses it to queue an
// email copy of a widget reply, so the copy is an ordinary email reply in the timeline, sent,
// retried and threaded by the email connector like any other.
type Replier interface {
	Reply(ctx context.Context, r inbox.ReplyRequest) (inbox.Message, error)
}

// Deps are what the connector works with.
type Deps struct {
	Ingester   connectors.Ingester
	Deliveries Deliveries
	Store      Store
	State      connectors.StateStore
	Blobs      inbox.Blobs
	Events     bus.Publisher
	Subscriber bus.Subscriber
	// AgentsOnline says whether any agent is available; nil means nobody is, and the widget
	// offers to take an email address (the safe default: it never promises a live answer).
	AgentsOnline func() bool
	// AttachmentURL links a file for the visitor's browser (web.AttachmentURLs.Sign); nil shows
	// files by name only.
	AttachmentURL func(inbox.Attachment) string
	// AgentAvatar returns an agent's avatar URL; nil (or "") shows their initials.
	AgentAvatar func(agentID string) string
	// EmailFallback, when set, emails a copy of a reply to a visitor who has been gone for
	// Config.OfflineAfter and left an email address. Wire it only when the email connector runs.
	EmailFallback Replier
	// SecretKey signs upload receipts; instances behind one load balancer must share it. Nil
	// means a random key (one instance).
	SecretKey []byte
	Log       *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Connector is the widget: its HTTP routes, its sockets and its outbox sender.
type Connector struct {
	cfg        Config
	deps       Deps
	log        *slog.Logger
	now        func() time.Time
	settings   *SettingsStore
	hub        *hub
	upgrader   websocket.Upgrader
	visitorLim *limiter
	ipLim      *limiter
	key        []byte
	online     atomic.Bool
	presence   *presence
	assets     *assets
	base       context.Context
	stop       context.CancelFunc
	running    sync.Once
	ready      chan struct{}
	// bufs are the read buffers frames are read into, shared by all sockets.
	bufs sync.Pool
	pong []byte
}

// New returns the widget connector. Deps.Ingester, Store, State and Events are required.
func New(cfg Config, deps Deps) *Connector {
	cfg = cfg.WithDefaults()
	if deps.Log == nil {
		deps.Log = slog.New(slog.DiscardHandler)
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	key := deps.SecretKey
	if len(key) == 0 {
		key = make([]byte, 32)
		_, _ = rand.Read(key)
	}
	base, stop := context.WithCancel(context.Background())
	c := &Connector{
		cfg: cfg, deps: deps, log: deps.Log.With("connector", "widget"), now: deps.Now,
		settings:   NewSettingsStore(deps.State, deps.Now),
		visitorLim: newLimiter(cfg.VisitorRate), ipLim: newLimiter(cfg.IPRate), key: key,
		base: base, stop: stop, ready: make(chan struct{}), pong: []byte(pongFrame),
		bufs: sync.Pool{New: func() any { return new(bytes.Buffer) }},
	}
	c.upgrader = websocket.Upgrader{
		// ReadBufferSize 0: gorilla reads through the hijacked reader, which serveSocket makes a
		// 512-byte one of its own (see hijacker).
		ReadBufferSize: 0, WriteBufferSize: 4096, WriteBufferPool: &sync.Pool{},
		HandshakeTimeout: 10 * time.Second,
		// The origin is checked against the widget inbox's list before Upgrade is called.
		CheckOrigin: func(*http.Request) bool { return true },
	}
	if deps.EmailFallback != nil {
		c.presence = newPresence(deps.State, deps.Now, c.log)
	}
	onLive := func(string, bool) {}
	if c.presence != nil {
		onLive = c.presence.mark
	}
	c.settings.events = deps.Events
	c.hub = newHub(cfg.MaxConnsPerIP, onLive)
	c.online.Store(c.agentsOnline())
	c.assets = mustAssets()
	return c
}

// Settings is the store of widget inboxes' settings, for the console's settings page.
func (c *Connector) Settings() *SettingsStore { return c.settings }

// Ready is closed once Run follows the bus: from then on, replies stored by any instance reach
// this instance's visitors.
func (c *Connector) Ready() <-chan struct{} { return c.ready }

// Sockets is how many visitor sockets this instance holds.
func (c *Connector) Sockets() int { return c.hub.count() }

func (c *Connector) agentsOnline() bool {
	return c.deps.AgentsOnline != nil && c.deps.AgentsOnline()
}

// inboxSettings returns a widget inbox's settings. The inbox seeded from the environment works
// even before Run has stored it (or when the store cannot be written at start).
func (c *Connector) inboxSettings(ctx context.Context, id string) (Settings, error) {
	if id == "" {
		id = c.cfg.Default.ID
	}
	s, err := c.settings.cached(ctx, id)
	if errors.Is(err, inbox.ErrNotFound) && id == c.cfg.Default.ID {
		return c.cfg.Default, nil
	}
	return s, err
}

// Run stores the environment's widget inbox, follows the bus to bring replies, merges and
// typing to visitors, and pushes "agents online" changes, until ctx ends; then it closes every
// visitor socket with "going away", so browsers reconnect (to another instance, or this one
// after its restart) and resume.
func (c *Connector) Run(ctx context.Context) error {
	started := false
	c.running.Do(func() { started = true })
	if !started {
		return errors.New("widget connector: Run called twice")
	}
	defer c.stop()
	if c.deps.Subscriber != nil {
		cancel := c.deps.Subscriber.Subscribe(c.onEvent)
		defer cancel()
	}
	if err := c.settings.Seed(ctx, c.cfg.Default); err != nil {
		c.log.Error("could not store the widget inbox from the environment; serving it from memory", "inbox", c.cfg.Default.ID, "err", err)
	}
	close(c.ready)
	if c.presence != nil {
		go c.presence.run(c.base)
	}
	t := time.NewTicker(c.cfg.StatusEvery)
	defer t.Stop()
	refresh := time.NewTicker(presenceRefresh)
	defer refresh.Stop()
	for {
		select {
		case <-ctx.Done():
			for _, s := range c.hub.close() {
				s.closeWith(closeGoing, "server restarting")
			}
			if c.presence != nil {
				c.presence.flush(context.WithoutCancel(ctx))
			}
			return nil
		case <-t.C:
			now := c.now()
			c.visitorLim.sweep(now)
			c.ipLim.sweep(now)
			if on := c.agentsOnline(); on != c.online.Load() {
				c.online.Store(on)
				frame := encode(statusFrame{T: tStatus, Online: on})
				for _, s := range c.hub.all() {
					s.send(frame, "")
				}
			}
		case <-refresh.C:
			if c.presence != nil {
				for _, conv := range c.hub.liveConversations() {
					c.presence.mark(conv, true)
				}
			}
		}
	}
}

// onEvent brings what other parts (and other instances) did to the visitors it concerns.
func (c *Connector) onEvent(e bus.Event) {
	switch e.Topic {
	case bus.MessageAdded, bus.MessageUpdated:
		// Most events are for conversations nobody has open here, or for a message this
		// instance already pushed: both are answered without a store read.
		if e.MessageID == "" || !c.hub.needs(e.ConversationID, e.MessageID) {
			return
		}
		ctx, cancel := context.WithTimeout(c.base, opTimeout)
		defer cancel()
		m, err := c.deps.Store.MessageByID(ctx, e.MessageID)
		if err != nil {
			if !errors.Is(err, inbox.ErrNotFound) {
				c.log.Warn("widget could not load a message to push", "message", e.MessageID, "err", err)
			}
			return
		}
		if visible(m) {
			c.hub.push(e.ConversationID, m.ID, encode(msgFrame{T: tMsg, wireMsg: c.wire(m)}))
		}
	case bus.CustomerMerged:
		// The visitor's conversation may now be another one: their browsers reconnect at once
		// and find it (their cursor stays valid, the timeline only grew).
		for _, s := range append(c.hub.ofCustomer(e.OtherID), c.hub.ofCustomer(e.CustomerID)...) {
			s.closeWith(closeRejoin, "conversation merged")
		}
	case TopicAgentTyping, TopicAgentTypingStopped:
		c.hub.broadcastConv(e.ConversationID, encode(typingFrame{T: tTyping, On: e.Topic == TopicAgentTyping, Name: e.OtherID}))
	case TopicSettingsChanged:
		c.settings.forget(e.OtherID) // saved on another instance (or this one: forgetting twice is free)
	}
}

// AgentTyping shows the visitor(s) of a conversation that an agent is typing (or stopped). The
// console calls it while an agent types a reply; the widget hides the indicator by itself after
// a few seconds, so calling it every few seconds while typing is enough.
func (c *Connector) AgentTyping(ctx context.Context, conversationID, agentName string, typing bool) {
	t := TopicAgentTyping
	if !typing {
		t = TopicAgentTypingStopped
	}
	c.deps.Events.Publish(ctx, bus.Event{Topic: t, ConversationID: conversationID, OtherID: agentName, At: c.now()})
}

// Send is the outbox sender of channel widget. The reply is stored already (the visitor sees it
// when they come back, from the timeline); Send puts it on the visitor's open sockets here (other
// instances push it when the outbox's "sent" event reaches them) and returns its external id,
// "out:<message id>". With an email fallback, a reply to a visitor who has been away for
// OfflineAfter is also emailed; a visitor who left only a little earlier gets the time to come
// back first (the outbox tries again then).
func (c *Connector) Send(ctx context.Context, out inbox.Outbound) (string, error) {
	m := out.Message
	if m.Channel != inbox.ChannelWidget {
		return "", inbox.Permanent(fmt.Errorf("widget connector asked to send a %s message", m.Channel))
	}
	conv := out.Conversation.ID
	if conv == "" {
		conv = m.ConversationID
	}
	ext := outPrefix + m.ID
	live := c.hub.push(conv, m.ID, encode(msgFrame{T: tMsg, wireMsg: c.wire(m)}))
	if live > 0 || c.deps.EmailFallback == nil {
		return ext, nil
	}
	return c.offline(ctx, out, conv, ext)
}

// errVisitorAway is why a reply waits: its visitor left a moment ago and may come back.
var errVisitorAway = errors.New("the visitor left the site a moment ago; waiting before emailing the reply")

// maxDeferrals bounds how often one reply waits for its visitor, whatever their comings and goings.
const maxDeferrals = 3

func (c *Connector) offline(ctx context.Context, out inbox.Outbound, conv, ext string) (string, error) {
	m := out.Message
	i := slices.IndexFunc(out.Customer.Identities, func(id inbox.Identity) bool {
		return id.Kind == inbox.KindEmail && !id.Unreachable
	})
	if i < 0 {
		return ext, nil // no address: the reply waits in the widget for their return
	}
	if _, err := c.deps.State.GetState(ctx, emailedPrefix+m.ID); err == nil {
		return ext, nil // emailed on an earlier attempt
	} else if !errors.Is(err, inbox.ErrNotFound) {
		return "", err
	}
	p, err := c.presence.get(ctx, conv)
	if err != nil {
		return "", err
	}
	now := c.now()
	if p.LiveUntil.After(now) {
		return ext, nil // on the site, connected to another instance, which pushes it
	}
	last := p.LastSeen
	if out.Conversation.LastInboundAt.After(last) {
		last = out.Conversation.LastInboundAt
	}
	if wait := c.cfg.OfflineAfter - now.Sub(last); wait > 0 && out.Attempt <= maxDeferrals {
		return "", &inbox.RetryAfterError{After: wait, Err: errVisitorAway}
	}
	copyMsg, err := c.deps.EmailFallback.Reply(ctx, inbox.ReplyRequest{
		ConversationID: conv, AgentID: m.AuthorID, AgentName: m.AuthorName, Channel: inbox.ChannelEmail,
		Text: m.Text, Attachments: m.Attachments, Meta: copyMeta(m),
	})
	if errors.Is(err, inbox.ErrNoChannel) || errors.Is(err, inbox.ErrInvalid) {
		c.log.Info("widget reply not emailed", "message", m.ID, "err", err)
		return ext, nil
	}
	if err != nil {
		return "", fmt.Errorf("queue the email copy of widget reply %s: %w", m.ID, err)
	}
	if err := c.deps.State.PutState(ctx, emailedPrefix+m.ID, []byte(copyMsg.ID)); err != nil {
		c.log.Warn("could not record that a widget reply was emailed", "message", m.ID, "err", err)
	}
	c.log.Info("widget reply emailed to a visitor who left", "message", m.ID, "copy", copyMsg.ID)
	return ext, nil
}

// copyMeta is the Meta of the email copy of widget reply m: a card stays a card (the email
// connector draws it from the same keys); the widget's own keys stay behind.
func copyMeta(m inbox.Message) map[string]string {
	meta := map[string]string{MetaCopyOf: m.ID}
	if cardOf(m.Meta) == nil {
		return meta
	}
	for k, v := range m.Meta {
		if !strings.HasPrefix(k, "widget.") {
			meta[k] = v
		}
	}
	return meta
}

// resolve finds the conversation of the visitor who carries ids (the deciding one first, as
// Ingest reads them): "" when they have not written yet.
func (c *Connector) resolve(ctx context.Context, ids []inbox.Identity) (conv, customer string, err error) {
	for _, id := range ids {
		if !id.Verified {
			continue
		}
		cid, err := c.deps.Store.CustomerIDByIdentity(ctx, id.Kind, id.Value)
		if errors.Is(err, inbox.ErrNotFound) {
			continue
		}
		if err != nil {
			return "", "", fmt.Errorf("look up %s: %w", id.Kind, err)
		}
		cust, err := c.deps.Store.CustomerByID(ctx, cid)
		for hops := 0; err == nil && cust.MergedInto != "" && hops < 8; hops++ {
			cust, err = c.deps.Store.CustomerByID(ctx, cust.MergedInto)
		}
		if err != nil {
			return "", "", fmt.Errorf("load customer %s: %w", cid, err)
		}
		cv, err := c.deps.Store.ConversationByCustomer(ctx, cust.ID)
		if errors.Is(err, inbox.ErrNotFound) {
			return "", cust.ID, nil
		}
		if err != nil {
			return "", "", fmt.Errorf("conversation of %s: %w", cust.ID, err)
		}
		return cv.ID, cust.ID, nil
	}
	return "", "", nil
}

const (
	initialHistory = 50
	maxHistory     = 200
	maxScan        = 2000
	// resumeMargin covers messages whose place in the timeline (their creation time) is a
	// little earlier than the moment they were committed: a resume repeats what is this close
	// before the cursor, and the browser drops what it has, by id.
	resumeMargin = 30 * time.Second
)

// history is what a (re)connecting browser needs: everything visible after its cursor, or the
// latest messages when it has none (a new page) or is too far behind (reset).
func (c *Connector) history(ctx context.Context, conv, since string) (historyFrame, error) {
	h := historyFrame{T: tHistory, Msgs: []wireMsg{}}
	cur, resuming := parseSeq(since)
	h.Reset = !resuming
	if conv == "" {
		return h, nil
	}
	limit := initialHistory
	if resuming {
		limit = maxHistory
	}
	var before inbox.Cursor
	for scanned := 0; scanned < maxScan; {
		page, err := c.deps.Store.ListMessages(ctx, conv, before, inbox.MaxPage)
		if err != nil {
			return h, err
		}
		for _, m := range page {
			scanned++
			if resuming && m.CreatedAt.Before(cur.At.Add(-resumeMargin)) {
				return reversed(h), nil
			}
			if !visible(m) {
				continue
			}
			if len(h.Msgs) == limit {
				h.Reset = true // too far behind: the browser replaces what it shows
				return reversed(h), nil
			}
			h.Msgs = append(h.Msgs, c.wire(m))
		}
		if len(page) < inbox.MaxPage {
			break
		}
		last := page[len(page)-1]
		before = inbox.Cursor{At: last.CreatedAt, ID: last.ID}
	}
	return reversed(h), nil
}

func reversed(h historyFrame) historyFrame {
	slices.Reverse(h.Msgs)
	return h
}

// wire is a message as the visitor sees it.
func (c *Connector) wire(m inbox.Message) wireMsg {
	w := wireMsg{Seq: seqOf(m), ID: m.ID, Text: m.Text, At: m.CreatedAt}
	if m.Direction == inbox.DirectionIn {
		w.From = "visitor"
		w.Kind = m.Meta[MetaKind]
		if rest, ok := strings.CutPrefix(m.ExternalID, inPrefix); ok {
			if _, cid, ok := strings.Cut(rest, ":"); ok {
				w.CID = cid
			}
		}
	} else {
		w.From = "agent"
		w.Card = cardOf(m.Meta)
		w.Agent = &wireAgent{Name: m.AuthorName}
		if c.deps.AgentAvatar != nil && m.AuthorID != "" {
			w.Agent.Avatar = c.deps.AgentAvatar(m.AuthorID)
		}
	}
	for _, a := range m.Attachments {
		wa := wireAtt{Name: a.Name, Type: a.ContentType, Size: a.Size}
		if c.deps.AttachmentURL != nil {
			wa.URL = c.deps.AttachmentURL(a)
		}
		w.Att = append(w.Att, wa)
	}
	return w
}

// receipt records a visitor's recv/read of an agent reply in their conversation. A reply the
// outbox has not finished yet has no external id, so RecordDelivery (which finds messages by
// it) cannot see it: the store is updated by id instead, which the outbox then respects (it
// does not send a message that is past queued).
func (c *Connector) receipt(ctx context.Context, conv, id string, state inbox.Delivery) error {
	m, err := c.deps.Store.MessageByID(ctx, id)
	if err != nil {
		return err
	}
	if m.ConversationID != conv || m.Direction != inbox.DirectionOut || m.Channel != inbox.ChannelWidget ||
		!slices.Contains(state.Precedes(), m.Delivery) {
		return nil // another visitor's, not a reply, or already as far along
	}
	u := inbox.DeliveryUpdate{State: state, At: c.now()}
	if m.ExternalID != "" && c.deps.Deliveries != nil {
		return c.deps.Deliveries.RecordDelivery(ctx, inbox.ChannelWidget, m.ExternalID, u)
	}
	changed, err := c.deps.Store.UpdateDelivery(ctx, m.ID, u)
	if err != nil {
		return err
	}
	if changed {
		c.deps.Events.Publish(ctx, bus.Event{Topic: bus.MessageUpdated, ConversationID: m.ConversationID,
			CustomerID: m.CustomerID, MessageID: m.ID, At: c.now()})
	}
	return nil
}
