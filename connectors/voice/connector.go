package voice

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/serambi/serambi/bus"
	"github.com/serambi/serambi/connectors"
	"github.com/serambi/serambi/connectors/voice/ami"
	"github.com/serambi/serambi/inbox"
)

// ErrBusy is returned when a call stayed locked by another instance for too long.
var ErrBusy = errors.New("voice: the call is being updated elsewhere")

// ErrNotConfigured is returned by Originate when no Asterisk connection is configured.
var ErrNotConfigured = errors.New("voice: click-to-call needs SERAMBI_VOICE_AMI_ADDR")

// Inbox is what the connector needs from the inbox; *inbox.Inbox implements it.
type Inbox interface {
	Ingest(ctx context.Context, in inbox.Inbound) (inbox.IngestResult, error)
	AddChannelEvent(ctx context.Context, conversationID string, ch inbox.Channel, externalID string, e inbox.Event) (inbox.Message, bool, error)
	Update(ctx context.Context, conversationID, actorID string, ch inbox.Change) (inbox.Conversation, error)
	Customer(ctx context.Context, id string) (inbox.Customer, error)
	Conversation(ctx context.Context, id string) (inbox.Conversation, error)
	ConversationOfCustomer(ctx context.Context, customerID string) (inbox.Conversation, error)
	Normalizer() inbox.Normalizer
	Store() inbox.Store
}

// Deps are what the connector works with.
type Deps struct {
	Inbox  Inbox
	State  connectors.StateStore
	Events bus.Publisher
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	Log *slog.Logger
	// Instance names this process in the leases that serialise updates of one call across
	// instances (config.InstanceID); it must differ between instances.
	Instance string
	// HTTP fetches recordings; nil means a client with a 60 s timeout.
	HTTP *http.Client
}

// Connector is the call center.
type Connector struct {
	cfg    Config
	inbox  Inbox
	state  connectors.StateStore
	events bus.Publisher
	now    func() time.Time
	log    *slog.Logger
	owner  string
	http   *http.Client
	nums   numbers
	locks  keyedLocks
	// lockWait bounds how long an update waits for a call another instance is updating.
	lockWait time.Duration

	ami     *ami.Client // nil without AMI
	tracker *tracker
}

// Keys in the connector state store.
const (
	callKeyPrefix     = "voice:call:"
	callbackKeyPrefix = "voice:callback:"
	activeKey         = "voice:active"
	lockKeyPrefix     = "voice:lock:"
	lockTTL           = 30 * time.Second
	// staleAfter drops a call from the active list when its end was never reported.
	staleAfter = 12 * time.Hour
	// callbackExpiry: an open call-back task older than this no longer stops a new one.
	callbackExpiry = 7 * 24 * time.Hour
)

// New returns the connector for cfg (LoadFromEnv validates it).
func New(cfg Config, d Deps) *Connector {
	cfg = cfg.WithDefaults()
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	if d.Instance == "" {
		d.Instance = "voice-" + inbox.NewID()
	}
	if d.HTTP == nil {
		d.HTTP = &http.Client{Timeout: 60 * time.Second}
	}
	c := &Connector{
		cfg: cfg, inbox: d.Inbox, state: d.State, events: d.Events, log: d.Log.With("connector", "voice"),
		now: func() time.Time { return d.Now().UTC() }, owner: d.Instance, http: d.HTTP,
		nums:     numbers{norm: d.Inbox.Normalizer(), bare: cfg.BareNumbers},
		locks:    keyedLocks{m: map[string]*keyLock{}},
		lockWait: 20 * time.Second,
	}
	c.tracker = newTracker(cfg.AMI, c.nums)
	if cfg.AMI.Addr != "" {
		c.ami = ami.NewClient(ami.Config{
			Addr:         cfg.AMI.Addr,
			Login:        ami.Login{Username: cfg.AMI.Username, Secret: cfg.AMI.Secret.Reveal(), Events: cfg.AMI.Events},
			PingInterval: cfg.AMI.PingInterval,
		}, c.log)
	}
	return c
}

// Config returns the configuration in use (its secrets print redacted).
func (c *Connector) Config() Config { return c.cfg }

// Process applies updates of one call (all with the same CallID) under the call's lock: it loads
// the call, skips the delivery if its DedupeKey (taken from the first update) was applied
// before, applies the updates, writes the timeline entries and call-back tasks the change
// produces, stores the call and announces it. Timeline writes come before the call is stored and
// are idempotent, so a failure part-way is repaired by the provider's retry.
func (c *Connector) Process(ctx context.Context, ups ...Update) (Call, error) {
	if len(ups) == 0 {
		return Call{}, fmt.Errorf("no update: %w", inbox.ErrInvalid)
	}
	id := ups[0].CallID
	if id == "" || len(id) > 300 {
		return Call{}, fmt.Errorf("call id must be 1-300 bytes: %w", inbox.ErrInvalid)
	}
	ups = slices.Clone(ups)
	for i := range ups {
		if ups[i].CallID != id {
			return Call{}, fmt.Errorf("updates of calls %s and %s in one batch: %w", id, ups[i].CallID, inbox.ErrInvalid)
		}
		ups[i] = c.prepare(ups[i])
	}
	unlock, err := c.lock(ctx, "call:"+id)
	if err != nil {
		return Call{}, err
	}
	defer unlock()
	old, err := c.loadCall(ctx, id)
	if err != nil && !errors.Is(err, inbox.ErrNotFound) {
		return Call{}, err
	}
	if k := ups[0].DedupeKey; k != "" && slices.Contains(old.Seen, k) {
		return old, nil
	}
	nu := old
	for _, u := range ups {
		nu = Apply(nu, u)
	}
	nu.UpdatedAt = c.now()
	if err := c.record(ctx, old, &nu); err != nil {
		return old, fmt.Errorf("call %s: %w", id, err)
	}
	if err := c.saveCall(ctx, nu); err != nil {
		return old, err
	}
	if err := c.track(ctx, old, nu); err != nil {
		c.log.Warn("could not update the list of active calls", "call", id, "err", err)
	}
	c.announce(ctx, old, nu)
	return nu, nil
}

// prepare cleans what a source reported: bounded valid text, numbers in E.164.
func (c *Connector) prepare(u Update) Update {
	if u.At.IsZero() {
		u.At = c.now()
	}
	u.At = u.At.UTC()
	u.From, u.To = clip(u.From, 128), clip(u.To, 128)
	u.FromNumber, u.ToNumber = c.nums.phone(u.From), c.nums.phone(u.To)
	if u.FromNumber != "" {
		u.From = u.FromNumber
	}
	if u.ToNumber != "" {
		u.To = u.ToNumber
	}
	u.CallerName = clip(u.CallerName, 128)
	if withheld[strings.ToLower(u.CallerName)] || c.nums.phone(u.CallerName) != "" {
		u.CallerName = "" // caller ID names that are only the number again, or "<unknown>"
	}
	u.Queue, u.Agent, u.Extension = clip(u.Queue, 128), clip(u.Agent, 128), clip(u.Extension, 128)
	u.TransferTo, u.Cause = clip(u.TransferTo, 128), clip(u.Cause, 128)
	var ringing []string
	for _, r := range u.Ringing {
		if r = clip(r, 128); r != "" && len(ringing) < 20 {
			ringing = append(ringing, r)
		}
	}
	u.Ringing = ringing
	if u.RecordingURL = clip(u.RecordingURL, 2048); u.RecordingURL != "" && !absoluteHTTP(u.RecordingURL) {
		c.log.Warn("ignoring a recording URL that is not http(s)", "call", u.CallID)
		u.RecordingURL = ""
	}
	u.Transcript = clip(u.Transcript, 16<<10)
	return u
}

// record writes what the change from old to c means in the customer's conversation.
func (c *Connector) record(ctx context.Context, old Call, call *Call) error {
	if call.CustomerNumber != "" && call.ConversationID == "" && call.State != "" {
		if err := c.start(ctx, call); err != nil {
			return err
		}
	}
	if call.ConversationID == "" {
		return nil // a withheld number: the call is tracked, but belongs to no customer
	}
	for _, e := range entries(old, *call) {
		if err := c.addEvent(ctx, call, e.suffix, e.event); err != nil {
			return err
		}
	}
	unanswered := func(s State) bool { return s == StateMissed || s == StateVoicemail }
	if call.Direction == DirectionIn && unanswered(call.State) && !unanswered(old.State) {
		if err := c.reopen(ctx, call.ConversationID); err != nil {
			return err
		}
		if err := c.requestCallback(ctx, call); err != nil {
			return err
		}
	}
	if call.Answered() && !old.Answered() {
		if err := c.resolveCallback(ctx, *call); err != nil {
			return err
		}
	}
	return nil
}

// start writes a call's first timeline entry and so finds its customer and conversation. An
// incoming call is ingested like a message from the caller's number: an unknown number becomes a
// customer, a known one joins its customer, and a resolved conversation reopens. An outgoing
// call to a known customer is an event in their conversation (it is not the customer writing);
// to an unknown number it is ingested, which creates the customer.
func (c *Connector) start(ctx context.Context, call *Call) error {
	if call.Direction == DirectionOut {
		owner, err := c.inbox.Store().CustomerIDByIdentity(ctx, inbox.KindPhone, call.CustomerNumber)
		switch {
		case err == nil:
			conv, err := c.inbox.ConversationOfCustomer(ctx, owner)
			if err == nil {
				e := event(*call, EventCallStarted, startedText(*call))
				m, _, err := c.inbox.AddChannelEvent(ctx, conv.ID, inbox.ChannelVoice, call.ID, e)
				if err != nil {
					return fmt.Errorf("record outgoing call: %w", err)
				}
				call.ConversationID, call.CustomerID = m.ConversationID, m.CustomerID
				return nil
			}
			if !errors.Is(err, inbox.ErrNotFound) {
				return fmt.Errorf("conversation of customer %s: %w", owner, err)
			}
		case !errors.Is(err, inbox.ErrNotFound):
			return fmt.Errorf("look up %s: %w", call.CustomerNumber, err)
		}
	}
	text := "Incoming call"
	if call.Direction == DirectionOut {
		text = startedText(*call)
	}
	meta := map[string]string{"callId": call.ID, "source": string(call.Source), "direction": string(call.Direction)}
	for k, v := range map[string]string{"from": call.From, "to": call.To, "queue": call.Queue} {
		if v != "" {
			meta[k] = v
		}
	}
	res, err := c.inbox.Ingest(ctx, inbox.Inbound{
		Channel: inbox.ChannelVoice, ExternalID: call.ID, Name: call.CallerName, Text: text, Meta: meta, SentAt: call.StartedAt,
		From: []inbox.Identity{{Kind: inbox.KindPhone, Value: call.CustomerNumber, Verified: true}},
	})
	if err != nil {
		return fmt.Errorf("ingest call from %s: %w", call.CustomerNumber, err)
	}
	call.CustomerID, call.ConversationID = res.CustomerID, res.Conversation.ID
	if call.ConversationID == "" {
		conv, err := c.inbox.ConversationOfCustomer(ctx, res.CustomerID)
		if err != nil {
			return fmt.Errorf("conversation of customer %s: %w", res.CustomerID, err)
		}
		call.ConversationID, call.CustomerID = conv.ID, conv.CustomerID
	}
	return nil
}

func startedText(c Call) string {
	t := "Outgoing call"
	if w := who(c.Agent, c.Extension); w != "" {
		t += " by " + w
	}
	return t + " to " + c.CustomerNumber
}

// addEvent records one timeline entry of the call. When the conversation is gone (its customer
// was merged into another while the call went on) the entry follows the customer.
func (c *Connector) addEvent(ctx context.Context, call *Call, suffix string, e inbox.Event) error {
	convID, custID, err := c.addChannelEvent(ctx, call.ConversationID, call.CustomerID, call.ID+":"+suffix, e)
	if err != nil {
		return err
	}
	call.ConversationID, call.CustomerID = convID, custID
	return nil
}

func (c *Connector) addChannelEvent(ctx context.Context, convID, custID, externalID string, e inbox.Event) (string, string, error) {
	m, _, err := c.inbox.AddChannelEvent(ctx, convID, inbox.ChannelVoice, externalID, e)
	if errors.Is(err, inbox.ErrNotFound) && custID != "" {
		conv, cerr := c.inbox.ConversationOfCustomer(ctx, custID)
		if cerr != nil {
			return "", "", fmt.Errorf("record %s: %w (and following the customer: %w)", e.Kind, err, cerr)
		}
		m, _, err = c.inbox.AddChannelEvent(ctx, conv.ID, inbox.ChannelVoice, externalID, e)
	}
	if err != nil {
		return "", "", fmt.Errorf("record %s: %w", e.Kind, err)
	}
	return m.ConversationID, m.CustomerID, nil
}

// reopen opens the conversation a missed call belongs to: the customer tried to reach us.
func (c *Connector) reopen(ctx context.Context, convID string) error {
	conv, err := c.inbox.Conversation(ctx, convID)
	if err != nil {
		return err
	}
	if conv.Status == inbox.StatusOpen {
		return nil
	}
	open := inbox.StatusOpen
	if _, err := c.inbox.Update(ctx, convID, "", inbox.Change{Status: &open}); err != nil {
		return fmt.Errorf("reopen conversation %s after a missed call: %w", convID, err)
	}
	return nil
}

// callback is the open "call back" task of one number.
type callback struct {
	CallID         string    `json:"callId,omitempty"`
	ConversationID string    `json:"conversationId,omitempty"`
	CustomerID     string    `json:"customerId,omitempty"`
	RequestedAt    time.Time `json:"requestedAt,omitzero"`
	Missed         int       `json:"missed,omitempty"`
}

// requestCallback adds a "call back" task for the caller's number, unless one is open already
// (three missed calls in a row are one task).
func (c *Connector) requestCallback(ctx context.Context, call *Call) error {
	key := callbackKeyPrefix + call.CustomerNumber
	unlock, err := c.lock(ctx, "callback:"+call.CustomerNumber)
	if err != nil {
		return err
	}
	defer unlock()
	var p callback
	if err := c.getJSON(ctx, key, &p); err != nil && !errors.Is(err, inbox.ErrNotFound) {
		return err
	}
	if p.CallID != "" && c.now().Sub(p.RequestedAt) < callbackExpiry {
		if p.CallID == call.ID {
			return nil
		}
		p.Missed++
		return c.putJSON(ctx, key, p)
	}
	e := inbox.Event{Kind: EventCallbackRequested, Data: map[string]string{
		"text": callbackText(call.CustomerNumber), "callId": call.ID, "customerNumber": call.CustomerNumber, "reason": string(call.State),
	}}
	if err := c.addEvent(ctx, call, "callback", e); err != nil {
		return err
	}
	return c.putJSON(ctx, key, callback{CallID: call.ID, ConversationID: call.ConversationID, CustomerID: call.CustomerID, RequestedAt: c.now(), Missed: 1})
}

// resolveCallback closes the open "call back" task of the call's number: an answered call with
// the customer, in either direction, is the call back.
func (c *Connector) resolveCallback(ctx context.Context, call Call) error {
	if call.CustomerNumber == "" {
		return nil
	}
	key := callbackKeyPrefix + call.CustomerNumber
	unlock, err := c.lock(ctx, "callback:"+call.CustomerNumber)
	if err != nil {
		return err
	}
	defer unlock()
	var p callback
	if err := c.getJSON(ctx, key, &p); errors.Is(err, inbox.ErrNotFound) || (err == nil && p.CallID == "") {
		return nil
	} else if err != nil {
		return err
	}
	text := "Called back"
	switch {
	case p.CallID == call.ID:
		text = "The call was answered after all"
	case call.Direction == DirectionIn:
		text = "The customer called again"
		if w := who(call.Agent, call.Extension); w != "" {
			text += " and was answered by " + w
		}
	default:
		if w := who(call.Agent, call.Extension); w != "" {
			text += " by " + w
		}
	}
	e := inbox.Event{Kind: EventCallbackDone, Data: map[string]string{
		"text": text, "callId": p.CallID, "doneByCallId": call.ID, "customerNumber": call.CustomerNumber,
		"agent": call.Agent, "extension": call.Extension,
	}}
	if _, _, err := c.addChannelEvent(ctx, p.ConversationID, p.CustomerID, p.CallID+":callback_done", e); err != nil {
		return err
	}
	return c.putJSON(ctx, key, callback{})
}

// activeEntry is one call in the list of calls that are not over.
type activeEntry struct {
	ID    string    `json:"id"`
	Since time.Time `json:"since"`
}

// track keeps the list of active calls that ActiveCalls reads, shared by all instances.
func (c *Connector) track(ctx context.Context, old, nu Call) error {
	active := func(s State) bool { return s != "" && !s.Final() }
	if active(old.State) == active(nu.State) {
		return nil
	}
	unlock, err := c.lock(ctx, "active")
	if err != nil {
		return err
	}
	defer unlock()
	var list []activeEntry
	if err := c.getJSON(ctx, activeKey, &list); err != nil && !errors.Is(err, inbox.ErrNotFound) {
		return err
	}
	now := c.now()
	list = slices.DeleteFunc(list, func(e activeEntry) bool { return e.ID == nu.ID || now.Sub(e.Since) > staleAfter })
	if active(nu.State) {
		list = append(list, activeEntry{ID: nu.ID, Since: now})
	}
	return c.putJSON(ctx, activeKey, list)
}

// announce tells the consoles: CallRinging when an incoming call starts ringing (again when it
// rings more agents), bus.CallChanged on every later change of state, agent or transfer.
func (c *Connector) announce(ctx context.Context, old, nu Call) {
	e := bus.Event{ConversationID: nu.ConversationID, CustomerID: nu.CustomerID, OtherID: nu.ID, At: c.now()}
	switch {
	case nu.Direction == DirectionIn && nu.State == StateRinging && (old.State == "" || len(nu.Ringing) > len(old.Ringing)):
		e.Topic = bus.CallRinging
	case nu.State != old.State || nu.Agent != old.Agent || len(nu.Transfers) != len(old.Transfers) ||
		nu.CustomerID != old.CustomerID || (nu.State == StateRinging && len(nu.Ringing) != len(old.Ringing)):
		e.Topic = bus.CallChanged
	default:
		return
	}
	c.events.Publish(ctx, e)
}

// CallView is a call as the console shows it: with the customer's current name, and ids that
// follow merges.
type CallView struct {
	Call
	CustomerName string `json:"customerName,omitempty"`
}

// Call returns the call with id ("twilio:CA…", "asterisk:1700000000.12", "cti:…");
// inbox.ErrNotFound when there is none.
func (c *Connector) Call(ctx context.Context, id string) (CallView, error) {
	call, err := c.loadCall(ctx, id)
	if err != nil {
		return CallView{}, err
	}
	return c.view(ctx, call), nil
}

// ActiveCalls lists the calls that are ringing or in progress, oldest first. It reads the shared
// state, so every instance lists the same calls.
func (c *Connector) ActiveCalls(ctx context.Context) ([]CallView, error) {
	var list []activeEntry
	if err := c.getJSON(ctx, activeKey, &list); err != nil && !errors.Is(err, inbox.ErrNotFound) {
		return nil, err
	}
	out := []CallView{}
	now := c.now()
	for _, e := range list {
		if now.Sub(e.Since) > staleAfter {
			continue
		}
		call, err := c.loadCall(ctx, e.ID)
		if errors.Is(err, inbox.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if call.State.Final() {
			continue
		}
		out = append(out, c.view(ctx, call))
	}
	slices.SortStableFunc(out, func(a, b CallView) int { return a.StartedAt.Compare(b.StartedAt) })
	return out, nil
}

func (c *Connector) view(ctx context.Context, call Call) CallView {
	v := CallView{Call: call}
	v.Seen = nil
	if call.CustomerID == "" {
		return v
	}
	cust, err := c.inbox.Customer(ctx, call.CustomerID)
	if err != nil {
		c.log.Warn("call's customer not found", "call", call.ID, "customer", call.CustomerID, "err", err)
		return v
	}
	v.CustomerName, v.CustomerID = cust.Name, cust.ID
	if cust.ID != call.CustomerID { // merged since: the conversation is the survivor's
		if conv, err := c.inbox.ConversationOfCustomer(ctx, cust.ID); err == nil {
			v.ConversationID = conv.ID
		}
	}
	return v
}

func (c *Connector) loadCall(ctx context.Context, id string) (Call, error) {
	var call Call
	err := c.getJSON(ctx, callKeyPrefix+id, &call)
	return call, err
}

func (c *Connector) saveCall(ctx context.Context, call Call) error {
	return c.putJSON(ctx, callKeyPrefix+call.ID, call)
}

func (c *Connector) getJSON(ctx context.Context, key string, v any) error {
	b, err := c.state.GetState(ctx, key)
	if err != nil {
		return fmt.Errorf("load %s: %w", key, err)
	}
	if len(b) == 0 {
		return fmt.Errorf("load %s: %w", key, inbox.ErrNotFound)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("decode %s: %w", key, err)
	}
	return nil
}

func (c *Connector) putJSON(ctx context.Context, key string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s: %w", key, err)
	}
	if err := c.state.PutState(ctx, key, b); err != nil {
		return fmt.Errorf("store %s: %w", key, err)
	}
	return nil
}

// lock serialises updates of one thing (a call, a number's call-back task, the active list):
// within the process with a mutex, across instances with a lease in the state store.
func (c *Connector) lock(ctx context.Context, name string) (func(), error) {
	unlockLocal, err := c.locks.lock(ctx, name)
	if err != nil {
		return nil, err
	}
	key := lockKeyPrefix + name
	deadline := time.Now().Add(c.lockWait)
	wait := 5 * time.Millisecond
	for {
		ok, err := c.state.AcquireLease(ctx, key, c.owner, c.now(), lockTTL)
		if err != nil {
			unlockLocal()
			return nil, fmt.Errorf("lock %s: %w", name, err)
		}
		if ok {
			break
		}
		if time.Now().After(deadline) {
			unlockLocal()
			return nil, fmt.Errorf("%s: %w", name, ErrBusy)
		}
		if !sleep(ctx, wait) {
			unlockLocal()
			return nil, ctx.Err()
		}
		wait = min(2*wait, 250*time.Millisecond)
	}
	return func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := c.state.ReleaseLease(rctx, key, c.owner); err != nil {
			c.log.Warn("could not release a call lock; it expires by itself", "lock", name, "err", err)
		}
		unlockLocal()
	}, nil
}

// keyedLocks is one mutex per key, created on demand and dropped when nobody holds or waits.
type keyedLocks struct {
	mu sync.Mutex
	m  map[string]*keyLock
}

type keyLock struct {
	ch   chan struct{}
	refs int
}

func (k *keyedLocks) lock(ctx context.Context, key string) (func(), error) {
	k.mu.Lock()
	l := k.m[key]
	if l == nil {
		l = &keyLock{ch: make(chan struct{}, 1)}
		k.m[key] = l
	}
	l.refs++
	k.mu.Unlock()
	release := func() {
		k.mu.Lock()
		if l.refs--; l.refs == 0 {
			delete(k.m, key)
		}
		k.mu.Unlock()
	}
	select {
	case l.ch <- struct{}{}:
	case <-ctx.Done():
		release()
		return nil, ctx.Err()
	}
	return func() { <-l.ch; release() }, nil
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
