package ami

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"
)

// ErrNotConnected is returned by actions while the client has no live connection.
var ErrNotConnected = errors.New("ami: not connected to Asterisk")

// Config is where and how a Client connects.
type Config struct {
	Addr  string // host:port, usually 127.0.0.1:5038
	Login Login
	// PingInterval is how often an idle connection is checked with Action: Ping; a NAT or a
	// firewall that silently dropped the connection is noticed within PingInterval+PingTimeout.
	PingInterval time.Duration
	PingTimeout  time.Duration
	// DialTimeout bounds connecting, the banner and the login.
	DialTimeout time.Duration
	// MinBackoff and MaxBackoff bound the wait between reconnection attempts; the wait doubles
	// after each failure and starts again from MinBackoff once a connection has stayed up for
	// StableAfter.
	MinBackoff  time.Duration
	MaxBackoff  time.Duration
	StableAfter time.Duration
}

func (c Config) withDefaults() Config {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.PingInterval, 20*time.Second)
	def(&c.PingTimeout, 5*time.Second)
	def(&c.DialTimeout, 10*time.Second)
	def(&c.MinBackoff, 500*time.Millisecond)
	def(&c.MaxBackoff, 30*time.Second)
	def(&c.StableAfter, time.Minute)
	if c.MaxBackoff < c.MinBackoff {
		c.MaxBackoff = c.MinBackoff
	}
	return c
}

// Client keeps one AMI connection up: it connects, logs in, pings, and reconnects with
// exponential backoff and jitter whenever the connection ends.
type Client struct {
	cfg Config
	log *slog.Logger

	mu   sync.Mutex
	conn *Conn
}

// NewClient returns a client for cfg; Run connects it.
func NewClient(cfg Config, log *slog.Logger) *Client {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Client{cfg: cfg.withDefaults(), log: log}
}

// Handler receives events one at a time, in the order the server sent them.
type Handler func(ctx context.Context, m Message)

// Run connects and delivers every event to handle until ctx ends, reconnecting after failures.
// onConnect, when not nil, runs after each successful login, concurrently with the delivery of
// events (it may send actions, such as listing live channels to catch up on what was missed).
// Run returns nil once ctx is done.
func (c *Client) Run(ctx context.Context, handle Handler, onConnect func(ctx context.Context, conn *Conn)) error {
	backoff := c.cfg.MinBackoff
	for {
		dctx, cancel := context.WithTimeout(ctx, c.cfg.DialTimeout)
		conn, err := Dial(dctx, c.cfg.Addr, c.cfg.Login)
		cancel()
		if ctx.Err() != nil {
			if conn != nil {
				conn.Close()
			}
			return nil
		}
		if err != nil {
			lvl := slog.LevelWarn
			if errors.Is(err, ErrAuth) {
				lvl = slog.LevelError // a configuration mistake, not a network blip
			}
			c.log.Log(ctx, lvl, "asterisk manager connection failed", "addr", c.cfg.Addr, "retryIn", backoff.Round(time.Millisecond), "err", err)
		} else {
			c.log.Info("connected to the asterisk manager", "addr", c.cfg.Addr, "version", conn.Version())
			started := time.Now()
			c.serve(ctx, conn, handle, onConnect)
			if ctx.Err() != nil {
				return nil
			}
			c.log.Warn("asterisk manager connection lost", "addr", c.cfg.Addr, "err", conn.Err())
			if time.Since(started) >= c.cfg.StableAfter {
				backoff = c.cfg.MinBackoff
			}
		}
		if !sleep(ctx, jitter(backoff)) {
			return nil
		}
		backoff = c.cfg.next(backoff)
	}
}

// next is the wait after one more failed attempt.
func (c Config) next(backoff time.Duration) time.Duration { return min(backoff*2, c.MaxBackoff) }

func (c *Client) serve(ctx context.Context, conn *Conn, handle Handler, onConnect func(context.Context, *Conn)) {
	c.mu.Lock()
	c.conn = conn
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		if c.conn == conn {
			c.conn = nil
		}
		c.mu.Unlock()
		conn.Close()
	}()
	sctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() {
		cancel()
		conn.Close()
		wg.Wait()
	}()
	wg.Go(func() { c.ping(sctx, conn) })
	if onConnect != nil {
		wg.Go(func() { onConnect(sctx, conn) })
	}
	for {
		select {
		case m, ok := <-conn.Events():
			if !ok {
				return
			}
			handle(ctx, m)
		case <-ctx.Done():
			return
		}
	}
}

func (c *Client) ping(ctx context.Context, conn *Conn) {
	t := time.NewTicker(c.cfg.PingInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-conn.Done():
			return
		case <-t.C:
		}
		pctx, cancel := context.WithTimeout(ctx, c.cfg.PingTimeout)
		_, err := conn.Action(pctx, NewAction("Ping"))
		cancel()
		if err != nil && ctx.Err() == nil {
			// No answer in time: the connection is dead even if TCP has not noticed yet.
			c.log.Warn("asterisk manager did not answer a ping", "addr", c.cfg.Addr, "err", err)
			conn.Close()
			return
		}
	}
}

// Conn returns the live connection, or nil.
func (c *Client) Conn() *Conn {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.conn
}

// Action sends m on the live connection; ErrNotConnected when there is none.
func (c *Client) Action(ctx context.Context, m Message) (Message, error) {
	conn := c.Conn()
	if conn == nil {
		return Message{}, ErrNotConnected
	}
	return conn.Action(ctx, m)
}

// jitter spreads reconnections of several instances over ±20% of d.
func jitter(d time.Duration) time.Duration {
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
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
