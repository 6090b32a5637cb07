package storetest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/serambi/serambi/inbox"
	"github.com/serambi/serambi/notifications"
)

// RunNotifications checks a notifications.Store. open returns a fresh, empty store.
func RunNotifications(t *testing.T, open func(t *testing.T) notifications.Store) {
	norm := func(n notifications.Notification) notifications.Notification {
		n.CreatedAt, n.ReadAt = utc(n.CreatedAt), utc(n.ReadAt)
		return n
	}
	notif := func(agent string, kind notifications.Kind, msg string, at time.Time) notifications.Notification {
		return notifications.Notification{ID: inbox.NewID(), AgentID: agent, Kind: kind, ConversationID: "conv-" + msg,
			CustomerID: "cust-" + msg, MessageID: msg, ActorID: "actor", Excerpt: "about " + msg, CreatedAt: at}
	}
	add := func(t *testing.T, s notifications.Store, n notifications.Notification) notifications.Notification {
		t.Helper()
		got, dup, err := s.AddNotification(t.Context(), n)
		must(t, err, "add "+n.MessageID)
		if dup {
			t.Fatalf("add %s: reported as a duplicate", n.MessageID)
		}
		return got
	}
	list := func(t *testing.T, s notifications.Store, agent string, after notifications.Cursor, limit int) []string {
		t.Helper()
		got, err := s.ListNotifications(t.Context(), agent, after, limit)
		must(t, err, "list")
		return ids(got, func(n notifications.Notification) string { return n.MessageID })
	}
	unread := func(t *testing.T, s notifications.Store, agent string, want int) {
		t.Helper()
		n, err := s.CountUnreadNotifications(t.Context(), agent, notifications.UnreadCap)
		must(t, err, "count unread")
		if n != want {
			t.Errorf("unread of %s = %d, want %d", agent, n, want)
		}
	}

	t.Run("a notification reads back as stored, and adding it again stores nothing", func(t *testing.T) {
		s := open(t)
		ctx := t.Context()
		n := notif("dewi", notifications.KindMention, "m1", Base())
		got := add(t, s, n)
		same(t, "added", norm(got), norm(n))
		byID, err := s.NotificationByID(ctx, "dewi", n.ID)
		must(t, err, "by id")
		same(t, "read back", norm(byID), norm(n))

		again := notif("dewi", notifications.KindMention, "m1", Base().Add(time.Minute))
		again.Excerpt = "a second processing of the same note"
		got, dup, err := s.AddNotification(ctx, again)
		must(t, err, "add again")
		if !dup {
			t.Errorf("the same agent, kind and message added twice is not reported as a duplicate")
		}
		same(t, "the duplicate returns the first", norm(got), norm(n))
		unread(t, s, "dewi", 1)
		same(t, "listed", list(t, s, "dewi", notifications.Cursor{}, 10), []string{"m1"})

		// The same message may notify another agent, and the same agent of another kind.
		add(t, s, notif("budi", notifications.KindMention, "m1", Base()))
		add(t, s, notif("dewi", notifications.KindAssigned, "m1", Base().Add(time.Second)))
		unread(t, s, "dewi", 2)
		unread(t, s, "budi", 1)
	})

	t.Run("the same note processed concurrently notifies once", func(t *testing.T) {
		s := open(t)
		var wg sync.WaitGroup
		var mu sync.Mutex
		created := 0
		for i := range 12 {
			wg.Go(func() {
				n := notif("dewi", notifications.KindMention, "m1", Base().Add(time.Duration(i)*time.Millisecond))
				_, dup, err := s.AddNotification(t.Context(), n)
				if err != nil {
					t.Errorf("add %d: %v", i, err)
					return
				}
				if !dup {
					mu.Lock()
					created++
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if created != 1 {
			t.Errorf("%d of 12 concurrent adds stored a notification, want 1", created)
		}
		unread(t, s, "dewi", 1)
	})

	t.Run("lists are newest first, paginated by cursor, and per agent", func(t *testing.T) {
		s := open(t)
		var want []string
		var stored []notifications.Notification
		for i := range 7 {
			n := add(t, s, notif("dewi", notifications.KindMention, fmt.Sprintf("m%d", i), Base().Add(time.Duration(i)*time.Second)))
			stored = append(stored, n)
			want = append([]string{n.MessageID}, want...)
		}
		// Two at the same instant are ordered by id, descending.
		a := notif("dewi", notifications.KindMention, "tie-a", Base().Add(10*time.Second))
		b := notif("dewi", notifications.KindMention, "tie-b", Base().Add(10*time.Second))
		if a.ID > b.ID {
			a.ID, b.ID = b.ID, a.ID
		}
		add(t, s, a)
		add(t, s, b)
		want = append([]string{"tie-b", "tie-a"}, want...)
		add(t, s, notif("budi", notifications.KindMention, "other", Base().Add(5*time.Second)))

		same(t, "whole list", list(t, s, "dewi", notifications.Cursor{}, 100), want)
		var got []string
		after := notifications.Cursor{}
		for range 10 {
			page, err := s.ListNotifications(t.Context(), "dewi", after, 3)
			must(t, err, "page")
			if len(page) > 3 {
				t.Fatalf("a page of 3 has %d entries", len(page))
			}
			if len(page) == 0 {
				break
			}
			for _, n := range page {
				got = append(got, n.MessageID)
			}
			last := page[len(page)-1]
			after = notifications.Cursor{At: last.CreatedAt, ID: last.ID}
		}
		same(t, "pages joined", got, want)
		same(t, "another agent's list", list(t, s, "budi", notifications.Cursor{}, 100), []string{"other"})
		same(t, "an agent with none", list(t, s, "nobody", notifications.Cursor{}, 100), []string{})
		same(t, "after the middle", list(t, s, "dewi", notifications.Cursor{At: stored[3].CreatedAt, ID: stored[3].ID}, 100),
			[]string{"m2", "m1", "m0"})
	})

	t.Run("marking read changes only the agent's own notifications", func(t *testing.T) {
		s := open(t)
		ctx := t.Context()
		d1 := add(t, s, notif("dewi", notifications.KindMention, "d1", Base()))
		d2 := add(t, s, notif("dewi", notifications.KindAssigned, "d2", Base().Add(time.Second)))
		d3 := add(t, s, notif("dewi", notifications.KindMention, "d3", Base().Add(2*time.Second)))
		b1 := add(t, s, notif("budi", notifications.KindMention, "b1", Base()))
		unread(t, s, "dewi", 3)

		at := Base().Add(time.Hour)
		n, err := s.MarkNotificationsRead(ctx, "dewi", []string{d1.ID, b1.ID, inbox.NewID()}, at)
		must(t, err, "mark read")
		if n != 1 {
			t.Errorf("marking one own, one foreign and one unknown id read changed %d, want 1", n)
		}
		got, err := s.NotificationByID(ctx, "dewi", d1.ID)
		must(t, err, "read back")
		same(t, "read at", utc(got.ReadAt), at)
		unread(t, s, "dewi", 2)
		unread(t, s, "budi", 1)

		n, err = s.MarkNotificationsRead(ctx, "dewi", []string{d1.ID}, at.Add(time.Hour))
		must(t, err, "mark read again")
		if n != 0 {
			t.Errorf("marking a read notification read again changed %d", n)
		}
		got, err = s.NotificationByID(ctx, "dewi", d1.ID)
		must(t, err, "read back")
		same(t, "first read time kept", utc(got.ReadAt), at)
		n, err = s.MarkNotificationsRead(ctx, "dewi", nil, at)
		must(t, err, "mark none")
		if n != 0 {
			t.Errorf("marking no ids changed %d", n)
		}

		_, err = s.NotificationByID(ctx, "budi", d2.ID)
		notFound(t, err, "NotificationByID of another agent's notification")
		_, err = s.NotificationByID(ctx, "dewi", inbox.NewID())
		notFound(t, err, "NotificationByID of an unknown id")

		n, err = s.MarkAllNotificationsRead(ctx, "dewi", at.Add(2*time.Hour))
		must(t, err, "mark all")
		if n != 2 {
			t.Errorf("mark all changed %d, want 2", n)
		}
		unread(t, s, "dewi", 0)
		unread(t, s, "budi", 1)
		got, err = s.NotificationByID(ctx, "dewi", d3.ID)
		must(t, err, "read back")
		if !got.Read() {
			t.Errorf("mark all left %s unread", d3.MessageID)
		}
		got, err = s.NotificationByID(ctx, "budi", b1.ID)
		must(t, err, "read back")
		if got.Read() {
			t.Errorf("Dewi's mark all read marked Budi's notification read")
		}
		same(t, "read ones stay listed", list(t, s, "dewi", notifications.Cursor{}, 10), []string{"d3", "d2", "d1"})
	})

	t.Run("the unread count stops at its limit", func(t *testing.T) {
		s := open(t)
		for i := range 6 {
			add(t, s, notif("dewi", notifications.KindMention, fmt.Sprintf("m%d", i), Base().Add(time.Duration(i)*time.Second)))
		}
		n, err := s.CountUnreadNotifications(t.Context(), "dewi", 4)
		must(t, err, "count")
		if n != 4 {
			t.Errorf("count with limit 4 of 6 unread = %d, want 4", n)
		}
		n, err = s.CountUnreadNotifications(t.Context(), "dewi", 100)
		must(t, err, "count")
		if n != 6 {
			t.Errorf("count = %d, want 6", n)
		}
	})

	t.Run("pruning deletes only the agent's old read notifications", func(t *testing.T) {
		s := open(t)
		ctx := t.Context()
		oldRead := add(t, s, notif("dewi", notifications.KindMention, "old-read", Base()))
		add(t, s, notif("dewi", notifications.KindMention, "old-unread", Base().Add(time.Second)))
		newRead := add(t, s, notif("dewi", notifications.KindMention, "new-read", Base().Add(48*time.Hour)))
		budiOld := add(t, s, notif("budi", notifications.KindMention, "budi-old", Base()))
		_, err := s.MarkNotificationsRead(ctx, "dewi", []string{oldRead.ID, newRead.ID}, Base().Add(49*time.Hour))
		must(t, err, "mark read")
		_, err = s.MarkNotificationsRead(ctx, "budi", []string{budiOld.ID}, Base().Add(49*time.Hour))
		must(t, err, "mark read")

		n, err := s.PruneNotifications(ctx, "dewi", Base().Add(24*time.Hour), 100)
		must(t, err, "prune")
		if n != 1 {
			t.Errorf("prune deleted %d, want 1", n)
		}
		same(t, "kept", list(t, s, "dewi", notifications.Cursor{}, 10), []string{"new-read", "old-unread"})
		same(t, "another agent's kept", list(t, s, "budi", notifications.Cursor{}, 10), []string{"budi-old"})
		// A pruned notification may come again: the note it was about is still the same note,
		// but by then it is old news and nobody processes it twice a month apart.
		_, dup, err := s.AddNotification(ctx, notif("dewi", notifications.KindMention, "old-read", Base().Add(50*time.Hour)))
		must(t, err, "add after prune")
		if dup {
			t.Errorf("a pruned notification still counts as stored")
		}
	})

	t.Run("pruning is bounded by its limit", func(t *testing.T) {
		s := open(t)
		for i := range 5 {
			add(t, s, notif("dewi", notifications.KindMention, fmt.Sprintf("m%d", i), Base().Add(time.Duration(i)*time.Second)))
		}
		_, err := s.MarkAllNotificationsRead(t.Context(), "dewi", Base().Add(time.Hour))
		must(t, err, "mark all")
		n, err := s.PruneNotifications(t.Context(), "dewi", Base().Add(time.Hour), 2)
		must(t, err, "prune")
		if n != 2 {
			t.Errorf("prune with limit 2 deleted %d", n)
		}
		if left := list(t, s, "dewi", notifications.Cursor{}, 10); len(left) != 3 {
			t.Errorf("after pruning 2 of 5, %d are left: %v", len(left), left)
		}
	})
}
