// Package instance wires one running Serambi together: store, bus, inbox, outbox dispatcher,
// senders and the HTTP server. The serambi binary starts it, and so do black-box tests, which run
// the real server in-process on a random port.
package instance

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/serambi/serambi/agents"
	"github.com/serambi/serambi/bus"
	"github.com/serambi/serambi/commerce"
	"github.com/serambi/serambi/commerce/panel"
	"github.com/serambi/serambi/config"
	"github.com/serambi/serambi/connectors"
	apiconn "github.com/serambi/serambi/connectors/api"
	"github.com/serambi/serambi/database/mongo"
	"github.com/serambi/serambi/database/sqlite"
	"github.com/serambi/serambi/i18n"
	"github.com/serambi/serambi/inbox"
	"github.com/serambi/serambi/metrics"
	"github.com/serambi/serambi/notifications"
	"github.com/serambi/serambi/web"
	"github.com/serambi/serambi/web/console"
	"github.com/serambi/serambi/web/imageproxy"
)

// Store is every store interface a running instance needs; both database packages implement it.
type Store interface {
	inbox.Store
	agents.Store
	agents.CannedStore
	connectors.StateStore
	notifications.Store
}

// Storage is an opened store with its attachment blobs.
type Storage struct {
	Store    Store
	Blobs    inbox.Blobs
	Commerce commerce.Store
	// Ping reports whether the store answers.
	Ping  func(ctx context.Context) error
	close func(ctx context.Context) error
}

// Close closes the store.
func (s *Storage) Close(ctx context.Context) error { return s.close(ctx) }

// OpenStorage opens MongoDB when the configuration names it, the SQLite file in the data dir otherwise.
func OpenStorage(ctx context.Context, cfg config.Config, log *slog.Logger) (*Storage, error) {
	if cfg.MongoDBURI != "" {
		st, err := mongo.Open(ctx, cfg.MongoDBURI, log)
		if err != nil {
			return nil, fmt.Errorf("open MongoDB (SERAMBI_MONGODB_URI): %w", err)
		}
		shop, err := st.Commerce(ctx)
		if err != nil {
			_ = st.Close(ctx)
			return nil, fmt.Errorf("open commerce collections: %w", err)
		}
		return &Storage{Store: st, Blobs: st.Blobs(), Commerce: shop, Ping: pinger(st), close: st.Close}, nil
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create SERAMBI_DATA_DIR %s: %w", cfg.DataDir, err)
	}
	st, err := sqlite.Open(ctx, cfg.StorePath(), log)
	if err != nil {
		return nil, fmt.Errorf("open SQLite %s: %w", cfg.StorePath(), err)
	}
	blobs, err := sqlite.NewBlobs(cfg.AttachmentsDir())
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("open attachment dir %s: %w", cfg.AttachmentsDir(), err)
	}
	return &Storage{Store: st, Blobs: blobs, Commerce: st, Ping: pinger(st), close: func(context.Context) error { return st.Close() }}, nil
}

// pinger uses the store's own Ping where it has one, and otherwise a cheap indexed count.
func pinger(st Store) func(ctx context.Context) error {
	if p, ok := st.(interface{ Ping(context.Context) error }); ok {
		return p.Ping
	}
	return func(ctx context.Context) error {
		_, err := st.OutboxDepth(ctx)
		return err
	}
}

// Instance is a running Serambi.
type Instance struct {
	cfg        config.Config
	log        *slog.Logger
	storage    *Storage
	http       *http.Server
	listener   net.Listener
	dispatcher *inbox.Dispatcher
	events     *eventBus
	stopSend   context.CancelFunc
	done       sync.WaitGroup
	serveErr   chan error
	// shutdownOnce makes Shutdown safe to call twice (a test's cleanup after the test's own call).
	shutdownOnce sync.Once
	shutdownErr  error
	Inbox        *inbox.Inbox
	Agents       *agents.Service
	Keys         *agents.APIKeys
	Metrics      *metrics.Metrics
}

// Option adds to what Start builds; `serambi serve` passes none.
type Option func(*options)

type options struct {
	routes []func(e *echo.Echo)
}

// WithRoutes mounts extra routes at the root of the HTTP server, beside Serambi's own (the demo
// serves its shop's product images this way).
func WithRoutes(register func(e *echo.Echo)) Option {
	return func(o *options) { o.routes = append(o.routes, register) }
}

// Start opens the store, starts the dispatcher and begins serving HTTP on cfg.Listen
// ("127.0.0.1:0" picks a free port; Addr tells which).
func Start(ctx context.Context, cfg config.Config, log *slog.Logger, opts ...Option) (*Instance, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	if err := cfg.EnsureSecretKey(); err != nil {
		return nil, err
	}
	storage, err := OpenStorage(ctx, cfg, log)
	if err != nil {
		return nil, err
	}
	events, err := openBus(ctx, cfg, log)
	if err != nil {
		_ = storage.Close(context.WithoutCancel(ctx))
		return nil, err
	}
	in, err := start(cfg, log, storage, events, o)
	if err != nil {
		_ = events.close()
		_ = storage.Close(context.WithoutCancel(ctx))
		return nil, err
	}
	return in, nil
}

// eventBus is the bus an instance runs on: in-process, or NATS between instances.
type eventBus struct {
	bus.Publisher
	bus.Subscriber
	// ready reports whether the other instances hear this one; nil on the in-process bus.
	ready func(ctx context.Context) error
	close func() error
}

// openBus connects to NATS when SERAMBI_NATS_URL is set, and makes an in-process bus otherwise.
func openBus(ctx context.Context, cfg config.Config, log *slog.Logger) (*eventBus, error) {
	if cfg.NATSURL == "" {
		l := bus.NewLocal(log, 0)
		return &eventBus{Publisher: l, Subscriber: l, close: func() error { return nil }}, nil
	}
	if cfg.MongoDBURI == "" {
		log.Warn("SERAMBI_NATS_URL is set but the store is SQLite, one process's file: instances sharing events need to share the MongoDB store (SERAMBI_MONGODB_URI)")
	}
	n, err := bus.NewNATS(ctx, bus.NATSConfig{URL: cfg.NATSURL, Subject: cfg.NATSSubject, Name: "serambi " + cfg.InstanceID}, log)
	if err != nil {
		return nil, fmt.Errorf("event bus (SERAMBI_NATS_URL): %w", err)
	}
	return &eventBus{Publisher: n, Subscriber: n, ready: n.Ready, close: n.Close}, nil
}

func start(cfg config.Config, log *slog.Logger, storage *Storage, events *eventBus, o options) (*Instance, error) {
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("listen on SERAMBI_LISTEN %s: %w", cfg.Listen, err)
	}
	cfg = cfg.Bound(ln.Addr().String())
	m := metrics.New(storage.Store.OutboxDepth)
	x := inbox.New(storage.Store, events, inbox.NewNormalizer(cfg.DefaultRegion), time.Now, log)
	x.SetMetrics(m)
	urls := web.NewAttachmentURLs(cfg.SecretKey, cfg.BaseURL, time.Now)

	var con *console.Console // set below, before serving; the widget asks it who is online
	chans, err := openChannels(cfg.Getenv, cfg.InstanceID, x, storage.Store, storage.Blobs, events, widgetDeps{
		events:        events,
		attachmentURL: func(a inbox.Attachment) string { return urls.Sign(a, 24*time.Hour) },
		secretKey:     cfg.SecretKey,
		agentsOnline:  func() bool { return con != nil && con.Hub().AnyoneOnline() },
	}, log)
	if err != nil {
		ln.Close()
		return nil, err
	}
	senders := chans.senders
	if cfg.APICallbackURL != "" {
		senders[inbox.ChannelAPI] = apiconn.New(apiconn.Options{
			URL: cfg.APICallbackURL, Secret: cfg.APICallbackSecret,
			// Receivers may fetch a reply's attachments for a week, retries included.
			AttachmentURL: func(a inbox.Attachment) string { return urls.Sign(a, 7*24*time.Hour) },
		})
	}
	d := inbox.NewDispatcher(storage.Store, senders, events, inbox.DispatcherConfig{
		Owner: cfg.InstanceID, MaxAttempts: cfg.OutboxMaxAttempts,
	}, time.Now, log)
	d.SetMetrics(m)
	x.SetOutboxWaker(d.Wake)

	shopCfg, err := commerce.LoadFromEnv(cfg.Getenv)
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("commerce: %w", err)
	}
	shop, err := commerce.New(shopCfg, commerce.Deps{Store: storage.Commerce, Customers: storage.Store, Timeline: x,
		Events: events, Normalizer: inbox.NewNormalizer(cfg.DefaultRegion), Now: time.Now, Log: log.With("part", "commerce")})
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("commerce: %w", err)
	}
	chans.loops = append(chans.loops, shop.Run)
	// Subscribed now, before serving: a merge made once the server is up must reach commerce.
	unfollow := shop.FollowMerges(events)
	chans.loops = append(chans.loops, func(ctx context.Context) error { <-ctx.Done(); unfollow(); return nil })

	keys := agents.NewAPIKeys(storage.Store, time.Now)
	accounts, err := agents.New(storage.Store, agents.DefaultConfig(), time.Now, log)
	if err != nil {
		ln.Close()
		return nil, err
	}
	notes := notifications.New(storage.Store, x, events, time.Now)
	e := web.New(web.Deps{
		Inbox: x, Blobs: storage.Blobs, Keys: keys, URLs: urls, Metrics: m, Ready: ready(storage.Ping, events.ready), Log: log,
		MaxBodyBytes: cfg.MaxBodyBytes, MaxAttachmentBytes: cfg.MaxAttachmentBytes,
		APIRoutes: []func(*echo.Group){shop.RegisterAPI},
		Notify:    apiNotifier{notes: notes, accounts: accounts},
	})
	catalog, err := i18n.New()
	if err != nil {
		ln.Close()
		return nil, err
	}
	cd := console.Deps{Inbox: x, Agents: accounts, Events: events, Blobs: storage.Blobs,
		Catalog: catalog, Canned: storage.Store, Now: time.Now, Log: log,
		Commerce: panel.New(shop, x, catalog, time.Now, log.With("part", "commerce")),
		Channels: func(ctx context.Context) []console.ChannelStatus {
			out := make([]console.ChannelStatus, 0, len(chans.status))
			for _, f := range chans.status {
				out = append(out, f(ctx))
			}
			return out
		},
		Install:  console.InstallFromEnv(cfg.BaseURL, cfg.Getenv),
		Settings: storage.Store,
		Options: console.Options{SecureCookies: strings.HasPrefix(cfg.BaseURL, "https://"),
			MaxAttachmentBytes: cfg.MaxAttachmentBytes, ImageSources: shopImageOrigins(shopCfg)}}
	// Only a connector that exists may fill these: a nil *voice.Connector in an interface field
	// would switch the feature on with nothing behind it.
	if chans.voice != nil {
		cd.Calls, cd.Recordings, cd.Originator = chans.voice, chans.voice, chans.voice
	}
	if chans.whatsapp != nil {
		cd.WhatsApp = chans.whatsapp
	}
	if chans.widget != nil {
		// The connector's own settings store: a save drops its cached copy, so the next
		// visitor gets it.
		cd.WidgetInboxes, cd.WidgetTyping = chans.widget.Settings(), chans.widget
	}
	cd.Notifications = notes
	if cd.Images, err = imageproxy.New(cfg.SecretKey, imageproxy.Options{Log: log.With("part", "imageproxy")}); err != nil {
		ln.Close()
		return nil, err
	}
	con, err = console.New(cd)
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("console: %w", err)
	}
	con.Register(e)

	for _, register := range chans.rootRoutes {
		register(e)
	}
	for _, register := range o.routes {
		register(e)
	}
	hooks := e.Group("/webhooks")
	shop.RegisterWebhooks(hooks)
	for _, register := range chans.routes {
		register(hooks)
	}
	providers := e.Group("/api/v1")
	for _, register := range chans.apiRoutes {
		register(providers)
	}
	srv := &http.Server{
		Handler:           e,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	sendCtx, stopSend := context.WithCancel(context.Background())
	in := &Instance{cfg: cfg, log: log, storage: storage, http: srv, listener: ln, dispatcher: d, events: events,
		stopSend: stopSend, serveErr: make(chan error, 1), Inbox: x, Agents: accounts, Keys: keys, Metrics: m}
	chans.loops = append(chans.loops, con.Run)
	for _, loop := range chans.loops {
		in.done.Add(1)
		go func() {
			defer in.done.Done()
			if err := loop(sendCtx); err != nil && sendCtx.Err() == nil {
				log.Error("connector stopped", "err", err)
			}
		}()
	}
	in.done.Add(2)
	go func() {
		defer in.done.Done()
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			in.serveErr <- err
		}
	}()
	go func() {
		defer in.done.Done()
		if err := d.Run(sendCtx); err != nil {
			log.Error("outbox dispatcher stopped", "err", err)
		}
	}()
	log.Info("serambi started", "addr", ln.Addr().String(), "baseURL", cfg.BaseURL, "instance", cfg.InstanceID,
		"store", storeName(cfg), "bus", busName(cfg), "apiCallback", cfg.APICallbackURL != "")
	return in, nil
}

func busName(cfg config.Config) string {
	if cfg.NATSURL != "" {
		return "nats:" + bus.RedactURL(cfg.NATSURL) + " " + cfg.NATSSubject
	}
	return "in-process"
}

// ready is /readyz's check: the store answers and, with NATS, the other instances hear this one
// (an instance cut off from them would show its agents a console that is no longer live).
func ready(checks ...func(ctx context.Context) error) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		for _, check := range checks {
			if check == nil {
				continue
			}
			if err := check(ctx); err != nil {
				return err
			}
		}
		return nil
	}
}

func storeName(cfg config.Config) string {
	if cfg.MongoDBURI != "" {
		return "mongodb"
	}
	return "sqlite:" + cfg.StorePath()
}

// Addr is the address the server listens on.
func (in *Instance) Addr() string { return in.listener.Addr().String() }

// URL is http://Addr.
func (in *Instance) URL() string { return "http://" + in.Addr() }

// Storage is the opened store.
func (in *Instance) Storage() *Storage { return in.storage }

// Err reports a server that stopped by itself (its listener failed).
func (in *Instance) Err() <-chan error { return in.serveErr }

// Shutdown stops accepting connections, lets in-flight requests finish, stops the dispatcher
// (which gives its outbox leases back) and closes the store, all within ctx.
// Calling it again returns the first call's result.
func (in *Instance) Shutdown(ctx context.Context) error {
	in.shutdownOnce.Do(func() { in.shutdownErr = in.shutdown(ctx) })
	return in.shutdownErr
}

func (in *Instance) shutdown(ctx context.Context) error {
	var errs []error
	if err := in.http.Shutdown(ctx); err != nil {
		errs = append(errs, fmt.Errorf("stop HTTP server: %w", err))
	}
	in.stopSend()
	waited := make(chan struct{})
	go func() { in.done.Wait(); close(waited) }()
	select {
	case <-waited:
	case <-ctx.Done():
		errs = append(errs, fmt.Errorf("dispatcher did not stop in time: %w", ctx.Err()))
	}
	// Last of the parts: everything that publishes has stopped, and what it published is sent.
	if err := in.events.close(); err != nil {
		errs = append(errs, fmt.Errorf("close event bus: %w", err))
	}
	if err := in.storage.Close(context.WithoutCancel(ctx)); err != nil {
		errs = append(errs, fmt.Errorf("close store: %w", err))
	}
	in.log.Info("serambi stopped")
	return errors.Join(errs...)
}

// Run starts Serambi and serves until ctx is done (SIGTERM), then shuts down within
// cfg.ShutdownTimeout.
func Run(ctx context.Context, cfg config.Config, log *slog.Logger) error {
	in, err := Start(ctx, cfg, log)
	if err != nil {
		return err
	}
	var serveErr error
	select {
	case <-ctx.Done():
		log.Info("shutting down", "timeout", cfg.ShutdownTimeout)
	case serveErr = <-in.Err():
		log.Error("HTTP server failed", "err", serveErr)
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.ShutdownTimeout)
	defer cancel()
	return errors.Join(serveErr, in.Shutdown(sctx))
}

// shopImageOrigins are the hosts the console may load product images from: Shopify's CDN when a
// Shopify shop is configured, the WooCommerce store itself. Other remote images stay blocked, so
// that tracking pixels in customers' emails do not load.
func shopImageOrigins(c commerce.Config) []string {
	var out []string
	if c.Shopify.Shop != "" || c.Shopify.WebhookSecret != "" {
		out = append(out, "https://cdn.shopify.com")
	}
	if u, err := url.Parse(c.WooCommerce.StoreURL); err == nil && u.Scheme == "https" && u.Host != "" {
		out = append(out, "https://"+u.Host)
	}
	return out
}

// apiNotifier lets the REST API notify agents as the console does.
type apiNotifier struct {
	notes    *notifications.Service
	accounts *agents.Service
}

func (n apiNotifier) Mentioned(ctx context.Context, note inbox.Message) error {
	_, err := n.notes.Mentioned(ctx, note)
	return err
}

func (n apiNotifier) Assigned(ctx context.Context, conv inbox.Conversation, previous, actorID string) error {
	_, err := n.notes.Assigned(ctx, conv, previous, actorID)
	return err
}

func (n apiNotifier) Agents(ctx context.Context) ([]agents.Agent, error) {
	return n.accounts.Agents(ctx)
}
