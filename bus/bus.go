// Package bus carries domain events between the parts of Serambi: the inbox publishes that a
// message was added, the console hub and the widget hub render and push it. Events are thin (ids,
// not documents) so that they serialise for a NATS bus between instances and subscribers always
// read the current state from the store.
package bus

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// Topic names what happened.
type Topic string

const (
	MessageAdded        Topic = "message.added"
	MessageUpdated      Topic = "message.updated" // delivery state, edits
	ConversationChanged Topic = "conversation.changed"
	CustomerChanged     Topic = "customer.changed"
	CustomerMerged      Topic = "customer.merged"
	// CallRinging: a phone call for CustomerID is ringing; OtherID is the call id. The console
	// pops the caller's context up for the agents.
	CallRinging Topic = "call.ringing"
	// CallChanged: a call was answered, transferred or ended; OtherID is the call id.
	CallChanged Topic = "call.changed"
)

// Event is one thing that happened. Only the ids that apply are set.
type Event struct {
	Topic          Topic  `json:"topic"`
	ConversationID string `json:"conversationId,omitempty"`
	CustomerID     string `json:"customerId,omitempty"`
	MessageID      string `json:"messageId,omitempty"`
	// OtherID is the second party of a two-sided event: the merged-away customer.
	OtherID string    `json:"otherId,omitempty"`
	At      time.Time `json:"at"`
}

// Publisher sends events to every subscriber, on this instance and (with NATS) on the others.
type Publisher interface {
	Publish(ctx context.Context, e Event)
}

// Subscriber delivers events to a handler until the returned cancel is called.
type Subscriber interface {
	Subscribe(handler func(Event)) (cancel func())
}

// Local is the in-process bus. Each subscriber has its own buffered queue and goroutine, so a
// slow subscriber delays nobody else; when its queue is full the event is dropped for it and
// counted, because blocking the publisher (an ingest request) would be worse. Subscribers that
// cannot afford a gap (the console hub) detect it by sequence and re-read the store.
type Local struct {
	mu      sync.RWMutex
	subs    map[int]*subscription
	next    int
	log     *slog.Logger
	bufSize int
}

type subscription struct {
	ch      chan Event
	done    chan struct{}
	dropped atomic.Int64
}

// NewLocal returns an in-process bus whose subscribers each buffer up to bufSize events.
func NewLocal(log *slog.Logger, bufSize int) *Local {
	if bufSize <= 0 {
		bufSize = 4096
	}
	return &Local{subs: map[int]*subscription{}, log: log, bufSize: bufSize}
}

// Publish hands e to every subscriber without blocking.
func (b *Local) Publish(_ context.Context, e Event) {
	if e.At.IsZero() {
		e.At = time.Now().UTC()
	}
	b.mu.RLock()
	defer b.mu.RUnlock()
	for id, s := range b.subs {
		select {
		case s.ch <- e:
		default:
			n := s.dropped.Add(1)
			b.log.Warn("bus subscriber queue full, event dropped", "subscriber", id, "topic", e.Topic, "dropped", n)
		}
	}
}

// Subscribe calls handler for every event published after it returns, in publish order.
func (b *Local) Subscribe(handler func(Event)) func() {
	s := &subscription{ch: make(chan Event, b.bufSize), done: make(chan struct{})}
	b.mu.Lock()
	id := b.next
	b.next++
	b.subs[id] = s
	b.mu.Unlock()
	go func() {
		defer close(s.done)
		for e := range s.ch {
			handler(e)
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			b.mu.Lock()
			delete(b.subs, id)
			b.mu.Unlock()
			close(s.ch)
			<-s.done
		})
	}
}
