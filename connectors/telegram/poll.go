package telegram

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/serambi/serambi/inbox"
)

// offsetKey and leaseKey name the bot's entries in the connector state store.
func (c *Connector) offsetKey() string { return "telegram/" + c.cfg.BotID() + "/offset" }
func (c *Connector) leaseKey() string  { return "telegram/" + c.cfg.BotID() + "/poll" }

// Offset returns the stored getUpdates offset: the id of the next update to fetch, 0 when none
// was ever stored.
func (c *Connector) Offset(ctx context.Context) (int64, error) {
	b, err := c.deps.State.GetState(ctx, c.offsetKey())
	if errors.Is(err, inbox.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("load telegram offset: %w", err)
	}
	n, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("stored telegram offset %q: %w", b, err)
	}
	return n, nil
}

func (c *Connector) storeOffset(ctx context.Context, next int64) error {
	if err := c.deps.State.PutState(ctx, c.offsetKey(), []byte(strconv.FormatInt(next, 10))); err != nil {
		return fmt.Errorf("store telegram offset: %w", err)
	}
	return nil
}

// Run takes in the bot's updates until ctx is done. In polling mode it long-polls getUpdates;
// only the instance holding the bot's lease polls, the others wait and take over when it stops
// renewing. In webhook mode it registers the webhook with Telegram (retrying until Telegram
// accepts it) and then waits: the updates come through WebhookHandler.
//
// Each update is stored before the offset moves past it, and the offset is stored before the
// next update is looked at, so a restart at any point neither loses an update nor stores one
// twice: an update whose ingest finished but whose offset did not is delivered again and found
// stored (ingest is idempotent on the message's ExternalID).
func (c *Connector) Run(ctx context.Context) error {
	if c.cfg.Mode == ModeWebhook {
		return c.runWebhook(ctx)
	}
	if c.deps.State == nil {
		return errors.New("telegram polling needs a state store")
	}
	defer func() {
		release, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := c.deps.State.ReleaseLease(release, c.leaseKey(), c.owner); err != nil {
			c.log.Warn("could not release the telegram polling lease", "err", err)
		}
	}()
	var (
		held       bool
		renewedAt  time.Time
		failures   int
		webhookOff bool
	)
	for ctx.Err() == nil {
		if !held || c.now().Sub(renewedAt) > c.cfg.LeaseTTL/3 {
			ok, err := c.deps.State.AcquireLease(ctx, c.leaseKey(), c.owner, c.now(), c.cfg.LeaseTTL)
			if err != nil {
				c.log.Warn("telegram polling lease check failed", "err", err)
				held = false
				c.backoff(ctx, &failures, 0)
				continue
			}
			if ok && !held {
				c.log.Info("telegram polling started", "instance", c.owner)
			}
			held, renewedAt = ok, c.now()
			if !held {
				// Another instance polls this bot: check again before its lease could lapse.
				_ = c.sleep(ctx, c.cfg.LeaseTTL/3)
				continue
			}
		}
		if !webhookOff {
			// getUpdates is refused (409) while a webhook is set.
			if err := c.api.deleteWebhook(ctx); err != nil {
				c.log.Warn("telegram deleteWebhook failed", "err", err)
				c.backoff(ctx, &failures, retryAfter(err))
				continue
			}
			webhookOff = true
		}
		if err := c.pollOnce(ctx, &renewedAt); err != nil {
			if ctx.Err() != nil {
				break
			}
			var apiErr *APIError
			if errors.As(err, &apiErr) && apiErr.Code == 409 {
				webhookOff = false // someone set a webhook meanwhile
			}
			c.log.Warn("telegram polling failed, will retry", "err", err)
			c.backoff(ctx, &failures, retryAfter(err))
			continue
		}
		failures = 0
	}
	return nil
}

// pollOnce fetches one batch and stores it update by update.
func (c *Connector) pollOnce(ctx context.Context, renewedAt *time.Time) error {
	offset, err := c.Offset(ctx)
	if err != nil {
		return err
	}
	pollCtx, cancel := context.WithTimeout(ctx, c.cfg.PollTimeout+30*time.Second)
	defer cancel()
	updates, err := c.api.getUpdates(pollCtx, offset, c.cfg.PollTimeout)
	if err != nil {
		return err
	}
	for _, raw := range updates {
		u, err := DecodeUpdate(raw)
		if u.ID < offset && offset > 0 {
			continue // acknowledged already: Telegram repeated it
		}
		if err != nil {
			// Telegram sent something that is not an update. Skip it (by its id, when readable)
			// rather than stall every update behind it.
			c.log.Error("telegram sent an update that cannot be decoded, skipped", "err", err, "update", u.ID)
			if u.ID == 0 {
				continue
			}
		} else if err := c.handle(ctx, u, c.lastTry(u.ID)); err != nil {
			return err
		}
		offset = u.ID + 1
		if err := c.storeOffset(ctx, offset); err != nil {
			return err
		}
		// A long batch (many files) must not let the lease lapse under us.
		if c.now().Sub(*renewedAt) > c.cfg.LeaseTTL/3 {
			ok, err := c.deps.State.AcquireLease(ctx, c.leaseKey(), c.owner, c.now(), c.cfg.LeaseTTL)
			if err != nil {
				return fmt.Errorf("renew telegram polling lease: %w", err)
			}
			if !ok {
				return errors.New("telegram polling lease was taken by another instance")
			}
			*renewedAt = c.now()
		}
	}
	return nil
}

// backoff waits after a failure: what Telegram asked for, or 1s doubling to a minute.
func (c *Connector) backoff(ctx context.Context, failures *int, asked time.Duration) {
	*failures++
	d := asked
	if d <= 0 {
		d = min(time.Second<<min(*failures-1, 6), time.Minute)
	}
	_ = c.sleep(ctx, d)
}

func retryAfter(err error) time.Duration {
	var apiErr *APIError
	if errors.As(err, &apiErr) {
		return apiErr.RetryAfter
	}
	return 0
}

func (c *Connector) runWebhook(ctx context.Context) error {
	failures := 0
	for ctx.Err() == nil {
		err := c.SetWebhook(ctx)
		if err == nil {
			c.log.Info("telegram webhook registered", "url", c.cfg.WebhookURL)
			<-ctx.Done()
			return nil
		}
		if ctx.Err() != nil {
			break
		}
		c.log.Warn("telegram setWebhook failed, will retry", "err", err)
		c.backoff(ctx, &failures, retryAfter(err))
	}
	return nil
}

// lastTry counts a try of update id and says whether it is the last one with files required.
func (c *Connector) lastTry(id int64) bool {
	if c.stuck.id != id {
		c.stuck.id, c.stuck.tries = id, 0
	}
	c.stuck.tries++
	return c.stuck.tries >= maxTries
}
