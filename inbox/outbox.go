package inbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/serambi/serambi/bus"
)

// Sender delivers an outbound message on one channel and returns the channel's id for it.
// Errors wrapped with Permanent are not retried; a *RetryAfterError sets the next attempt.
type Sender interface {
	Send(ctx context.Context, out Outbound) (externalID string, err error)
}

// DispatcherConfig tunes the outbox dispatcher.
type DispatcherConfig struct {
	// Owner names this instance in leases; it must differ between instances.
	Owner string
	// Lease is how long a claimed job is ours before another instance may take it.
	Lease time.Duration
	// Poll is how often the outbox is checked when nothing woke the dispatcher.
	Poll time.Duration
	// MaxAttempts before a message is marked failed.
	MaxAttempts int
	// BaseBackoff doubles with every attempt, up to MaxBackoff, with jitter.
	BaseBackoff, MaxBackoff time.Duration
	// SendTimeout bounds one attempt.
	SendTimeout time.Duration
	// Workers is how many jobs are sent at once.
	Workers int
}

func (c DispatcherConfig) withDefaults() DispatcherConfig {
	if c.Owner == "" {
		c.Owner = NewID()
	}
	if c.Lease <= 0 {
		c.Lease = time.Minute
	}
	if c.Poll <= 0 {
		c.Poll = time.Second
	}
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = 8
	}
	if c.BaseBackoff <= 0 {
		c.BaseBackoff = 2 * time.Second
	}
	if c.MaxBackoff <= 0 {
		c.MaxBackoff = 10 * time.Minute
	}
	if c.SendTimeout <= 0 {
		c.SendTimeout = 30 * time.Second
	}
	if c.Workers <= 0 {
		c.Workers = 8
	}
	return c
}

// Dispatcher sends what the outbox holds: it claims due jobs under a lease, hands each to its
// channel's Sender, and records the outcome. Several instances may run one each.
type Dispatcher struct {
	store   Store
	senders map[Channel]Sender
	events  bus.Publisher
	cfg     DispatcherConfig
	now     func() time.Time
	log     *slog.Logger
	metrics Metrics
	wake    chan struct{}
}

// NewDispatcher returns a dispatcher sending through senders, keyed by channel.
func NewDispatcher(store Store, senders map[Channel]Sender, events bus.Publisher, cfg DispatcherConfig,
	now func() time.Time, log *slog.Logger) *Dispatcher {
	return &Dispatcher{store: store, senders: senders, events: events, cfg: cfg.withDefaults(),
		now: func() time.Time { return now().UTC() }, log: log, metrics: noMetrics{}, wake: make(chan struct{}, 1)}
}

// SetMetrics sets where the dispatcher reports attempts.
func (d *Dispatcher) SetMetrics(m Metrics) { d.metrics = m }

// Wake makes the dispatcher look at the outbox now.
func (d *Dispatcher) Wake() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// Run dispatches until ctx is done, then gives up its leases so another instance (or the next
// start) takes over at once instead of waiting for them to expire.
func (d *Dispatcher) Run(ctx context.Context) error {
	t := time.NewTicker(d.cfg.Poll)
	defer t.Stop()
	for {
		for {
			n, err := d.RunOnce(ctx)
			if err != nil && ctx.Err() == nil {
				d.log.Error("outbox dispatch failed", "err", err)
			}
			if n == 0 || ctx.Err() != nil {
				break
			}
		}
		select {
		case <-ctx.Done():
			release, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			if err := d.store.ReleaseOutbox(release, d.cfg.Owner); err != nil {
				return fmt.Errorf("release outbox leases: %w", err)
			}
			return nil
		case <-d.wake:
		case <-t.C:
		}
	}
}

// RunOnce claims one batch of due jobs and works through it; it returns how many it handled.
func (d *Dispatcher) RunOnce(ctx context.Context) (int, error) {
	jobs, err := d.store.ClaimOutbox(ctx, d.cfg.Owner, d.now(), d.cfg.Lease, d.cfg.Workers*4)
	if err != nil {
		return 0, fmt.Errorf("claim outbox jobs: %w", err)
	}
	// Jobs already claimed are finished even when shutdown cancels ctx: a send cut off half-way
	// may have reached the customer, and retrying it later would send it twice. Each send is
	// still bounded by SendTimeout.
	work := context.WithoutCancel(ctx)
	sem := make(chan struct{}, d.cfg.Workers)
	var wg sync.WaitGroup
	for _, j := range jobs {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			if err := d.process(work, j); err != nil {
				d.log.Error("outbox job failed to record", "job", j.ID, "err", err)
			}
		}()
	}
	wg.Wait()
	return len(jobs), nil
}

func (d *Dispatcher) process(ctx context.Context, j OutboxJob) error {
	m, err := d.store.MessageByID(ctx, j.MessageID)
	if errors.Is(err, ErrNotFound) {
		d.log.Warn("outbox job without its message, dropped", "job", j.ID, "message", j.MessageID)
		return d.store.CompleteOutbox(ctx, j.ID, d.cfg.Owner)
	}
	if err != nil {
		return fmt.Errorf("load message %s: %w", j.MessageID, err)
	}
	if m.Delivery != DeliveryQueued {
		// Sent already: the instance that sent it died before completing the job.
		return d.store.CompleteOutbox(ctx, j.ID, d.cfg.Owner)
	}
	sender, ok := d.senders[j.Channel]
	if !ok {
		return d.fail(ctx, j, m, fmt.Sprintf("no sender is configured for channel %s", j.Channel))
	}
	out, err := d.outbound(ctx, m, j)
	if err != nil {
		return err
	}
	sendCtx, cancel := context.WithTimeout(ctx, d.cfg.SendTimeout)
	externalID, sendErr := sender.Send(sendCtx, out)
	cancel()
	if sendErr == nil {
		d.metrics.OutboxAttempt(j.Channel, "sent")
		if _, err := d.store.UpdateDelivery(ctx, m.ID, DeliveryUpdate{State: DeliverySent, ExternalID: externalID, At: d.now()}); err != nil {
			return fmt.Errorf("mark message %s sent: %w", m.ID, err)
		}
		d.publish(ctx, m)
		return d.store.CompleteOutbox(ctx, j.ID, d.cfg.Owner)
	}
	attempts := j.Attempts + 1
	var perm *PermanentError
	if errors.As(sendErr, &perm) || attempts >= d.cfg.MaxAttempts {
		d.metrics.OutboxAttempt(j.Channel, "failed")
		return d.fail(ctx, j, m, sendErr.Error())
	}
	d.metrics.OutboxAttempt(j.Channel, "retry")
	next := d.now().Add(d.backoff(attempts))
	var ra *RetryAfterError
	if errors.As(sendErr, &ra) && ra.After > 0 {
		next = d.now().Add(ra.After)
	}
	d.log.Warn("send failed, will retry", "message", m.ID, "channel", j.Channel, "attempt", attempts, "next", next, "err", sendErr)
	return d.store.RetryOutbox(ctx, j.ID, d.cfg.Owner, next, sendErr.Error())
}

func (d *Dispatcher) outbound(ctx context.Context, m Message, j OutboxJob) (Outbound, error) {
	cust, err := d.store.CustomerByID(ctx, m.CustomerID)
	for hops := 0; err == nil && cust.MergedInto != "" && hops < 8; hops++ {
		cust, err = d.store.CustomerByID(ctx, cust.MergedInto)
	}
	if err != nil {
		return Outbound{}, fmt.Errorf("load customer %s: %w", m.CustomerID, err)
	}
	conv, err := d.store.ConversationByCustomer(ctx, cust.ID)
	if err != nil {
		return Outbound{}, fmt.Errorf("load conversation of %s: %w", cust.ID, err)
	}
	return Outbound{Message: m, Customer: cust, Conversation: conv, Attempt: j.Attempts + 1}, nil
}

func (d *Dispatcher) fail(ctx context.Context, j OutboxJob, m Message, reason string) error {
	d.log.Warn("message failed", "message", m.ID, "channel", j.Channel, "reason", reason)
	if _, err := d.store.UpdateDelivery(ctx, m.ID, DeliveryUpdate{State: DeliveryFailed, Error: reason, At: d.now()}); err != nil {
		return fmt.Errorf("mark message %s failed: %w", m.ID, err)
	}
	d.publish(ctx, m)
	return d.store.CompleteOutbox(ctx, j.ID, d.cfg.Owner)
}

func (d *Dispatcher) publish(ctx context.Context, m Message) {
	d.events.Publish(ctx, bus.Event{Topic: bus.MessageUpdated, ConversationID: m.ConversationID, CustomerID: m.CustomerID, MessageID: m.ID, At: d.now()})
}

// backoff is exponential with ±25% jitter, so that many failed jobs do not retry in lockstep.
func (d *Dispatcher) backoff(attempt int) time.Duration {
	b := d.cfg.BaseBackoff << min(attempt-1, 20)
	if b > d.cfg.MaxBackoff || b <= 0 {
		b = d.cfg.MaxBackoff
	}
	jitter := time.Duration(rand.Int64N(int64(b)/2+1)) - b/4
	return b + jitter
}
