package bus

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"
)

func TestLocalDeliversInOrderToEverySubscriber(t *testing.T) {
	b := NewLocal(slog.New(slog.NewTextHandler(io.Discard, nil)), 0)
	const n = 100
	var wg sync.WaitGroup
	got := make([][]string, 2)
	for i := range got {
		wg.Add(n)
		i := i
		cancel := b.Subscribe(func(e Event) { got[i] = append(got[i], e.MessageID); wg.Done() })
		defer cancel()
	}
	for i := 0; i < n; i++ {
		b.Publish(context.Background(), Event{Topic: MessageAdded, MessageID: string(rune('a' + i%26))})
	}
	waitOrFail(t, &wg)
	for i := range got {
		if len(got[i]) != n {
			t.Fatalf("subscriber %d got %d events, want %d", i, len(got[i]), n)
		}
		for j, id := range got[i] {
			if want := string(rune('a' + j%26)); id != want {
				t.Fatalf("subscriber %d event %d = %q, want %q (order lost)", i, j, id, want)
			}
		}
	}
}

func TestLocalCancelStopsDelivery(t *testing.T) {
	b := NewLocal(slog.New(slog.NewTextHandler(io.Discard, nil)), 0)
	var mu sync.Mutex
	count := 0
	cancel := b.Subscribe(func(Event) { mu.Lock(); count++; mu.Unlock() })
	b.Publish(context.Background(), Event{Topic: MessageAdded})
	cancel() // waits for the queued event to be handled
	b.Publish(context.Background(), Event{Topic: MessageAdded})
	mu.Lock()
	defer mu.Unlock()
	if count != 1 {
		t.Fatalf("handler ran %d times, want 1 (before cancel only)", count)
	}
}

func TestLocalSlowSubscriberDoesNotBlockPublisher(t *testing.T) {
	b := NewLocal(slog.New(slog.NewTextHandler(io.Discard, nil)), 2)
	release := make(chan struct{})
	cancel := b.Subscribe(func(Event) { <-release })
	done := make(chan struct{})
	go func() {
		for i := 0; i < 10; i++ {
			b.Publish(context.Background(), Event{Topic: MessageAdded})
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Publish blocked on a slow subscriber")
	}
	close(release)
	cancel()
}

func waitOrFail(t *testing.T, wg *sync.WaitGroup) {
	t.Helper()
	ch := make(chan struct{})
	go func() { wg.Wait(); close(ch) }()
	select {
	case <-ch:
	case <-time.After(5 * time.Second):
		t.Fatal("events not delivered")
	}
}
