// Package demo runs Serambi as a newcomer first sees it: the embedded store in a directory of its
// own, seeded with an Indonesian online shop (package demo/shop), demo logins, every channel
// connected to a stand-in for its provider on loopback, and a simulation of the shop's customers
// writing in over the real connector paths while the evaluator watches.
//
// Every connector is configured through the same SERAMBI_* variables a real install uses; the
// demo only supplies their values (pointing at its stand-ins) over the process environment.
package demo

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/serambi/serambi/agents"
	"github.com/serambi/serambi/cmd/serambi/instance"
	"github.com/serambi/serambi/commerce"
	"github.com/serambi/serambi/config"
	"github.com/serambi/serambi/demo/shop"
	"github.com/serambi/serambi/inbox"
)

// Options are the `serambi demo` flags.
type Options struct {
	// Dir holds the demo's store, mailbox and secrets (default ./demo-data).
	Dir string
	// Listen is the console's address (default 127.0.0.1:8080; 127.0.0.1:0 picks a free port).
	Listen string
	// Simulate runs the live simulation.
	Simulate bool
	// Interval is the average time between simulated events (default 6s).
	Interval time.Duration
	// Reset deletes Dir first, for a fresh shop.
	Reset bool
	// Getenv reads the process environment (os.Getenv); the demo's values go over it.
	Getenv func(string) string
	// Stderr receives the logs.
	Stderr io.Writer
	// Seed makes the simulation repeatable (tests); zero picks one.
	Seed uint64
}

// Passwords of the demo logins; the README lists them with DemoAgents' emails.
const (
	AdminPassword = "demo-admin-pass"
	AgentPassword = "demo-agent-pass"
)

// Login is one demo account.
type Login struct {
	Email, Password, Name, Role, Locale, Extension string
}

// Logins lists the demo accounts: the shop's support team that the seeded history is written by
// (shop.DemoAgents: an admin, then two agents, with phone extensions so that calls ring them and
// the screen-pop names who answered).
func Logins() []Login {
	var out []Login
	for _, a := range shop.DemoAgents() {
		pw := AgentPassword
		if a.Role == string(agents.RoleAdmin) {
			pw = AdminPassword
		}
		out = append(out, Login{Email: a.Email, Password: pw, Name: a.Name, Role: a.Role, Locale: a.Locale, Extension: a.Extension})
	}
	return out
}

// AgentLogin is the demo agent the tour signs in as (the first who is not an admin).
func AgentLogin() Login {
	for _, l := range Logins() {
		if l.Role != string(agents.RoleAdmin) {
			return l
		}
	}
	return Logins()[0]
}

// Secrets are the demo's connector credentials: made once per demo directory and kept there
// (mode 0600), so that a restarted demo is the same shop; never logged.
type Secrets struct {
	TelegramToken     string `json:"telegramToken"`
	TelegramWebhook   string `json:"telegramWebhookSecret"`
	WhatsAppToken     string `json:"whatsappToken"`
	WhatsAppAppSecret string `json:"whatsappAppSecret"`
	WhatsAppVerify    string `json:"whatsappVerifyToken"`
	WhatsAppPhoneID   string `json:"whatsappPhoneNumberId"`
	ShopifyWebhook    string `json:"shopifyWebhookSecret"`
	CTIToken          string `json:"ctiToken"`
	WidgetJWT         string `json:"widgetJwtSecret"`
	WidgetInbox       string `json:"widgetInbox"`
	IMAPPassword      string `json:"imapPassword"`
	// ShopAPIKey is the shop's key for Serambi's commerce API (created on first start).
	ShopAPIKey string `json:"shopApiKey,omitempty"`
}

// state is what the demo keeps in Dir/demo.json.
type state struct {
	Secrets  Secrets   `json:"secrets"`
	SeededAt time.Time `json:"seededAt,omitzero"`
}

const stateFile = "demo.json"

// Demo is a running demo.
type Demo struct {
	Instance *instance.Instance
	Mail     *MailServer
	Telegram *TelegramAPI
	WhatsApp *WhatsAppAPI
	Sim      *Simulator
	World    shop.World
	Secrets  Secrets
	// Seeded says this start seeded the shop (false when the directory had it already).
	Seeded bool
	// BaseURL is where browsers reach the console.
	BaseURL string
	// SeedTook and StartTook are how long seeding and the whole start took.
	SeedTook, StartTook time.Duration

	dir string
	log *slog.Logger
	// tour is TourCustomer's answer, chosen once at start.
	tour    int
	tourOK  bool
	stopSim context.CancelFunc
	simDone sync.WaitGroup
	once    sync.Once
	err     error
}

// Start starts the demo: its peers, Serambi wired to them, the seeded shop, the logins and (with
// Simulate) the simulation. Shutdown stops it all.
func Start(ctx context.Context, o Options) (*Demo, error) {
	began := time.Now()
	if o.Dir == "" {
		o.Dir = "./demo-data"
	}
	if o.Listen == "" {
		o.Listen = config.DefaultListen
	}
	if o.Getenv == nil {
		o.Getenv = func(string) string { return "" }
	}
	if o.Stderr == nil {
		o.Stderr = io.Discard
	}
	if err := prepareDir(o.Dir, o.Reset); err != nil {
		return nil, err
	}
	st, err := loadState(o.Dir)
	if err != nil {
		return nil, err
	}
	d := &Demo{Secrets: st.Secrets, dir: o.Dir}
	// The demo's own lines (what the simulation does) at info; Serambi's at warn unless the
	// environment asks otherwise.
	d.log = slog.New(slog.NewTextHandler(o.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo})).With("part", "demo")

	peerLog := d.log.With("peer", "mail")
	if d.Mail, err = StartMail(shop.ShopEmail, st.Secrets.IMAPPassword, filepath.Join(o.Dir, "mailbox"), peerLog); err != nil {
		return nil, err
	}
	if d.Telegram, err = StartTelegram(st.Secrets.TelegramToken); err != nil {
		d.closePeers()
		return nil, err
	}
	if d.WhatsApp, err = StartWhatsApp("v20.0", st.Secrets.WhatsAppToken, st.Secrets.WhatsAppPhoneID, st.Secrets.WhatsAppAppSecret, d.log.With("peer", "whatsapp")); err != nil {
		d.closePeers()
		return nil, err
	}

	cfg, err := config.Load(d.Env(o.Getenv, o.Dir, o.Listen))
	if err != nil {
		d.closePeers()
		return nil, fmt.Errorf("configuration:\n%w", err)
	}
	log := cfg.Logger(o.Stderr)
	in, err := instance.Start(ctx, cfg, log, instance.WithRoutes(productImages))
	if err != nil {
		d.closePeers()
		return nil, err
	}
	d.Instance = in
	d.BaseURL = cfg.BaseURL
	if cfg.BaseURLFromListen {
		d.BaseURL = in.URL()
	}
	d.WhatsApp.SetWebhook(in.URL() + "/webhooks/whatsapp")

	fail := func(err error) (*Demo, error) {
		_ = d.Shutdown(context.WithoutCancel(ctx))
		return nil, err
	}
	storage := in.Storage()
	refs, err := ensureLogins(ctx, in.Agents)
	if err != nil {
		return fail(err)
	}
	seedAt := st.SeededAt
	if seedAt.IsZero() {
		seedAt = time.Now().UTC().Truncate(time.Second)
	}
	// Seed writes nothing when the store holds the shop already; it returns the world either way.
	seedBegan := time.Now()
	d.World, err = shop.Seed(ctx, shop.Stores{Inbox: storage.Store, Blobs: storage.Blobs, Commerce: storage.Commerce,
		Region: cfg.DefaultRegion, BaseURL: d.BaseURL, Log: log.With("part", "demo-seed"), Agents: refs}, seedAt)
	if err != nil {
		return fail(fmt.Errorf("seed the demo shop: %w", err))
	}
	d.SeedTook = time.Since(seedBegan)
	if st.SeededAt.IsZero() {
		st.SeededAt, d.Seeded = seedAt, true
	}
	if st.Secrets.ShopAPIKey == "" {
		_, secret, err := agents.NewAPIKeys(storage.Store, time.Now).Create(ctx, "Demo shop (simulated orders)")
		if err != nil {
			return fail(fmt.Errorf("demo shop API key: %w", err))
		}
		st.Secrets.ShopAPIKey = secret
	}
	d.Secrets = st.Secrets
	if err := saveState(o.Dir, st); err != nil {
		return fail(err)
	}
	d.tour, d.tourOK = d.pickTourCustomer(ctx)
	if o.Simulate {
		simCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
		d.stopSim = stop
		d.Sim = d.Simulator(o.Interval, o.Seed)
		if i, ok := d.TourCustomer(); ok {
			d.Sim.Reserve(i) // the printed chat link signs the evaluator in as them
		}
		d.simDone.Add(1)
		go func() {
			defer d.simDone.Done()
			_ = d.Sim.Run(simCtx)
		}()
	}
	d.StartTook = time.Since(began)
	return d, nil
}

// Simulator returns a simulator wired to this demo (Start makes one with Simulate).
func (d *Demo) Simulator(interval time.Duration, seed uint64) *Simulator {
	var as []Agent
	for _, l := range Logins() {
		as = append(as, Agent{Name: l.Name, Extension: l.Extension})
	}
	return NewSimulator(SimConfig{BaseURL: d.Instance.URL(), Interval: interval, World: d.World, Secrets: d.Secrets,
		SupportAddress: shop.ShopEmail, ShopPhone: shop.ShopPhone, Agents: as, Mail: d.Mail, Telegram: d.Telegram,
		WhatsApp: d.WhatsApp, Commerce: d.Instance.Storage().Commerce, Log: d.log, Seed: seed})
}

// Shutdown stops the simulation, Serambi and the peers. Calling it again returns the first result.
func (d *Demo) Shutdown(ctx context.Context) error {
	d.once.Do(func() {
		if d.stopSim != nil {
			d.stopSim()
			d.simDone.Wait()
		}
		var errs []error
		if d.Instance != nil {
			errs = append(errs, d.Instance.Shutdown(ctx))
		}
		errs = append(errs, d.closePeers())
		d.err = errors.Join(errs...)
	})
	return d.err
}

func (d *Demo) closePeers() error {
	var errs []error
	if d.WhatsApp != nil {
		errs = append(errs, d.WhatsApp.Close())
	}
	if d.Telegram != nil {
		errs = append(errs, d.Telegram.Close())
	}
	if d.Mail != nil {
		errs = append(errs, d.Mail.Close())
	}
	return errors.Join(errs...)
}

// Env is the process environment with the demo's settings over it: the store in dir, and every
// channel pointed at the demo's stand-ins. Logging and a few presentation settings stay the
// environment's to choose.
func (d *Demo) Env(getenv func(string) string, dir, listen string) func(string) string {
	s := d.Secrets
	host := func(addr string) (string, string) {
		h, p, _ := strings.Cut(addr, ":")
		return h, p
	}
	imapHost, imapPort := host(d.Mail.IMAPAddr())
	smtpHost, smtpPort := host(d.Mail.SMTPAddr())
	templates, _ := json.Marshal([]map[string]any{
		{"name": "order_update", "language": "id", "params": 2, "text": "Halo kak, pesanan {{1}} sudah {{2}}. Terima kasih sudah belanja di Serambi Demo Shop!"},
		{"name": "order_update", "language": "en", "params": 2, "text": "Hi, your order {{1}} is {{2}}. Thank you for shopping with Serambi Demo Shop!"},
		{"name": "follow_up", "language": "id", "params": 0, "text": "Halo kak, ada yang bisa kami bantu lagi? Balas pesan ini untuk lanjut chat."},
	})
	forced := map[string]string{
		"SERAMBI_DATA_DIR":    dir,
		"SERAMBI_LISTEN":      listen,
		"SERAMBI_MONGODB_URI": "",
		// A demo's settings are its own, whatever the shell has for a real install.
		"SERAMBI_EMAIL_MAILBOXES": "",
		"SERAMBI_EMAIL_ADDRESS":   shop.ShopEmail, "SERAMBI_EMAIL_NAME": "Serambi Demo Shop",
		"SERAMBI_EMAIL_IMAP_HOST": imapHost, "SERAMBI_EMAIL_IMAP_PORT": imapPort, "SERAMBI_EMAIL_IMAP_TLS": "none",
		"SERAMBI_EMAIL_IMAP_PASSWORD": s.IMAPPassword, "SERAMBI_EMAIL_IMAP_POLL": "5s",
		"SERAMBI_EMAIL_SMTP_HOST": smtpHost, "SERAMBI_EMAIL_SMTP_PORT": smtpPort, "SERAMBI_EMAIL_SMTP_TLS": "none",
		"SERAMBI_TELEGRAM_TOKEN": s.TelegramToken, "SERAMBI_TELEGRAM_API_URL": d.Telegram.URL(),
		"SERAMBI_TELEGRAM_MODE": "webhook", "SERAMBI_TELEGRAM_WEBHOOK_SECRET": s.TelegramWebhook,
		// Telegram only posts to https: a real install gives its public URL. The stand-in takes
		// it and the simulator posts to Serambi's route directly.
		"SERAMBI_TELEGRAM_WEBHOOK_URL":  "https://demo.serambi.id/webhooks/telegram",
		"SERAMBI_WHATSAPP_ACCESS_TOKEN": s.WhatsAppToken, "SERAMBI_WHATSAPP_APP_SECRET": s.WhatsAppAppSecret,
		"SERAMBI_WHATSAPP_VERIFY_TOKEN": s.WhatsAppVerify, "SERAMBI_WHATSAPP_PHONE_NUMBER_ID": s.WhatsAppPhoneID,
		"SERAMBI_WHATSAPP_GRAPH_URL": d.WhatsApp.URL(), "SERAMBI_WHATSAPP_TEMPLATES": string(templates),
		"SERAMBI_VOICE_CTI_TOKEN":        s.CTIToken,
		"SERAMBI_SHOPIFY_WEBHOOK_SECRET": s.ShopifyWebhook, "SERAMBI_SHOPIFY_SHOP": "", "SERAMBI_SHOPIFY_ACCESS_TOKEN": "",
		"SERAMBI_COMMERCE_CURRENCY": "IDR",
		"SERAMBI_WIDGET_ENABLED":    "true", "SERAMBI_WIDGET_DEMO": "true", "SERAMBI_WIDGET_INBOX": s.WidgetInbox,
		"SERAMBI_WIDGET_JWT_SECRET": s.WidgetJWT, "SERAMBI_WIDGET_ORIGINS": "",
		// Every simulated visitor and the evaluator's browser share 127.0.0.1.
		"SERAMBI_WIDGET_RATE_IP": "1000/1m",
	}
	defaults := map[string]string{
		"SERAMBI_LOG_FORMAT": "text", "SERAMBI_LOG_LEVEL": "warn",
		"SERAMBI_WIDGET_NAME": "Serambi Demo Shop", "SERAMBI_WIDGET_COLOR": "#9a3412",
		"SERAMBI_WIDGET_GREETING_ID": "Halo! Ada yang bisa kami bantu? Kami biasanya membalas dalam beberapa menit.",
		"SERAMBI_WIDGET_GREETING_EN": "Hi! How can we help? We usually answer within minutes.",
		"SERAMBI_SHUTDOWN_TIMEOUT":   "10s",
	}
	return func(k string) string {
		if v, ok := forced[k]; ok {
			return v
		}
		if v := getenv(k); v != "" {
			return v
		}
		return defaults[k]
	}
}

// productImages serves the demo shop's product pictures at /demo/img/<sku>.svg.
func productImages(e *echo.Echo) {
	e.GET("/demo/img/:file", func(c echo.Context) error {
		sku, ok := strings.CutSuffix(c.Param("file"), ".svg")
		if !ok {
			return echo.ErrNotFound
		}
		svg, ok := shop.ProductImageSVG(sku)
		if !ok {
			return echo.ErrNotFound
		}
		h := c.Response().Header()
		h.Set("Cache-Control", "public, max-age=86400")
		h.Set("X-Content-Type-Options", "nosniff")
		// An SVG opened on its own is a document: it may draw, never run anything.
		h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
		return c.Blob(http.StatusOK, "image/svg+xml", svg)
	})
}

// ensureLogins creates the demo accounts that do not exist yet, with their extensions, and
// returns them in Logins order for the seed's history.
func ensureLogins(ctx context.Context, svc *agents.Service) ([]shop.AgentRef, error) {
	var refs []shop.AgentRef
	for _, l := range Logins() {
		a, err := svc.Store().AgentByEmail(ctx, l.Email)
		if errors.Is(err, inbox.ErrNotFound) {
			a, err = svc.Create(ctx, agents.NewAgent{Email: l.Email, Name: l.Name, Password: l.Password, Role: agents.Role(l.Role),
				Locale: l.Locale, Timezone: "Asia/Jakarta"})
		}
		if err != nil {
			return nil, fmt.Errorf("demo login %s: %w", l.Email, err)
		}
		if a.Extension != l.Extension {
			ext := l.Extension
			if a, err = svc.Update(ctx, a.ID, agents.AgentChange{Extension: &ext}); err != nil {
				return nil, fmt.Errorf("demo login %s: %w", l.Email, err)
			}
		}
		refs = append(refs, shop.AgentRef{ID: a.ID, Name: a.Name})
	}
	return refs, nil
}

// prepareDir makes sure dir is a demo directory (or new), and empties it for reset. A directory
// that holds a Serambi store but is not a demo's is refused: the demo would add its channels to
// a real install's data.
func prepareDir(dir string, reset bool) error {
	_, errState := os.Stat(filepath.Join(dir, stateFile))
	_, errDB := os.Stat(filepath.Join(dir, "serambi.db"))
	if errors.Is(errState, os.ErrNotExist) && errDB == nil {
		return fmt.Errorf("%s holds a Serambi database that the demo did not make; give the demo a directory of its own (--dir)", dir)
	}
	if reset && errState == nil {
		if err := os.RemoveAll(dir); err != nil {
			return fmt.Errorf("reset %s: %w", dir, err)
		}
	}
	return os.MkdirAll(dir, 0o700)
}

func loadState(dir string) (state, error) {
	var st state
	b, err := os.ReadFile(filepath.Join(dir, stateFile))
	switch {
	case errors.Is(err, os.ErrNotExist):
		st.Secrets = newSecrets()
		return st, saveState(dir, st)
	case err != nil:
		return st, fmt.Errorf("read the demo's state: %w", err)
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return st, fmt.Errorf("%s is damaged (%v): run the demo with --reset", filepath.Join(dir, stateFile), err)
	}
	return st, nil
}

func saveState(dir string, st state) error {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	tmp := filepath.Join(dir, stateFile+".tmp")
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("write the demo's state: %w", err)
	}
	return os.Rename(tmp, filepath.Join(dir, stateFile))
}

func newSecrets() Secrets {
	tok := func(n int) string {
		b := make([]byte, n)
		_, _ = rand.Read(b)
		return base64.RawURLEncoding.EncodeToString(b)
	}
	num := func(lo, span int64) string {
		b := make([]byte, 8)
		_, _ = rand.Read(b)
		var n int64
		for _, x := range b {
			n = n<<8 | int64(x)
		}
		if n < 0 {
			n = -n
		}
		return strconv.FormatInt(lo+n%span, 10)
	}
	return Secrets{
		// The seeded Telegram chats are scoped by this bot id: the demo's bot continues them.
		TelegramToken:   shop.TelegramBotID + ":" + tok(26),
		TelegramWebhook: tok(24), WhatsAppToken: "EAAG" + tok(40), WhatsAppAppSecret: tok(24), WhatsAppVerify: tok(16),
		WhatsAppPhoneID: num(100_000_000_000_000, 900_000_000_000_000), ShopifyWebhook: tok(32), CTIToken: tok(24),
		WidgetJWT: tok(36), WidgetInbox: shop.WidgetInbox, IMAPPassword: tok(18),
	}
}

// TourCustomer is the customer the tour follows (an index into World.Customers): reachable on at
// least three channels, the widget and WhatsApp among them, preferably one with a live cart (so
// that the console's cart can send a product card). ok is false when the world has nobody like
// that. The simulation leaves them to the evaluator.
func (d *Demo) TourCustomer() (int, bool) { return d.tour, d.tourOK }

func (d *Demo) pickTourCustomer(ctx context.Context) (int, bool) {
	cs := d.World.Customers
	fits := func(c shop.Customer) bool {
		return len(c.Channels) >= 3 && hasChannel(c, inbox.ChannelWidget) && hasChannel(c, inbox.ChannelWhatsApp) &&
			c.WhatsApp && c.ShopID != "" && !strings.HasPrefix(c.WidgetVisitor, "v:") && c.History
	}
	withCart := map[string]bool{}
	st := d.Instance.Storage()
	for _, id := range d.World.CartIDs {
		if c, err := st.Commerce.CartByID(ctx, id); err == nil && c.CustomerID != "" && len(c.Items) > 0 && c.Status != commerce.CartConverted {
			withCart[c.CustomerID] = true
		}
	}
	// The timeline's first page (the console reads 50 entries) must show three channels or more:
	// the one-timeline idea at first glance.
	showsThree := func(c shop.Customer) (string, bool) {
		id, err := d.customerID(ctx, c)
		if err != nil {
			return "", false
		}
		conv, err := d.Instance.Inbox.ConversationOfCustomer(ctx, id)
		if err != nil {
			return "", false
		}
		msgs, err := d.Instance.Inbox.Messages(ctx, conv.ID, inbox.Cursor{}, 50)
		if err != nil {
			return "", false
		}
		seen := map[inbox.Channel]bool{}
		for _, m := range msgs {
			if m.Direction != inbox.DirectionEvent && m.Direction != inbox.DirectionNote {
				seen[m.Channel] = true
			}
		}
		return id, len(seen) >= 3
	}
	first := -1
	for i, c := range cs {
		if !fits(c) {
			continue
		}
		id, ok := showsThree(c)
		if !ok {
			continue
		}
		if first < 0 {
			first = i
		}
		if withCart[id] {
			return i, true
		}
	}
	return first, first >= 0
}

// customerID is the stored customer a world customer is.
func (d *Demo) customerID(ctx context.Context, c shop.Customer) (string, error) {
	x := d.Instance.Inbox
	if c.ID != "" {
		if cust, err := x.Customer(ctx, c.ID); err == nil {
			return cust.ID, nil // Customer follows merges
		}
	}
	if c.ShopID != "" {
		if id, err := x.CustomerIDByIdentity(ctx, inbox.KindShop, c.ShopID); err == nil {
			return id, nil
		}
	}
	if c.Email != "" {
		if id, err := x.CustomerIDByIdentity(ctx, inbox.KindEmail, c.Email); err == nil {
			return id, nil
		}
	}
	if c.WhatsApp && c.Phone != "" {
		if id, err := x.CustomerIDByIdentity(ctx, inbox.KindWhatsApp, c.Phone); err == nil {
			return id, nil
		}
	}
	if c.TelegramID != 0 {
		return x.CustomerIDByIdentity(ctx, inbox.KindTelegram, strconv.FormatInt(c.TelegramID, 10))
	}
	return "", fmt.Errorf("customer %s: %w", c.Name, inbox.ErrNotFound)
}

// CustomerID is the stored customer id of the world's customer i.
func (d *Demo) CustomerID(ctx context.Context, i int) (string, error) {
	return d.customerID(ctx, d.World.Customers[i])
}

// KnownVisitorLink is the demo shop page signed in as the tour's customer, as a shop signs its
// logged-in customers in (a token valid for a week).
func (d *Demo) KnownVisitorLink() (link, name string, ok bool) {
	i, ok := d.TourCustomer()
	if !ok {
		return "", "", false
	}
	c := d.World.Customers[i]
	tok, err := IdentityToken(d.Secrets.WidgetJWT, c.ShopID, c.Email, c.Name, 7*24*time.Hour)
	if err != nil {
		return "", "", false
	}
	return d.BaseURL + "/widget/demo?token=" + tok, c.Name, true
}
