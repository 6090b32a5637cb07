package voice

import (
	"context"
	"fmt"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/serambi/serambi/connectors/voice/ami"
	"github.com/serambi/serambi/inbox"
)

// Run keeps the Asterisk Manager connection up and turns its events into call updates until
// ctx ends. It returns at once when AMI is not configured. After every (re)connection it lists
// the live channels (CoreShowChannels) and ends the calls whose hang-up it missed meanwhile.
func (c *Connector) Run(ctx context.Context) error {
	if c.ami == nil {
		return nil
	}
	c.log.Info("following calls on the asterisk manager", "config", c.cfg)
	return c.ami.Run(ctx, c.handleAMI, c.reconcileAMI)
}

func (c *Connector) handleAMI(ctx context.Context, m ami.Message) {
	for _, batch := range batches(c.tracker.handle(m, c.now())) {
		c.processRetrying(ctx, batch)
	}
}

// processRetrying applies updates from a stream that cannot be asked to deliver again.
func (c *Connector) processRetrying(ctx context.Context, batch []Update) {
	wait := 200 * time.Millisecond
	for attempt := 1; ; attempt++ {
		_, err := c.Process(ctx, batch...)
		if err == nil || ctx.Err() != nil {
			return
		}
		if attempt == 3 {
			c.log.Error("could not record an asterisk call event", "call", batch[0].CallID, "kind", batch[0].Kind, "err", err)
			return
		}
		if !sleep(ctx, wait) {
			return
		}
		wait *= 4
	}
}

// batches groups consecutive updates of the same call.
func batches(ups []Update) [][]Update {
	var out [][]Update
	for _, u := range ups {
		if n := len(out); n > 0 && out[n-1][0].CallID == u.CallID {
			out[n-1] = append(out[n-1], u)
			continue
		}
		out = append(out, []Update{u})
	}
	return out
}

// reconcileAMI runs after each login: calls that this connector believes active but that have
// no live channel any more ended while the connection was down.
func (c *Connector) reconcileAMI(ctx context.Context, conn *ami.Conn) {
	// Calls seen before the list was asked for and missing from it are over; calls seen since
	// may have started after the list was made.
	started, mark := c.now(), c.tracker.mark()
	_, items, err := conn.ActionList(ctx, ami.NewAction("CoreShowChannels"))
	if err != nil {
		c.log.Warn("could not list live asterisk channels", "err", err)
		return
	}
	live := map[string]bool{}
	for _, it := range items {
		if l := it.Get("Linkedid"); l != "" {
			live[l] = true
		}
	}
	c.tracker.retain(live, mark)
	views, err := c.ActiveCalls(ctx)
	if err != nil {
		c.log.Warn("could not list active calls", "err", err)
		return
	}
	for _, v := range views {
		linkedid, ok := strings.CutPrefix(v.ID, string(SourceAsterisk)+":")
		if !ok || live[linkedid] || !v.UpdatedAt.Before(started) || c.tracker.originating(linkedid) {
			continue
		}
		c.processRetrying(ctx, []Update{{CallID: v.ID, Source: SourceAsterisk, Kind: UpdateHangup, At: c.now(),
			Cause: "ended while Serambi was disconnected from Asterisk"}})
	}
}

// Originate is click-to-call: Asterisk rings the agent's extension and, when the agent picks
// up, runs the configured context with the customer's number, which dials the customer. It
// returns the id of the call, which is recorded in the customer's conversation at once. The
// channel's Uniqueid is set (Originate's ChannelId) to the call's own id, so every event of the
// call is recognised by its Linkedid.
func (c *Connector) Originate(ctx context.Context, agentExtension, customerNumber string) (string, error) {
	if c.ami == nil {
		return "", ErrNotConfigured
	}
	a := c.cfg.AMI
	if !validExtension(agentExtension) {
		return "", fmt.Errorf("extension %q: %w", agentExtension, inbox.ErrInvalid)
	}
	if len(a.Extensions) > 0 && !slices.Contains(a.Extensions, agentExtension) {
		return "", fmt.Errorf("extension %q is not in SERAMBI_VOICE_AMI_EXTENSIONS: %w", agentExtension, inbox.ErrInvalid)
	}
	number := c.nums.phone(customerNumber)
	if number == "" {
		return "", fmt.Errorf("%q is not a phone number: %w", customerNumber, inbox.ErrInvalid)
	}
	dialed, err := dial(number, a.DialFormat)
	if err != nil {
		return "", err
	}
	uid := "serambi-" + inbox.NewID()
	callID := string(SourceAsterisk) + ":" + uid
	c.tracker.expect(uid, originated{number: number, ext: agentExtension, until: c.now().Add(a.OriginateTimeout + 2*time.Minute)})
	resp, err := c.ami.Action(ctx, ami.NewAction("Originate",
		"Channel", a.OriginateTech+"/"+agentExtension,
		"Exten", dialed,
		"Context", a.OriginateContext,
		"Priority", "1",
		// What the agent's phone shows while it rings: whom they are about to call.
		"CallerID", fmt.Sprintf("\"%s\" <%s>", number, agentExtension),
		"Timeout", strconv.FormatInt(a.OriginateTimeout.Milliseconds(), 10),
		"Async", "true",
		"ChannelId", uid,
		"Variable", "SERAMBI_CALL_ID="+callID,
	))
	if err != nil {
		c.tracker.forget(uid)
		return "", fmt.Errorf("originate a call from %s to %s: %w", agentExtension, number, err)
	}
	c.tracker.originateAccepted(uid, resp.Get("ActionID"))
	if _, err := c.Process(ctx, Update{CallID: callID, Source: SourceAsterisk, Kind: UpdateRinging, Direction: DirectionOut,
		From: agentExtension, To: number, Agent: agentExtension, Extension: agentExtension}); err != nil {
		c.log.Warn("click-to-call started but could not be recorded yet", "call", callID, "err", err)
	}
	return callID, nil
}

// tracker follows Asterisk's channels and turns their events into call updates. A call is the
// set of channels sharing a Linkedid (the Uniqueid of its first channel, the originator): an
// originator that is an agent's phone makes an outgoing call, any other an incoming one. Calls
// are followed when they join a configured queue or ring a configured extension (incoming), or
// when a configured extension dials an outside number (outgoing); with neither configured every
// call with an outside party is followed. The tracker's memory is per instance; the call state
// it feeds is shared.
type tracker struct {
	mu            sync.Mutex
	queues        map[string]bool
	exts          map[string]bool
	nums          numbers
	recordingBase string
	calls         map[string]*amiCall
	origins       map[string]*originated // by Linkedid (= the ChannelId given to Originate)
	seen          int
}

type originated struct {
	number, ext, actionID string
	until                 time.Time
}

type amiChannel struct {
	uniqueid, name, peer string
	cidNum, cidName      string
	exten                string
	local, up, hungup    bool
	cause                string
}

type amiCall struct {
	linkedid   string
	channels   map[string]*amiChannel
	originator *amiChannel
	direction  Direction
	followed   bool
	started    time.Time
	lastSeen   time.Time
	lastSeq    int
	customer   string // the outside party's number as Asterisk wrote it
	did        string
	callerName string
	queue      string
	ringing    []string
	answered   bool
	agent, ext string
	vmAttempt  bool
	vmFailed   bool
	recording  string
	transcript string
	transfers  []string
	cause      string
	origin     *originated
}

func newTracker(cfg AMIConfig, nums numbers) *tracker {
	set := func(l []string) map[string]bool {
		m := map[string]bool{}
		for _, s := range l {
			m[s] = true
		}
		return m
	}
	return &tracker{queues: set(cfg.Queues), exts: set(cfg.Extensions), nums: nums, recordingBase: cfg.RecordingBaseURL,
		calls: map[string]*amiCall{}, origins: map[string]*originated{}}
}

func (t *tracker) expect(uid string, o originated) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.origins[uid] = &o
}

func (t *tracker) originateAccepted(uid, actionID string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if o := t.origins[uid]; o != nil {
		o.actionID = actionID
	}
}

func (t *tracker) forget(uid string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.origins, uid)
}

func (t *tracker) originating(uid string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.origins[uid] != nil
}

// mark numbers the events handled so far, for retain.
func (t *tracker) mark() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.seen
}

// retain drops the calls that have no live channel (live holds Linkedids) and that were last
// heard of before mark: a call whose first event came after the list was made is kept.
func (t *tracker) retain(live map[string]bool, mark int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for id, c := range t.calls {
		if !live[id] && c.lastSeq <= mark {
			delete(t.calls, id)
		}
	}
}

// stale is how long a call the tracker never saw end is kept in memory.
const stale = 6 * time.Hour

// handle takes one AMI event and returns the call updates it means, in order.
func (t *tracker) handle(m ami.Message, now time.Time) []Update {
	t.mu.Lock()
	defer t.mu.Unlock()
	at := amiTime(m.Get("Timestamp"), now)
	if t.seen++; t.seen%512 == 0 {
		t.prune(now)
	}
	var out []Update
	switch m.Event() {
	case "Newchannel", "Newstate", "NewCallerid", "NewConnectedLine":
		call, ch := t.see(m, "", at)
		if call == nil {
			return nil
		}
		switch m.Get("ChannelStateDesc") {
		case "Ringing":
			if ch != call.originator && t.isAgent(ch) && call.direction == DirectionIn {
				out = t.ring(out, call, ch.peer, at)
			}
		case "Up":
			out = t.up(out, call, ch, "", at)
		}
		out = t.evaluate(out, call, at)
	case "Newexten":
		call, ch := t.see(m, "", at)
		if call == nil {
			return nil
		}
		if strings.EqualFold(m.Get("Application"), "VoiceMail") {
			call.vmAttempt = true
		}
		exten := m.Get("Exten")
		if exten == "" {
			exten = m.Get("Extension")
		}
		if ch == call.originator && call.direction == DirectionOut && call.customer == "" && exten != "s" {
			call.customer = exten
		}
		out = t.evaluate(out, call, at)
	case "DialBegin":
		call, _ := t.see(m, "", at)
		if call == nil {
			return nil
		}
		dst := t.upsert(call, snapshot(m, "Dest"))
		switch {
		case call.direction == DirectionIn && t.isAgent(dst):
			out = t.ring(out, call, dst.peer, at)
		case call.direction == DirectionOut && !t.isAgent(dst) && !dst.local && call.customer == "":
			call.customer = dialledNumber(m.Get("DialString"), dst.cidNum)
		}
		out = t.evaluate(out, call, at)
	case "DialEnd":
		call, _ := t.see(m, "", at)
		if call == nil {
			return nil
		}
		dst := t.upsert(call, snapshot(m, "Dest"))
		if m.Get("DialStatus") == "ANSWER" {
			out = t.up(out, call, dst, "", at)
		}
	case "AgentCalled":
		call, _ := t.see(m, "", at)
		if call == nil {
			return nil
		}
		fill(&call.queue, m.Get("Queue"))
		if ext := peer(m.Get("Interface")); ext != "" {
			out = t.ring(out, call, ext, at)
		}
		out = t.evaluate(out, call, at)
	case "AgentConnect":
		call, _ := t.see(m, "", at)
		if call == nil {
			return nil
		}
		dst := t.upsert(call, snapshot(m, "Dest"))
		if dst == nil {
			dst = &amiChannel{peer: peer(m.Get("Interface"))}
		}
		out = t.up(out, call, dst, m.Get("MemberName"), at)
	case "QueueCallerJoin":
		call, _ := t.see(m, "", at)
		if call == nil {
			return nil
		}
		fill(&call.queue, m.Get("Queue"))
		out = t.evaluate(out, call, at)
	case "BridgeEnter":
		if bt := m.Get("BridgeType"); bt != "" && bt != "basic" {
			return nil // holding and parking bridges are no conversation
		}
		call, ch := t.see(m, "", at)
		if call == nil {
			return nil
		}
		out = t.up(out, call, ch, "", at)
	case "VarSet":
		out = t.varSet(m, at)
	case "BlindTransfer", "AttendedTransfer":
		if m.Get("Result") != "Success" {
			return nil
		}
		var call *amiCall
		for _, k := range []string{"TransfereeLinkedid", "OrigTransfererLinkedid", "TransfererLinkedid"} {
			if call = t.calls[m.Get(k)]; call != nil {
				break
			}
		}
		target := m.Get("Extension")
		if m.Event() == "AttendedTransfer" {
			target = firstOf(m.Get("SecondTransfererConnectedLineNum"), m.Get("TransferTargetCallerIDNum"))
		}
		if call == nil || target == "" || slices.Contains(call.transfers, target) {
			return nil
		}
		call.transfers = append(call.transfers, target)
		if call.followed {
			out = append(out, t.update(call, UpdateTransfer, at, func(u *Update) { u.TransferTo = target }))
		}
	case "Hangup":
		call, ch := t.see(m, "", at)
		if call == nil {
			return nil
		}
		ch.hungup = true
		ch.cause = firstOf(m.Get("Cause-txt"), m.Get("Cause"))
		if ch == call.originator {
			call.cause = ch.cause
		}
		for _, c := range call.channels {
			if !c.hungup {
				return nil
			}
		}
		out = t.end(out, call, at)
	case "OriginateResponse":
		if m.Get("Response") == "Success" {
			return nil
		}
		for uid, o := range t.origins {
			if uid != m.Get("Uniqueid") && (o.actionID == "" || o.actionID != m.Get("ActionID")) {
				continue
			}
			if call := t.calls[uid]; call != nil && len(call.channels) > 0 {
				return nil // the channel's Hangup ends the call
			}
			delete(t.origins, uid)
			cause := originateReasons[m.Get("Reason")]
			if cause == "" {
				cause = "failed"
			}
			return []Update{{CallID: string(SourceAsterisk) + ":" + uid, Source: SourceAsterisk, Kind: UpdateHangup, At: at, Cause: cause}}
		}
	}
	return out
}

// originateReasons are the Reason codes of a failed OriginateResponse.
var originateReasons = map[string]string{"0": "failed", "1": "hung up", "3": "agent did not answer", "5": "agent busy", "8": "congestion"}

// see finds (or starts) the call and channel an event is about.
func (t *tracker) see(m ami.Message, prefix string, at time.Time) (*amiCall, *amiChannel) {
	s := snapshot(m, prefix)
	if s == nil {
		return nil, nil
	}
	linkedid := m.Get(prefix + "Linkedid")
	if linkedid == "" {
		linkedid = s.uniqueid
	}
	call := t.calls[linkedid]
	if call == nil {
		call = &amiCall{linkedid: linkedid, channels: map[string]*amiChannel{}, started: at}
		if o := t.origins[linkedid]; o != nil {
			call.origin, call.direction, call.customer = o, DirectionOut, o.number
		}
		t.calls[linkedid] = call
	}
	call.lastSeen, call.lastSeq = at, t.seen
	ch := t.upsert(call, s)
	if ch.uniqueid == linkedid && call.originator == nil {
		call.originator = ch
		switch {
		case call.origin != nil:
		case t.isAgent(ch):
			call.direction = DirectionOut
			if ch.exten != "" && ch.exten != "s" {
				call.customer = ch.exten
			}
		default:
			call.direction, call.customer, call.did, call.callerName = DirectionIn, ch.cidNum, ch.exten, ch.cidName
		}
	}
	return call, ch
}

// upsert adds the channel to the call or refreshes what is known of it.
func (t *tracker) upsert(call *amiCall, s *amiChannel) *amiChannel {
	if s == nil {
		return nil
	}
	ch := call.channels[s.uniqueid]
	if ch == nil {
		call.channels[s.uniqueid] = s
		return s
	}
	known := func(v string) bool { return v != "" && v != "<unknown>" }
	if known(s.cidNum) {
		ch.cidNum = s.cidNum
	}
	if known(s.cidName) {
		ch.cidName = s.cidName
	}
	if s.exten != "" {
		ch.exten = s.exten
	}
	return ch
}

// snapshot reads the channel fields an event carries under prefix ("" or "Dest").
func snapshot(m ami.Message, prefix string) *amiChannel {
	name, uid := m.Get(prefix+"Channel"), m.Get(prefix+"Uniqueid")
	if name == "" || uid == "" {
		return nil
	}
	ch := &amiChannel{uniqueid: uid, name: name, cidNum: m.Get(prefix + "CallerIDNum"), cidName: m.Get(prefix + "CallerIDName"), exten: m.Get(prefix + "Exten")}
	ch.local = strings.HasPrefix(name, "Local/")
	ch.peer = peer(name)
	return ch
}

// peer is the endpoint of a channel name: "PJSIP/201-0000000a" → "201", "PJSIP/201" → "201",
// "Local/201@from-queue-00000003;1" → "201@from-queue".
func peer(name string) string {
	_, rest, ok := strings.Cut(name, "/")
	if !ok {
		return ""
	}
	rest, _, _ = strings.Cut(rest, ";")
	if i := strings.LastIndex(rest, "-"); i > 0 && isHex(rest[i+1:]) {
		rest = rest[:i]
	}
	return rest
}

func isHex(s string) bool {
	return s != "" && strings.Trim(strings.ToLower(s), "0123456789abcdef") == ""
}

// isAgent reports whether a channel is an agent's phone: one of the configured extensions, or,
// with none configured, an endpoint named by a short number (trunks have names).
func (t *tracker) isAgent(ch *amiChannel) bool {
	if ch == nil || ch.local {
		return false
	}
	if len(t.exts) > 0 {
		return t.exts[ch.peer]
	}
	return len(ch.peer) >= 2 && len(ch.peer) <= 6 && strings.Trim(ch.peer, "0123456789") == ""
}

func (t *tracker) ring(out []Update, call *amiCall, ext string, at time.Time) []Update {
	if ext == "" || slices.Contains(call.ringing, ext) {
		return out
	}
	call.ringing = append(call.ringing, ext)
	if call.followed && !call.answered {
		out = append(out, t.update(call, UpdateRinging, at, func(u *Update) { u.Ringing = []string{ext} }))
	}
	return out
}

// up takes a channel that is talking: an agent's for an incoming call, the customer's for an
// outgoing one, is the answer. The originator going up is Asterisk answering (IVR, queue) or
// the agent picking up a click-to-call, neither of which is the conversation.
func (t *tracker) up(out []Update, call *amiCall, ch *amiChannel, name string, at time.Time) []Update {
	if ch == nil || ch == call.originator || ch.local || call.answered {
		if ch != nil {
			ch.up = true
		}
		return out
	}
	ch.up = true
	agent := t.isAgent(ch)
	switch {
	case call.direction == DirectionIn && agent:
		if name == "" && ch.cidNum == ch.peer {
			name = ch.cidName
		}
		call.answered, call.agent, call.ext = true, name, ch.peer
	case call.direction == DirectionOut && !agent:
		call.answered = true
	default:
		return out
	}
	if !call.followed {
		return t.evaluate(out, call, at) // which reports the answer with everything else
	}
	return append(out, t.update(call, UpdateAnswered, at, func(u *Update) {
		if call.direction == DirectionIn {
			u.Agent, u.Extension = call.agent, call.ext
		}
	}))
}

func (t *tracker) varSet(m ami.Message, at time.Time) []Update {
	name, value := m.Get("Variable"), m.Get("Value")
	switch name {
	case "VMSTATUS", "MIXMONITOR_FILENAME", "SERAMBI_RECORDING_URL", "SERAMBI_TRANSCRIPT":
	default:
		return nil // the dialplan sets many variables; only these matter
	}
	call, _ := t.see(m, "", at)
	if call == nil {
		return nil
	}
	var out []Update
	switch name {
	case "VMSTATUS":
		call.vmFailed = value != "SUCCESS"
	case "MIXMONITOR_FILENAME":
		if t.recordingBase != "" && value != "" {
			call.recording = t.recordingBase + "/" + path.Base(value)
		}
	case "SERAMBI_RECORDING_URL":
		call.recording = value
	case "SERAMBI_TRANSCRIPT":
		call.transcript = value
		if call.followed && value != "" {
			out = append(out, t.update(call, UpdateTranscript, at, func(u *Update) { u.Transcript = value }))
		}
	}
	return out
}

// evaluate starts following the call when it qualifies, with everything known so far.
func (t *tracker) evaluate(out []Update, call *amiCall, at time.Time) []Update {
	if call.followed || !t.qualifies(call) {
		return out
	}
	call.followed = true
	out = append(out, t.update(call, UpdateRinging, call.started, func(u *Update) { u.Ringing = slices.Clone(call.ringing) }))
	if call.answered {
		out = append(out, t.update(call, UpdateAnswered, at, func(u *Update) {
			if call.direction == DirectionIn {
				u.Agent, u.Extension = call.agent, call.ext
			}
		}))
	}
	return out
}

func (t *tracker) qualifies(call *amiCall) bool {
	if call.origin != nil {
		return true
	}
	if call.originator == nil {
		return false
	}
	all := len(t.queues) == 0 && len(t.exts) == 0
	if call.direction == DirectionOut {
		return t.nums.phone(call.customer) != "" && (all || t.exts[call.originator.peer])
	}
	if all || t.queues[call.queue] {
		return true
	}
	return slices.ContainsFunc(call.ringing, func(e string) bool { return t.exts[e] })
}

// end reports the hang-up of a call whose channels have all hung up, and forgets it.
func (t *tracker) end(out []Update, call *amiCall, at time.Time) []Update {
	delete(t.calls, call.linkedid)
	delete(t.origins, call.linkedid)
	if !call.followed {
		return out
	}
	voicemail := call.vmAttempt && !call.vmFailed && !call.answered
	if call.recording != "" {
		out = append(out, t.update(call, UpdateRecording, at, func(u *Update) {
			u.RecordingURL, u.Voicemail = call.recording, voicemail
		}))
	}
	return append(out, t.update(call, UpdateHangup, at, func(u *Update) {
		u.Cause, u.Voicemail = call.cause, voicemail
	}))
}

// update builds an update of the call carrying the call's descriptive fields.
func (t *tracker) update(call *amiCall, kind UpdateKind, at time.Time, set func(*Update)) Update {
	u := Update{CallID: string(SourceAsterisk) + ":" + call.linkedid, Source: SourceAsterisk, Kind: kind, At: at,
		Direction: call.direction, Queue: call.queue, CallerName: call.callerName}
	if call.direction == DirectionIn {
		u.From, u.To = call.customer, call.did
	} else {
		ext := ""
		if call.origin != nil {
			ext = call.origin.ext
		} else if call.originator != nil {
			ext = call.originator.peer
		}
		u.From, u.To, u.Agent, u.Extension = ext, call.customer, ext, ext
	}
	set(&u)
	return u
}

func (t *tracker) prune(now time.Time) {
	for id, c := range t.calls {
		if now.Sub(c.lastSeen) > stale {
			delete(t.calls, id)
		}
	}
	for id, o := range t.origins {
		if now.After(o.until) {
			delete(t.origins, id)
		}
	}
}

// dialledNumber takes the customer's number out of a Dial string ("+6281234567890@telkom",
// "telkom/081234567890"), or falls back to the dialled channel's caller id.
func dialledNumber(dialString, destCID string) string {
	s, _, _ := strings.Cut(dialString, "@")
	if i := strings.LastIndex(s, "/"); i >= 0 {
		s = s[i+1:]
	}
	if s != "" && strings.Trim(strings.TrimPrefix(s, "+"), "0123456789") == "" {
		return s
	}
	return destCID
}

// amiTime reads the Timestamp that timestampevents=yes adds ("1772443800.123456").
func amiTime(s string, now time.Time) time.Time {
	sec, frac, _ := strings.Cut(s, ".")
	n, err := strconv.ParseInt(sec, 10, 64)
	if err != nil || n <= 0 {
		return now
	}
	us, _ := strconv.ParseInt((frac + "000000")[:6], 10, 64)
	return time.Unix(n, us*1000).UTC()
}

func firstOf(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}
