package shop

import (
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/serambi/serambi/commerce"
	"github.com/serambi/serambi/inbox"
)

// thread is one customer's conversation with its timeline, as the inbox would have stored it.
// Agents are named by placeholders ("agent:<n>", n indexing DemoAgents) that Seed replaces with
// the demo's agent ids.
type thread struct {
	customer int
	conv     inbox.Conversation
	msgs     []inbox.Message
}

const agentRef = "agent:"

func agentPlaceholder(n int) string { return agentRef + strconv.Itoa(n) }

// facts are what a message may mention.
type facts struct {
	first, order, product, carrier, tracking, url, amount, agent, store string
	soon                                                                bool // arrives within a day
	soldOut                                                             bool // the product is out of stock
}

func (f facts) fill(s string) string { return f.fillIn(s, "id") }

func (f facts) fillIn(s, locale string) string {
	eta := map[bool]map[string]string{
		true:  {"id": "besok", "en": "tomorrow"},
		false: {"id": "1–2 hari lagi", "en": "within 1–2 days"},
	}[f.soon][locale]
	if eta == "" {
		eta = "1–2 hari lagi"
	}
	return strings.NewReplacer("{first}", f.first, "{order}", f.order, "{product}", f.product, "{carrier}", f.carrier,
		"{tracking}", f.tracking, "{url}", f.url, "{amount}", f.amount, "{agent}", f.agent, "{store}", f.store,
		"{eta}", eta).Replace(s)
}

func sizedProduct(r *rand.Rand) item {
	var sized []item
	for _, it := range catalogue() {
		if it.Sized {
			sized = append(sized, it)
		}
	}
	return pick(r, sized)
}

// candidate is a question a customer could have asked, and when it would make sense.
type candidate struct {
	topic    string
	order    int // index into World.Orders; -1 for none
	from, to time.Time
}

// candidates lists the questions customer ci could have asked over the six months.
func (g *generator) candidates(ci int, orders []int) []candidate {
	c := g.w.Customers[ci]
	limit := g.now.Add(-5 * time.Minute)
	var out []candidate
	add := func(t string, o int, from, to time.Time) {
		if to.After(limit) {
			to = limit
		}
		if from.Before(g.start) {
			from = g.start
		}
		if to.Sub(from) > time.Minute {
			out = append(out, candidate{t, o, from, to})
		}
	}
	reached := func(t time.Time) bool { return !t.IsZero() && !t.After(g.now) }
	for _, k := range orders {
		p := g.plans[k]
		o := g.w.Orders[k]
		switch {
		case o.Cancelled:
			continue
		case reached(p.paid) && p.paid.Sub(p.placed) > 40*time.Minute:
			add(tPayment, k, p.placed.Add(10*time.Minute), p.paid)
		case !reached(p.paid):
			add(tPayment, k, p.placed.Add(10*time.Minute), g.now)
		}
		if !o.Pickup && reached(p.paid) {
			end := p.shipped.Add(-time.Hour)
			if !reached(p.shipped) {
				end = g.now
			}
			add(tAddress, k, p.paid, end)
		}
		if reached(p.shipped) {
			end := p.delivered
			if !reached(end) {
				end = g.now
			}
			add(tShipping, k, p.shipped.Add(20*time.Hour), end)
		}
		if reached(p.ready) {
			end := p.pickedUp
			if !reached(end) {
				end = g.now
			}
			add(tPickup, k, p.ready, end)
		}
		if reached(p.delivered) {
			add(tThanks, k, p.delivered.Add(2*time.Hour), p.delivered.Add(4*24*time.Hour))
			add(tDamaged, k, p.delivered.Add(time.Hour), p.delivered.Add(2*24*time.Hour))
			if reached(p.refunded) {
				add(tReturn, k, p.delivered.Add(24*time.Hour), p.refunded)
			} else if it, _ := itemBySKU(o.Items[0].SKU); it.Sized {
				add(tReturn, k, p.delivered.Add(24*time.Hour), p.delivered.Add(6*24*time.Hour)) // an exchange of sizes
			}
		}
	}
	if c.segment == segProspect {
		add(tPresale, -1, g.start, g.now)
		add(tStock, -1, g.start, g.now)
		return out
	}
	add(tSize, -1, g.start, g.now)
	add(tStock, -1, g.start, g.now)
	add(tPromo, -1, g.start, g.now)
	return out
}

// episode is one question and its handling.
type episode struct {
	candidate
	at      time.Time
	channel inbox.Channel
}

// histories writes the conversations: every regular and prospect has one, and half the buyers.
// Most are resolved; the ones with recent activity are open, pending or snoozed as well.
func (g *generator) histories() {
	byCustomer := make([][]int, len(g.w.Customers))
	for k, p := range g.plans {
		byCustomer[p.customer] = append(byCustomer[p.customer], k)
	}
	callSeq := 0
	for ci := range g.w.Customers {
		c := &g.w.Customers[ci]
		var n, recentPct int
		switch c.segment {
		case segRegular:
			n, recentPct = 3+g.r.IntN(4), 75
		case segProspect:
			n, recentPct = 1, 50
		default:
			if g.r.IntN(100) >= 50 {
				continue
			}
			n, recentPct = 1+g.r.IntN(2), 40
			if g.r.IntN(10) == 0 {
				n = 3
			}
		}
		tour := ci == g.w.tour
		if tour {
			n, recentPct = max(n, 4), 100
		}
		cands := g.candidates(ci, byCustomer[ci])
		if len(cands) == 0 {
			continue
		}
		eps := g.episodes(c, cands, n, g.r.IntN(100) < recentPct)
		if len(eps) == 0 {
			continue
		}
		if tour {
			eps[len(eps)-1] = g.waiting(cands)
		}
		b := &builder{g: g, c: c, th: thread{customer: ci}, callSeq: &callSeq, waiting: tour}
		b.write(eps)
		c.History = true
		g.w.threads = append(g.w.threads, b.th)
	}
}

// waiting is the tour customer's last question: asked on WhatsApp in the last hours and not
// answered yet, so an agent can answer it there (WhatsApp's 24-hour window is open).
func (g *generator) waiting(cands []candidate) episode {
	since := g.now.Add(-6 * time.Hour)
	var fit []candidate
	for _, k := range cands {
		if k.to.After(since) && (k.topic == tShipping || k.topic == tStock || k.topic == tSize) {
			fit = append(fit, k)
		}
	}
	k := candidate{topic: tStock, order: -1, from: since, to: g.now.Add(-5 * time.Minute)}
	if len(fit) > 0 {
		k = fit[0] // a parcel on its way, when there is one
	}
	from := k.from
	if from.Before(since) {
		from = since
	}
	return episode{candidate: k, at: between(g.r, from, k.to), channel: inbox.ChannelWhatsApp}
}

// episodes picks up to n questions at least a day and a half apart, the last one within the
// last four days when recent, and the channel each was asked on. Regulars use their channels in
// turn, so their one conversation shows three or more of them.
func (g *generator) episodes(c *Customer, cands []candidate, n int, recent bool) []episode {
	var eps []episode
	free := func(t time.Time) bool {
		for _, e := range eps {
			if d := t.Sub(e.at); d < 36*time.Hour && d > -36*time.Hour {
				return false
			}
		}
		return true
	}
	if recent {
		horizon := g.now.Add(-4 * 24 * time.Hour)
		var fit []candidate
		for _, k := range cands {
			if k.to.After(horizon) {
				fit = append(fit, k)
			}
		}
		if len(fit) > 0 {
			k := pick(g.r, fit)
			from := k.from
			if from.Before(horizon) {
				from = horizon
			}
			// Bias towards the last day: a lived-in inbox has most of its activity recently.
			if g.r.IntN(2) == 0 && k.to.Sub(from) > 24*time.Hour {
				from = k.to.Add(-24 * time.Hour)
			}
			eps = append(eps, episode{candidate: k, at: between(g.r, from, k.to)})
		}
	}
	for tries := 0; len(eps) < n && tries < 40; tries++ {
		k := pick(g.r, cands)
		at := between(g.r, k.from, k.to)
		if recent && at.After(g.now.Add(-4*24*time.Hour)) {
			continue // the recent one is the last
		}
		if free(at) && !slices.ContainsFunc(eps, func(e episode) bool { return e.topic == k.topic && e.order == k.order }) {
			eps = append(eps, episode{candidate: k, at: at})
		}
	}
	slices.SortFunc(eps, func(a, b episode) int { return a.at.Compare(b.at) })
	chans := slices.Clone(c.Channels)
	g.r.Shuffle(len(chans), func(a, b int) { chans[a], chans[b] = chans[b], chans[a] })
	for i := range eps {
		if c.segment == segRegular {
			eps[i].channel = chans[i%len(chans)]
			continue
		}
		eps[i].channel = g.preferred(c.Channels)
	}
	return eps
}

// preferred picks a channel the way Indonesian shoppers do: WhatsApp first, then email, the
// widget, Telegram, and the phone least.
func (g *generator) preferred(chans []inbox.Channel) inbox.Channel {
	weight := map[inbox.Channel]int{inbox.ChannelWhatsApp: 40, inbox.ChannelEmail: 25, inbox.ChannelWidget: 20,
		inbox.ChannelTelegram: 15, inbox.ChannelVoice: 8}
	total := 0
	for _, ch := range chans {
		total += weight[ch]
	}
	x := g.r.IntN(total)
	for _, ch := range chans {
		if x -= weight[ch]; x < 0 {
			return ch
		}
	}
	return chans[0]
}

// builder writes one conversation's timeline, keeping the conversation row as the inbox would.
type builder struct {
	g       *generator
	c       *Customer
	th      thread
	callSeq *int
	tgSeq   int
	// the email thread of the current episode
	emailRoot, emailSubject, emailLast string
	agent                              int
	// waiting leaves the last question unanswered.
	waiting bool
}

func (b *builder) conv() *inbox.Conversation { return &b.th.conv }

// write writes the episodes, the last one as far as it got by now.
func (b *builder) write(eps []episode) {
	g := b.g
	first := eps[0].at
	*b.conv() = inbox.Conversation{
		ID: g.ids.at(first), Status: inbox.StatusOpen, Tags: []string{}, Channels: []inbox.Channel{}, CreatedAt: first,
	}
	for i, e := range eps {
		final := ""
		if i == len(eps)-1 && g.now.Sub(e.at) < 4*24*time.Hour {
			switch n := g.r.IntN(100); {
			case n < 35:
				final = "open"
			case n < 60:
				final = "pending"
			case n < 70:
				final = "snoozed"
			}
		}
		if i == len(eps)-1 && b.waiting {
			final = "open"
		}
		b.episode(e, final)
	}
	cv := b.conv()
	if cv.Status != inbox.StatusOpen {
		cv.Unread = 0
	}
	slices.Sort(cv.Tags)
}

// agentAt moves t into the team's working hours (08:00-21:00 WIB).
func (b *builder) agentAt(t time.Time) time.Time { return within(b.g.r, t, time.Time{}, 8, 21) }

// episode writes one question: the customer asks, the agent answers, the customer thanks and
// the agent resolves, unless final ("open", "pending", "snoozed") stops it earlier, or now does.
func (b *builder) episode(e episode, final string) {
	g, r, c := b.g, b.g.r, b.c
	t := topicByKey(e.topic)
	loc := c.Locale
	b.agent = pick(r, []int{1, 1, 2, 2, 0})
	f := b.facts(e)
	say := func(l lines) string { return f.fillIn(pick(r, l.in(loc)), loc) }
	b.emailRoot, b.emailSubject, b.emailLast = "", f.fillIn(pick(r, t.subject.in(loc)), loc), ""

	at := e.at
	ch := e.channel
	if ch == inbox.ChannelVoice {
		b.call(e, t, f, final)
		return
	}
	b.inbound(ch, at, say(t.ask))
	if len(t.more.in(loc)) > 0 && r.IntN(3) == 0 {
		at = at.Add(jitter(r, 20*time.Second, 4*time.Minute))
		b.inbound(ch, at, say(t.more))
	}
	if final == "open" {
		return
	}
	reply := b.agentAt(at.Add(jitter(r, 3*time.Minute, 150*time.Minute)))
	if !reply.Before(g.now) {
		return
	}
	b.take(reply.Add(-20*time.Second), t)
	if len(t.note) > 0 && (e.topic == tReturn || e.topic == tDamaged || r.IntN(6) == 0) {
		b.note(reply.Add(-10*time.Second), f.fill(pick(r, t.note)))
	}
	b.outbound(ch, reply, b.answer(e, t, f))
	switch final {
	case "pending":
		b.status(reply.Add(30*time.Second), inbox.StatusPending)
		return
	case "snoozed":
		b.conv().SnoozedUntil = g.now.Add(jitter(r, 20*time.Hour, 3*24*time.Hour)).Truncate(time.Hour)
		b.status(reply.Add(30*time.Second), inbox.StatusSnoozed)
		return
	}
	last := reply
	if len(t.thanks.in(loc)) > 0 && r.IntN(10) < 7 {
		thanks := last.Add(jitter(r, 2*time.Minute, 5*time.Hour))
		if !thanks.Before(g.now) {
			return
		}
		b.inbound(ch, thanks, say(t.thanks))
		last = thanks
		if r.IntN(3) == 0 {
			bye := b.agentAt(thanks.Add(jitter(r, time.Minute, 40*time.Minute)))
			if !bye.Before(g.now) {
				return
			}
			b.outbound(ch, bye, say(t.close))
			last = bye
		}
	}
	done := b.agentAt(last.Add(jitter(r, time.Minute, 90*time.Minute)))
	if done.Before(g.now) {
		b.status(done, inbox.StatusResolved)
	}
}

// answer is the agent's answer to the episode's question.
func (b *builder) answer(e episode, t topic, f facts) string {
	loc := b.c.Locale
	if t.key == tStock {
		// The first answer is for a sold-out product, the second for one still in stock.
		if f.soldOut {
			return f.fillIn(t.answer.in(loc)[0], loc)
		}
		return f.fillIn(t.answer.in(loc)[1], loc)
	}
	if !t.exchange {
		return f.fillIn(pick(b.g.r, t.answer.in(loc)), loc)
	}
	refund := 0
	if e.order >= 0 && b.g.w.Orders[e.order].Refunded > 0 {
		refund = 1
	}
	return f.fillIn(t.answer.in(loc)[refund], loc)
}

// facts gathers what the messages of an episode mention.
func (b *builder) facts(e episode) facts {
	g, r := b.g, b.g.r
	agents := DemoAgents()
	f := facts{first: firstName(b.c.Name), agent: firstName(agents[b.agent].Name),
		store: locBandung + ", Jl. Braga No. 21"}
	if e.order >= 0 {
		o := g.w.Orders[e.order]
		p := g.plans[e.order]
		f.order, f.amount = o.Number, rupiah(o.Total)
		f.product = pick(r, o.Items).Name
		if len(o.Tracking) > 0 {
			f.carrier, f.tracking, f.url = o.Tracking[0].Carrier, o.Tracking[0].Number, o.Tracking[0].URL
		}
		if e.topic == tReturn {
			f.amount = rupiah(o.Refunded)
			f.product = o.Items[0].Name
		}
		f.soon = !p.delivered.IsZero() && p.delivered.Sub(e.at) < 30*time.Hour
		if f.carrier == "" {
			f.carrier = "JNE"
		}
	} else {
		f.product = catalogue()[r.IntN(len(catalogue()))].Name
	}
	if e.topic == tSize {
		f.product = sizedProduct(r).Name
	}
	if e.topic == tStock {
		// People ask about what is running out.
		var scarce []int
		for i, p := range g.w.Products {
			if p.StockState(3) != commerce.StockOK {
				scarce = append(scarce, i)
			}
		}
		p := g.w.Products[pick(r, scarce)]
		f.product, f.soldOut = p.Name, p.StockState(3) == commerce.StockOut
	}
	return f
}

// take is the agent picking the conversation up: assigning it to themselves, and tagging it.
func (b *builder) take(at time.Time, t topic) {
	cv := b.conv()
	me := agentPlaceholder(b.agent)
	if cv.AssigneeID != me {
		b.event(at, inbox.Event{Kind: inbox.EventAssigned, ActorID: me, From: cv.AssigneeID, To: me})
		cv.AssigneeID = me
	}
	tags := slices.Clone(cv.Tags)
	if t.tag != "" && !slices.Contains(tags, t.tag) {
		tags = append(tags, t.tag)
	}
	if (b.c.Tier == "Gold" || b.c.Tier == "Platinum") && !slices.Contains(tags, "vip") {
		tags = append(tags, "vip")
	}
	slices.Sort(tags)
	if !slices.Equal(tags, cv.Tags) {
		b.event(at.Add(time.Second), inbox.Event{Kind: inbox.EventTagged, ActorID: me, From: strings.Join(cv.Tags, ","), To: strings.Join(tags, ",")})
		cv.Tags = tags
	}
	if t.key == tDamaged && cv.Priority != inbox.PriorityHigh {
		b.event(at.Add(2*time.Second), inbox.Event{Kind: inbox.EventPriority, ActorID: me, From: string(cv.Priority), To: string(inbox.PriorityHigh)})
		cv.Priority = inbox.PriorityHigh
	}
}

// status is an agent changing the conversation's status.
func (b *builder) status(at time.Time, s inbox.Status) {
	cv := b.conv()
	b.event(at, inbox.Event{Kind: inbox.EventStatusChanged, ActorID: agentPlaceholder(b.agent), From: string(cv.Status), To: string(s)})
	cv.Status, cv.UpdatedAt = s, at
	if s != inbox.StatusSnoozed {
		cv.SnoozedUntil = time.Time{}
	}
}

func (b *builder) add(m inbox.Message) inbox.Message {
	if m.ID == "" {
		m.ID = b.g.ids.at(m.CreatedAt)
	}
	b.th.msgs = append(b.th.msgs, m)
	cv := b.conv()
	if m.CreatedAt.After(cv.UpdatedAt) {
		cv.UpdatedAt = m.CreatedAt
	}
	if m.Direction == inbox.DirectionIn || m.Direction == inbox.DirectionOut {
		// As the store applies an inbox.Activity.
		if !slices.Contains(cv.Channels, m.Channel) {
			cv.Channels = append(cv.Channels, m.Channel)
		}
		if m.Direction == inbox.DirectionIn {
			cv.Unread++
			cv.LastInboundAt = m.CreatedAt
		} else {
			cv.Unread = 0 // a reply marks the conversation read
		}
		if !m.CreatedAt.Before(cv.LastMessageAt) {
			cv.LastMessageAt, cv.Preview, cv.LastChannel = m.CreatedAt, preview(m.Subject, m.Text), m.Channel
		}
	}
	return m
}

// inbound is the customer writing; a resolved or snoozed conversation reopens, as Ingest does.
func (b *builder) inbound(ch inbox.Channel, at time.Time, text string) {
	g, r, c := b.g, b.g.r, b.c
	m := inbox.Message{Direction: inbox.DirectionIn, Channel: ch, CreatedAt: at, SentAt: at.Add(-jitter(r, time.Second, 4*time.Second))}
	switch ch {
	case inbox.ChannelEmail:
		domain := c.Email[strings.IndexByte(c.Email, '@')+1:]
		m.ExternalID = fmt.Sprintf("%s.%d@%s", g.hex(12), at.Unix(), domain)
		sign := map[string]string{"id": "\n\nTerima kasih,\n", "en": "\n\nBest regards,\n"}[c.Locale]
		m.Text = text + sign + firstName(c.Name)
		m.Meta = map[string]string{"email.from": c.Email, "email.messageId": m.ExternalID, "email.to": ShopEmail, "email.threadBy": "new"}
		m.Subject = b.emailSubject
		if b.emailRoot == "" {
			b.emailRoot = m.ExternalID
		} else {
			m.Subject = "Re: " + b.emailSubject
			m.Meta["email.threadBy"] = "references"
			if b.emailLast != "" {
				m.Meta["email.inReplyTo"] = b.emailLast
				m.Meta["email.references"] = b.emailRoot + " " + b.emailLast
			}
		}
		m.ThreadKey = b.emailRoot
		b.emailLast = m.ExternalID
	case inbox.ChannelWhatsApp:
		m.ExternalID = g.wamid()
		m.Meta = map[string]string{"type": "text"}
	case inbox.ChannelTelegram:
		b.tgSeq++
		m.ExternalID = TelegramBotID + ":" + strconv.FormatInt(c.TelegramID, 10) + ":" + strconv.Itoa(b.tgSeq)
		m.Meta = map[string]string{"chatId": strconv.FormatInt(c.TelegramID, 10), "messageId": strconv.Itoa(b.tgSeq)}
		if c.TelegramUsername != "" {
			m.Meta["username"] = c.TelegramUsername
		}
	case inbox.ChannelWidget:
		m.ExternalID = "v:" + c.anonID + ":" + g.clientID()
		m.Meta = map[string]string{"widget.inbox": WidgetInbox, "widget.page": ShopURL + "/"}
	}
	if m.Text == "" {
		m.Text = text
	}
	b.reopen(b.add(m))
}

// reopen records what Ingest does when a customer writes into a resolved or snoozed conversation.
func (b *builder) reopen(m inbox.Message) {
	cv := b.conv()
	if cv.Status != inbox.StatusResolved && cv.Status != inbox.StatusSnoozed {
		return
	}
	b.event(m.CreatedAt.Add(time.Millisecond), inbox.Event{Kind: inbox.EventReopened, From: string(cv.Status), To: string(inbox.StatusOpen)})
	cv.Status, cv.SnoozedUntil = inbox.StatusOpen, time.Time{}
}

// outbound is an agent's reply, already delivered (the outbox sent it long ago).
func (b *builder) outbound(ch inbox.Channel, at time.Time, text string) {
	g, r := b.g, b.g.r
	agents := DemoAgents()
	m := inbox.Message{Direction: inbox.DirectionOut, Channel: ch, CreatedAt: at, Text: text,
		AuthorID: agentPlaceholder(b.agent), AuthorName: agents[b.agent].Name, UpdatedAt: at.Add(jitter(r, 2*time.Second, 40*time.Second))}
	id := g.ids.at(at)
	m.ID = id
	switch ch {
	case inbox.ChannelEmail:
		sign := map[string]string{"id": "\n\nSalam hangat,\n", "en": "\n\nWarm regards,\n"}[b.c.Locale]
		m.Text = text + sign + agents[b.agent].Name + " — Toko Serambi"
		m.ExternalID = id + "@toko.example"
		m.Subject = "Re: " + b.emailSubject
		if b.emailRoot == "" {
			// The agent writes first: a new thread, keyed by its own Message-ID (email/send.go).
			b.emailRoot, m.Subject = m.ExternalID, b.emailSubject
		}
		m.ThreadKey = b.emailRoot
		m.Delivery = inbox.DeliverySent
		b.emailLast = m.ExternalID
	case inbox.ChannelWhatsApp:
		m.ExternalID = g.wamid()
		m.Delivery = inbox.DeliveryRead
		if g.now.Sub(at) < 3*time.Hour && r.IntN(2) == 0 {
			m.Delivery = inbox.DeliveryDelivered
		}
	case inbox.ChannelTelegram:
		b.tgSeq++
		m.ExternalID = TelegramBotID + ":" + strconv.FormatInt(b.c.TelegramID, 10) + ":" + strconv.Itoa(b.tgSeq)
		m.Delivery = inbox.DeliverySent
	case inbox.ChannelWidget:
		m.ExternalID = "out:" + id
		m.Delivery = inbox.DeliveryRead
	}
	b.add(m)
}

// note is an internal note of the episode's agent.
func (b *builder) note(at time.Time, text string) {
	agents := DemoAgents()
	b.add(inbox.Message{Direction: inbox.DirectionNote, Channel: inbox.ChannelInternal, CreatedAt: at, Text: text,
		AuthorID: agentPlaceholder(b.agent), AuthorName: agents[b.agent].Name})
}

// event records something that happened, as the inbox's own events read.
func (b *builder) event(at time.Time, e inbox.Event) {
	b.add(inbox.Message{Direction: inbox.DirectionEvent, Channel: inbox.ChannelInternal, CreatedAt: at,
		Text: eventText(e), AuthorID: e.ActorID, Event: &e})
}

// eventText is inbox's plain text of an event (inbox/actions.go), for API clients.
func eventText(e inbox.Event) string {
	switch e.Kind {
	case inbox.EventReopened:
		return "Reopened by a new message from the customer"
	case inbox.EventStatusChanged:
		return fmt.Sprintf("Status changed from %s to %s", e.From, e.To)
	case inbox.EventAssigned:
		return "Assigned to " + e.To
	case inbox.EventPriority:
		return "Priority changed to " + e.To
	case inbox.EventTagged:
		return "Tags: " + e.To
	}
	return e.Data["text"]
}

// call writes a phone call as the voice connector records it: the call comes in like a message
// from the caller's number, then answered and ended entries, or a missed call that an agent
// returns on another channel.
func (b *builder) call(e episode, t topic, f facts, final string) {
	g, r, c := b.g, b.g.r, b.c
	*b.callSeq++
	callID := fmt.Sprintf("cti:seed-%05d", *b.callSeq)
	agents := DemoAgents()
	agent := agents[b.agent]
	at := b.agentAt(e.at)
	if !at.Before(g.now) {
		at = e.at
	}
	m := inbox.Message{Direction: inbox.DirectionIn, Channel: inbox.ChannelVoice, ExternalID: callID, Text: "Incoming call",
		CreatedAt: at, SentAt: at,
		Meta: map[string]string{"callId": callID, "source": "cti", "direction": "in", "from": c.Phone, "to": ShopPhone, "queue": "cs"}}
	b.reopen(b.add(m))
	data := func(state string) map[string]string {
		return map[string]string{"callId": callID, "direction": "in", "state": state, "from": c.Phone, "to": ShopPhone,
			"customerNumber": c.Phone, "queue": "cs", "startedAt": at.Format(time.RFC3339)}
	}
	answered := final != "open" && r.IntN(5) != 0
	if !answered {
		rang := int(jitter(r, 15*time.Second, 45*time.Second) / time.Second)
		end := at.Add(time.Duration(rang) * time.Second)
		d := data("missed")
		d["endedAt"], d["ringSeconds"] = end.Format(time.RFC3339), strconv.Itoa(rang)
		d["text"] = fmt.Sprintf("Missed call from %s in queue cs · rang %s", c.Phone, clock(rang))
		b.channelEvent(end, callID+":missed", inbox.Event{Kind: "call_missed", Data: d})
		if final == "open" {
			return
		}
		// Called back in writing, on the customer's other channel.
		alt := slices.DeleteFunc(slices.Clone(c.Channels), func(ch inbox.Channel) bool { return ch == inbox.ChannelVoice })
		reply := b.agentAt(end.Add(jitter(r, 5*time.Minute, 60*time.Minute)))
		if len(alt) == 0 || !reply.Before(g.now) {
			return
		}
		ch := g.preferred(alt)
		b.take(reply.Add(-20*time.Second), t)
		missed := map[string]string{
			"id": "Halo Kak {first}, tadi kami tidak sempat mengangkat telepon dari Kakak 🙏 Ada yang bisa kami bantu?",
			"en": "Hi {first}, sorry we missed your call just now — how can we help?"}[c.Locale]
		b.emailSubject = map[string]string{"id": "Panggilan tak terjawab dari Toko Serambi", "en": "We missed your call"}[c.Locale]
		b.outbound(ch, reply, f.fillIn(missed, c.Locale))
		ask := reply.Add(jitter(r, 3*time.Minute, 2*time.Hour))
		if !ask.Before(g.now) {
			return
		}
		b.inbound(ch, ask, f.fillIn(pick(r, t.ask.in(c.Locale)), c.Locale))
		answer := b.agentAt(ask.Add(jitter(r, 3*time.Minute, 90*time.Minute)))
		if !answer.Before(g.now) {
			return
		}
		b.outbound(ch, answer, b.answer(e, t, f))
		if final == "" {
			if done := answer.Add(jitter(r, 5*time.Minute, 2*time.Hour)); done.Before(g.now) {
				b.status(done, inbox.StatusResolved)
			}
		} else {
			b.status(answer.Add(30*time.Second), inbox.StatusPending)
		}
		return
	}
	pickUp := at.Add(jitter(r, 6*time.Second, 25*time.Second))
	talk := int(jitter(r, 50*time.Second, 7*time.Minute) / time.Second)
	end := pickUp.Add(time.Duration(talk) * time.Second)
	if !end.Before(g.now) {
		return
	}
	b.take(pickUp.Add(-5*time.Second), t)
	who := agent.Name + " (" + agent.Extension + ")"
	d := data("answered")
	d["agent"], d["extension"], d["answeredAt"] = agent.Name, agent.Extension, pickUp.Format(time.RFC3339)
	d["text"] = "Answered by " + who
	b.channelEvent(pickUp, callID+":answered", inbox.Event{Kind: "call_answered", Data: d})
	d = data("ended")
	d["agent"], d["extension"], d["answeredAt"] = agent.Name, agent.Extension, pickUp.Format(time.RFC3339)
	d["endedAt"], d["duration"], d["durationText"] = end.Format(time.RFC3339), strconv.Itoa(talk), clock(talk)
	d["text"] = "Answered by " + who + " · ended after " + clock(talk)
	b.channelEvent(end, callID+":ended", inbox.Event{Kind: "call_ended", Data: d})
	noted := end.Add(jitter(r, 20*time.Second, 3*time.Minute))
	if !noted.Before(g.now) {
		return
	}
	b.note(noted, f.fill(t.call))
	if final == "" {
		if done := noted.Add(jitter(r, time.Minute, 30*time.Minute)); done.Before(g.now) {
			b.status(done, inbox.StatusResolved)
		}
	} else if pending := noted.Add(time.Minute); final != "open" && pending.Before(g.now) {
		b.status(pending, inbox.StatusPending)
	}
}

// channelEvent is an event a channel reported, idempotent on (channel, external id) like the
// voice connector's call entries.
func (b *builder) channelEvent(at time.Time, ext string, e inbox.Event) {
	b.add(inbox.Message{Direction: inbox.DirectionEvent, Channel: inbox.ChannelVoice, ExternalID: ext, CreatedAt: at,
		Text: e.Data["text"], Event: &e})
}

// clock renders seconds as m:ss, as the voice connector does.
func clock(secs int) string { return fmt.Sprintf("%d:%02d", secs/60, secs%60) }

// preview is the inbox's list preview of a message (inbox.preview).
func preview(subject, text string) string {
	p := strings.Join(strings.Fields(text), " ")
	if p == "" {
		p = strings.TrimSpace(subject)
	}
	if utf8.RuneCountInString(p) > 140 {
		p = string([]rune(p)[:139]) + "…"
	}
	return p
}

func (g *generator) hex(n int) string {
	const digits = "0123456789ABCDEF"
	b := make([]byte, n)
	for i := range b {
		b[i] = digits[g.r.IntN(16)]
	}
	return string(b)
}

// wamid is a WhatsApp message id as the Cloud API writes them.
func (g *generator) wamid() string {
	b := make([]byte, 30)
	for i := range b {
		b[i] = byte(g.r.UintN(256))
	}
	return "wamid.HBgN" + base64.RawStdEncoding.EncodeToString(b)
}

// clientID is a widget message's client id: 8-64 characters of base64url.
func (g *generator) clientID() string {
	b := make([]byte, 12)
	for i := range b {
		b[i] = byte(g.r.UintN(256))
	}
	return base64.RawURLEncoding.EncodeToString(b)
}
