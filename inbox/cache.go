package inbox

import "sync"

// idCache maps ids to ids (a customer to their conversation), bounded: when full it starts
// over, which costs one look-up per customer to refill and never serves a wrong answer.
type idCache struct {
	mu  sync.Mutex
	m   map[string]string
	max int
}

func newIDCache(max int) *idCache { return &idCache{m: make(map[string]string), max: max} }

func (c *idCache) get(k string) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.m[k]
	return v, ok
}

func (c *idCache) put(k, v string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= c.max {
		clear(c.m)
	}
	c.m[k] = v
}

func (c *idCache) forget(k string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, k)
}
