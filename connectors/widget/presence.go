package widget

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/serambi/serambi/connectors"
	"github.com/serambi/serambi/inbox"
)

// Presence says, across instances, whether a conversation's visitor is on the site and when they
// were last seen, for the email fallback: "gone for OfflineAfter" must hold whichever instance
// the visitor was connected to. Only conversations with sockets cost writes: one when the first
// tab connects, one when the last closes, and one every presenceRefresh while connected.
const (
	presencePrefix  = "widget/presence/"
	emailedPrefix   = "widget/emailed/"
	presenceRefresh = time.Minute
)

type presenceRecord struct {
	// LiveUntil is in the future while some instance holds a socket of the conversation (it is
	// renewed every presenceRefresh; a crashed instance's claim runs out).
	LiveUntil time.Time `json:"liveUntil"`
	LastSeen  time.Time `json:"lastSeen"`
}

type presence struct {
	state connectors.StateStore
	now   func() time.Time
	log   *slog.Logger

	mu      sync.Mutex
	pending map[string]bool
	wake    chan struct{}
}

func newPresence(state connectors.StateStore, now func() time.Time, log *slog.Logger) *presence {
	return &presence{state: state, now: now, log: log, pending: map[string]bool{}, wake: make(chan struct{}, 1)}
}

// mark records that conv gained (live) or lost its sockets here. Writes happen on the presence
// goroutine (the latest state of a conversation wins), so the hub never waits for the store.
func (p *presence) mark(conv string, live bool) {
	p.mu.Lock()
	p.pending[conv] = live
	p.mu.Unlock()
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

func (p *presence) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-p.wake:
			// A flush begun is finished: shutdown cancels ctx, and a half-written batch would
			// only log failures for records the final flush writes anyway.
			p.flush(context.WithoutCancel(ctx))
		}
	}
}

// flush writes what mark recorded.
func (p *presence) flush(ctx context.Context) {
	p.mu.Lock()
	batch := p.pending
	p.pending = map[string]bool{}
	p.mu.Unlock()
	now := p.now().UTC()
	for conv, live := range batch {
		rec := presenceRecord{LastSeen: now, LiveUntil: now}
		if live {
			rec.LiveUntil = now.Add(2 * presenceRefresh)
		}
		raw, _ := json.Marshal(rec)
		if err := p.state.PutState(ctx, presencePrefix+conv, raw); err != nil {
			p.log.Warn("widget presence not recorded", "conversation", conv, "err", err)
		}
	}
}

// get returns conv's presence; the zero record when it was never seen.
func (p *presence) get(ctx context.Context, conv string) (presenceRecord, error) {
	var rec presenceRecord
	raw, err := p.state.GetState(ctx, presencePrefix+conv)
	if errors.Is(err, inbox.ErrNotFound) {
		return rec, nil
	}
	if err != nil {
		return rec, fmt.Errorf("presence of %s: %w", conv, err)
	}
	if err := json.Unmarshal(raw, &rec); err != nil {
		return presenceRecord{}, nil // unreadable: treat as never seen
	}
	return rec, nil
}
