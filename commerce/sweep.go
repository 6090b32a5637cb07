package commerce

import (
	"context"
	"fmt"
	"time"

	"github.com/serambi/serambi/bus"
)

// sweepBatch bounds one MarkAbandoned call.
const sweepBatch = 500

// Run does commerce's background work until ctx ends: every SweepEvery it marks carts untouched
// for AbandonAfter as abandoned (and tells the console), forgets old webhook deliveries and, on a
// store that needs it, repairs co-purchase counts a crash left behind. With sub set it also
// follows customer merges, moving the loser's carts, orders and loyalty to the survivor.
func (s *Service) Run(ctx context.Context, sub bus.Subscriber) error {
	if sub != nil {
		merges := make(chan bus.Event, 64)
		cancel := sub.Subscribe(func(e bus.Event) {
			if e.Topic == bus.CustomerMerged {
				select {
				case merges <- e:
				default:
					s.log.Warn("commerce merge queue full; the merged customer's orders stay with the old id until the next merge event", "customer", e.CustomerID)
				}
			}
		})
		defer cancel()
		go func() {
			for {
				select {
				case <-ctx.Done():
					return
				case e := <-merges:
					if err := s.Merged(ctx, e.CustomerID, e.OtherID); err != nil {
						s.log.Warn("could not move commerce records to the merged customer", "survivor", e.CustomerID, "loser", e.OtherID, "err", err)
					}
				}
			}
		}()
	}
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
