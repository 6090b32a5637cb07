// Package console is the agents' web console: sign-in, the inbox list, the conversation view and
// its actions, admin pages, and the WebSocket hub that keeps every open console live. Pages are
// rendered on the server with the templ components in package templates; htmx swaps fragments of
// them, and the hub pushes the same fragments when something changes.
//
// It mounts on the echo server that package web builds: New(...).Register(e), and Run(ctx) for the
// hub. It answers with HTML itself and never relies on the server's JSON error handler.
package console

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"
	"github.com/microcosm-cc/bluemonday"

	"github.com/serambi/serambi/agents"
	"github.com/serambi/serambi/bus"
	"github.com/serambi/serambi/i18n"
	"github.com/serambi/serambi/inbox"
	"github.com/serambi/serambi/notifications"
	"github.com/serambi/serambi/templates"
	"github.com/serambi/serambi/web/imageproxy"
)

// CommercePanel renders the commerce part of the customer sidebar (cart, orders, value, loyalty).
// The commerce issue implements it; without one the slot stays empty.
type CommercePanel interface {
	Panel(ctx context.Context, customerID string, v templates.Viewer) (templ.Component, error)
}

// Deps is what the console is built from.
type Deps struct {
	Inbox   *inbox.Inbox
	Agents  *agents.Service
	Events  bus.Subscriber
	Blobs   inbox.Blobs
	Catalog *i18n.Catalog
	// Canned stores canned responses; nil turns the feature off and the pages say so.
	Canned agents.CannedStore
	// Commerce fills the customer sidebar's commerce slot; nil leaves it empty. When it also
	// implements CallSummary, screen-pops show its summary too.
	Commerce CommercePanel
	// Calls looks phone calls up for the screen-pop; nil turns the screen-pop off.
	// *voice.Connector implements it.
	Calls Calls
	// Recordings streams call recordings to agents' audio players; nil leaves recordings
	// unplayable (the timeline still says there is one). *voice.Connector implements it.
	Recordings Recordings
	// Originator places click-to-call calls; nil (or an agent without an extension) offers no
	// Call buttons. *voice.Connector implements it.
	Originator Originator
	// WhatsApp lists the approved templates the composer offers outside WhatsApp's 24-hour
	// window; nil offers none. *whatsapp.Connector implements it.
	WhatsApp WhatsAppTemplates
	// Images shows emails' remote images through Serambi when an agent asks to; nil keeps
	// them blocked.
	Images ImageProxy
	// Channels reports each configured connector's state for the admin's Channels page; nil
	// lists every channel as not configured.
	Channels func(ctx context.Context) []ChannelStatus
	// Notifications keeps agents' mentions and assignments under the bell; nil shows no bell
	// and the notifications page says they are off.
	Notifications *notifications.Service
	// Install describes this install (public URL, widget inbox, call sources, shop webhooks) for
	// the admin's Getting started checklist; nil describes an install with no variables set,
	// reached at the address the admin uses. InstallFromEnv builds it.
	Install *Install
	// Settings keeps the checklist's dismissal; nil uses the inbox store when it keeps connector
	// state (both real stores do).
	Settings SettingsStore
	// WidgetInboxes keeps the chat widget's inboxes' settings for the admin's Chat widget page;
	// nil (the widget is off) says so there. Pass the running connector's own store
	// (widget.Connector.Settings): a save then reaches the next visitor at once.
	WidgetInboxes WidgetInboxes
	// WidgetTyping shows widget visitors that an agent is typing a reply; nil shows them
	// nothing. *widget.Connector implements it.
	WidgetTyping WidgetTyping
	Now          func() time.Time
	Log          *slog.Logger
	Options      Options
}

// Options tune the console.
type Options struct {
	// SecureCookies marks cookies Secure; set it when the console is served over https (the base
	// URL is https, or TLS terminates at a proxy in front).
	SecureCookies bool
	// MaxAttachmentBytes bounds one uploaded file (default 25 MiB).
	MaxAttachmentBytes int64
	// RingSize is how many recent events the hub keeps for clients that reconnect (default 1024).
	RingSize int
	// SendBuffer is how many frames may wait for one slow socket before it is dropped and has to
	// catch up (default 256).
	SendBuffer int
	// CountsEvery is how often the views' counts are refreshed after a change (default 2s).
	CountsEvery time.Duration
	// TypingFor is how long "typing…" shows after the last keystroke (default 6s).
	TypingFor time.Duration
	// RecheckSessions is how often live sockets' sessions are checked again (default 1 min).
	RecheckSessions time.Duration
	// ImageSources are the https origins (e.g. "https://cdn.shopify.com") the console may load
	// images from besides itself: the shop's image hosts, for product cards in the timeline. Only
	// these, not every https host: email HTML is shown in the same page, and a remote image there
	// is a tracking pixel that tells the sender when, where and that an agent read it.
	ImageSources []string
}

func (o Options) withDefaults() Options {
	if o.MaxAttachmentBytes <= 0 {
		o.MaxAttachmentBytes = 25 << 20
	}
	if o.RingSize <= 0 {
		o.RingSize = 1024
	}
	if o.SendBuffer <= 0 {
		o.SendBuffer = 256
	}
	if o.CountsEvery <= 0 {
		o.CountsEvery = 2 * time.Second
	}
	if o.TypingFor <= 0 {
		o.TypingFor = 6 * time.Second
	}
	if o.RecheckSessions <= 0 {
		o.RecheckSessions = time.Minute
	}
	return o
}

// Console is the agents' web console.
type Console struct {
	Deps
	opt    Options
	csp    string
	store  inbox.Store
	html   *bluemonday.Policy
	assets *assets
	hub    *Hub
	setup  agents.SetupGuard

	dirMu   sync.Mutex
	dir     *templates.Directory
	dirAt   time.Time
	zonesMu sync.Mutex
	zones   map[string]*time.Location
	names   nameCache
}

// New builds the console.
func New(d Deps) (*Console, error) {
	if d.Inbox == nil || d.Agents == nil || d.Events == nil || d.Blobs == nil || d.Catalog == nil {
		return nil, errors.New("console: Inbox, Agents, Events, Blobs and Catalog are required")
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	a, err := loadAssets()
	if err != nil {
		return nil, err
	}
	csp, err := contentPolicy(d.Options.ImageSources)
	if err != nil {
		return nil, err
	}
	c := &Console{Deps: d, opt: d.Options.withDefaults(), csp: csp, store: d.Inbox.Store(), html: emailPolicy(),
		assets: a, zones: map[string]*time.Location{}}
	c.hub = newHub(c)
	return c, nil
}

// Hub returns the console's WebSocket hub.
func (c *Console) Hub() *Hub { return c.hub }

// Run runs the hub until ctx ends: it follows the bus and pushes changes to open consoles.
func (c *Console) Run(ctx context.Context) error { return c.hub.run(ctx) }

// emailPolicy sanitises email HTML once more as it is shown (it was sanitised when stored):
// user-generated-content rules, links open in a new tab without a referrer.
func emailPolicy() *bluemonday.Policy {
	p := bluemonday.UGCPolicy()
	p.AddTargetBlankToFullyQualifiedLinks(true)
	p.RequireNoReferrerOnLinks(true)
	return p
}

// Register adds every console route to e.
func (c *Console) Register(e *echo.Echo) {
	g := e.Group("", c.secureHeaders)
	g.GET("/static/:name", c.static)

	g.GET("/login", c.loginPage)
	g.POST("/login", c.login)
	g.GET("/setup", c.setupPage)
	g.POST("/setup", c.setupSubmit)

	in := g.Group("", c.authenticate, c.checkCSRF)
	in.Use(c.withBell)
	c.registerNotifications(in)
	in.POST("/logout", c.logout)
	in.GET("/", c.inboxPage)
	in.GET("/list", c.listFragment)
	in.GET("/list/rows", c.moreRows)
	in.GET("/search", c.search)
	in.GET("/conversations/:id", c.conversationPage)
	in.GET("/conversations/:id/messages", c.olderMessages)
	in.GET("/conversations/:id/messages/:msg/images", c.showImages)
	if c.Images != nil {
		in.GET(imageproxy.Path, echo.WrapHandler(c.Images))
	}
	in.POST("/conversations/:id/send", c.send)
	in.POST("/conversations/:id/status", c.setStatus)
	in.POST("/conversations/:id/assign", c.assign)
	in.POST("/conversations/:id/priority", c.setPriority)
	in.POST("/conversations/:id/tags", c.setTags)
	in.POST("/conversations/bulk", c.bulk)
	in.POST("/customers/:id/merge", c.merge)
	in.POST("/customers/:id/call", c.callCustomer)
	in.GET("/files/:msg/:sha", c.attachment)
	in.GET("/canned", c.cannedPicker)
	in.GET("/calls/:id/recording", c.recording)
	in.GET("/settings", c.settingsPage)
	in.POST("/settings", c.saveSettings)
	in.POST("/settings/sessions/:sid/revoke", c.revokeSession)
	in.GET("/ws", c.websocket)
	c.registerCommerce(in)

	admin := in.Group("/admin", c.requireAdmin)
	admin.GET("/agents", c.agentsPage)
	admin.POST("/agents", c.createAgent)
	admin.POST("/agents/:id", c.updateAgent)
	admin.GET("/teams", c.teamsPage)
	admin.POST("/teams", c.createTeam)
	admin.POST("/teams/:id/delete", c.deleteTeam)
	admin.GET("/canned", c.cannedPage)
	admin.POST("/canned", c.createCanned)
	admin.POST("/canned/:id/delete", c.deleteCanned)
	admin.GET("/channels", c.channelsPage)
	c.registerGettingStarted(admin)
	c.registerWidgetSettings(admin)
}

// contentPolicy is the console's CSP. It allows no inline script and no eval, so a script that
// slips into a message body cannot run. img-src is 'self' plus the configured image origins
// (the shop's CDN, for product cards), which keeps remote images in emails (tracking pixels)
// from loading unless they happen to come from the shop's own image host.
func contentPolicy(imageSources []string) (string, error) {
	img := "'self' data: blob:"
	for _, src := range imageSources {
		u, err := url.Parse(src)
		if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil || (u.Path != "" && u.Path != "/") ||
			u.RawQuery != "" || u.Fragment != "" || strings.ContainsAny(u.Host, "*;' ") {
			return "", fmt.Errorf("console: image source %q must be an https origin such as https://cdn.shopify.com", src)
		}
		img += " https://" + strings.ToLower(u.Host)
	}
	return "default-src 'self'; script-src 'self'; style-src 'self'; img-src " + img + "; " +
		"connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'", nil
}

// secureHeaders sets the headers every console answer carries.
func (c *Console) secureHeaders(next echo.HandlerFunc) echo.HandlerFunc {
	return func(ctx echo.Context) error {
		h := ctx.Response().Header()
		h.Set("Content-Security-Policy", c.csp)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("X-Frame-Options", "DENY")
		return next(ctx)
	}
}

// directory returns the names of agents and teams, re-read at most every few seconds.
func (c *Console) directory(ctx context.Context) (*templates.Directory, error) {
	c.dirMu.Lock()
	defer c.dirMu.Unlock()
	if c.dir != nil && c.Now().Sub(c.dirAt) < 15*time.Second {
		return c.dir, nil
	}
	as, err := c.Agents.Agents(ctx)
	if err != nil {
		return nil, err
	}
	ts, err := c.Agents.Teams(ctx)
	if err != nil {
		return nil, err
	}
	c.dir, c.dirAt = templates.NewDirectory(as, ts), c.Now()
	return c.dir, nil
}

// forgetDirectory makes the next directory call re-read agents and teams (after an admin change).
func (c *Console) forgetDirectory() {
	c.dirMu.Lock()
	c.dir = nil
	c.dirMu.Unlock()
}

// zone returns the agent's time zone, Asia/Jakarta when it is unknown.
func (c *Console) zone(name string) *time.Location {
	c.zonesMu.Lock()
	defer c.zonesMu.Unlock()
	if l, ok := c.zones[name]; ok {
		return l
	}
	l, err := time.LoadLocation(name)
	if err != nil {
		l, err = time.LoadLocation("Asia/Jakarta")
		if err != nil {
			l = time.FixedZone("WIB", 7*3600)
		}
	}
	c.zones[name] = l
	return l
}

// viewer is how an agent sees fragments.
func (c *Console) viewer(ctx context.Context, lang, tz string) (templates.Viewer, error) {
	dir, err := c.directory(ctx)
	if err != nil {
		return templates.Viewer{}, err
	}
	return templates.Viewer{L: c.Catalog.Localizer(lang), Loc: c.zone(tz), Now: c.Now().UTC(), Dir: dir, HTML: c.html}, nil
}

// render writes a component as the HTML answer.
func render(ctx echo.Context, status int, comp templ.Component) error {
	ctx.Response().Header().Set(echo.HeaderContentType, echo.MIMETextHTMLCharsetUTF8)
	ctx.Response().Header().Set(echo.HeaderCacheControl, "no-store")
	ctx.Response().WriteHeader(status)
	return comp.Render(ctx.Request().Context(), ctx.Response())
}

func isHTMX(ctx echo.Context) bool { return ctx.Request().Header.Get("HX-Request") == "true" }
