package amifake

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/serambi/serambi/connectors/voice/ami"
)

// Call describes one call of the flows below. The flows follow the AMI event sequences that
// Asterisk 12 and later document for these situations (Newchannel, Newstate, DialBegin/DialEnd,
// Queue* and Agent* events, BridgeEnter, BlindTransfer, VarSet, Hangup), with the channel
// snapshot fields every such event carries and a Timestamp line as manager.conf's
// timestampevents=yes adds.
type Call struct {
	// Linkedid is the Uniqueid of the call's first channel, "1700000000.10"; every channel of the
	// call carries it. Later channels get the following Uniqueids.
	Linkedid   string
	Start      time.Time
	Caller     string // the customer's number as the trunk presents it
	CallerName string
	DID        string // the number the customer dialled
	Trunk      string // the trunk's endpoint name
	Queue      string // empty: the call is dialled straight to Agent
	Agent      string // extension of the agent who is rung
	AgentName  string // the agent's queue member name
	Transfer   string // extension a transfer goes to
	Tech       string // channel technology, default PJSIP
}

type channel struct {
	name, uniqueid, linkedid         string
	cidNum, cidName, connNum, connNm string
	context, exten                   string
	state                            int
}

var stateDesc = map[int]string{0: "Down", 4: "Ring", 5: "Ringing", 6: "Up"}

func (ch channel) fields(prefix string) []string {
	return []string{
		prefix + "Channel", ch.name,
		prefix + "ChannelState", strconv.Itoa(ch.state),
		prefix + "ChannelStateDesc", stateDesc[ch.state],
		prefix + "CallerIDNum", ch.cidNum,
		prefix + "CallerIDName", ch.cidName,
		prefix + "ConnectedLineNum", ch.connNum,
		prefix + "ConnectedLineName", ch.connNm,
		prefix + "Language", "en",
		prefix + "AccountCode", "",
		prefix + "Context", ch.context,
		prefix + "Exten", ch.exten,
		prefix + "Priority", "1",
		prefix + "Uniqueid", ch.uniqueid,
		prefix + "Linkedid", ch.linkedid,
	}
}

type flow struct {
	c   Call
	at  time.Duration
	out []ami.Message
	seq int
}

func (c Call) flow() *flow {
	if c.Tech == "" {
		c.Tech = "PJSIP"
	}
	if c.Start.IsZero() {
		c.Start = time.Date(2026, 3, 2, 9, 30, 0, 0, time.UTC)
	}
	return &flow{c: c}
}

// uniqueid returns the Uniqueid of the call's k-th channel (0 is the first).
func (f *flow) uniqueid(k int) string {
	if k == 0 {
		return f.c.Linkedid
	}
	base, n, ok := strings.Cut(f.c.Linkedid, ".")
	i, err := strconv.Atoi(n)
	if !ok || err != nil {
		return fmt.Sprintf("%s-%d", f.c.Linkedid, k)
	}
	return fmt.Sprintf("%s.%d", base, i+k)
}

func (f *flow) newChannel(peer string, k int) channel {
	f.seq++
	return channel{
		name:     fmt.Sprintf("%s/%s-%08x", f.c.Tech, peer, 0x10*k+f.seq),
		uniqueid: f.uniqueid(k), linkedid: f.c.Linkedid,
	}
}

func (f *flow) wait(d time.Duration) { f.at += d }

func (f *flow) event(name string, kv ...string) {
	t := f.c.Start.Add(f.at)
	head := []string{"Privilege", "call,all", "Timestamp", fmt.Sprintf("%d.%06d", t.Unix(), t.Nanosecond()/1000)}
	f.out = append(f.out, ami.NewEvent(name, append(head, kv...)...))
}

func (f *flow) chEvent(name string, ch channel, kv ...string) {
	f.event(name, append(ch.fields(""), kv...)...)
}

func (f *flow) dialEvent(name string, src, dst channel, kv ...string) {
	f.event(name, append(append(src.fields(""), dst.fields("Dest")...), kv...)...)
}

func (f *flow) hangup(ch channel, cause int, text string) {
	f.chEvent("Hangup", ch, "Cause", strconv.Itoa(cause), "Cause-txt", text)
}

// inboundStart is the customer's call arriving on the trunk and, for a queue call, joining it.
func (f *flow) inboundStart() channel {
	trunk := f.newChannel(f.c.Trunk, 0)
	trunk.cidNum, trunk.cidName, trunk.connNum, trunk.connNm = f.c.Caller, f.c.CallerName, "<unknown>", "<unknown>"
	trunk.context, trunk.exten, trunk.state = "from-trunk", f.c.DID, 4
	f.chEvent("Newchannel", trunk)
	if f.c.Queue != "" {
		f.chEvent("Newexten", trunk, "Extension", f.c.DID, "Application", "Answer", "AppData", "")
		trunk.state = 6
		f.chEvent("Newstate", trunk)
		f.chEvent("Newexten", trunk, "Extension", f.c.DID, "Application", "Queue", "AppData", f.c.Queue)
		f.chEvent("QueueCallerJoin", trunk, "Queue", f.c.Queue, "Position", "1", "Count", "1")
	} else {
		f.chEvent("Newexten", trunk, "Extension", f.c.DID, "Application", "Dial", "AppData", f.c.Tech+"/"+f.c.Agent+",30")
	}
	return trunk
}

// ring rings extension ext (the k-th channel of the call) from src.
func (f *flow) ring(src channel, ext, name string, k int, viaQueue bool) channel {
	ag := f.newChannel(ext, k)
	ag.cidNum, ag.cidName, ag.connNum, ag.connNm = ext, name, src.cidNum, src.cidName
	ag.context, ag.exten, ag.state = "from-internal", "s", 0
	f.chEvent("Newchannel", ag)
	if viaQueue {
		f.dialEvent("AgentCalled", src, ag, "Queue", f.c.Queue, "Interface", f.c.Tech+"/"+ext, "MemberName", name)
	}
	f.dialEvent("DialBegin", src, ag, "DialString", ext)
	ag.state = 5
	f.chEvent("Newstate", ag)
	return ag
}

func (f *flow) answer(src, ag *channel, ext, name string) {
	ag.state = 6
	f.chEvent("Newstate", *ag)
	if src.state != 6 {
		src.state = 6
		f.chEvent("Newstate", *src)
	}
	f.dialEvent("DialEnd", *src, *ag, "DialStatus", "ANSWER")
	if f.c.Queue != "" {
		f.chEvent("QueueCallerLeave", *src, "Queue", f.c.Queue, "Count", "0", "Position", "1")
		f.dialEvent("AgentConnect", *src, *ag, "Queue", f.c.Queue, "Interface", f.c.Tech+"/"+ext, "MemberName", name, "HoldTime", "5", "RingTime", "5")
	}
	bridge := "b-" + f.c.Linkedid
	f.event("BridgeCreate", "BridgeUniqueid", bridge, "BridgeType", "basic", "BridgeTechnology", "simple_bridge", "BridgeNumChannels", "0")
	f.event("BridgeEnter", append([]string{"BridgeUniqueid", bridge, "BridgeType", "basic", "BridgeNumChannels", "1"}, src.fields("")...)...)
	f.event("BridgeEnter", append([]string{"BridgeUniqueid", bridge, "BridgeType", "basic", "BridgeNumChannels", "2"}, ag.fields("")...)...)
}

func (f *flow) leave(ch channel) {
	f.event("BridgeLeave", append([]string{"BridgeUniqueid", "b-" + f.c.Linkedid, "BridgeType", "basic"}, ch.fields("")...)...)
}

// Answered is an inbound call that an agent answers and that ends after talk.
func (c Call) Answered(talk time.Duration) []ami.Message {
	f := c.flow()
	trunk := f.inboundStart()
	f.wait(time.Second)
	ag := f.ring(trunk, c.Agent, c.AgentName, 1, c.Queue != "")
	f.wait(5 * time.Second)
	f.answer(&trunk, &ag, c.Agent, c.AgentName)
	f.wait(talk)
	f.leave(ag)
	f.hangup(ag, 16, "Normal Clearing")
	if c.Queue != "" {
		f.chEvent("AgentComplete", trunk, "Queue", c.Queue, "Interface", c.Tech+"/"+c.Agent, "MemberName", c.AgentName, "TalkTime", strconv.Itoa(int(talk.Seconds())), "Reason", "agent")
	}
	f.leave(trunk)
	f.hangup(trunk, 16, "Normal Clearing")
	return f.out
}

// Missed is an inbound call that rings the agent for ring and is abandoned by the caller.
func (c Call) Missed(ring time.Duration) []ami.Message {
	f := c.flow()
	trunk := f.inboundStart()
	f.wait(time.Second)
	ag := f.ring(trunk, c.Agent, c.AgentName, 1, c.Queue != "")
	f.wait(ring)
	f.dialEvent("DialEnd", trunk, ag, "DialStatus", "CANCEL")
	f.hangup(ag, 16, "Normal Clearing")
	if c.Queue != "" {
		f.chEvent("QueueCallerAbandon", trunk, "Queue", c.Queue, "Position", "1", "OriginalPosition", "1", "HoldTime", strconv.Itoa(int(ring.Seconds())))
	}
	f.hangup(trunk, 16, "Normal Clearing")
	return f.out
}

// Voicemail is an inbound call dialled to the agent that nobody answers within ring; the dialplan
// then runs VoiceMail(<agent>@default) and the caller leaves a message of length msg.
func (c Call) Voicemail(ring, msg time.Duration) []ami.Message {
	c.Queue = ""
	f := c.flow()
	trunk := f.inboundStart()
	f.wait(time.Second)
	ag := f.ring(trunk, c.Agent, c.AgentName, 1, c.Queue != "")
	f.wait(ring)
	f.dialEvent("DialEnd", trunk, ag, "DialStatus", "NOANSWER")
	f.hangup(ag, 19, "No user responding")
	f.chEvent("VarSet", trunk, "Variable", "DIALSTATUS", "Value", "NOANSWER")
	f.chEvent("Newexten", trunk, "Extension", c.DID, "Application", "VoiceMail", "AppData", c.Agent+"@default,u")
	trunk.state = 6
	f.chEvent("Newstate", trunk)
	f.wait(msg)
	f.event("MessageWaiting", "Mailbox", c.Agent+"@default", "Waiting", "1", "New", "1", "Old", "0")
	f.chEvent("VarSet", trunk, "Variable", "VMSTATUS", "Value", "SUCCESS")
	f.hangup(trunk, 16, "Normal Clearing")
	return f.out
}

// BlindTransfer is an inbound call that the agent answers and, after talk, transfers blind to
// c.Transfer, who answers and talks for talk again.
func (c Call) BlindTransfer(talk time.Duration) []ami.Message {
	f := c.flow()
	trunk := f.inboundStart()
	f.wait(time.Second)
	ag := f.ring(trunk, c.Agent, c.AgentName, 1, c.Queue != "")
	f.wait(5 * time.Second)
	f.answer(&trunk, &ag, c.Agent, c.AgentName)
	f.wait(talk)
	f.event("BlindTransfer", append(append(append([]string{"Result", "Success"}, prefixed("Transferer", ag)...), prefixed("Transferee", trunk)...),
		"BridgeUniqueid", "b-"+c.Linkedid, "BridgeType", "basic", "IsExternal", "No", "Context", "from-internal", "Extension", c.Transfer)...)
	f.leave(ag)
	f.hangup(ag, 16, "Normal Clearing")
	f.leave(trunk)
	second := f.ring(trunk, c.Transfer, "", 2, false)
	f.wait(3 * time.Second)
	second.state = 6
	f.chEvent("Newstate", second)
	f.dialEvent("DialEnd", trunk, second, "DialStatus", "ANSWER")
	f.event("BridgeEnter", append([]string{"BridgeUniqueid", "b2-" + c.Linkedid, "BridgeType", "basic", "BridgeNumChannels", "1"}, trunk.fields("")...)...)
	f.event("BridgeEnter", append([]string{"BridgeUniqueid", "b2-" + c.Linkedid, "BridgeType", "basic", "BridgeNumChannels", "2"}, second.fields("")...)...)
	f.wait(talk)
	f.hangup(second, 16, "Normal Clearing")
	f.hangup(trunk, 16, "Normal Clearing")
	return f.out
}

func prefixed(p string, ch channel) []string {
	kv := ch.fields("")
	for i := 0; i < len(kv); i += 2 {
		kv[i] = p + kv[i]
	}
	return kv
}

// Outbound is a call the agent dials from their phone to the customer (c.Caller) through the
// trunk. When answered is false the customer does not pick up (DialStatus NOANSWER).
func (c Call) Outbound(answered bool, talk time.Duration) []ami.Message {
	f := c.flow()
	ag := f.newChannel(c.Agent, 0)
	ag.cidNum, ag.cidName, ag.connNum, ag.connNm = c.Agent, c.AgentName, "<unknown>", "<unknown>"
	ag.context, ag.exten, ag.state = "from-internal", c.Caller, 4
	f.chEvent("Newchannel", ag)
	f.chEvent("Newexten", ag, "Extension", c.Caller, "Application", "Dial", "AppData", c.Tech+"/"+c.Caller+"@"+c.Trunk)
	f.outboundLeg(&ag, answered, talk)
	return f.out
}

// outboundLeg dials the customer from the agent's channel ag and ends the call.
func (f *flow) outboundLeg(ag *channel, answered bool, talk time.Duration) {
	c := f.c
	tr := f.newChannel(c.Trunk, 1)
	tr.cidNum, tr.cidName, tr.connNum, tr.connNm = c.Caller, "", ag.cidNum, ag.cidName
	tr.context, tr.exten, tr.state = "from-trunk", "s", 0
	f.chEvent("Newchannel", tr)
	f.dialEvent("DialBegin", *ag, tr, "DialString", c.Caller+"@"+c.Trunk)
	tr.state = 5
	f.chEvent("Newstate", tr)
	f.wait(8 * time.Second)
	if !answered {
		f.dialEvent("DialEnd", *ag, tr, "DialStatus", "NOANSWER")
		f.hangup(tr, 19, "No user responding")
		f.hangup(*ag, 16, "Normal Clearing")
		return
	}
	tr.state = 6
	f.chEvent("Newstate", tr)
	f.dialEvent("DialEnd", *ag, tr, "DialStatus", "ANSWER")
	bridge := "b-" + c.Linkedid
	f.event("BridgeEnter", append([]string{"BridgeUniqueid", bridge, "BridgeType", "basic", "BridgeNumChannels", "1"}, ag.fields("")...)...)
	f.event("BridgeEnter", append([]string{"BridgeUniqueid", bridge, "BridgeType", "basic", "BridgeNumChannels", "2"}, tr.fields("")...)...)
	f.wait(talk)
	f.hangup(tr, 16, "Normal Clearing")
	f.hangup(*ag, 16, "Normal Clearing")
}

// ClickToCall is what Asterisk reports after accepting the Originate action a (Channel
// PJSIP/<agent>, Exten <customer>, Async, ChannelId): the agent's phone rings; when agentAnswers
// it is picked up, OriginateResponse reports success and the dialplan dials the customer, who
// answers or not; otherwise the origination fails with reason 3 (no answer).
func (c Call) ClickToCall(a ami.Message, agentAnswers, customerAnswers bool, talk time.Duration) []ami.Message {
	c.Linkedid = a.Get("ChannelId")
	tech, peer, _ := strings.Cut(a.Get("Channel"), "/")
	c.Tech, c.Agent, c.Caller = tech, peer, a.Get("Exten")
	f := c.flow()
	ag := f.newChannel(c.Agent, 0)
	ag.cidNum, ag.cidName, ag.connNum, ag.connNm = c.Agent, "", "<unknown>", "<unknown>"
	ag.context, ag.exten, ag.state = "default", "", 0
	f.chEvent("Newchannel", ag)
	ag.state = 5
	f.chEvent("Newstate", ag)
	f.wait(4 * time.Second)
	resp := func(ok bool, reason string) {
		r := "Success"
		if !ok {
			r = "Failure"
		}
		f.event("OriginateResponse", "ActionID", a.Get("ActionID"), "Response", r, "Channel", a.Get("Channel"),
			"Context", a.Get("Context"), "Exten", a.Get("Exten"), "Application", "", "Data", "", "Reason", reason,
			"Uniqueid", ag.uniqueid, "CallerIDNum", "<unknown>", "CallerIDName", "<unknown>")
	}
	if !agentAnswers {
		f.hangup(ag, 19, "No user responding")
		resp(false, "3")
		return f.out
	}
	ag.state = 6
	f.chEvent("Newstate", ag)
	resp(true, "4")
	ag.context, ag.exten = a.Get("Context"), a.Get("Exten")
	f.chEvent("Newexten", ag, "Extension", ag.exten, "Application", "Dial", "AppData", c.Tech+"/"+ag.exten+"@"+c.Trunk)
	f.outboundLeg(&ag, customerAnswers, talk)
	return f.out
}
