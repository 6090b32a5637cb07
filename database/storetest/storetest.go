// Package storetest is the one conformance suite every storage implementation passes: the SQLite
// store on a temp file and the MongoDB store over the wire. A store is correct when these tests
// say so; behaviour the suite does not pin down is left to the implementation.
//
// Besides what the interfaces' comments say, the suite expects:
//   - AddIdentity, UpdateDelivery, SetIdentityUnreachable and TouchSession on something absent
//     give inbox.ErrNotFound, and so do RevokeAPIKey, DeleteTeam, DeleteCanned and UpdateCanned.
//   - CompleteOutbox and RetryOutbox by an owner that does not hold the job's lease fail and
//     leave the job as it is; RetryOutbox counts the attempt and clears the lease.
//   - ListSuggestions(c) lists the suggestions stored with CustomerID c.
//   - MergeCustomers adds the two conversations' Unread counts.
//   - A unique key already taken (API key hash, agent email, team name, canned shortcut) is
//     inbox.ErrConflict, as is a taken verified identity (*inbox.IdentityTakenError matches it).
//   - CountAgents counts disabled agents too; deleting an absent session is not an error (nil or
//     inbox.ErrNotFound both pass); releasing a lease one does not hold changes nothing.
//
// Times in the suite are whole milliseconds, because MongoDB stores no finer.
package storetest

import (
	"cmp"
	"encoding/json"
	"io"
	"log/slog"
	"maps"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/serambi/serambi/inbox"
)

// Base is the instant the suite's fixtures and clocks start at.
func Base() time.Time { return time.Date(2026, 3, 2, 9, 30, 0, 0, time.UTC) }

// Clock is a controllable clock for inbox.New and inbox.NewDispatcher. Every reading is one
// millisecond after the previous one, so entries made one after the other have distinct, ordered
// times; Advance jumps ahead (past a backoff or a lease) without sleeping.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a clock whose first reading is t.
func NewClock(t time.Time) *Clock { return &Clock{t: t.UTC().Truncate(time.Millisecond)} }

// Now returns the current reading and moves the clock on by one millisecond.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := c.t
	c.t = c.t.Add(time.Millisecond)
	return t
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func discardLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// The normalisers below make values comparable with reflect.DeepEqual across stores: a store may
// give back an empty slice for nil (or the reverse) and times in UTC without a monotonic reading.

func utc(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC()
}

func normCustomer(c inbox.Customer) inbox.Customer {
	c.CreatedAt, c.UpdatedAt = utc(c.CreatedAt), utc(c.UpdatedAt)
	ids := make([]inbox.Identity, 0, len(c.Identities))
	for _, id := range c.Identities {
		id.AddedAt = utc(id.AddedAt)
		ids = append(ids, id)
	}
	// Identity order is not part of the contract.
	slices.SortFunc(ids, func(a, b inbox.Identity) int { return cmp.Compare(a.Key(), b.Key()) })
	c.Identities = ids
	return c
}

func normConversation(c inbox.Conversation) inbox.Conversation {
	if c.Tags == nil {
		c.Tags = []string{}
	}
	ch := slices.Clone(c.Channels)
	if ch == nil {
		ch = []inbox.Channel{}
	}
	// Channels is a set.
	slices.Sort(ch)
	c.Channels = ch
	c.LastMessageAt, c.LastInboundAt = utc(c.LastMessageAt), utc(c.LastInboundAt)
	c.SnoozedUntil, c.SLADueAt = utc(c.SnoozedUntil), utc(c.SLADueAt)
	c.CreatedAt, c.UpdatedAt = utc(c.CreatedAt), utc(c.UpdatedAt)
	if len(c.LastInbound) == 0 {
		c.LastInbound = nil
	} else {
		li := make(map[inbox.Channel]time.Time, len(c.LastInbound))
		for ch, t := range c.LastInbound {
			li[ch] = utc(t)
		}
		c.LastInbound = li
	}
	// AppliedActivity is the store's bookkeeping, checked by its own test.
	c.AppliedActivity = nil
	return c
}

func normMessage(m inbox.Message) inbox.Message {
	if len(m.Attachments) == 0 {
		m.Attachments = nil
	}
	if len(m.Meta) == 0 {
		m.Meta = nil
	}
	if m.Event != nil {
		e := *m.Event
		if len(e.Data) == 0 {
			e.Data = nil
		}
		m.Event = &e
	}
	m.SentAt, m.CreatedAt, m.UpdatedAt = utc(m.SentAt), utc(m.CreatedAt), utc(m.UpdatedAt)
	return m
}

func normJob(j inbox.OutboxJob) inbox.OutboxJob {
	j.NextAttemptAt, j.LeaseUntil, j.CreatedAt = utc(j.NextAttemptAt), utc(j.LeaseUntil), utc(j.CreatedAt)
	return j
}

// same fails the test when got and want differ, showing both as JSON.
func same[T any](t *testing.T, what string, got, want T) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		g, _ := json.MarshalIndent(got, "", "  ")
		w, _ := json.MarshalIndent(want, "", "  ")
		t.Errorf("%s differs\n got: %s\nwant: %s", what, g, w)
	}
}

func ids[T any](items []T, id func(T) string) []string {
	out := make([]string, 0, len(items))
	for _, it := range items {
		out = append(out, id(it))
	}
	return out
}

func convID(c inbox.Conversation) string { return c.ID }
func msgID(m inbox.Message) string       { return m.ID }
func jobID(j inbox.OutboxJob) string     { return j.ID }

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	if s == nil {
		s = []string{}
	}
	return s
}

func setOf(s []string) map[string]bool {
	m := map[string]bool{}
	for _, v := range s {
		m[v] = true
	}
	return m
}

func keys(m map[string]bool) []string { return sorted(slices.Collect(maps.Keys(m))) }

func must(t *testing.T, err error, what string) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}
