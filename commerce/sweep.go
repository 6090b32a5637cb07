package commerce

import (
	"context"
	"fmt"
	"time"

	"github.com/serambi/serambi/bus"
)

// sweepBatch bounds one MarkAbandoned call.
const sweepBatch = 500

// FollowMerges moves a merged-away customer's carts, orders and loyalty to the survivor whenever
// the bus announces a merge, until the returned stop is called. Call it before serving, so that no
// merge goes by unheard; each merge is handled on the bus's own goroutine for this subscriber,
// in order, so none is dropped.
func (s *Service) FollowMerges(sub bus.Subscriber) (stop func()) {
	return sub.Subscribe(func(e bus.Event) {
		if e.Topic != bus.CustomerMerged {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := s.Merged(ctx, e.CustomerID, e.OtherID); err != nil {
			s.log.Warn("could not move commerce records to the merged customer", "survivor", e.CustomerID, "loser", e.OtherID, "err", err)
		}
	})
}

// Run marks carts untouched for AbandonAfter as abandoned (and tells the console), forgets old
// webhook deliveries and, on a store that needs it, repairs co-purchase counts a crash left
// behind, every SweepEvery until ctx is done.
func (s *Service) Run(ctx context.Context) error {
	t := time.NewTicker(s.cfg.SweepEvery)
	defer t.Stop()
	for {
		if _, err := s.Sweep(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("commerce sweep failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Sweep runs one round of the background work and returns how many carts it marked abandoned.
func (s *Service) Sweep(ctx context.Context) (int, error) {
	now := s.now()
	marked := 0
	for {
		carts, err := s.store.MarkAbandoned(ctx, now.Add(-s.cfg.AbandonAfter), now, sweepBatch)
		if err != nil {
			return marked, fmt.Errorf("mark abandoned carts: %w", err)
		}
		marked += len(carts)
		for _, c := range carts {
			s.changed(ctx, c.CustomerID)
		}
		if len(carts) < sweepBatch {
			break
		}
	}
	if _, err := s.store.PruneDeliveries(ctx, now.Add(-s.cfg.DeliveryRetention)); err != nil {
		return marked, fmt.Errorf("prune webhook deliveries: %w", err)
	}
	if r, ok := s.store.(CountRepairer); ok {
		if err := r.RepairCounts(ctx); err != nil {
			return marked, fmt.Errorf("repair co-purchase counts: %w", err)
		}
	}
	return marked, nil
}

// Merged moves the commerce records of a merged-away customer to the survivor.
func (s *Service) Merged(ctx context.Context, survivorID, loserID string) error {
	if survivorID == "" || loserID == "" || survivorID == loserID {
		return nil
	}
	if err := s.store.MoveCustomer(ctx, loserID, survivorID); err != nil {
		return err
	}
	s.changed(ctx, survivorID)
	return nil
}
