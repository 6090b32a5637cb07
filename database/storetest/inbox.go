package storetest

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/serambi/serambi/inbox"
)

// RunInbox checks the methods of inbox.Store directly. open returns a fresh, empty store.
func RunInbox(t *testing.T, open func(t *testing.T) inbox.Store) {
	t.Run("customers", func(t *testing.T) { runCustomers(t, open) })
	t.Run("conversations", func(t *testing.T) { runConversations(t, open) })
	t.Run("conversation list", func(t *testing.T) { runConversationList(t, open) })
	t.Run("messages", func(t *testing.T) { runMessages(t, open) })
	t.Run("delivery", func(t *testing.T) { runDelivery(t, open) })
	t.Run("outbox", func(t *testing.T) { runOutbox(t, open) })
	t.Run("merge", func(t *testing.T) { runMerge(t, open) })
	t.Run("suggestions and audit", func(t *testing.T) { runSuggestionsAudit(t, open) })
}

func email(v string, verified bool) inbox.Identity {
	return inbox.Identity{Kind: inbox.KindEmail, Value: v, Verified: verified}
}

func phone(v string, verified bool) inbox.Identity {
	return inbox.Identity{Kind: inbox.KindPhone, Value: v, Verified: verified}
}

func newCustomer(name string, at time.Time, idents ...inbox.Identity) inbox.Customer {
	c := inbox.Customer{ID: inbox.NewID(), Name: name, CreatedAt: at, UpdatedAt: at, Identities: []inbox.Identity{}}
	for _, id := range idents {
		id.AddedAt = at
		c.Identities = append(c.Identities, id)
	}
	return c
}

func createCustomer(t *testing.T, s inbox.Store, name string, idents ...inbox.Identity) inbox.Customer {
	t.Helper()
	c := newCustomer(name, Base(), idents...)
	must(t, s.CreateCustomer(t.Context(), c), "create customer "+name)
	return c
}

func createConversation(t *testing.T, s inbox.Store, customerID string) inbox.Conversation {
	t.Helper()
	c, err := s.EnsureConversation(t.Context(), inbox.Conversation{
		ID: inbox.NewID(), CustomerID: customerID, Status: inbox.StatusOpen, Tags: []string{},
		Channels: []inbox.Channel{}, CreatedAt: Base(), UpdatedAt: Base(),
	})
	must(t, err, "ensure conversation")
	return c
}

func inboundMessage(conv inbox.Conversation, at time.Time, text string) inbox.Message {
	return inbox.Message{
		ID: inbox.NewID(), ConversationID: conv.ID, CustomerID: conv.CustomerID, Direction: inbox.DirectionIn,
		Channel: inbox.ChannelEmail, Text: text, AuthorID: conv.CustomerID, CreatedAt: at,
	}
}

func insertMessage(t *testing.T, s inbox.Store, m inbox.Message) inbox.Message {
	t.Helper()
	got, dup, err := s.InsertMessage(t.Context(), m)
	must(t, err, "insert message")
	if dup {
		t.Fatalf("message %s was reported as stored already", m.ID)
	}
	return got
}

func takenBy(t *testing.T, err error, owner string, id inbox.Identity) {
	t.Helper()
	var taken *inbox.IdentityTakenError
	if !errors.As(err, &taken) {
		t.Fatalf("err = %v, want *inbox.IdentityTakenError", err)
	}
	if taken.OwnerID != owner || taken.Identity.Key() != id.Key() {
		t.Errorf("taken = {%s owner %s}, want {%s owner %s}", taken.Identity.Key(), taken.OwnerID, id.Key(), owner)
	}
	if !errors.Is(err, inbox.ErrConflict) {
		t.Errorf("a taken identity should match inbox.ErrConflict")
	}
}

func notFound(t *testing.T, err error, what string) {
	t.Helper()
	if !errors.Is(err, inbox.ErrNotFound) {
		t.Errorf("%s: err = %v, want inbox.ErrNotFound", what, err)
	}
}

func runCustomers(t *testing.T, open func(t *testing.T) inbox.Store) {
	t.Run("a created customer reads back as stored", func(t *testing.T) {
		s := open(t)
		c := newCustomer("Siti", Base(), email("siti@example.id", true), phone("+6281234567890", false))
		c.Avatar, c.Locale = "https://example.id/a.png", "id"
		must(t, s.CreateCustomer(t.Context(), c), "create")
		got, err := s.CustomerByID(t.Context(), c.ID)
		must(t, err, "customer by id")
		same(t, "customer", normCustomer(got), normCustomer(c))
	})

	t.Run("an unknown customer is not found", func(t *testing.T) {
		s := open(t)
		_, err := s.CustomerByID(t.Context(), inbox.NewID())
		notFound(t, err, "CustomerByID")
		_, err = s.CustomerIDByIdentity(t.Context(), inbox.KindEmail, "nobody@example.id")
		notFound(t, err, "CustomerIDByIdentity")
		notFound(t, s.AddIdentity(t.Context(), inbox.NewID(), email("x@example.id", true)), "AddIdentity")
	})

	t.Run("creating a customer claims its verified identities", func(t *testing.T) {
		s := open(t)
		c := createCustomer(t, s, "A", email("a@example.id", true), phone("+6281111111111", true))
		for _, id := range c.Identities {
			owner, err := s.CustomerIDByIdentity(t.Context(), id.Kind, id.Value)
			must(t, err, "lookup "+id.Key())
			if owner != c.ID {
				t.Errorf("%s owned by %q, want %q", id.Key(), owner, c.ID)
			}
		}
	})

	t.Run("a second customer claiming a verified identity is refused and nothing is stored", func(t *testing.T) {
		s := open(t)
		a := createCustomer(t, s, "A", email("a@example.id", true))
		b := newCustomer("B", Base(), phone("+6282222222222", true), email("a@example.id", true))
		takenBy(t, s.CreateCustomer(t.Context(), b), a.ID, email("a@example.id", true))
		_, err := s.CustomerByID(t.Context(), b.ID)
		notFound(t, err, "the refused customer")
		_, err = s.CustomerIDByIdentity(t.Context(), inbox.KindPhone, "+6282222222222")
		notFound(t, err, "the refused customer's other identity")
	})

	t.Run("of concurrent customers claiming one identity exactly one wins", func(t *testing.T) {
		s := open(t)
		const n = 20
		errs := make([]error, n)
		cs := make([]inbox.Customer, n)
		var wg sync.WaitGroup
		for i := range n {
			cs[i] = newCustomer(fmt.Sprint("C", i), Base(), email("race@example.id", true))
			wg.Go(func() { errs[i] = s.CreateCustomer(t.Context(), cs[i]) })
		}
		wg.Wait()
		owner, err := s.CustomerIDByIdentity(t.Context(), inbox.KindEmail, "race@example.id")
		must(t, err, "lookup")
		wins := 0
		for i, err := range errs {
			if err == nil {
				wins++
				if cs[i].ID != owner {
					t.Errorf("customer %s was created but %s owns the identity", cs[i].ID, owner)
				}
				continue
			}
			takenBy(t, err, owner, email("race@example.id", true))
		}
		if wins != 1 {
			t.Errorf("%d customers were created, want 1", wins)
		}
	})

	t.Run("unverified identities are not claimed but are found by CustomersWithIdentity", func(t *testing.T) {
		s := open(t)
		a := createCustomer(t, s, "A", email("shared@example.id", false))
		b := createCustomer(t, s, "B", email("shared@example.id", false))
		_, err := s.CustomerIDByIdentity(t.Context(), inbox.KindEmail, "shared@example.id")
		notFound(t, err, "an unverified identity")
		c := createCustomer(t, s, "C", email("shared@example.id", true))
		owner, err := s.CustomerIDByIdentity(t.Context(), inbox.KindEmail, "shared@example.id")
		must(t, err, "lookup")
		if owner != c.ID {
			t.Errorf("owner = %s, want the verified holder %s", owner, c.ID)
		}
		holders, err := s.CustomersWithIdentity(t.Context(), inbox.KindEmail, "shared@example.id")
		must(t, err, "holders")
		same(t, "holders", sorted(holders), sorted([]string{a.ID, b.ID, c.ID}))
		none, err := s.CustomersWithIdentity(t.Context(), inbox.KindEmail, "nobody@example.id")
		must(t, err, "holders of nothing")
		if len(none) != 0 {
			t.Errorf("holders of an unknown identity = %v", none)
		}
	})

	t.Run("AddIdentity claims a verified identity and upgrades an unverified one", func(t *testing.T) {
		s := open(t)
		a := createCustomer(t, s, "A", email("a@example.id", false))
		b := createCustomer(t, s, "B")
		ctx := t.Context()
		up := email("a@example.id", true)
		up.AddedAt = Base().Add(time.Minute)
		must(t, s.AddIdentity(ctx, a.ID, up), "upgrade")
		must(t, s.AddIdentity(ctx, a.ID, up), "add again")
		must(t, s.AddIdentity(ctx, a.ID, email("a@example.id", false)), "add unverified over verified")
		got, err := s.CustomerByID(ctx, a.ID)
		must(t, err, "load")
		if len(got.Identities) != 1 || !got.Identities[0].Verified {
			t.Errorf("identities = %+v, want one verified a@example.id", got.Identities)
		}
		owner, err := s.CustomerIDByIdentity(ctx, inbox.KindEmail, "a@example.id")
		must(t, err, "lookup")
		if owner != a.ID {
			t.Errorf("owner = %s, want %s", owner, a.ID)
		}

		takenBy(t, s.AddIdentity(ctx, b.ID, up), a.ID, up)
		copyB := email("a@example.id", false)
		copyB.AddedAt = Base()
		must(t, s.AddIdentity(ctx, b.ID, copyB), "an unverified copy on another customer")
		tg := inbox.Identity{Kind: inbox.KindTelegram, Value: "12345", Verified: true, AddedAt: Base()}
		must(t, s.AddIdentity(ctx, b.ID, tg), "add telegram")
		gotB, err := s.CustomerByID(ctx, b.ID)
		must(t, err, "load B")
		want := b
		want.Identities = []inbox.Identity{copyB, tg}
		want.UpdatedAt = gotB.UpdatedAt // whether adding an identity touches it is the store's call
		same(t, "customer B", normCustomer(gotB), normCustomer(want))
		holders, err := s.CustomersWithIdentity(ctx, inbox.KindEmail, "a@example.id")
		must(t, err, "holders")
		same(t, "holders", sorted(holders), sorted([]string{a.ID, b.ID}))
	})

	t.Run("SetIdentityUnreachable flags and clears one identity", func(t *testing.T) {
		s := open(t)
		a := createCustomer(t, s, "A", email("a@example.id", true), phone("+6281111111111", true))
		ctx := t.Context()
		must(t, s.SetIdentityUnreachable(ctx, a.ID, inbox.KindEmail, "a@example.id", true), "flag")
		got, err := s.CustomerByID(ctx, a.ID)
		must(t, err, "load")
		for _, id := range got.Identities {
			if want := id.Kind == inbox.KindEmail; id.Unreachable != want {
				t.Errorf("%s unreachable = %v, want %v", id.Key(), id.Unreachable, want)
			}
		}
		must(t, s.SetIdentityUnreachable(ctx, a.ID, inbox.KindEmail, "a@example.id", false), "clear")
		got, err = s.CustomerByID(ctx, a.ID)
		must(t, err, "load")
		for _, id := range got.Identities {
			if id.Unreachable {
				t.Errorf("%s still unreachable", id.Key())
			}
		}
		notFound(t, s.SetIdentityUnreachable(ctx, a.ID, inbox.KindEmail, "other@example.id", true), "an identity the customer lacks")
	})

	t.Run("UpdateCustomerProfile sets only the values given", func(t *testing.T) {
		s := open(t)
		c := newCustomer("Old", Base())
		c.Avatar, c.Locale = "a.png", "id"
		must(t, s.CreateCustomer(t.Context(), c), "create")
		must(t, s.UpdateCustomerProfile(t.Context(), c.ID, "New", "", "en"), "update")
		got, err := s.CustomerByID(t.Context(), c.ID)
		must(t, err, "load")
		if got.Name != "New" || got.Avatar != "a.png" || got.Locale != "en" {
			t.Errorf("profile = %q %q %q, want New a.png en", got.Name, got.Avatar, got.Locale)
		}
	})
}

func runConversations(t *testing.T, open func(t *testing.T) inbox.Store) {
	t.Run("EnsureConversation stores one conversation per customer", func(t *testing.T) {
		s := open(t)
		c := createCustomer(t, s, "A")
		first := createConversation(t, s, c.ID)
		second := createConversation(t, s, c.ID)
		if second.ID != first.ID {
			t.Errorf("second EnsureConversation gave %s, want the first %s", second.ID, first.ID)
		}
		got, err := s.ConversationByCustomer(t.Context(), c.ID)
		must(t, err, "by customer")
		same(t, "conversation", normConversation(got), normConversation(first))
		got, err = s.ConversationByID(t.Context(), first.ID)
		must(t, err, "by id")
		same(t, "conversation", normConversation(got), normConversation(first))
		_, err = s.ConversationByID(t.Context(), second.ID+"x")
		notFound(t, err, "ConversationByID")
		_, err = s.ConversationByCustomer(t.Context(), inbox.NewID())
		notFound(t, err, "ConversationByCustomer")
	})

	t.Run("EnsureConversation under 50 concurrent calls still stores one", func(t *testing.T) {
		s := open(t)
		c := createCustomer(t, s, "A")
		const n = 50
		got := make([]string, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				conv, err := s.EnsureConversation(t.Context(), inbox.Conversation{
					ID: inbox.NewID(), CustomerID: c.ID, Status: inbox.StatusOpen, CreatedAt: Base(), UpdatedAt: Base(),
				})
				if err != nil {
					t.Errorf("ensure: %v", err)
				}
				got[i] = conv.ID
			})
		}
		wg.Wait()
		stored, err := s.ConversationByCustomer(t.Context(), c.ID)
		must(t, err, "by customer")
		for i, id := range got {
			if id != stored.ID {
				t.Errorf("call %d got conversation %q, want %q", i, id, stored.ID)
			}
		}
	})

	t.Run("UpdateConversation sets each patch field and returns before and after", func(t *testing.T) {
		s := open(t)
		cust := createCustomer(t, s, "A")
		conv := createConversation(t, s, cust.ID)
		pending, agent, team, tags, prio := inbox.StatusPending, "agent-1", "team-1", []string{"refund", "vip"}, inbox.PriorityHigh
		snooze := Base().Add(48 * time.Hour)
		cases := []struct {
			name  string
			patch inbox.ConversationPatch
			apply func(*inbox.Conversation)
		}{
			{"status", inbox.ConversationPatch{Status: &pending}, func(c *inbox.Conversation) { c.Status = pending }},
			{"assignee", inbox.ConversationPatch{AssigneeID: &agent}, func(c *inbox.Conversation) { c.AssigneeID = agent }},
			{"team", inbox.ConversationPatch{TeamID: &team}, func(c *inbox.Conversation) { c.TeamID = team }},
			{"tags", inbox.ConversationPatch{Tags: &tags}, func(c *inbox.Conversation) { c.Tags = tags }},
			{"priority", inbox.ConversationPatch{Priority: &prio}, func(c *inbox.Conversation) { c.Priority = prio }},
			{"snoozed until", inbox.ConversationPatch{SnoozedUntil: &snooze}, func(c *inbox.Conversation) { c.SnoozedUntil = snooze }},
			{"clearing assignee, tags and snooze", inbox.ConversationPatch{AssigneeID: new(string), Tags: &[]string{}, SnoozedUntil: &time.Time{}},
				func(c *inbox.Conversation) { c.AssigneeID, c.Tags, c.SnoozedUntil = "", []string{}, time.Time{} }},
		}
		want := conv
		for i, tc := range cases {
			at := Base().Add(time.Duration(i+1) * time.Second)
			tc.patch.UpdatedAt = at
			before, after, err := s.UpdateConversation(t.Context(), conv.ID, tc.patch)
			must(t, err, tc.name)
			same(t, tc.name+": before", normConversation(before), normConversation(want))
			tc.apply(&want)
			want.UpdatedAt = at
			same(t, tc.name+": after", normConversation(after), normConversation(want))
			got, err := s.ConversationByID(t.Context(), conv.ID)
			must(t, err, "reload")
			same(t, tc.name+": stored", normConversation(got), normConversation(want))
		}
	})

	t.Run("an Activity with a message id is applied once, and the last ids are kept", func(t *testing.T) {
		s := open(t)
		cust := createCustomer(t, s, "A")
		conv := createConversation(t, s, cust.ID)
		act := func(id string, i int) inbox.ConversationPatch {
			return inbox.ConversationPatch{Activity: &inbox.Activity{MessageID: id, At: Base().Add(time.Duration(i) * time.Second),
				Channel: inbox.ChannelEmail, Preview: id, Inbound: true}}
		}
		_, after, err := s.UpdateConversation(t.Context(), conv.ID, act("m1", 1))
		must(t, err, "first activity of m1")
		if after.Unread != 1 || !slices.Equal(after.AppliedActivity, []string{"m1"}) {
			t.Fatalf("after m1: unread %d, applied %v; want 1, [m1]", after.Unread, after.AppliedActivity)
		}
		if _, _, err := s.UpdateConversation(t.Context(), conv.ID, act("m1", 2)); !errors.Is(err, inbox.ErrConflict) {
			t.Fatalf("second activity of m1: err = %v, want ErrConflict", err)
		}
		got, err := s.ConversationByID(t.Context(), conv.ID)
		must(t, err, "reload")
		if got.Unread != 1 || got.Preview != "m1" {
			t.Fatalf("a repeated activity changed the conversation: unread %d preview %q", got.Unread, got.Preview)
		}
		for i := 2; i <= inbox.MaxAppliedActivity+5; i++ {
			_, _, err := s.UpdateConversation(t.Context(), conv.ID, act(fmt.Sprintf("m%d", i), i))
			must(t, err, "activity")
		}
		got, err = s.ConversationByID(t.Context(), conv.ID)
		must(t, err, "reload")
		if len(got.AppliedActivity) != inbox.MaxAppliedActivity || got.AppliedActivity[len(got.AppliedActivity)-1] != fmt.Sprintf("m%d", inbox.MaxAppliedActivity+5) {
			t.Fatalf("applied ids = %v; want the last %d, newest last", got.AppliedActivity, inbox.MaxAppliedActivity)
		}
		if _, _, err := s.UpdateConversation(t.Context(), conv.ID, inbox.ConversationPatch{Activity: &inbox.Activity{At: Base(), Preview: "reply"}}); err != nil {
			t.Fatalf("an activity without a message id (a reply) is always applied: %v", err)
		}
	})

	t.Run("Activity keeps the newest entry as last message and counts inbound as unread", func(t *testing.T) {
		s := open(t)
		cust := createCustomer(t, s, "A")
		conv := createConversation(t, s, cust.ID)
		t1, t0, t2, t3 := Base().Add(10*time.Second), Base().Add(5*time.Second), Base().Add(20*time.Second), Base().Add(30*time.Second)
		steps := []struct {
			name  string
			patch inbox.ConversationPatch
			apply func(*inbox.Conversation)
		}{
			{"an inbound email", inbox.ConversationPatch{Activity: &inbox.Activity{At: t1, Channel: inbox.ChannelEmail, Preview: "one", Inbound: true}},
				func(c *inbox.Conversation) {
					c.LastMessageAt, c.Preview, c.LastChannel, c.Unread, c.LastInboundAt = t1, "one", inbox.ChannelEmail, 1, t1
					c.Channels = []inbox.Channel{inbox.ChannelEmail}
					c.LastInbound = map[inbox.Channel]time.Time{inbox.ChannelEmail: t1}
				}},
			{"an older inbound widget message does not overwrite preview or last channel", inbox.ConversationPatch{Activity: &inbox.Activity{At: t0, Channel: inbox.ChannelWidget, Preview: "old", Inbound: true}},
				func(c *inbox.Conversation) {
					c.Unread = 2
					c.Channels = []inbox.Channel{inbox.ChannelEmail, inbox.ChannelWidget}
					c.LastInbound = map[inbox.Channel]time.Time{inbox.ChannelEmail: t1, inbox.ChannelWidget: t0}
				}},
			{"a newer inbound email on a channel already in the set", inbox.ConversationPatch{Activity: &inbox.Activity{At: t1.Add(time.Second), Channel: inbox.ChannelEmail, Preview: "two", Inbound: true}},
				func(c *inbox.Conversation) {
					c.LastMessageAt, c.Preview, c.Unread, c.LastInboundAt = t1.Add(time.Second), "two", 3, t1.Add(time.Second)
					c.LastInbound = map[inbox.Channel]time.Time{inbox.ChannelEmail: t1.Add(time.Second), inbox.ChannelWidget: t0}
				}},
			{"an outbound telegram reply marked read", inbox.ConversationPatch{Activity: &inbox.Activity{At: t2, Channel: inbox.ChannelTelegram, Preview: "reply"}, MarkRead: true},
				func(c *inbox.Conversation) {
					c.LastMessageAt, c.Preview, c.LastChannel, c.Unread = t2, "reply", inbox.ChannelTelegram, 0
					c.Channels = []inbox.Channel{inbox.ChannelEmail, inbox.ChannelWidget, inbox.ChannelTelegram}
				}},
			{"a note without a channel keeps the last channel", inbox.ConversationPatch{Activity: &inbox.Activity{At: t3, Preview: "note"}},
				func(c *inbox.Conversation) { c.LastMessageAt, c.Preview = t3, "note" }},
			{"an inbound backfill older than the last inbound keeps LastInboundAt", inbox.ConversationPatch{Activity: &inbox.Activity{At: t0, Channel: inbox.ChannelEmail, Preview: "older", Inbound: true}},
				func(c *inbox.Conversation) { c.Unread = 1 }},
			{"MarkRead alone clears unread", inbox.ConversationPatch{MarkRead: true},
				func(c *inbox.Conversation) { c.Unread = 0 }},
		}
		want := conv
		for i, st := range steps {
			at := Base().Add(time.Duration(i+1) * time.Minute)
			st.patch.UpdatedAt = at
			before, after, err := s.UpdateConversation(t.Context(), conv.ID, st.patch)
			must(t, err, st.name)
			same(t, st.name+": before", normConversation(before), normConversation(want))
			st.apply(&want)
			want.UpdatedAt = at
			same(t, st.name+": after", normConversation(after), normConversation(want))
		}
	})

	t.Run("UpdateConversation with IfStatus not matching changes nothing and is a conflict", func(t *testing.T) {
		s := open(t)
		cust := createCustomer(t, s, "A")
		conv := createConversation(t, s, cust.ID)
		resolved, agent := inbox.StatusResolved, "agent-1"
		_, _, err := s.UpdateConversation(t.Context(), conv.ID, inbox.ConversationPatch{
			Status: &resolved, AssigneeID: &agent, IfStatus: []inbox.Status{inbox.StatusSnoozed, inbox.StatusPending},
			Activity: &inbox.Activity{At: Base().Add(time.Hour), Channel: inbox.ChannelEmail, Preview: "x", Inbound: true}, UpdatedAt: Base().Add(time.Hour),
		})
		if !errors.Is(err, inbox.ErrConflict) {
			t.Fatalf("err = %v, want inbox.ErrConflict", err)
		}
		got, err := s.ConversationByID(t.Context(), conv.ID)
		must(t, err, "reload")
		same(t, "conversation after a refused patch", normConversation(got), normConversation(conv))

		before, after, err := s.UpdateConversation(t.Context(), conv.ID, inbox.ConversationPatch{
			Status: &resolved, IfStatus: []inbox.Status{inbox.StatusOpen}, UpdatedAt: Base().Add(time.Hour),
		})
		must(t, err, "matching IfStatus")
		if before.Status != inbox.StatusOpen || after.Status != inbox.StatusResolved {
			t.Errorf("status %s -> %s, want open -> resolved", before.Status, after.Status)
		}
	})

	t.Run("UpdateConversation of an unknown conversation is not found", func(t *testing.T) {
		s := open(t)
		open := inbox.StatusOpen
		_, _, err := s.UpdateConversation(t.Context(), inbox.NewID(), inbox.ConversationPatch{Status: &open, UpdatedAt: Base()})
		notFound(t, err, "UpdateConversation")
	})
}

// listFixture is a conversation as the list test expects to find it.
type listFixture struct {
	id, assignee, team string
	status             inbox.Status
	tags               []string
	channels           []inbox.Channel
	last               time.Time
}

func runConversationList(t *testing.T, open func(t *testing.T) inbox.Store) {
	s := open(t)
	ctx := t.Context()
	statuses := []inbox.Status{inbox.StatusOpen, inbox.StatusPending, inbox.StatusSnoozed, inbox.StatusResolved}
	channels := []inbox.Channel{inbox.ChannelEmail, inbox.ChannelWidget, inbox.ChannelTelegram}
	rng := rand.New(rand.NewPCG(7, 11))
	var fixtures []listFixture
	// 120 conversations over 30 distinct instants: many share a timestamp, so the cursor's id
	// part decides.
	for i := range 120 {
		cust := createCustomer(t, s, fmt.Sprint("customer ", i))
		conv := createConversation(t, s, cust.ID)
		f := listFixture{
			id: conv.ID, status: statuses[i%4], assignee: []string{"", "agent-1", "agent-2"}[i%3],
			team: []string{"", "team-a"}[(i/2)%2], tags: []string{},
			last: Base().Add(time.Duration(rng.IntN(30)) * time.Second),
		}
		if i%5 == 0 {
			f.tags = []string{"vip"}
		}
		if i%7 == 0 {
			f.tags = []string{"refund", "vip"}
		}
		ch := channels[i%3]
		f.channels = []inbox.Channel{ch}
		_, _, err := s.UpdateConversation(ctx, conv.ID, inbox.ConversationPatch{
			Status: &f.status, AssigneeID: &f.assignee, TeamID: &f.team, Tags: &f.tags,
			Activity:  &inbox.Activity{At: f.last, Channel: ch, Preview: fmt.Sprint("message ", i), Inbound: true},
			UpdatedAt: f.last,
		})
		must(t, err, "patch")
		if i%4 == 1 {
			// An older WhatsApp message joins the channel set without moving the conversation.
			_, _, err := s.UpdateConversation(ctx, conv.ID, inbox.ConversationPatch{
				Activity: &inbox.Activity{At: Base().Add(-time.Hour), Channel: inbox.ChannelWhatsApp, Preview: "old", Inbound: true}, UpdatedAt: f.last,
			})
			must(t, err, "backfill")
			f.channels = append(f.channels, inbox.ChannelWhatsApp)
		}
		fixtures = append(fixtures, f)
	}

	cases := []struct {
		name   string
		filter inbox.ConversationFilter
		match  func(listFixture) bool
	}{
		{"everything", inbox.ConversationFilter{}, func(listFixture) bool { return true }},
		{"open", inbox.ConversationFilter{Statuses: []inbox.Status{inbox.StatusOpen}},
			func(f listFixture) bool { return f.status == inbox.StatusOpen }},
		{"open or pending", inbox.ConversationFilter{Statuses: []inbox.Status{inbox.StatusPending, inbox.StatusOpen}},
			func(f listFixture) bool { return f.status == inbox.StatusOpen || f.status == inbox.StatusPending }},
		{"assigned to agent-1", inbox.ConversationFilter{Assignee: "agent-1"},
			func(f listFixture) bool { return f.assignee == "agent-1" }},
		{"unassigned", inbox.ConversationFilter{Assignee: inbox.AssigneeNone},
			func(f listFixture) bool { return f.assignee == "" }},
		{"unassigned and open", inbox.ConversationFilter{Assignee: inbox.AssigneeNone, Statuses: []inbox.Status{inbox.StatusOpen}},
			func(f listFixture) bool { return f.assignee == "" && f.status == inbox.StatusOpen }},
		{"team-a", inbox.ConversationFilter{TeamID: "team-a"},
			func(f listFixture) bool { return f.team == "team-a" }},
		{"team-a, agent-2, open or snoozed", inbox.ConversationFilter{TeamID: "team-a", Assignee: "agent-2", Statuses: []inbox.Status{inbox.StatusOpen, inbox.StatusSnoozed}},
			func(f listFixture) bool {
				return f.team == "team-a" && f.assignee == "agent-2" && (f.status == inbox.StatusOpen || f.status == inbox.StatusSnoozed)
			}},
		{"on email", inbox.ConversationFilter{Channel: inbox.ChannelEmail},
			func(f listFixture) bool { return slices.Contains(f.channels, inbox.ChannelEmail) }},
		{"ever on whatsapp", inbox.ConversationFilter{Channel: inbox.ChannelWhatsApp},
			func(f listFixture) bool { return slices.Contains(f.channels, inbox.ChannelWhatsApp) }},
		{"tagged vip", inbox.ConversationFilter{Tag: "vip"},
			func(f listFixture) bool { return slices.Contains(f.tags, "vip") }},
		{"tagged refund and open or pending", inbox.ConversationFilter{Tag: "refund", Statuses: []inbox.Status{inbox.StatusOpen, inbox.StatusPending}},
			func(f listFixture) bool {
				return slices.Contains(f.tags, "refund") && (f.status == inbox.StatusOpen || f.status == inbox.StatusPending)
			}},
		{"tagged vip on widget", inbox.ConversationFilter{Tag: "vip", Channel: inbox.ChannelWidget},
			func(f listFixture) bool {
				return slices.Contains(f.tags, "vip") && slices.Contains(f.channels, inbox.ChannelWidget)
			}},
		{"a tag nobody has", inbox.ConversationFilter{Tag: "nothing"}, func(listFixture) bool { return false }},
	}
	last := map[string]time.Time{}
	for _, f := range fixtures {
		last[f.id] = f.last
	}
	for _, tc := range cases {
		t.Run("filter "+tc.name+" pages newest first without duplicates or gaps", func(t *testing.T) {
			var want []string
			for _, f := range fixtures {
				if tc.match(f) {
					want = append(want, f.id)
				}
			}
			if tc.name != "a tag nobody has" && len(want) == 0 {
				t.Fatalf("fixture error: nothing matches %s", tc.name)
			}
			var got []inbox.Conversation
			f := tc.filter
			f.Limit = 7
			for page := 0; ; page++ {
				if page > len(fixtures) {
					t.Fatalf("pagination does not end")
				}
				batch, err := s.ListConversations(ctx, f)
				must(t, err, "list")
				if len(batch) > f.Limit {
					t.Fatalf("page of %d, limit %d", len(batch), f.Limit)
				}
				got = append(got, batch...)
				if len(batch) < f.Limit {
					break
				}
				end := batch[len(batch)-1]
				f.After = inbox.Cursor{At: end.LastMessageAt, ID: end.ID}
			}
			gotIDs := ids(got, convID)
			if len(setOf(gotIDs)) != len(gotIDs) {
				t.Errorf("duplicates across pages: %v", gotIDs)
			}
			same(t, "conversations listed", sorted(gotIDs), sorted(want))
			for i, c := range got {
				if !c.LastMessageAt.Equal(last[c.ID]) {
					t.Errorf("conversation %s LastMessageAt = %v, want %v", c.ID, c.LastMessageAt, last[c.ID])
				}
				if i > 0 && c.LastMessageAt.After(got[i-1].LastMessageAt) {
					t.Errorf("position %d (%v) is newer than position %d (%v)", i, c.LastMessageAt, i-1, got[i-1].LastMessageAt)
				}
			}
			n, err := s.CountConversations(ctx, tc.filter)
			must(t, err, "count")
			if n != len(want) {
				t.Errorf("CountConversations = %d, want %d", n, len(want))
			}
		})
	}

	t.Run("listed conversations are whole rows", func(t *testing.T) {
		page, err := s.ListConversations(ctx, inbox.ConversationFilter{Limit: 10})
		must(t, err, "list")
		for _, c := range page {
			stored, err := s.ConversationByID(ctx, c.ID)
			must(t, err, "by id")
			same(t, "listed conversation", normConversation(c), normConversation(stored))
		}
	})

	t.Run("count ignores limit and cursor", func(t *testing.T) {
		n, err := s.CountConversations(ctx, inbox.ConversationFilter{Limit: 3, After: inbox.Cursor{At: Base(), ID: "zzz"}})
		must(t, err, "count")
		if n != len(fixtures) {
			t.Errorf("count = %d, want %d", n, len(fixtures))
		}
	})
}

func runMessages(t *testing.T, open func(t *testing.T) inbox.Store) {
	t.Run("a message reads back as stored, by id and by external id", func(t *testing.T) {
		s := open(t)
		cust := createCustomer(t, s, "A")
		conv := createConversation(t, s, cust.ID)
		m := inbox.Message{
			ID: inbox.NewID(), ConversationID: conv.ID, CustomerID: cust.ID, Direction: inbox.DirectionIn,
			Channel: inbox.ChannelEmail, ExternalID: "<abc@mail.example.id>", ThreadKey: "<root@mail.example.id>",
			Subject: "Pesanan", Text: "Halo 👋", HTML: "<p>Halo 👋</p>",
			Attachments: []inbox.Attachment{{SHA256: "ab12", Name: "foto.jpg", ContentType: "image/jpeg", Size: 1234, ContentID: "img1", Inline: true}},
			AuthorID:    cust.ID, AuthorName: "Siti", Meta: map[string]string{"in-reply-to": "<x@y>"},
			SentAt: Base().Add(-time.Minute), CreatedAt: Base(),
		}
		stored, dup, err := s.InsertMessage(t.Context(), m)
		must(t, err, "insert")
		if dup {
			t.Fatalf("first insert reported as duplicate")
		}
		same(t, "returned message", normMessage(stored), normMessage(m))
		got, err := s.MessageByID(t.Context(), m.ID)
		must(t, err, "by id")
		same(t, "message by id", normMessage(got), normMessage(m))
		got, err = s.MessageByExternalID(t.Context(), inbox.ChannelEmail, m.ExternalID)
		must(t, err, "by external id")
		same(t, "message by external id", normMessage(got), normMessage(m))

		ev := inbox.Message{ID: inbox.NewID(), ConversationID: conv.ID, CustomerID: cust.ID, Direction: inbox.DirectionEvent,
			Channel: inbox.ChannelInternal, Text: "Assigned", AuthorID: "agent-1", CreatedAt: Base().Add(time.Second),
			Event: &inbox.Event{Kind: inbox.EventAssigned, ActorID: "agent-1", To: "agent-2", Data: map[string]string{"k": "v"}}}
		insertMessage(t, s, ev)
		got, err = s.MessageByID(t.Context(), ev.ID)
		must(t, err, "event by id")
		same(t, "event message", normMessage(got), normMessage(ev))

		_, err = s.MessageByID(t.Context(), inbox.NewID())
		notFound(t, err, "MessageByID")
		_, err = s.MessageByExternalID(t.Context(), inbox.ChannelTelegram, m.ExternalID)
		notFound(t, err, "MessageByExternalID on another channel")
	})

	t.Run("inserting one external id from 50 goroutines stores it once and all get the same message", func(t *testing.T) {
		s := open(t)
		cust := createCustomer(t, s, "A")
		conv := createConversation(t, s, cust.ID)
		const n = 50
		got := make([]inbox.Message, n)
		dups := make([]bool, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				m := inboundMessage(conv, Base(), fmt.Sprint("copy ", i))
				m.Channel, m.ExternalID = inbox.ChannelTelegram, "update-77"
				var err error
				got[i], dups[i], err = s.InsertMessage(t.Context(), m)
				if err != nil {
					t.Errorf("insert %d: %v", i, err)
				}
			})
		}
		wg.Wait()
		fresh := 0
		for i := range n {
			if !dups[i] {
				fresh++
			}
			if got[i].ID != got[0].ID || got[i].Text != got[0].Text {
				t.Errorf("call %d got %s %q, call 0 got %s %q", i, got[i].ID, got[i].Text, got[0].ID, got[0].Text)
			}
		}
		if fresh != 1 {
			t.Errorf("%d calls stored the message, want 1", fresh)
		}
		all, err := s.ListMessages(t.Context(), conv.ID, inbox.Cursor{}, 100)
		must(t, err, "list")
		if len(all) != 1 {
			t.Errorf("%d messages stored, want 1", len(all))
		}
	})

	t.Run("InsertInbound stores the message and records its activity; a repeat changes nothing", func(t *testing.T) {
		s := open(t)
		cust := createCustomer(t, s, "A")
		conv := createConversation(t, s, cust.ID)
		m := inboundMessage(conv, Base().Add(time.Minute), "ada stok?")
		m.Channel, m.ExternalID = inbox.ChannelWhatsApp, "wamid.1"
		patch := inbox.ConversationPatch{Activity: &inbox.Activity{MessageID: m.ID, At: m.CreatedAt,
			Channel: m.Channel, Preview: "ada stok?", Inbound: true}, UpdatedAt: m.CreatedAt}
		stored, after, dup, err := s.InsertInbound(t.Context(), m, patch)
		must(t, err, "insert inbound")
		if dup || stored.ID != m.ID {
			t.Fatalf("first insert: dup %v, id %s; want a new message %s", dup, stored.ID, m.ID)
		}
		if after.ID != conv.ID || after.Unread != 1 || after.Preview != "ada stok?" || after.LastChannel != inbox.ChannelWhatsApp ||
			!after.LastMessageAt.Equal(m.CreatedAt) {
			t.Fatalf("conversation after: %+v; want the activity recorded", after)
		}
		again := m
		again.ID = inbox.NewID()
		patch.Activity.MessageID = again.ID
		stored, _, dup, err = s.InsertInbound(t.Context(), again, patch)
		must(t, err, "insert the same external id again")
		if !dup || stored.ID != m.ID {
			t.Fatalf("repeat: dup %v, id %s; want the stored %s", dup, stored.ID, m.ID)
		}
		got, err := s.ConversationByID(t.Context(), conv.ID)
		must(t, err, "conversation")
		if got.Unread != 1 {
			t.Errorf("unread %d after a repeat; want 1", got.Unread)
		}
	})

	t.Run("InsertInbound into a missing conversation stores nothing", func(t *testing.T) {
		s := open(t)
		cust := createCustomer(t, s, "A")
		m := inboundMessage(inbox.Conversation{ID: inbox.NewID(), CustomerID: cust.ID}, Base(), "halo")
		m.Channel, m.ExternalID = inbox.ChannelTelegram, "42"
		_, _, _, err := s.InsertInbound(t.Context(), m, inbox.ConversationPatch{Activity: &inbox.Activity{
			MessageID: m.ID, At: m.CreatedAt, Inbound: true}})
		notFound(t, err, "insert into a missing conversation")
		_, err = s.MessageByExternalID(t.Context(), m.Channel, m.ExternalID)
		notFound(t, err, "the message of a refused insert")
	})

	t.Run("the same external id on two channels is two messages", func(t *testing.T) {
		s := open(t)
		cust := createCustomer(t, s, "A")
		conv := createConversation(t, s, cust.ID)
		a := inboundMessage(conv, Base(), "a")
		a.Channel, a.ExternalID = inbox.ChannelTelegram, "1"
		b := inboundMessage(conv, Base(), "b")
		b.Channel, b.ExternalID = inbox.ChannelWhatsApp, "1"
		insertMessage(t, s, a)
		insertMessage(t, s, b)
	})

	t.Run("messages without an external id never collide", func(t *testing.T) {
		s := open(t)
		cust := createCustomer(t, s, "A")
		conv := createConversation(t, s, cust.ID)
		for i := range 3 {
			m := inboundMessage(conv, Base(), fmt.Sprint("note ", i))
			m.Direction, m.Channel = inbox.DirectionNote, inbox.ChannelInternal
			insertMessage(t, s, m)
		}
		all, err := s.ListMessages(t.Context(), conv.ID, inbox.Cursor{}, 10)
		must(t, err, "list")
		if len(all) != 3 {
			t.Errorf("%d messages, want 3", len(all))
		}
	})

	t.Run("ListMessages pages newest first by cursor without duplicates or gaps", func(t *testing.T) {
		s := open(t)
		cust := createCustomer(t, s, "A")
		conv := createConversation(t, s, cust.ID)
		other := createConversation(t, s, createCustomer(t, s, "B").ID)
		insertMessage(t, s, inboundMessage(other, Base().Add(time.Second), "not mine"))
		// Times in triples, inserted out of order: the timeline is ordered by CreatedAt, not by
		// insertion or id.
		order := rand.New(rand.NewPCG(3, 5)).Perm(30)
		var want []string
		for _, i := range order {
			m := insertMessage(t, s, inboundMessage(conv, Base().Add(time.Duration(i/3)*time.Second), fmt.Sprint("m", i)))
			want = append(want, m.ID)
		}
		var got []inbox.Message
		var cur inbox.Cursor
		for page := 0; page < 20; page++ {
			batch, err := s.ListMessages(t.Context(), conv.ID, cur, 4)
			must(t, err, "list")
			if len(batch) > 4 {
				t.Fatalf("page of %d, limit 4", len(batch))
			}
			got = append(got, batch...)
			if len(batch) < 4 {
				break
			}
			end := batch[len(batch)-1]
			cur = inbox.Cursor{At: end.CreatedAt, ID: end.ID}
		}
		gotIDs := ids(got, msgID)
		if len(setOf(gotIDs)) != len(gotIDs) {
			t.Errorf("duplicates across pages")
		}
		same(t, "messages", sorted(gotIDs), sorted(want))
		for i := 1; i < len(got); i++ {
			if got[i].CreatedAt.After(got[i-1].CreatedAt) {
				t.Errorf("message %d (%v) is newer than message %d (%v)", i, got[i].CreatedAt, i-1, got[i-1].CreatedAt)
			}
		}
		first, err := s.ListMessages(t.Context(), conv.ID, inbox.Cursor{}, 5)
		must(t, err, "first page")
		if len(first) != 5 || !first[0].CreatedAt.Equal(Base().Add(9*time.Second)) {
			t.Errorf("first page has %d messages starting at %v, want 5 starting at the newest", len(first), first[0].CreatedAt)
		}
		before, err := s.ListMessages(t.Context(), conv.ID, inbox.Cursor{At: Base().Add(2 * time.Second), ID: ""}, 100)
		must(t, err, "before a time")
		if len(before) != 6 {
			t.Errorf("%d messages before the third second, want 6", len(before))
		}
	})

	t.Run("SetThreadKey moves one thread of one conversation", func(t *testing.T) {
		s := open(t)
		cust := createCustomer(t, s, "A")
		conv := createConversation(t, s, cust.ID)
		other := createConversation(t, s, createCustomer(t, s, "B").ID)
		var inThread []string
		for i := range 3 {
			m := inboundMessage(conv, Base().Add(time.Duration(i)*time.Second), "reply")
			m.ThreadKey = "<reply@x>"
			inThread = append(inThread, insertMessage(t, s, m).ID)
		}
		keep := inboundMessage(conv, Base(), "other thread")
		keep.ThreadKey = "<other@x>"
		insertMessage(t, s, keep)
		foreign := inboundMessage(other, Base(), "same key elsewhere")
		foreign.ThreadKey = "<reply@x>"
		insertMessage(t, s, foreign)

		n, err := s.SetThreadKey(t.Context(), conv.ID, "<reply@x>", "<root@x>")
		must(t, err, "set thread key")
		if n != 3 {
			t.Errorf("moved %d, want 3", n)
		}
		for _, id := range inThread {
			m, err := s.MessageByID(t.Context(), id)
			must(t, err, "load")
			if m.ThreadKey != "<root@x>" {
				t.Errorf("message %s thread %q, want <root@x>", id, m.ThreadKey)
			}
		}
		for _, m := range []inbox.Message{keep, foreign} {
			got, err := s.MessageByID(t.Context(), m.ID)
			must(t, err, "load")
			if got.ThreadKey != m.ThreadKey {
				t.Errorf("message %q moved to %q", m.Text, got.ThreadKey)
			}
		}
	})
}

func outboundMessage(conv inbox.Conversation, ch inbox.Channel, at time.Time) inbox.Message {
	return inbox.Message{
		ID: inbox.NewID(), ConversationID: conv.ID, CustomerID: conv.CustomerID, Direction: inbox.DirectionOut,
		Channel: ch, Text: "reply", AuthorID: "agent-1", Delivery: inbox.DeliveryQueued, CreatedAt: at,
	}
}

func runDelivery(t *testing.T, open func(t *testing.T) inbox.Store) {
	t.Run("delivery moves only forward and records the channel's id", func(t *testing.T) {
		s := open(t)
		conv := createConversation(t, s, createCustomer(t, s, "A").ID)
		m := insertMessage(t, s, outboundMessage(conv, inbox.ChannelTelegram, Base()))
		steps := []struct {
			u       inbox.DeliveryUpdate
			applied bool
			want    inbox.Delivery
		}{
			{inbox.DeliveryUpdate{State: inbox.DeliverySent, ExternalID: "tg-99", At: Base().Add(time.Second)}, true, inbox.DeliverySent},
			{inbox.DeliveryUpdate{State: inbox.DeliveryRead, At: Base().Add(3 * time.Second)}, true, inbox.DeliveryRead},
			{inbox.DeliveryUpdate{State: inbox.DeliveryDelivered, At: Base().Add(2 * time.Second)}, false, inbox.DeliveryRead},
			{inbox.DeliveryUpdate{State: inbox.DeliveryFailed, Error: "late", At: Base().Add(4 * time.Second)}, false, inbox.DeliveryRead},
		}
		for _, st := range steps {
			ok, err := s.UpdateDelivery(t.Context(), m.ID, st.u)
			must(t, err, "update "+string(st.u.State))
			if ok != st.applied {
				t.Errorf("%s applied = %v, want %v", st.u.State, ok, st.applied)
			}
			got, err := s.MessageByID(t.Context(), m.ID)
			must(t, err, "load")
			if got.Delivery != st.want {
				t.Errorf("after %s: delivery %s, want %s", st.u.State, got.Delivery, st.want)
			}
			if got.ExternalID != "tg-99" || got.DeliveryError != "" {
				t.Errorf("after %s: external id %q, error %q", st.u.State, got.ExternalID, got.DeliveryError)
			}
		}
		byExt, err := s.MessageByExternalID(t.Context(), inbox.ChannelTelegram, "tg-99")
		must(t, err, "by external id")
		if byExt.ID != m.ID {
			t.Errorf("tg-99 is message %s, want %s", byExt.ID, m.ID)
		}
	})

	t.Run("a failed delivery keeps its reason and is final", func(t *testing.T) {
		s := open(t)
		conv := createConversation(t, s, createCustomer(t, s, "A").ID)
		m := insertMessage(t, s, outboundMessage(conv, inbox.ChannelEmail, Base()))
		ok, err := s.UpdateDelivery(t.Context(), m.ID, inbox.DeliveryUpdate{State: inbox.DeliveryFailed, Error: "550 no such user", At: Base()})
		must(t, err, "fail")
		if !ok {
			t.Errorf("failing a queued message did not apply")
		}
		ok, err = s.UpdateDelivery(t.Context(), m.ID, inbox.DeliveryUpdate{State: inbox.DeliverySent, At: Base()})
		must(t, err, "sent after failed")
		if ok {
			t.Errorf("sent after failed applied")
		}
		got, err := s.MessageByID(t.Context(), m.ID)
		must(t, err, "load")
		if got.Delivery != inbox.DeliveryFailed || got.DeliveryError != "550 no such user" {
			t.Errorf("delivery %s %q, want failed with the reason", got.Delivery, got.DeliveryError)
		}
	})

	t.Run("delivery of an unknown message is not found", func(t *testing.T) {
		s := open(t)
		_, err := s.UpdateDelivery(t.Context(), inbox.NewID(), inbox.DeliveryUpdate{State: inbox.DeliverySent, At: Base()})
		notFound(t, err, "UpdateDelivery")
	})
}

func enqueue(t *testing.T, s inbox.Store, conv inbox.Conversation, next time.Time) inbox.OutboxJob {
	t.Helper()
	m := outboundMessage(conv, inbox.ChannelEmail, Base())
	m.Delivery = inbox.DeliveryNone // EnqueueOutbound itself marks it queued
	job := inbox.OutboxJob{ID: m.ID, MessageID: m.ID, Channel: m.Channel, NextAttemptAt: next, CreatedAt: Base()}
	must(t, s.EnqueueOutbound(t.Context(), m, job, nil), "enqueue")
	return job
}

func claim(t *testing.T, s inbox.Store, owner string, now time.Time, lease time.Duration, limit int) []inbox.OutboxJob {
	t.Helper()
	jobs, err := s.ClaimOutbox(t.Context(), owner, now, lease, limit)
	must(t, err, "claim by "+owner)
	return jobs
}

func depth(t *testing.T, s inbox.Store) int {
	t.Helper()
	n, err := s.OutboxDepth(t.Context())
	must(t, err, "depth")
	return n
}

func runOutbox(t *testing.T, open func(t *testing.T) inbox.Store) {
	now := Base()
	t.Run("EnqueueOutbound with a patch records the reply's activity on the conversation", func(t *testing.T) {
		s := open(t)
		conv := createConversation(t, s, createCustomer(t, s, "A").ID)
		in := inboundMessage(conv, now, "halo")
		_, _, _, err := s.InsertInbound(t.Context(), in, inbox.ConversationPatch{Activity: &inbox.Activity{At: now, Channel: inbox.ChannelEmail, Preview: "halo", Inbound: true}})
		must(t, err, "inbound")
		m := outboundMessage(conv, inbox.ChannelWhatsApp, now.Add(time.Minute))
		job := inbox.OutboxJob{ID: m.ID, MessageID: m.ID, Channel: m.Channel, NextAttemptAt: now, CreatedAt: now}
		must(t, s.EnqueueOutbound(t.Context(), m, job, &inbox.ConversationPatch{
			Activity: &inbox.Activity{At: m.CreatedAt, Channel: m.Channel, Preview: "siap kak"}, MarkRead: true, UpdatedAt: m.CreatedAt}), "enqueue")
		got, err := s.ConversationByID(t.Context(), conv.ID)
		must(t, err, "conversation")
		if got.Unread != 0 || got.Preview != "siap kak" || got.LastChannel != inbox.ChannelWhatsApp || !got.LastMessageAt.Equal(m.CreatedAt) {
			t.Errorf("after the reply: unread %d, preview %q, last channel %s, last at %v; want 0, the reply, whatsapp, %v",
				got.Unread, got.Preview, got.LastChannel, got.LastMessageAt, m.CreatedAt)
		}
		if n := depth(t, s); n != 1 {
			t.Errorf("depth = %d, want 1", n)
		}
	})
	t.Run("EnqueueOutbound stores the message queued and its job", func(t *testing.T) {
		s := open(t)
		conv := createConversation(t, s, createCustomer(t, s, "A").ID)
		job := enqueue(t, s, conv, now)
		m, err := s.MessageByID(t.Context(), job.MessageID)
		must(t, err, "message")
		if m.Delivery != inbox.DeliveryQueued || m.Direction != inbox.DirectionOut {
			t.Errorf("message delivery %q direction %q, want queued out", m.Delivery, m.Direction)
		}
		if n := depth(t, s); n != 1 {
			t.Errorf("depth = %d, want 1", n)
		}
		got := claim(t, s, "a", now, time.Minute, 10)
		want := job
		want.LeaseOwner, want.LeaseUntil = "a", now.Add(time.Minute)
		if len(got) != 1 {
			t.Fatalf("claimed %d jobs, want 1", len(got))
		}
		same(t, "claimed job", normJob(got[0]), normJob(want))
	})

	t.Run("a leased job is not claimed again until its lease expires", func(t *testing.T) {
		s := open(t)
		conv := createConversation(t, s, createCustomer(t, s, "A").ID)
		job := enqueue(t, s, conv, now)
		if got := claim(t, s, "a", now, time.Minute, 10); len(got) != 1 {
			t.Fatalf("a claimed %d", len(got))
		}
		if got := claim(t, s, "b", now.Add(30*time.Second), time.Minute, 10); len(got) != 0 {
			t.Errorf("b claimed a live lease: %v", ids(got, jobID))
		}
		if got := claim(t, s, "a", now.Add(30*time.Second), time.Minute, 10); len(got) != 0 {
			t.Errorf("a claimed its own live lease again")
		}
		got := claim(t, s, "b", now.Add(2*time.Minute), time.Minute, 10)
		if len(got) != 1 || got[0].ID != job.ID || got[0].LeaseOwner != "b" {
			t.Errorf("after expiry b claimed %+v, want the job", got)
		}
		if n := depth(t, s); n != 1 {
			t.Errorf("depth = %d, want 1 (leased jobs still wait)", n)
		}
	})

	t.Run("a job due in the future is not claimed", func(t *testing.T) {
		s := open(t)
		conv := createConversation(t, s, createCustomer(t, s, "A").ID)
		enqueue(t, s, conv, now.Add(time.Hour))
		if got := claim(t, s, "a", now, time.Minute, 10); len(got) != 0 {
			t.Errorf("claimed a job due in an hour")
		}
		if got := claim(t, s, "a", now.Add(time.Hour), time.Minute, 10); len(got) != 1 {
			t.Errorf("claimed %d at its due time, want 1", len(got))
		}
	})

	t.Run("ClaimOutbox respects its limit", func(t *testing.T) {
		s := open(t)
		conv := createConversation(t, s, createCustomer(t, s, "A").ID)
		for range 5 {
			enqueue(t, s, conv, now)
		}
		if got := claim(t, s, "a", now, time.Minute, 3); len(got) != 3 {
			t.Errorf("claimed %d, want 3", len(got))
		}
		if got := claim(t, s, "b", now, time.Minute, 3); len(got) != 2 {
			t.Errorf("claimed %d, want the 2 left", len(got))
		}
	})

	t.Run("two concurrent claimers never get the same job", func(t *testing.T) {
		s := open(t)
		conv := createConversation(t, s, createCustomer(t, s, "A").ID)
		var all []string
		for range 40 {
			all = append(all, enqueue(t, s, conv, now).ID)
		}
		got := [2][]string{}
		var wg sync.WaitGroup
		for i, owner := range []string{"a", "b"} {
			wg.Go(func() {
				for range 100 {
					jobs, err := s.ClaimOutbox(t.Context(), owner, now, time.Hour, 3)
					if err != nil {
						t.Errorf("claim: %v", err)
						return
					}
					if len(jobs) == 0 {
						return
					}
					for _, j := range jobs {
						if j.LeaseOwner != owner {
							t.Errorf("job %s claimed by %s has lease owner %s", j.ID, owner, j.LeaseOwner)
						}
					}
					got[i] = append(got[i], ids(jobs, jobID)...)
				}
			})
		}
		wg.Wait()
		a, b := setOf(got[0]), setOf(got[1])
		for id := range a {
			if b[id] {
				t.Errorf("job %s claimed by both", id)
			}
		}
		if len(a) != len(got[0]) || len(b) != len(got[1]) {
			t.Errorf("a claimer got one job twice")
		}
		same(t, "claimed jobs", sorted(append(got[0], got[1]...)), sorted(all))
	})

	t.Run("RetryOutbox records the attempt and releases the lease until the next attempt", func(t *testing.T) {
		s := open(t)
		conv := createConversation(t, s, createCustomer(t, s, "A").ID)
		job := enqueue(t, s, conv, now)
		claim(t, s, "a", now, time.Hour, 10)
		next := now.Add(time.Minute)
		must(t, s.RetryOutbox(t.Context(), job.ID, "a", next, "421 try later"), "retry")
		if got := claim(t, s, "b", now.Add(30*time.Second), time.Hour, 10); len(got) != 0 {
			t.Errorf("claimed before the next attempt")
		}
		got := claim(t, s, "b", next, time.Hour, 10)
		if len(got) != 1 {
			t.Fatalf("claimed %d at the next attempt, want 1 (the lease was released)", len(got))
		}
		want := job
		want.Attempts, want.NextAttemptAt, want.LastError, want.LeaseOwner, want.LeaseUntil = 1, next, "421 try later", "b", next.Add(time.Hour)
		same(t, "retried job", normJob(got[0]), normJob(want))
	})

	t.Run("CompleteOutbox removes the job only for its owner", func(t *testing.T) {
		s := open(t)
		conv := createConversation(t, s, createCustomer(t, s, "A").ID)
		job := enqueue(t, s, conv, now)
		enqueue(t, s, conv, now.Add(time.Hour))
		claim(t, s, "a", now, time.Minute, 1)
		if err := s.CompleteOutbox(t.Context(), job.ID, "b"); err == nil {
			t.Errorf("b completed a's job without error")
		}
		if err := s.RetryOutbox(t.Context(), job.ID, "b", now, "not mine"); err == nil {
			t.Errorf("b retried a's job without error")
		}
		if got := claim(t, s, "c", now.Add(30*time.Second), time.Minute, 10); len(got) != 0 {
			t.Errorf("a foreign retry released a's lease: c claimed %v", ids(got, jobID))
		}
		if n := depth(t, s); n != 2 {
			t.Fatalf("depth = %d after a foreign complete, want 2", n)
		}
		must(t, s.CompleteOutbox(t.Context(), job.ID, "a"), "complete")
		if n := depth(t, s); n != 1 {
			t.Errorf("depth = %d, want 1", n)
		}
		if got := claim(t, s, "a", now.Add(time.Minute*2), time.Minute, 10); len(got) != 0 {
			t.Errorf("a completed job was claimed again")
		}
	})

	t.Run("ReleaseOutbox gives up every lease of its owner", func(t *testing.T) {
		s := open(t)
		conv := createConversation(t, s, createCustomer(t, s, "A").ID)
		for range 3 {
			enqueue(t, s, conv, now)
		}
		if got := claim(t, s, "a", now, time.Hour, 2); len(got) != 2 {
			t.Fatalf("a claimed %d", len(got))
		}
		if got := claim(t, s, "b", now, time.Hour, 1); len(got) != 1 {
			t.Fatalf("b claimed %d", len(got))
		}
		must(t, s.ReleaseOutbox(t.Context(), "a"), "release")
		if got := claim(t, s, "c", now, time.Hour, 10); len(got) != 2 {
			t.Errorf("c claimed %d after a released, want a's 2 (not b's)", len(got))
		}
	})
}

// mergeFixture holds two customers about to be merged.
type mergeFixture struct {
	survivor, loser         inbox.Customer
	survivorConv, loserConv inbox.Conversation
	messages                []string // every message id, newest first
}

func runMerge(t *testing.T, open func(t *testing.T) inbox.Store) {
	at := Base().Add(time.Hour)
	t.Run("merging into a survivor with a conversation moves messages, claims and suggestions", func(t *testing.T) {
		s := open(t)
		ctx := t.Context()
		surv := createCustomer(t, s, "Siti", email("siti@example.id", true), phone("+6281234567890", false))
		loser := createCustomer(t, s, "Siti (widget)", email("siti.w@example.id", true), phone("+6281234567890", true),
			inbox.Identity{Kind: inbox.KindWidget, Value: "visitor-1", Verified: false})
		third := createCustomer(t, s, "Other")
		sc, lc := createConversation(t, s, surv.ID), createConversation(t, s, loser.ID)
		// Interleaved timelines: survivor at 1s and 3s, loser at 2s and 4s.
		var msgs []inbox.Message
		for i, c := range []inbox.Conversation{sc, lc, sc, lc} {
			m := inboundMessage(c, Base().Add(time.Duration(i+1)*time.Second), fmt.Sprint("message ", i+1))
			if c.ID == lc.ID {
				m.Channel = inbox.ChannelWidget
			}
			msgs = append(msgs, insertMessage(t, s, m))
			_, _, err := s.UpdateConversation(ctx, c.ID, inbox.ConversationPatch{
				Activity: &inbox.Activity{At: m.CreatedAt, Channel: m.Channel, Preview: m.Text, Inbound: true}, UpdatedAt: m.CreatedAt,
			})
			must(t, err, "activity")
		}
		must(t, s.AddSuggestion(ctx, inbox.MergeSuggestion{CustomerID: loser.ID, OtherID: third.ID, Reason: email("x@example.id", false), At: Base()}), "suggest")

		for round := 1; round <= 2; round++ {
			must(t, s.MergeCustomers(ctx, surv.ID, loser.ID, at), fmt.Sprint("merge, round ", round))

			for _, id := range []inbox.Identity{email("siti.w@example.id", true), phone("+6281234567890", true), email("siti@example.id", true)} {
				owner, err := s.CustomerIDByIdentity(ctx, id.Kind, id.Value)
				must(t, err, "lookup "+id.Key())
				if owner != surv.ID {
					t.Errorf("round %d: %s owned by %s, want the survivor %s", round, id.Key(), owner, surv.ID)
				}
			}
			got, err := s.CustomerByID(ctx, surv.ID)
			must(t, err, "survivor")
			var held []string
			for _, id := range got.Identities {
				held = append(held, fmt.Sprintf("%s verified=%v", id.Key(), id.Verified))
			}
			same(t, fmt.Sprint("round ", round, ": survivor identities"), sorted(held), sorted([]string{
				"email:siti@example.id verified=true", "email:siti.w@example.id verified=true",
				"phone:+6281234567890 verified=true", "widget:visitor-1 verified=false",
			}))
			l, err := s.CustomerByID(ctx, loser.ID)
			must(t, err, "loser")
			if l.MergedInto != surv.ID {
				t.Errorf("round %d: loser MergedInto = %q, want %q", round, l.MergedInto, surv.ID)
			}
			holders, err := s.CustomersWithIdentity(ctx, inbox.KindWidget, "visitor-1")
			must(t, err, "holders")
			same(t, "holders of the loser's unverified identity", holders, []string{surv.ID})

			_, err = s.ConversationByID(ctx, lc.ID)
			notFound(t, err, "the loser's conversation")
			_, err = s.ConversationByCustomer(ctx, loser.ID)
			notFound(t, err, "the loser's conversation by customer")
			conv, err := s.ConversationByCustomer(ctx, surv.ID)
			must(t, err, "survivor conversation")
			if conv.ID != sc.ID {
				t.Errorf("survivor conversation %s, want %s", conv.ID, sc.ID)
			}
			if !conv.LastMessageAt.Equal(msgs[3].CreatedAt) || conv.Preview != "message 4" || conv.LastChannel != inbox.ChannelWidget ||
				conv.Unread != 4 || !conv.LastInboundAt.Equal(msgs[3].CreatedAt) {
				t.Errorf("round %d: survivor activity = last %v %q %s unread %d inbound %v, want the loser's newer message and unread 4",
					round, conv.LastMessageAt, conv.Preview, conv.LastChannel, conv.Unread, conv.LastInboundAt)
			}
			same(t, "channels", normConversation(conv).Channels, []inbox.Channel{inbox.ChannelEmail, inbox.ChannelWidget})

			timeline, err := s.ListMessages(ctx, sc.ID, inbox.Cursor{}, 10)
			must(t, err, "timeline")
			same(t, "timeline", ids(timeline, msgID), []string{msgs[3].ID, msgs[2].ID, msgs[1].ID, msgs[0].ID})
			for _, m := range timeline {
				if m.ConversationID != sc.ID {
					t.Errorf("message %s still names conversation %s", m.ID, m.ConversationID)
				}
			}
			moved, err := s.MessageByID(ctx, msgs[1].ID)
			must(t, err, "moved message")
			if moved.ConversationID != sc.ID {
				t.Errorf("moved message conversation %s, want %s", moved.ConversationID, sc.ID)
			}
			sugg, err := s.ListSuggestions(ctx, surv.ID)
			must(t, err, "suggestions")
			if len(sugg) != 1 || sugg[0].OtherID != third.ID {
				t.Errorf("round %d: survivor suggestions = %+v, want the loser's one about %s", round, sugg, third.ID)
			}
			ls, err := s.ListSuggestions(ctx, loser.ID)
			must(t, err, "loser suggestions")
			if len(ls) != 0 {
				t.Errorf("loser still has suggestions %+v", ls)
			}
		}
	})

	t.Run("merging into a survivor without a conversation gives it the loser's", func(t *testing.T) {
		s := open(t)
		ctx := t.Context()
		surv := createCustomer(t, s, "Shop customer", inbox.Identity{Kind: inbox.KindShop, Value: "cust-9", Verified: true})
		loser := createCustomer(t, s, "Visitor", email("v@example.id", true))
		lc := createConversation(t, s, loser.ID)
		m := insertMessage(t, s, inboundMessage(lc, Base(), "hello"))
		for round := 1; round <= 2; round++ {
			must(t, s.MergeCustomers(ctx, surv.ID, loser.ID, at), fmt.Sprint("merge, round ", round))
			conv, err := s.ConversationByCustomer(ctx, surv.ID)
			must(t, err, "survivor conversation")
			if conv.ID != lc.ID || conv.CustomerID != surv.ID {
				t.Errorf("survivor conversation = %s of %s, want %s of %s", conv.ID, conv.CustomerID, lc.ID, surv.ID)
			}
			_, err = s.ConversationByCustomer(ctx, loser.ID)
			notFound(t, err, "the loser's conversation by customer")
			timeline, err := s.ListMessages(ctx, lc.ID, inbox.Cursor{}, 10)
			must(t, err, "timeline")
			same(t, "timeline", ids(timeline, msgID), []string{m.ID})
			owner, err := s.CustomerIDByIdentity(ctx, inbox.KindEmail, "v@example.id")
			must(t, err, "lookup")
			if owner != surv.ID {
				t.Errorf("loser's email owned by %s, want %s", owner, surv.ID)
			}
			l, err := s.CustomerByID(ctx, loser.ID)
			must(t, err, "loser")
			if l.MergedInto != surv.ID {
				t.Errorf("MergedInto = %q", l.MergedInto)
			}
		}
	})
}

func runSuggestionsAudit(t *testing.T, open func(t *testing.T) inbox.Store) {
	t.Run("a suggestion is stored once per pair and can be deleted", func(t *testing.T) {
		s := open(t)
		ctx := t.Context()
		a, b, c := createCustomer(t, s, "A"), createCustomer(t, s, "B"), createCustomer(t, s, "C")
		must(t, s.AddSuggestion(ctx, inbox.MergeSuggestion{CustomerID: a.ID, OtherID: b.ID, Reason: email("x@example.id", false), At: Base()}), "add")
		must(t, s.AddSuggestion(ctx, inbox.MergeSuggestion{CustomerID: a.ID, OtherID: b.ID, Reason: phone("+6281111111111", false), At: Base().Add(time.Second)}), "add again")
		must(t, s.AddSuggestion(ctx, inbox.MergeSuggestion{CustomerID: a.ID, OtherID: c.ID, Reason: email("y@example.id", false), At: Base()}), "add other")
		got, err := s.ListSuggestions(ctx, a.ID)
		must(t, err, "list")
		var others []string
		for _, sg := range got {
			if sg.CustomerID != a.ID {
				t.Errorf("suggestion %+v listed for %s", sg, a.ID)
			}
			others = append(others, sg.OtherID)
		}
		same(t, "suggested others", sorted(others), sorted([]string{b.ID, c.ID}))
		for _, sg := range got {
			if sg.OtherID == c.ID && (sg.Reason.Key() != "email:y@example.id" || !sg.At.Equal(Base())) {
				t.Errorf("suggestion = %+v", sg)
			}
		}
		must(t, s.DeleteSuggestion(ctx, a.ID, b.ID), "delete")
		got, err = s.ListSuggestions(ctx, a.ID)
		must(t, err, "list")
		if len(got) != 1 || got[0].OtherID != c.ID {
			t.Errorf("after delete: %+v, want only the one about %s", got, c.ID)
		}
		if err := s.DeleteSuggestion(ctx, a.ID, b.ID); err != nil && !errors.Is(err, inbox.ErrNotFound) {
			t.Errorf("deleting a missing suggestion: %v", err)
		}
	})

	t.Run("audit entries list newest first per customer", func(t *testing.T) {
		s := open(t)
		ctx := t.Context()
		var want []inbox.AuditEntry
		for i := range 3 {
			e := inbox.AuditEntry{ID: inbox.NewID(), ActorID: "agent-1", Action: "customer.merge", CustomerID: "cust-1",
				Data: map[string]string{"n": fmt.Sprint(i)}, At: Base().Add(time.Duration(i) * time.Second)}
			must(t, s.InsertAudit(ctx, e), "insert")
			want = append([]inbox.AuditEntry{e}, want...)
		}
		must(t, s.InsertAudit(ctx, inbox.AuditEntry{ID: inbox.NewID(), ActorID: "agent-1", Action: "x", CustomerID: "cust-2", At: Base()}), "insert other")
		got, err := s.ListAudit(ctx, "cust-1", 2)
		must(t, err, "list")
		for i := range got {
			got[i].At = utc(got[i].At)
		}
		same(t, "audit", got, want[:2])
		all, err := s.ListAudit(ctx, "cust-1", 10)
		must(t, err, "list all")
		if len(all) != 3 {
			t.Errorf("%d entries, want 3", len(all))
		}
	})
}
