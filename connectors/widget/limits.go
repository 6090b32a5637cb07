package widget

import (
	"sync"
	"time"
)

// limiter is a set of token buckets, one per key (a visitor, a client address). Buckets that have
// refilled are dropped by sweep, so an idle visitor costs nothing.
type limiter struct {
	rate  Rate
	mu    sync.Mutex
	items map[string]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

func newLimiter(r Rate) *limiter {
	if r.Burst <= 0 {
		r.Burst = r.Count
	}
	return &limiter{rate: r, items: map[string]*bucket{}}
}

// allow takes one token for key. When there is none it says how long until there is.
func (l *limiter) allow(key string, now time.Time) (bool, time.Duration) {
	if l == nil || l.rate.Unlimited() {
		return true, 0
	}
	perToken := l.rate.Per / time.Duration(l.rate.Count)
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.items[key]
	if b == nil {
		b = &bucket{tokens: float64(l.rate.Burst), last: now}
		l.items[key] = b
	}
	if el := now.Sub(b.last); el > 0 {
		b.tokens = min(float64(l.rate.Burst), b.tokens+float64(el)/float64(perToken))
		b.last = now
	}
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	return false, time.Duration((1 - b.tokens) * float64(perToken))
}

// sweep forgets buckets that are full again.
func (l *limiter) sweep(now time.Time) {
	if l == nil || l.rate.Unlimited() {
		return
	}
	full := time.Duration(l.rate.Burst) * (l.rate.Per / time.Duration(l.rate.Count))
	l.mu.Lock()
	defer l.mu.Unlock()
	for k, b := range l.items {
		if now.Sub(b.last) >= full {
			delete(l.items, k)
		}
	}
}
