package storetest

import (
	"bytes"
	"sync"
	"testing"
	"time"

	"github.com/serambi/serambi/connectors"
)

// RunState checks a connectors.StateStore. open returns a fresh, empty store.
func RunState(t *testing.T, open func(t *testing.T) connectors.StateStore) {
	t.Run("state is stored, replaced, and absent until put", func(t *testing.T) {
		s := open(t)
		ctx := t.Context()
		_, err := s.GetState(ctx, "imap:support@example.id")
		notFound(t, err, "GetState")
		must(t, s.PutState(ctx, "imap:support@example.id", []byte(`{"uidValidity":7,"lastUid":100}`)), "put")
		must(t, s.PutState(ctx, "telegram:bot1", []byte{0, 1, 2}), "put other")
		must(t, s.PutState(ctx, "imap:support@example.id", []byte(`{"uidValidity":7,"lastUid":250}`)), "replace")
		got, err := s.GetState(ctx, "imap:support@example.id")
		must(t, err, "get")
		if !bytes.Equal(got, []byte(`{"uidValidity":7,"lastUid":250}`)) {
			t.Errorf("state = %q", got)
		}
		got, err = s.GetState(ctx, "telegram:bot1")
		must(t, err, "get other")
		if !bytes.Equal(got, []byte{0, 1, 2}) {
			t.Errorf("binary state = %v", got)
		}
	})

	acquire := func(t *testing.T, s connectors.StateStore, key, owner string, now time.Time, ttl time.Duration, want bool) {
		t.Helper()
		ok, err := s.AcquireLease(t.Context(), key, owner, now, ttl)
		must(t, err, "acquire")
		if ok != want {
			t.Errorf("%s acquire at +%v = %v, want %v", owner, now.Sub(Base()), ok, want)
		}
	}

	t.Run("a lease is held, renewed, contended, expires and is released", func(t *testing.T) {
		s := open(t)
		k, t0 := "poll:imap:support", Base()
		acquire(t, s, k, "a", t0, time.Minute, true)
		acquire(t, s, k, "b", t0.Add(30*time.Second), time.Minute, false)
		acquire(t, s, k, "a", t0.Add(50*time.Second), time.Minute, true) // renewed until +110s
		acquire(t, s, k, "b", t0.Add(90*time.Second), time.Minute, false)
		acquire(t, s, k, "b", t0.Add(111*time.Second), time.Minute, true) // a's renewal expired
		acquire(t, s, k, "a", t0.Add(112*time.Second), time.Minute, false)
		must(t, s.ReleaseLease(t.Context(), k, "a"), "release by a non-holder")
		acquire(t, s, k, "a", t0.Add(113*time.Second), time.Minute, false)
		must(t, s.ReleaseLease(t.Context(), k, "b"), "release")
		acquire(t, s, k, "a", t0.Add(114*time.Second), time.Minute, true)
		acquire(t, s, "poll:other", "b", t0.Add(114*time.Second), time.Minute, true)
	})

	t.Run("a lease and state under one key do not disturb each other", func(t *testing.T) {
		s := open(t)
		must(t, s.PutState(t.Context(), "k", []byte("state")), "put")
		acquire(t, s, "k", "a", Base(), time.Minute, true)
		got, err := s.GetState(t.Context(), "k")
		must(t, err, "get")
		if string(got) != "state" {
			t.Errorf("state = %q", got)
		}
		must(t, s.PutState(t.Context(), "k", []byte("new")), "put")
		acquire(t, s, "k", "b", Base().Add(time.Second), time.Minute, false)
	})

	t.Run("of 20 concurrent acquirers exactly one gets the lease", func(t *testing.T) {
		s := open(t)
		var mu sync.Mutex
		wins := 0
		var wg sync.WaitGroup
		for i := range 20 {
			wg.Go(func() {
				ok, err := s.AcquireLease(t.Context(), "race", string(rune('a'+i)), Base(), time.Minute)
				if err != nil {
					t.Errorf("acquire: %v", err)
				}
				if ok {
					mu.Lock()
					wins++
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if wins != 1 {
			t.Errorf("%d owners got the lease, want 1", wins)
		}
	})
}
