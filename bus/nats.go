package bus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
)

// DefaultNATSSubject is the subject events travel on when none is configured.
const DefaultNATSSubject = "serambi.events"

// ErrNotConnected is what Ready reports while the NATS connection is down.
var ErrNotConnected = errors.New("bus: not connected to NATS")

// NATSConfig says which NATS servers carry events between instances.
type NATSConfig struct {
	// URL is one NATS server URL or a comma-separated list (nats:// or tls://, credentials allowed).
	URL string
	// Subject carries the events; deployments sharing one NATS server use different subjects.
	Subject string
	// Name identifies this instance's connection in the NATS server's monitoring.
	Name string
	// BufSize bounds each local subscriber's queue and the queue of events waiting to go out to
	// NATS; 0 means 4096.
	BufSize int
}

// NATS is the bus between instances that share one store. Events published here reach this
// process's subscribers directly (exactly as with Local) and every other instance through NATS;
// events from the other instances are handed to the local subscribers.
//
// NATS core is at-most-once: an event published while an instance is cut off from NATS is lost for
// it. Subscribers re-read the store whatever the event, so a lost event costs liveness (a console
// shows a message at its next reload), never data.
type NATS struct {
	local   *Local
	conn    *nats.Conn
	subject string
	log     *slog.Logger
	// servers is URL with credentials removed: the only form of it that may be logged.
	servers string

	// out decouples publishers from the network: nats.go writes to the socket inline when its
	// buffer fills, and an ingest request must not wait on that.
	mu       sync.RWMutex // guards closing against sends on out
	closing  bool
	out      chan []byte
	fwdDone  chan struct{}
	closed   chan struct{} // closed by nats.go's closed callback
	closeErr error
	once     sync.Once

	queueDropped atomic.Int64 // events not sent because out was full
	sendFailed   atomic.Int64 // events nats.go refused (reconnect buffer full, connection closed)
	malformed    atomic.Int64 // payloads from NATS that were not events
}

// NewNATS connects to the NATS servers in cfg.URL and starts relaying events on cfg.Subject. It
// fails, naming the servers without credentials, when none answers; once connected it reconnects
// for as long as it runs.
func NewNATS(ctx context.Context, cfg NATSConfig, log *slog.Logger) (*NATS, error) {
	if cfg.Subject == "" {
		cfg.Subject = DefaultNATSSubject
	}
	if cfg.BufSize <= 0 {
		cfg.BufSize = 4096
	}
	b := &NATS{
		local:   NewLocal(log, cfg.BufSize),
		subject: cfg.Subject,
		log:     log.With("part", "bus", "subject", cfg.Subject),
		servers: RedactURL(cfg.URL),
		out:     make(chan []byte, cfg.BufSize),
		fwdDone: make(chan struct{}),
		closed:  make(chan struct{}),
	}
	var closedOnce sync.Once
	opts := []nats.Option{
		nats.Name(cfg.Name),
		// An instance that gave up on NATS would stay up and silently stop sharing events.
		nats.MaxReconnects(-1),
		// This process's subscribers already had its events from Publish.
		nats.NoEcho(),
		nats.DrainTimeout(5 * time.Second),
		nats.DisconnectErrHandler(func(c *nats.Conn, err error) {
			if err != nil {
				b.log.Warn("NATS connection lost; reconnecting", "servers", b.servers, "err", err)
			}
		}),
		nats.ReconnectHandler(func(c *nats.Conn) {
			b.log.Info("NATS connection restored", "server", RedactURL(c.ConnectedUrl()))
		}),
		nats.ReconnectErrHandler(func(c *nats.Conn, err error) {
			b.log.Debug("NATS reconnect attempt failed", "servers", b.servers, "err", err)
		}),
		nats.ErrorHandler(func(c *nats.Conn, _ *nats.Subscription, err error) {
			b.log.Warn("NATS error", "servers", b.servers, "err", err)
		}),
		nats.ClosedHandler(func(*nats.Conn) { closedOnce.Do(func() { close(b.closed) }) }),
	}
	conn, err := nats.Connect(cfg.URL, opts...)
	if err != nil {
		return nil, fmt.Errorf("connect to NATS %s: %w", b.servers, err)
	}
	b.conn = conn
	if _, err := conn.Subscribe(cfg.Subject, b.receive); err != nil {
		conn.Close()
		return nil, fmt.Errorf("subscribe to NATS subject %q on %s: %w", cfg.Subject, b.servers, err)
	}
	// The round trip makes the subscription active on the server before NewNATS returns, so an
	// event another instance publishes from now on reaches this one.
	if _, ok := ctx.Deadline(); !ok { // nats.go insists on one
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
	}
	if err := conn.FlushWithContext(ctx); err != nil {
		conn.Close()
		return nil, fmt.Errorf("subscribe to NATS subject %q on %s: %w", cfg.Subject, b.servers, err)
	}
	go b.forward()
	b.log.Info("NATS bus connected", "server", RedactURL(conn.ConnectedUrl()), "servers", b.servers)
	return b, nil
}

// Publish hands e to this process's subscribers and queues it for the other instances, without
// blocking on either.
func (b *NATS) Publish(ctx context.Context, e Event) {
	if e.At.IsZero() {
		e.At = time.Now().UTC()
	}
	b.local.Publish(ctx, e)
	data, err := json.Marshal(e)
	if err != nil { // an Event is strings and a time: only a year beyond 9999 gets here
		b.log.Error("bus event not sendable to NATS", "topic", e.Topic, "err", err)
		return
	}
	b.mu.RLock()
	defer b.mu.RUnlock()
	if b.closing {
		return // shutting down: the other instances do not hear of it
	}
	select {
	case b.out <- data:
	default:
		n := b.queueDropped.Add(1)
		b.log.Warn("NATS outgoing queue full, event not sent to other instances", "topic", e.Topic, "dropped", n)
	}
}

// Subscribe calls handler for every event published after it returns, here or on another
// instance; events from one publisher arrive in the order it published them.
func (b *NATS) Subscribe(handler func(Event)) func() {
	return b.local.Subscribe(handler)
}

// Connected reports whether the NATS connection is up now.
func (b *NATS) Connected() bool { return b.conn.IsConnected() }

// Ready is Connected as a readiness check: nil while connected, ErrNotConnected otherwise.
func (b *NATS) Ready(context.Context) error {
	if b.conn.IsConnected() {
		return nil
	}
	return fmt.Errorf("NATS %s (%s): %w", b.servers, strings.ToLower(b.conn.Status().String()), ErrNotConnected)
}

// Close sends what is queued, drains the NATS connection (delivering events already received)
// and closes it. Publish keeps delivering locally afterwards. Calling it again returns the first
// call's result.
func (b *NATS) Close() error {
	b.once.Do(func() {
		b.mu.Lock()
		b.closing = true
		close(b.out)
		b.mu.Unlock()
		<-b.fwdDone
		if err := b.conn.Drain(); err != nil {
			// Reconnecting or closed: nothing can be flushed, Drain has closed it.
			b.conn.Close()
		}
		select {
		case <-b.closed:
		case <-time.After(10 * time.Second): // beyond the drain timeout: nats.go did not call back
			b.closeErr = errors.New("bus: NATS connection did not close within 10s")
			b.conn.Close()
		}
		b.log.Info("NATS bus closed", "notSent", b.queueDropped.Load()+b.sendFailed.Load(), "malformed", b.malformed.Load())
	})
	return b.closeErr
}

// forward publishes queued events to NATS, one at a time, so that they leave in publish order.
func (b *NATS) forward() {
	defer close(b.fwdDone)
	failing := false
	for data := range b.out {
		err := b.conn.Publish(b.subject, data)
		switch {
		case err != nil && !failing:
			failing = true
			b.sendFailed.Add(1)
			b.log.Warn("NATS refused an event; the other instances miss it", "servers", b.servers, "err", err)
		case err != nil:
			b.sendFailed.Add(1)
		case failing:
			failing = false
			b.log.Info("NATS takes events again", "notSent", b.sendFailed.Load())
		}
	}
}

// maxLoggedPayload bounds how much of a bad payload goes into the log.
const maxLoggedPayload = 64

// receive hands an event from another instance to the local subscribers. Fields it does not know
// are ignored: a newer instance may send them during a rolling upgrade.
func (b *NATS) receive(m *nats.Msg) {
	var e Event
	err := json.Unmarshal(m.Data, &e)
	if err == nil && e.Topic == "" {
		err = errors.New("no topic")
	}
	if err != nil {
		n := b.malformed.Add(1)
		start := m.Data
		if len(start) > maxLoggedPayload {
			start = start[:maxLoggedPayload]
		}
		b.log.Warn("NATS message is not a bus event; skipped", "bytes", len(m.Data), "start", string(start), "err", err, "malformed", n)
		return
	}
	b.local.Publish(context.Background(), e)
}

// RedactURL returns a NATS server URL, or a comma-separated list of them, with any user, password
// or token removed (and anything after the host), so that it can be logged. An entry that does
// not parse is replaced whole.
func RedactURL(servers string) string {
	parts := strings.Split(servers, ",")
	for i, p := range parts {
		p = strings.TrimSpace(p)
		u, err := url.Parse(p)
		switch {
		// "user:pass@host:4222" parses as scheme "user" with an opaque rest: no host, so no
		// telling what is secret.
		case err != nil || u.Host == "" || u.Opaque != "":
			parts[i] = "(unparsable URL)"
		case u.User != nil:
			// A lone user is a token in NATS URLs: url.URL.Redacted would keep it.
			parts[i] = u.Scheme + "://***@" + u.Host
		default:
			parts[i] = u.Scheme + "://" + u.Host
		}
	}
	return strings.Join(parts, ",")
}
