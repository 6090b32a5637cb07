package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"mime"
	"mime/quotedprintable"
	"net/http"
	"net/mail"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/serambi/serambi/commerce"
	"github.com/serambi/serambi/connectors/telegram"
	"github.com/serambi/serambi/demo/shop"
	"github.com/serambi/serambi/inbox"
)

// SimConfig is what the simulator needs: where Serambi is, the secrets its connectors verify, the
// demo's peers, and the shop's world.
type SimConfig struct {
	// BaseURL is Serambi's, e.g. http://127.0.0.1:8080.
	BaseURL string
	// Interval is the average time between two events.
	Interval time.Duration
	World    shop.World
	Secrets  Secrets
	// SupportAddress is the support mailbox customers write to; ShopPhone the number they call.
	SupportAddress, ShopPhone string
	// Agents answer simulated calls: Name and Extension.
	Agents   []Agent
	Mail     *MailServer
	Telegram *TelegramAPI
	WhatsApp *WhatsAppAPI
	// Commerce is read for the shop's side of carts and orders (a shop knows its own).
	Commerce commerce.Store
	Log      *slog.Logger
	// Seed makes the simulation repeatable; zero picks one from the clock.
	Seed uint64
}

// Agent is a demo agent as the phone system knows them.
type Agent struct{ Name, Extension string }

// Simulator plays the shop's customers and the shop itself: customers write in over the real
// connector paths (the widget's WebSocket, Telegram's and WhatsApp's webhooks with their
// signatures, the support mailbox over IMAP, the phone system's CTI webhook), answer agents'
// replies, fill their carts, and their orders move through fulfilment (signed Shopify webhooks).
type Simulator struct {
	cfg    SimConfig
	client *http.Client
	log    *slog.Logger

	byEmail    map[string]int
	byTelegram map[int64]int
	byPhone    map[string]int // digits only

	mu      sync.Mutex
	rnd     *rand.Rand
	pending []answer
	widgets map[int]*widgetVisitor
	seq     int64
	// answerRate is the share of agents' replies that get an answer.
	answerRate float64
	// reserved customers are left to the evaluator: the simulation does not write as them.
	reserved map[int]bool
	ctx      context.Context // set by Run, for work started from the peers' callbacks
}

// answer is a customer's answer to an agent's reply, due at a time.
type answer struct {
	customer int
	channel  inbox.Channel
	due      time.Time
	// inReplyTo and subject thread an email answer.
	inReplyTo, subject string
}

// NewSimulator prepares a simulator; Run starts it.
func NewSimulator(cfg SimConfig) *Simulator {
	if cfg.Interval <= 0 {
		cfg.Interval = 6 * time.Second
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	seed := cfg.Seed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	s := &Simulator{cfg: cfg, client: &http.Client{Timeout: 15 * time.Second}, log: cfg.Log,
		byEmail: map[string]int{}, byTelegram: map[int64]int{}, byPhone: map[string]int{},
		rnd: rand.New(rand.NewPCG(seed, seed^0x5e7a3b1)), widgets: map[int]*widgetVisitor{}, answerRate: 0.75,
		reserved: map[int]bool{}}
	for i, c := range cfg.World.Customers {
		if c.Email != "" {
			s.byEmail[strings.ToLower(c.Email)] = i
		}
		if c.TelegramID != 0 {
			s.byTelegram[c.TelegramID] = i
		}
		if d := digits(c.Phone); d != "" {
			s.byPhone[d] = i
		}
	}
	return s
}

// Reserve leaves customer i to the evaluator, who chats as them on the demo page: the simulation
// neither writes, calls nor answers as them.
func (s *Simulator) Reserve(i int) {
	s.mu.Lock()
	s.reserved[i] = true
	s.mu.Unlock()
}

func (s *Simulator) isReserved(i int) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reserved[i]
}

// Run produces an event every Interval or so (jittered) until ctx is done, and has customers
// answer what agents send them.
func (s *Simulator) Run(ctx context.Context) error {
	s.mu.Lock()
	s.ctx = ctx
	s.mu.Unlock()
	s.listen()
	defer s.closeWidgets()
	for {
		s.mu.Lock()
		wait := time.Duration(float64(s.cfg.Interval) * (0.6 + 0.8*s.rnd.Float64()))
		s.mu.Unlock()
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
		what, err := s.Step(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			s.log.Warn("simulated event failed", "event", what, "err", err)
			continue
		}
		if what != "" {
			s.log.Info("simulated: " + what)
		}
	}
}

// listen has customers answer what agents send them on each channel.
func (s *Simulator) listen() {
	if s.cfg.Telegram != nil {
		s.cfg.Telegram.OnSend(func(m TelegramSent) {
			if i, ok := s.byTelegram[m.ChatID]; ok {
				s.expect(answer{customer: i, channel: inbox.ChannelTelegram})
			}
		})
	}
	if s.cfg.WhatsApp != nil {
		s.cfg.WhatsApp.OnSend(func(m WhatsAppSent) {
			if i, ok := s.byPhone[digits(m.To)]; ok {
				s.expect(answer{customer: i, channel: inbox.ChannelWhatsApp})
			}
		})
	}
	if s.cfg.Mail != nil {
		s.cfg.Mail.OnReceive(func(m ReceivedMail) {
			for _, to := range m.To {
				if i, ok := s.byEmail[strings.ToLower(to)]; ok {
					s.expect(answer{customer: i, channel: inbox.ChannelEmail, inReplyTo: m.MessageID, subject: m.Subject})
					return
				}
			}
		})
	}
}

// expect queues an answer: a customer reads the reply and answers a little later (two to four
// intervals), unless they already have an answer coming on that channel.
func (s *Simulator) expect(a answer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.reserved[a.customer] {
		return
	}
	for _, p := range s.pending {
		if p.customer == a.customer && p.channel == a.channel {
			return
		}
	}
	if s.rnd.Float64() >= s.answerRate {
		return // not every reply gets an answer
	}
	a.due = time.Now().Add(time.Duration(float64(s.cfg.Interval) * (2 + 2*s.rnd.Float64())))
	s.pending = append(s.pending, a)
}

// dueAnswer takes an answer that is due, if there is one.
func (s *Simulator) dueAnswer() (answer, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	for i, p := range s.pending {
		if !p.due.After(now) {
			s.pending = append(s.pending[:i], s.pending[i+1:]...)
			return p, true
		}
	}
	return answer{}, false
}

// Step makes one event happen: a due answer first; otherwise mostly a customer writing in, now and
// then a cart changing, an order moving on or a call. It says what happened.
func (s *Simulator) Step(ctx context.Context) (string, error) {
	if a, ok := s.dueAnswer(); ok {
		c := s.cfg.World.Customers[a.customer]
		text := s.pick(answerPhrases(c.Locale))
		what := fmt.Sprintf("%s answered on %s", c.Name, a.channel)
		if a.channel == inbox.ChannelEmail {
			return what, s.email(ctx, c, text, a.subject, a.inReplyTo)
		}
		return what, s.Write(ctx, a.customer, a.channel, text)
	}
	s.mu.Lock()
	r := s.rnd.Float64()
	s.mu.Unlock()
	switch {
	case r < 0.12 && len(s.cfg.World.CartIDs) > 0:
		return s.ChangeCart(ctx)
	case r < 0.24 && len(s.cfg.World.OrderIDs) > 0:
		return s.MoveOrder(ctx)
	case r < 0.32:
		i, ok := s.customerOn(inbox.ChannelVoice)
		if !ok {
			return "", nil
		}
		outcome := []CallOutcome{CallAnswered, CallAnswered, CallMissed, CallVoicemail}[s.intn(4)]
		_, err := s.Call(ctx, i, outcome)
		return fmt.Sprintf("%s calls (%s)", s.cfg.World.Customers[i].Name, outcome), err
	}
	i, ch, ok := s.someone()
	if !ok {
		return "", nil
	}
	c := s.cfg.World.Customers[i]
	return fmt.Sprintf("%s wrote on %s", c.Name, ch), s.Write(ctx, i, ch, s.say(c))
}

func (s *Simulator) intn(n int) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rnd.IntN(n)
}

// say is something the customer would write: about their latest order or a product, in their
// language (the shop's phrase book).
func (s *Simulator) say(c shop.Customer) string {
	if text := strings.TrimSpace(s.cfg.World.Say(c, s.intn(1000))); text != "" {
		return text
	}
	return s.pick(shop.Phrases(c.Locale))
}

func (s *Simulator) pick(list []string) string {
	if len(list) == 0 {
		return "Halo kak, mau tanya dong"
	}
	return list[s.intn(len(list))]
}

// someone picks a customer and one of their channels that can write in (a phone only calls).
func (s *Simulator) someone() (int, inbox.Channel, bool) {
	cs := s.cfg.World.Customers
	for range 50 {
		i := s.intn(len(cs))
		if s.isReserved(i) {
			continue
		}
		var chans []inbox.Channel
		for _, ch := range cs[i].Channels {
			if s.canWrite(cs[i], ch) {
				chans = append(chans, ch)
			}
		}
		if len(chans) > 0 {
			return i, chans[s.intn(len(chans))], true
		}
	}
	return 0, "", false
}

func (s *Simulator) customerOn(ch inbox.Channel) (int, bool) {
	cs := s.cfg.World.Customers
	for range 50 {
		i := s.intn(len(cs))
		if s.isReserved(i) {
			continue
		}
		if ch == inbox.ChannelVoice && cs[i].Phone != "" && hasChannel(cs[i], inbox.ChannelVoice) {
			return i, true
		}
		if ch != inbox.ChannelVoice && hasChannel(cs[i], ch) && s.canWrite(cs[i], ch) {
			return i, true
		}
	}
	return 0, false
}

func hasChannel(c shop.Customer, ch inbox.Channel) bool {
	for _, x := range c.Channels {
		if x == ch {
			return true
		}
	}
	return false
}

// canWrite says whether the simulator has what the channel needs to write as the customer.
func (s *Simulator) canWrite(c shop.Customer, ch inbox.Channel) bool {
	switch ch {
	case inbox.ChannelEmail:
		return c.Email != "" && s.cfg.Mail != nil
	case inbox.ChannelTelegram:
		return c.TelegramID != 0 && s.cfg.Secrets.TelegramWebhook != ""
	case inbox.ChannelWhatsApp:
		return c.WhatsApp && digits(c.Phone) != "" && s.cfg.Secrets.WhatsAppAppSecret != ""
	case inbox.ChannelWidget:
		return c.ShopID != "" || validVisitorToken(c.WidgetToken)
	}
	return false
}

// Write has customer i send text over the real path of channel ch.
func (s *Simulator) Write(ctx context.Context, i int, ch inbox.Channel, text string) error {
	c := s.cfg.World.Customers[i]
	if !s.canWrite(c, ch) {
		return fmt.Errorf("customer %s cannot write on %s in the demo", c.Name, ch)
	}
	switch ch {
	case inbox.ChannelEmail:
		return s.email(ctx, c, text, "", "")
	case inbox.ChannelTelegram:
		return s.telegramUpdate(ctx, c, text)
	case inbox.ChannelWhatsApp:
		return s.whatsappMessage(ctx, c, text)
	case inbox.ChannelWidget:
		return s.widgetMessage(ctx, i, text)
	}
	return fmt.Errorf("channel %s: %w", ch, inbox.ErrInvalid)
}

func (s *Simulator) next() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq++
	// Ids that grow across runs too: earlier runs' updates and messages are in the store.
	return time.Now().UnixMilli()*100 + s.seq%100
}

// telegramUpdate posts an update to Serambi's webhook as Telegram does in webhook mode.
func (s *Simulator) telegramUpdate(ctx context.Context, c shop.Customer, text string) error {
	id := s.next()
	first, last, _ := strings.Cut(c.Name, " ")
	from := map[string]any{"id": c.TelegramID, "is_bot": false, "first_name": first, "language_code": c.Locale}
	if last != "" {
		from["last_name"] = last
	}
	if c.TelegramUsername != "" {
		from["username"] = c.TelegramUsername
	}
	chat := map[string]any{"id": c.TelegramID, "type": "private", "first_name": first}
	update := map[string]any{"update_id": id % 1_000_000_000, "message": map[string]any{
		"message_id": id % 1_000_000_000_000, "from": from, "chat": chat, "date": time.Now().Unix(), "text": text}}
	body, err := json.Marshal(update)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.cfg.BaseURL+"/webhooks/telegram", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(telegram.SecretHeader, s.cfg.Secrets.TelegramWebhook)
	return doExpect(s.client, req, http.StatusOK)
}

// whatsappMessage posts a signed "messages" webhook as Meta does.
func (s *Simulator) whatsappMessage(ctx context.Context, c shop.Customer, text string) error {
	wa := digits(c.Phone)
	env := map[string]any{"object": "whatsapp_business_account", "entry": []any{map[string]any{
		"id": "102290129340398", "changes": []any{map[string]any{"field": "messages", "value": map[string]any{
			"messaging_product": "whatsapp",
			"metadata":          map[string]string{"display_phone_number": "15550783881", "phone_number_id": s.cfg.Secrets.WhatsAppPhoneID},
			"contacts":          []any{map[string]any{"profile": map[string]string{"name": c.Name}, "wa_id": wa}},
			"messages": []any{map[string]any{"from": wa, "id": "wamid.demo.in." + strconv.FormatInt(s.next(), 36) + randomHex(4),
				"timestamp": strconv.FormatInt(time.Now().Unix(), 10), "type": "text", "text": map[string]string{"body": text}}},
		}}},
	}}}
	return postWhatsApp(ctx, s.client, s.cfg.BaseURL+"/webhooks/whatsapp", s.cfg.Secrets.WhatsAppAppSecret, env)
}

// email delivers a customer's mail into the support mailbox; with inReplyTo it answers that mail.
func (s *Simulator) email(ctx context.Context, c shop.Customer, text, subject, inReplyTo string) error {
	if subject == "" {
		subject = firstWords(text, 7)
	} else if !strings.HasPrefix(strings.ToLower(subject), "re:") {
		subject = "Re: " + subject
	}
	_, domain, _ := strings.Cut(c.Email, "@")
	var b bytes.Buffer
	h := func(k, v string) { fmt.Fprintf(&b, "%s: %s\r\n", k, v) }
	h("From", (&mail.Address{Name: c.Name, Address: c.Email}).String())
	h("To", (&mail.Address{Name: "Serambi Demo Shop", Address: s.cfg.SupportAddress}).String())
	h("Subject", mime.QEncoding.Encode("utf-8", subject))
	h("Date", time.Now().Format(time.RFC1123Z))
	h("Message-ID", "<"+strconv.FormatInt(s.next(), 36)+"."+randomHex(6)+"@"+domain+">")
	if inReplyTo != "" {
		h("In-Reply-To", inReplyTo)
		h("References", inReplyTo)
	}
	h("MIME-Version", "1.0")
	h("Content-Type", "text/plain; charset=utf-8")
	h("Content-Transfer-Encoding", "quoted-printable")
	b.WriteString("\r\n")
	qp := quotedprintable.NewWriter(&b)
	body := text + "\r\n\r\n" + c.Name + "\r\n"
	if _, err := qp.Write([]byte(body)); err != nil {
		return err
	}
	if err := qp.Close(); err != nil {
		return err
	}
	return s.cfg.Mail.Deliver(ctx, b.Bytes())
}

// CallOutcome is how a simulated call ends.
type CallOutcome string

const (
	CallAnswered  CallOutcome = "answered"
	CallMissed    CallOutcome = "missed"
	CallVoicemail CallOutcome = "voicemail"
)

// Call has customer i ring the shop through the phone system's CTI webhook: the call rings the
// agents' extensions, then is answered (and hung up a little later), missed, or ends in voicemail.
// It returns once the call is ringing; the rest follows in the background, each step a few
// seconds (a fraction of the interval) after the last.
func (s *Simulator) Call(ctx context.Context, i int, outcome CallOutcome) (callID string, err error) {
	c := s.cfg.World.Customers[i]
	id := "demo-" + strconv.FormatInt(s.next(), 36)
	var ringing []string
	for _, a := range s.cfg.Agents {
		if a.Extension != "" {
			ringing = append(ringing, a.Extension)
		}
	}
	base := map[string]any{"callId": id, "from": c.Phone, "to": s.cfg.ShopPhone, "direction": "in", "queue": "support"}
	ev := func(extra map[string]any) map[string]any {
		m := map[string]any{}
		for k, v := range base {
			m[k] = v
		}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	if err := s.cti(ctx, ev(map[string]any{"event": "newCall", "user": ringing})); err != nil {
		return id, err
	}
	step := min(max(s.cfg.Interval/2, 500*time.Millisecond), 5*time.Second)
	var rest []map[string]any
	switch outcome {
	case CallAnswered:
		a := s.cfg.Agents[s.intn(len(s.cfg.Agents))]
		rest = append(rest, ev(map[string]any{"event": "answer", "user": a.Name, "answeringNumber": a.Extension}),
			ev(map[string]any{"event": "hangup", "cause": "normalClearing", "user": a.Name, "answeringNumber": a.Extension}))
	case CallMissed:
		rest = append(rest, ev(map[string]any{"event": "hangup", "cause": "noAnswer"}))
	case CallVoicemail:
		rest = append(rest, ev(map[string]any{"event": "hangup", "cause": "voicemail", "transcript": s.say(c)}))
	}
	go func() {
		for _, e := range rest {
			select {
			case <-ctx.Done():
				return
			case <-time.After(step):
			}
			if err := s.cti(ctx, e); err != nil && ctx.Err() == nil {
				s.log.Warn("simulated call event failed", "call", id, "err", err)
			}
		}
	}()
	return id, nil
}

func (s *Simulator) cti(ctx context.Context, ev map[string]any) error {
	body, err := json.Marshal(ev)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.cfg.BaseURL+"/api/v1/voice/cti/"+s.cfg.Secrets.CTIToken, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	return doExpect(s.client, req, http.StatusOK)
}

// doExpect sends req and wants the status; the answer's start is in the error otherwise.
func doExpect(client *http.Client, req *http.Request, want int) error {
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != want {
		var b [300]byte
		n, _ := resp.Body.Read(b[:])
		return fmt.Errorf("%s %s: %s: %s", req.Method, req.URL.Path, resp.Status, strings.TrimSpace(string(b[:n])))
	}
	return nil
}

func digits(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r >= '0' && r <= '9' {
			b.WriteRune(r)
		}
	}
	return b.String()
}

func firstWords(s string, n int) string {
	w := strings.Fields(s)
	if len(w) > n {
		return strings.Join(w[:n], " ") + "…"
	}
	return strings.Join(w, " ")
}

// answerPhrases are what customers say back to an agent.
func answerPhrases(locale string) []string {
	if locale == "en" {
		return []string{"Thanks, that helps!", "Great, thank you so much.", "OK, I'll wait for it.",
			"Perfect, thanks for the quick answer.", "Got it. One more question: do you ship to Surabaya?",
			"Thanks! Could you send me the tracking link as well?"}
	}
	return []string{"Terima kasih kak 🙏", "Oke kak, ditunggu ya.", "Siap, makasih infonya!",
		"Wah cepat banget, makasih kak.", "Oke kak. Satu lagi, bisa kirim ke Surabaya?",
		"Makasih kak! Boleh minta nomor resinya juga?"}
}
