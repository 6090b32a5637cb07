package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/serambi/serambi/bus"
	"github.com/serambi/serambi/inbox"
)

// RunInboxService runs the inbox's own logic (inbox.New, inbox.NewDispatcher) on top of the
// store: ingest, identity resolution, reopen, updates, merge, reply and the outbox dispatcher.
func RunInboxService(t *testing.T, open func(t *testing.T) inbox.Store) {
	t.Run("ingest", func(t *testing.T) { runIngest(t, open) })
	t.Run("identity resolution", func(t *testing.T) { runResolution(t, open) })
	t.Run("answers verify the address", func(t *testing.T) { runAnswered(t, open) })
	t.Run("agent actions", func(t *testing.T) { runActions(t, open) })
	t.Run("merge", func(t *testing.T) { runServiceMerge(t, open) })
	t.Run("reply and dispatch", func(t *testing.T) { runDispatch(t, open) })
	t.Run("channel events and receipts", func(t *testing.T) { runChannelEvents(t, open) })
	t.Run("retries", func(t *testing.T) { runRetries(t, open) })
	t.Run("racing duplicates", func(t *testing.T) { runRacingDuplicates(t, open) })
}

type service struct {
	x     *inbox.Inbox
	s     inbox.Store
	clock *Clock
}

func newService(t *testing.T, open func(t *testing.T) inbox.Store) service {
	s := open(t)
	clock := NewClock(Base())
	x := inbox.New(s, bus.NewLocal(discardLog(), 0), inbox.NewNormalizer("ID"), clock.Now, discardLog())
	return service{x: x, s: s, clock: clock}
}

func fromEmail(extID, addr, text string) inbox.Inbound {
	return inbox.Inbound{Channel: inbox.ChannelEmail, ExternalID: extID,
		From: []inbox.Identity{{Kind: inbox.KindEmail, Value: addr}}, Subject: "Pesanan", Text: text}
}

func (v service) ingest(t *testing.T, in inbox.Inbound) inbox.IngestResult {
	t.Helper()
	r, err := v.x.Ingest(t.Context(), in)
	must(t, err, "ingest "+in.ExternalID)
	return r
}

func (v service) timeline(t *testing.T, convID string) []inbox.Message {
	t.Helper()
	ms, err := v.s.ListMessages(t.Context(), convID, inbox.Cursor{}, 200)
	must(t, err, "timeline")
	return ms
}

func events(ms []inbox.Message) []inbox.Event {
	var out []inbox.Event
	for _, m := range ms {
		if m.Direction == inbox.DirectionEvent && m.Event != nil {
			out = append(out, *m.Event)
		}
	}
	return out
}

func countDirection(ms []inbox.Message, d inbox.Direction) int {
	n := 0
	for _, m := range ms {
		if m.Direction == d {
			n++
		}
	}
	return n
}

func runIngest(t *testing.T, open func(t *testing.T) inbox.Store) {
	t.Run("ingesting one message twice stores it once", func(t *testing.T) {
		v := newService(t, open)
		first := v.ingest(t, fromEmail("<m1@mail.example.id>", "Siti@Example.ID", "Halo, pesanan saya?"))
		second := v.ingest(t, fromEmail("<m1@mail.example.id>", "siti@example.id", "Halo, pesanan saya?"))
		if first.Duplicate || !second.Duplicate {
			t.Errorf("duplicate flags = %v, %v; want false, true", first.Duplicate, second.Duplicate)
		}
		if second.Message.ID != first.Message.ID || second.Conversation.ID != first.Conversation.ID || second.CustomerID != first.CustomerID {
			t.Errorf("second ingest gave %s/%s/%s, want %s/%s/%s", second.Message.ID, second.Conversation.ID, second.CustomerID,
				first.Message.ID, first.Conversation.ID, first.CustomerID)
		}
		if ms := v.timeline(t, first.Conversation.ID); len(ms) != 1 {
			t.Errorf("%d messages stored, want 1", len(ms))
		}
		c := first.Conversation
		if c.Unread != 1 || c.LastChannel != inbox.ChannelEmail || c.Preview != "Halo, pesanan saya?" || c.Status != inbox.StatusOpen {
			t.Errorf("conversation = unread %d, last %s, preview %q, status %s", c.Unread, c.LastChannel, c.Preview, c.Status)
		}
		owner, err := v.s.CustomerIDByIdentity(t.Context(), inbox.KindEmail, "siti@example.id")
		must(t, err, "owner of the normalised address")
		if owner != first.CustomerID {
			t.Errorf("owner %s, want %s", owner, first.CustomerID)
		}
	})

	t.Run("50 concurrent deliveries of one message store one message and all return it", func(t *testing.T) {
		v := newService(t, open)
		const n = 50
		results := make([]inbox.IngestResult, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				r, err := v.x.Ingest(t.Context(), fromEmail("<burst@mail.example.id>", "burst@example.id", "sekali saja"))
				if err != nil {
					t.Errorf("ingest %d: %v", i, err)
				}
				results[i] = r
			})
		}
		wg.Wait()
		fresh := 0
		for i, r := range results {
			if !r.Duplicate {
				fresh++
			}
			if r.Message.ID != results[0].Message.ID || r.CustomerID != results[0].CustomerID {
				t.Errorf("delivery %d got message %s of %s, delivery 0 got %s of %s", i, r.Message.ID, r.CustomerID,
					results[0].Message.ID, results[0].CustomerID)
			}
		}
		if fresh != 1 {
			t.Errorf("%d deliveries stored the message, want 1", fresh)
		}
		holders, err := v.s.CustomersWithIdentity(t.Context(), inbox.KindEmail, "burst@example.id")
		must(t, err, "holders")
		if len(holders) != 1 {
			t.Errorf("%d customers hold the address, want 1", len(holders))
		}
		conv, err := v.s.ConversationByCustomer(t.Context(), results[0].CustomerID)
		must(t, err, "conversation")
		if ms := v.timeline(t, conv.ID); len(ms) != 1 {
			t.Errorf("%d messages stored, want 1", len(ms))
		}
		if conv.Unread != 1 {
			t.Errorf("unread = %d after one message delivered 50 times, want 1", conv.Unread)
		}
	})

	t.Run("two messages from one address join one customer and conversation", func(t *testing.T) {
		v := newService(t, open)
		a := v.ingest(t, fromEmail("<a@x>", "budi@example.id", "satu"))
		b := v.ingest(t, fromEmail("<b@x>", "BUDI@example.id", "dua"))
		if a.CustomerID != b.CustomerID || a.Conversation.ID != b.Conversation.ID {
			t.Errorf("second message went to %s/%s, first to %s/%s", b.CustomerID, b.Conversation.ID, a.CustomerID, a.Conversation.ID)
		}
		if b.Conversation.Unread != 2 || b.Conversation.Preview != "dua" {
			t.Errorf("conversation unread %d preview %q, want 2 and the newer text", b.Conversation.Unread, b.Conversation.Preview)
		}
		if ms := v.timeline(t, a.Conversation.ID); len(ms) != 2 || ms[0].ID != b.Message.ID {
			t.Errorf("timeline = %v, want the newer message first of 2", ids(ms, msgID))
		}
	})

	t.Run("a resolved conversation reopens on a new message with a reopened event", func(t *testing.T) {
		v := newService(t, open)
		first := v.ingest(t, fromEmail("<1@x>", "ana@example.id", "halo"))
		resolved := inbox.StatusResolved
		_, err := v.x.Update(t.Context(), first.Conversation.ID, "agent-1", inbox.Change{Status: &resolved})
		must(t, err, "resolve")
		again := v.ingest(t, fromEmail("<2@x>", "ana@example.id", "masih ada pertanyaan"))
		if again.Conversation.Status != inbox.StatusOpen {
			t.Errorf("status after a new message = %s, want open", again.Conversation.Status)
		}
		stored, err := v.s.ConversationByID(t.Context(), first.Conversation.ID)
		must(t, err, "reload")
		if stored.Status != inbox.StatusOpen {
			t.Errorf("stored status = %s, want open", stored.Status)
		}
		var kinds []string
		for _, e := range events(v.timeline(t, first.Conversation.ID)) {
			kinds = append(kinds, fmt.Sprintf("%s %s->%s", e.Kind, e.From, e.To))
		}
		same(t, "events", sorted(kinds), sorted([]string{"status_changed open->resolved", "reopened resolved->open"}))
	})
}

func runResolution(t *testing.T, open func(t *testing.T) inbox.Store) {
	t.Run("a national and an international phone number are one customer", func(t *testing.T) {
		v := newService(t, open)
		wa := func(ext, num string) inbox.Inbound {
			return inbox.Inbound{Channel: inbox.ChannelWhatsApp, ExternalID: ext, Text: "halo",
				From: []inbox.Identity{{Kind: inbox.KindPhone, Value: num}}}
		}
		a := v.ingest(t, wa("wamid.1", "0812-3456-7890"))
		b := v.ingest(t, wa("wamid.2", "+62 812 3456 7890"))
		if a.CustomerID != b.CustomerID {
			t.Errorf("customers %s and %s, want one", a.CustomerID, b.CustomerID)
		}
		owner, err := v.s.CustomerIDByIdentity(t.Context(), inbox.KindPhone, "+6281234567890")
		must(t, err, "lookup E.164")
		if owner != a.CustomerID {
			t.Errorf("owner %s, want %s", owner, a.CustomerID)
		}
	})

	t.Run("a message carrying a verified email and phone links both to one customer", func(t *testing.T) {
		v := newService(t, open)
		r := v.ingest(t, inbox.Inbound{Channel: inbox.ChannelWidget, ExternalID: "w-1", Text: "hi",
			From: []inbox.Identity{{Kind: inbox.KindWidget, Value: "visitor-abc"}, {Kind: inbox.KindEmail, Value: "dewi@example.id", Verified: true},
				{Kind: inbox.KindPhone, Value: "0811-1111-1111", Verified: true}}})
		for _, id := range []inbox.Identity{{Kind: inbox.KindWidget, Value: "visitor-abc"}, {Kind: inbox.KindEmail, Value: "dewi@example.id"}, {Kind: inbox.KindPhone, Value: "+6281111111111"}} {
			owner, err := v.s.CustomerIDByIdentity(t.Context(), id.Kind, id.Value)
			must(t, err, "lookup "+id.Key())
			if owner != r.CustomerID {
				t.Errorf("%s owned by %s, want %s", id.Key(), owner, r.CustomerID)
			}
		}
		// A later email from that address joins the same customer.
		e := v.ingest(t, fromEmail("<later@x>", "dewi@example.id", "lanjut"))
		if e.CustomerID != r.CustomerID || e.Conversation.ID != r.Conversation.ID {
			t.Errorf("email went to %s, want %s", e.CustomerID, r.CustomerID)
		}
	})

	t.Run("a verified secondary identity is linked to an existing customer on a later message", func(t *testing.T) {
		v := newService(t, open)
		first := v.ingest(t, inbox.Inbound{Channel: inbox.ChannelWidget, ExternalID: "w-1", Text: "hi",
			From: []inbox.Identity{{Kind: inbox.KindWidget, Value: "visitor-1"}}})
		v.ingest(t, inbox.Inbound{Channel: inbox.ChannelWidget, ExternalID: "w-2", Text: "again",
			From: []inbox.Identity{{Kind: inbox.KindWidget, Value: "visitor-1"}, {Kind: inbox.KindShop, Value: "cust-42", Verified: true}}})
		owner, err := v.s.CustomerIDByIdentity(t.Context(), inbox.KindShop, "cust-42")
		must(t, err, "lookup shop id")
		if owner != first.CustomerID {
			t.Errorf("shop id owned by %s, want %s", owner, first.CustomerID)
		}
	})

	t.Run("an unverified identity matching another customer is suggested, not linked", func(t *testing.T) {
		for _, when := range []string{"on the first message", "on a later message"} {
			t.Run(when, func(t *testing.T) {
				v := newService(t, open)
				a := v.ingest(t, fromEmail("<a@x>", "rina@example.id", "dari email"))
				if when == "on a later message" {
					v.ingest(t, inbox.Inbound{Channel: inbox.ChannelWidget, ExternalID: "w-0", Text: "halo",
						From: []inbox.Identity{{Kind: inbox.KindWidget, Value: "visitor-9"}}})
				}
				b := v.ingest(t, inbox.Inbound{Channel: inbox.ChannelWidget, ExternalID: "w-1", Text: "dari widget",
					From: []inbox.Identity{{Kind: inbox.KindWidget, Value: "visitor-9"}, {Kind: inbox.KindEmail, Value: "Rina@example.id"}}})
				if b.CustomerID == a.CustomerID {
					t.Fatalf("an unverified email joined the widget visitor to the email customer")
				}
				owner, err := v.s.CustomerIDByIdentity(t.Context(), inbox.KindEmail, "rina@example.id")
				must(t, err, "lookup")
				if owner != a.CustomerID {
					t.Errorf("the address is owned by %s, want still %s", owner, a.CustomerID)
				}
				sugg, err := v.s.ListSuggestions(t.Context(), b.CustomerID)
				must(t, err, "suggestions")
				if len(sugg) != 1 || sugg[0].OtherID != a.CustomerID || sugg[0].Reason.Key() != "email:rina@example.id" {
					t.Errorf("suggestions of %s = %+v, want one about %s by email:rina@example.id", b.CustomerID, sugg, a.CustomerID)
				}
				back, err := v.s.ListSuggestions(t.Context(), a.CustomerID)
				must(t, err, "suggestions of the other")
				if len(back) != 1 || back[0].OtherID != b.CustomerID {
					t.Errorf("suggestions of %s = %+v, want the same one seen from its side", a.CustomerID, back)
				}
				cust, err := v.x.Customer(t.Context(), b.CustomerID)
				must(t, err, "customer")
				if id, ok := cust.Identity(inbox.KindEmail); !ok || id.Verified {
					t.Errorf("widget customer's email = %+v, want kept unverified", id)
				}
			})
		}
	})

	t.Run("a message without a usable sender is refused and stores nothing", func(t *testing.T) {
		v := newService(t, open)
		_, err := v.x.Ingest(t.Context(), inbox.Inbound{Channel: inbox.ChannelEmail, ExternalID: "<bad@x>",
			From: []inbox.Identity{{Kind: inbox.KindEmail, Value: "not an address"}}, Text: "x"})
		if !errors.Is(err, inbox.ErrNoIdentity) {
			t.Errorf("err = %v, want inbox.ErrNoIdentity", err)
		}
		_, err = v.s.MessageByExternalID(t.Context(), inbox.ChannelEmail, "<bad@x>")
		notFound(t, err, "the refused message")
	})
}

// typedInWidget is a widget visitor who typed addr into the widget: addr is theirs, unverified.
func (v service) typedInWidget(t *testing.T, visitor, addr string) inbox.IngestResult {
	t.Helper()
	return v.ingest(t, inbox.Inbound{Channel: inbox.ChannelWidget, ExternalID: "w-" + visitor, Text: "halo, ada orang?",
		From: []inbox.Identity{{Kind: inbox.KindWidget, Value: visitor}, {Kind: inbox.KindEmail, Value: addr}}})
}

// answer is an email from addr answering a mail Serambi sent to addr for customer answered.
func answer(extID, addr, answered string) inbox.Inbound {
	in := fromEmail(extID, addr, "ini jawaban saya")
	in.AnsweredCustomerID = answered
	return in
}

// emailOf reports whether the customer holds addr, and whether verified.
func (v service) emailOf(t *testing.T, customerID, addr string) (held, verified bool) {
	t.Helper()
	c, err := v.x.Customer(t.Context(), customerID)
	must(t, err, "customer "+customerID)
	for _, id := range c.Identities {
		if id.Kind == inbox.KindEmail && id.Value == addr {
			return true, id.Verified
		}
	}
	return false, false
}

// ownerOf returns who claims addr verified, "" when nobody does.
func (v service) ownerOf(t *testing.T, addr string) string {
	t.Helper()
	id, err := v.s.CustomerIDByIdentity(t.Context(), inbox.KindEmail, addr)
	if errors.Is(err, inbox.ErrNotFound) {
		return ""
	}
	must(t, err, "owner of "+addr)
	return id
}

// suggested lists the customers suggested as the same person as customerID.
func (v service) suggested(t *testing.T, customerID string) []string {
	t.Helper()
	ss, err := v.s.ListSuggestions(t.Context(), customerID)
	must(t, err, "suggestions of "+customerID)
	out := []string{}
	for _, s := range ss {
		out = append(out, s.OtherID)
	}
	return out
}

// runAnswered covers Inbound.AnsweredCustomerID: a customer answering a mail Serambi sent to an
// address they typed into the widget proves the address is theirs.
func runAnswered(t *testing.T, open func(t *testing.T) inbox.Store) {
	const addr = "rina@example.id"

	t.Run("an answer to a mail sent to a typed address verifies it and joins that customer's conversation", func(t *testing.T) {
		v := newService(t, open)
		typed := v.typedInWidget(t, "visitor-1", addr)
		if held, verified := v.emailOf(t, typed.CustomerID, addr); !held || verified {
			t.Fatalf("fixture: typed address held=%v verified=%v, want held unverified", held, verified)
		}
		got := v.ingest(t, answer("<answer@mail.example.id>", "Rina@Example.ID", typed.CustomerID))
		if got.CustomerID != typed.CustomerID || got.Conversation.ID != typed.Conversation.ID {
			t.Fatalf("the answer went to %s/%s, want the widget customer's %s/%s",
				got.CustomerID, got.Conversation.ID, typed.CustomerID, typed.Conversation.ID)
		}
		if _, verified := v.emailOf(t, typed.CustomerID, addr); !verified {
			t.Errorf("the answered address is still unverified")
		}
		if owner := v.ownerOf(t, addr); owner != typed.CustomerID {
			t.Errorf("address claimed by %q, want %s", owner, typed.CustomerID)
		}
		if s := v.suggested(t, typed.CustomerID); len(s) != 0 {
			t.Errorf("suggestions %v; the proof needs none", s)
		}
		audit, err := v.s.ListAudit(t.Context(), typed.CustomerID, 10)
		must(t, err, "audit")
		if len(audit) != 1 || audit[0].Action != inbox.ActionIdentityVerified || audit[0].Data["value"] != addr ||
			audit[0].Data["externalId"] != "<answer@mail.example.id>" || audit[0].ActorID != "" {
			t.Errorf("audit = %+v, want one %s entry by Serambi naming the address and the answer", audit, inbox.ActionIdentityVerified)
		}
		// The answer delivered again changes nothing; later mail from the address needs no proof.
		again := v.ingest(t, answer("<answer@mail.example.id>", addr, typed.CustomerID))
		if !again.Duplicate || again.Message.ID != got.Message.ID {
			t.Errorf("redelivery: duplicate=%v message %s, want the stored %s", again.Duplicate, again.Message.ID, got.Message.ID)
		}
		later := v.ingest(t, fromEmail("<later@mail.example.id>", addr, "satu lagi"))
		if later.CustomerID != typed.CustomerID {
			t.Errorf("a later mail went to %s, want %s", later.CustomerID, typed.CustomerID)
		}
		if audit, _ := v.s.ListAudit(t.Context(), typed.CustomerID, 10); len(audit) != 1 {
			t.Errorf("%d audit entries after redelivery, want still 1", len(audit))
		}
		if n := countDirection(v.timeline(t, typed.Conversation.ID), inbox.DirectionIn); n != 3 {
			t.Errorf("%d inbound messages in the conversation, want 3 (widget, answer, later)", n)
		}
	})

	t.Run("without the proof a mail from a typed address stays apart and is suggested", func(t *testing.T) {
		v := newService(t, open)
		typed := v.typedInWidget(t, "visitor-1", addr)
		got := v.ingest(t, fromEmail("<plain@mail.example.id>", addr, "halo"))
		if got.CustomerID == typed.CustomerID {
			t.Fatalf("an unproven mail joined the widget customer")
		}
		if _, verified := v.emailOf(t, typed.CustomerID, addr); verified {
			t.Errorf("the typed address became verified without proof")
		}
		if owner := v.ownerOf(t, addr); owner != got.CustomerID {
			t.Errorf("address claimed by %q, want the sender's new customer %s", owner, got.CustomerID)
		}
		same(t, "suggestions of the widget customer", v.suggested(t, typed.CustomerID), []string{got.CustomerID})
	})

	t.Run("an address verified on another customer is not taken", func(t *testing.T) {
		v := newService(t, open)
		first := v.ingest(t, fromEmail("<first@mail.example.id>", addr, "saya duluan"))
		typed := v.typedInWidget(t, "visitor-1", addr)
		got := v.ingest(t, answer("<answer@mail.example.id>", addr, typed.CustomerID))
		if got.CustomerID != first.CustomerID {
			t.Errorf("the answer went to %s, want the address's owner %s", got.CustomerID, first.CustomerID)
		}
		if owner := v.ownerOf(t, addr); owner != first.CustomerID {
			t.Errorf("address claimed by %q, want still %s", owner, first.CustomerID)
		}
		if _, verified := v.emailOf(t, typed.CustomerID, addr); verified {
			t.Errorf("the widget customer's copy became verified")
		}
		same(t, "suggestions of the widget customer", v.suggested(t, typed.CustomerID), []string{first.CustomerID})
		same(t, "suggestions of the owner", v.suggested(t, first.CustomerID), []string{typed.CustomerID})
	})

	t.Run("a customer who does not hold the address claims nothing", func(t *testing.T) {
		for _, who := range []string{"a customer without the address", "a customer that does not exist"} {
			t.Run(who, func(t *testing.T) {
				v := newService(t, open)
				other := v.ingest(t, inbox.Inbound{Channel: inbox.ChannelWidget, ExternalID: "w-0", Text: "halo",
					From: []inbox.Identity{{Kind: inbox.KindWidget, Value: "visitor-0"}}})
				answered := other.CustomerID
				if who == "a customer that does not exist" {
					answered = "no-such-customer"
				}
				got := v.ingest(t, answer("<answer@mail.example.id>", addr, answered))
				if got.CustomerID == other.CustomerID {
					t.Fatalf("the mail joined a customer who never held its address")
				}
				if held, _ := v.emailOf(t, other.CustomerID, addr); held {
					t.Errorf("the address was added to a customer who did not hold it")
				}
				if owner := v.ownerOf(t, addr); owner != got.CustomerID {
					t.Errorf("address claimed by %q, want the sender's new customer %s", owner, got.CustomerID)
				}
			})
		}
	})

	t.Run("the proof follows a merge to the surviving customer", func(t *testing.T) {
		v := newService(t, open)
		survivor := v.ingest(t, inbox.Inbound{Channel: inbox.ChannelTelegram, ExternalID: "1", Text: "halo",
			From: []inbox.Identity{{Kind: inbox.KindTelegram, Value: "555001"}}})
		typed := v.typedInWidget(t, "visitor-1", addr)
		_, err := v.x.Merge(t.Context(), survivor.CustomerID, typed.CustomerID, "agent-1")
		must(t, err, "merge")
		got := v.ingest(t, answer("<answer@mail.example.id>", addr, typed.CustomerID))
		if got.CustomerID != survivor.CustomerID || got.Conversation.ID != survivor.Conversation.ID {
			t.Errorf("the answer went to %s, want the survivor %s", got.CustomerID, survivor.CustomerID)
		}
		if owner := v.ownerOf(t, addr); owner != survivor.CustomerID {
			t.Errorf("address claimed by %q, want the survivor %s", owner, survivor.CustomerID)
		}
	})
}

func runActions(t *testing.T, open func(t *testing.T) inbox.Store) {
	t.Run("Update records each effective change as a timeline event", func(t *testing.T) {
		v := newService(t, open)
		r := v.ingest(t, fromEmail("<1@x>", "eko@example.id", "tolong"))
		pending, agent, team, prio := inbox.StatusPending, "agent-2", "team-cs", inbox.PriorityUrgent
		tags := []string{"VIP", " refund ", "vip"}
		after, err := v.x.Update(t.Context(), r.Conversation.ID, "agent-1", inbox.Change{
			Status: &pending, AssigneeID: &agent, TeamID: &team, Priority: &prio, Tags: &tags})
		must(t, err, "update")
		if after.Status != pending || after.AssigneeID != agent || after.TeamID != team || after.Priority != prio ||
			!slices.Equal(after.Tags, []string{"refund", "vip"}) {
			t.Errorf("after = %+v", after)
		}
		var got []string
		for _, e := range events(v.timeline(t, r.Conversation.ID)) {
			if e.ActorID != "agent-1" {
				t.Errorf("event %s actor %q, want agent-1", e.Kind, e.ActorID)
			}
			got = append(got, fmt.Sprintf("%s %s->%s", e.Kind, e.From, e.To))
		}
		same(t, "events", sorted(got), sorted([]string{
			"status_changed open->pending", "assigned ->agent-2", "team_changed ->team-cs",
			"priority_changed ->urgent", "tagged ->refund,vip",
		}))

		// The same change again changes nothing and records nothing.
		_, err = v.x.Update(t.Context(), r.Conversation.ID, "agent-1", inbox.Change{Status: &pending, AssigneeID: &agent})
		must(t, err, "repeat update")
		if n := len(events(v.timeline(t, r.Conversation.ID))); n != 5 {
			t.Errorf("%d events after a no-op update, want 5", n)
		}
		stored, err := v.s.ConversationByID(t.Context(), r.Conversation.ID)
		must(t, err, "reload")
		same(t, "stored conversation", normConversation(stored).Tags, []string{"refund", "vip"})
	})

	t.Run("snoozing needs a time in the future", func(t *testing.T) {
		v := newService(t, open)
		r := v.ingest(t, fromEmail("<1@x>", "eko@example.id", "tolong"))
		snoozed := inbox.StatusSnoozed
		past := Base().Add(-time.Hour)
		_, err := v.x.Update(t.Context(), r.Conversation.ID, "agent-1", inbox.Change{Status: &snoozed, SnoozedUntil: &past})
		if !errors.Is(err, inbox.ErrInvalid) {
			t.Errorf("err = %v, want inbox.ErrInvalid", err)
		}
		until := Base().Add(24 * time.Hour)
		after, err := v.x.Update(t.Context(), r.Conversation.ID, "agent-1", inbox.Change{Status: &snoozed, SnoozedUntil: &until})
		must(t, err, "snooze")
		if after.Status != snoozed || !after.SnoozedUntil.Equal(until) {
			t.Errorf("after = %s until %v", after.Status, after.SnoozedUntil)
		}
		// A new message wakes it.
		again := v.ingest(t, fromEmail("<2@x>", "eko@example.id", "halo?"))
		if again.Conversation.Status != inbox.StatusOpen || !again.Conversation.SnoozedUntil.IsZero() {
			t.Errorf("after a new message: %s until %v, want open and no snooze", again.Conversation.Status, again.Conversation.SnoozedUntil)
		}
	})

	t.Run("MarkRead clears unread", func(t *testing.T) {
		v := newService(t, open)
		r := v.ingest(t, fromEmail("<1@x>", "eko@example.id", "satu"))
		v.ingest(t, fromEmail("<2@x>", "eko@example.id", "dua"))
		must(t, v.x.MarkRead(t.Context(), r.Conversation.ID), "mark read")
		c, err := v.s.ConversationByID(t.Context(), r.Conversation.ID)
		must(t, err, "reload")
		if c.Unread != 0 {
			t.Errorf("unread = %d", c.Unread)
		}
	})

	t.Run("a note joins the timeline without moving the conversation", func(t *testing.T) {
		v := newService(t, open)
		r := v.ingest(t, fromEmail("<1@x>", "eko@example.id", "satu"))
		n, err := v.x.Note(t.Context(), inbox.NoteRequest{ConversationID: r.Conversation.ID, AgentID: "agent-1", Text: "cek stok", Mentions: []string{"agent-2"}})
		must(t, err, "note")
		c, err := v.s.ConversationByID(t.Context(), r.Conversation.ID)
		must(t, err, "reload")
		if c.Preview != "satu" || !c.LastMessageAt.Equal(r.Conversation.LastMessageAt) {
			t.Errorf("a note moved the conversation: %q at %v", c.Preview, c.LastMessageAt)
		}
		ms := v.timeline(t, r.Conversation.ID)
		if len(ms) != 2 || ms[0].ID != n.ID || ms[0].Direction != inbox.DirectionNote || ms[0].Meta["mentions"] != "agent-2" {
			t.Errorf("timeline head = %+v", ms[0])
		}
	})
}

func runServiceMerge(t *testing.T, open func(t *testing.T) inbox.Store) {
	t.Run("merging two customers joins their timelines and identities", func(t *testing.T) {
		v := newService(t, open)
		ctx := t.Context()
		tg := func(ext, text string) inbox.Inbound {
			return inbox.Inbound{Channel: inbox.ChannelTelegram, ExternalID: ext, Text: text, Name: "Putri TG",
				From: []inbox.Identity{{Kind: inbox.KindTelegram, Value: "555001"}}}
		}
		a1 := v.ingest(t, fromEmail("<1@x>", "putri@example.id", "email satu"))
		b1 := v.ingest(t, tg("1", "telegram satu"))
		a2 := v.ingest(t, fromEmail("<2@x>", "putri@example.id", "email dua"))
		b2 := v.ingest(t, tg("2", "telegram dua"))
		if a1.CustomerID == b1.CustomerID {
			t.Fatalf("fixture: one customer already")
		}
		merged, err := v.x.Merge(ctx, a1.CustomerID, b1.CustomerID, "agent-1")
		must(t, err, "merge")
		if merged.ID != a1.CustomerID {
			t.Errorf("merge returned %s, want the survivor %s", merged.ID, a1.CustomerID)
		}
		if _, ok := merged.Identity(inbox.KindTelegram); !ok {
			t.Errorf("survivor lacks the telegram identity: %+v", merged.Identities)
		}
		viaLoser, err := v.x.Customer(ctx, b1.CustomerID)
		must(t, err, "customer by the merged-away id")
		if viaLoser.ID != a1.CustomerID {
			t.Errorf("merged-away id resolves to %s, want %s", viaLoser.ID, a1.CustomerID)
		}
		conv, err := v.x.ConversationOfCustomer(ctx, b1.CustomerID)
		must(t, err, "conversation of the merged-away id")
		if conv.ID != a1.Conversation.ID {
			t.Errorf("conversation %s, want the survivor's %s", conv.ID, a1.Conversation.ID)
		}
		if conv.Preview != "telegram dua" || conv.LastChannel != inbox.ChannelTelegram || conv.Unread != 4 {
			t.Errorf("conversation after merge = preview %q last %s unread %d", conv.Preview, conv.LastChannel, conv.Unread)
		}
		ms := v.timeline(t, conv.ID)
		var msgs []string
		for i, m := range ms {
			if i > 0 && m.CreatedAt.After(ms[i-1].CreatedAt) {
				t.Errorf("timeline out of order at %d", i)
			}
			if m.Direction == inbox.DirectionIn {
				msgs = append(msgs, m.ID)
			}
		}
		same(t, "inbound messages newest first", msgs, []string{b2.Message.ID, a2.Message.ID, b1.Message.ID, a1.Message.ID})
		ev := events(ms)
		if len(ev) != 1 || ev[0].Kind != inbox.EventMerged || ev[0].From != b1.CustomerID || ev[0].ActorID != "agent-1" {
			t.Errorf("events = %+v, want one merged event", ev)
		}
		audit, err := v.s.ListAudit(ctx, a1.CustomerID, 10)
		must(t, err, "audit")
		if len(audit) != 1 || audit[0].Action != "customer.merge" || audit[0].Data["loserId"] != b1.CustomerID {
			t.Errorf("audit = %+v", audit)
		}
		// The loser's telegram account now writes into the survivor's conversation.
		b3 := v.ingest(t, tg("3", "telegram tiga"))
		if b3.CustomerID != a1.CustomerID || b3.Conversation.ID != a1.Conversation.ID {
			t.Errorf("a new telegram message went to %s/%s, want %s/%s", b3.CustomerID, b3.Conversation.ID, a1.CustomerID, a1.Conversation.ID)
		}
		if _, err := v.x.Merge(ctx, a1.CustomerID, b1.CustomerID, "agent-1"); !errors.Is(err, inbox.ErrInvalid) {
			t.Errorf("merging a customer into itself (via its old id): err = %v, want inbox.ErrInvalid", err)
		}
	})
}

// countingSender is a real inbox.Sender for the tests: it counts sends per message and fails as
// told.
type countingSender struct {
	mu    sync.Mutex
	sends map[string]int
	last  inbox.Outbound
	fail  func(attempt int) error
}

func newCountingSender(fail func(attempt int) error) *countingSender {
	return &countingSender{sends: map[string]int{}, fail: fail}
}

func (s *countingSender) Send(_ context.Context, out inbox.Outbound) (string, error) {
	s.mu.Lock()
	s.sends[out.Message.ID]++
	n := s.sends[out.Message.ID]
	s.last = out
	s.mu.Unlock()
	if s.fail != nil {
		if err := s.fail(n); err != nil {
			return "", err
		}
	}
	return "ext-" + out.Message.ID, nil
}

func (s *countingSender) count(id string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sends[id]
}

func (v service) dispatcher(owner string, sender inbox.Sender) *inbox.Dispatcher {
	return inbox.NewDispatcher(v.s, map[inbox.Channel]inbox.Sender{inbox.ChannelEmail: sender}, bus.NewLocal(discardLog(), 0),
		inbox.DispatcherConfig{Owner: owner, Lease: time.Minute, MaxAttempts: 3, BaseBackoff: time.Second, MaxBackoff: time.Second, Workers: 2},
		v.clock.Now, discardLog())
}

func (v service) runOnce(t *testing.T, d *inbox.Dispatcher, want int) {
	t.Helper()
	n, err := d.RunOnce(t.Context())
	must(t, err, "dispatch")
	if n != want {
		t.Errorf("dispatcher handled %d jobs, want %d", n, want)
	}
}

func (v service) reply(t *testing.T, convID, text string) inbox.Message {
	t.Helper()
	m, err := v.x.Reply(t.Context(), inbox.ReplyRequest{ConversationID: convID, AgentID: "agent-1", AgentName: "Agen", Text: text})
	must(t, err, "reply")
	return m
}

func (v service) delivery(t *testing.T, id string) inbox.Message {
	t.Helper()
	m, err := v.s.MessageByID(t.Context(), id)
	must(t, err, "load message")
	return m
}

func runDispatch(t *testing.T, open func(t *testing.T) inbox.Store) {
	t.Run("a reply is stored queued with its job and the dispatcher sends it", func(t *testing.T) {
		v := newService(t, open)
		r := v.ingest(t, fromEmail("<1@x>", "sari@example.id", "halo"))
		m := v.reply(t, r.Conversation.ID, "Halo Sari, pesanan sudah dikirim.")
		if m.Delivery != inbox.DeliveryQueued || m.Channel != inbox.ChannelEmail || m.Direction != inbox.DirectionOut {
			t.Errorf("reply = %s %s %s, want queued out on email", m.Delivery, m.Direction, m.Channel)
		}
		if got := v.delivery(t, m.ID); got.Delivery != inbox.DeliveryQueued {
			t.Errorf("stored reply delivery %s, want queued", got.Delivery)
		}
		if n := depth(t, v.s); n != 1 {
			t.Errorf("outbox depth %d, want 1", n)
		}
		c, err := v.s.ConversationByID(t.Context(), r.Conversation.ID)
		must(t, err, "reload")
		if c.Unread != 0 || c.Preview != "Halo Sari, pesanan sudah dikirim." {
			t.Errorf("conversation after reply: unread %d preview %q", c.Unread, c.Preview)
		}

		sender := newCountingSender(nil)
		v.runOnce(t, v.dispatcher("one", sender), 1)
		got := v.delivery(t, m.ID)
		if got.Delivery != inbox.DeliverySent || got.ExternalID != "ext-"+m.ID {
			t.Errorf("after dispatch: %s external %q, want sent with the channel's id", got.Delivery, got.ExternalID)
		}
		if sender.last.Customer.ID != r.CustomerID || sender.last.Attempt != 1 || sender.last.Conversation.ID != r.Conversation.ID {
			t.Errorf("sender got customer %s attempt %d conversation %s", sender.last.Customer.ID, sender.last.Attempt, sender.last.Conversation.ID)
		}
		if n := depth(t, v.s); n != 0 {
			t.Errorf("outbox depth %d after sending, want 0", n)
		}
	})

	t.Run("a failing send is retried after backoff and fails with the reason after MaxAttempts", func(t *testing.T) {
		v := newService(t, open)
		r := v.ingest(t, fromEmail("<1@x>", "sari@example.id", "halo"))
		m := v.reply(t, r.Conversation.ID, "balasan")
		sender := newCountingSender(func(int) error { return errors.New("451 mailbox busy") })
		d := v.dispatcher("one", sender)
		for attempt := 1; attempt <= 3; attempt++ {
			v.runOnce(t, d, 1)
			v.runOnce(t, d, 0) // not due again before its backoff
			v.clock.Advance(2 * time.Second)
			want := inbox.DeliveryQueued
			if attempt == 3 {
				want = inbox.DeliveryFailed
			}
			if got := v.delivery(t, m.ID); got.Delivery != want {
				t.Errorf("after attempt %d: %s, want %s", attempt, got.Delivery, want)
			}
		}
		got := v.delivery(t, m.ID)
		if got.DeliveryError != "451 mailbox busy" {
			t.Errorf("delivery error %q, want the send error", got.DeliveryError)
		}
		if n := sender.count(m.ID); n != 3 {
			t.Errorf("%d sends, want 3", n)
		}
		if n := depth(t, v.s); n != 0 {
			t.Errorf("outbox depth %d, want 0", n)
		}
		v.runOnce(t, d, 0)
	})

	t.Run("a permanent error fails the message at once", func(t *testing.T) {
		v := newService(t, open)
		r := v.ingest(t, fromEmail("<1@x>", "sari@example.id", "halo"))
		m := v.reply(t, r.Conversation.ID, "balasan")
		sender := newCountingSender(func(int) error { return inbox.Permanent(errors.New("550 no such user")) })
		v.runOnce(t, v.dispatcher("one", sender), 1)
		got := v.delivery(t, m.ID)
		if got.Delivery != inbox.DeliveryFailed || got.DeliveryError != "550 no such user" || sender.count(m.ID) != 1 {
			t.Errorf("after a permanent error: %s %q after %d sends", got.Delivery, got.DeliveryError, sender.count(m.ID))
		}
		if n := depth(t, v.s); n != 0 {
			t.Errorf("outbox depth %d, want 0", n)
		}
	})

	t.Run("a retry-after from the channel sets the next attempt", func(t *testing.T) {
		v := newService(t, open)
		r := v.ingest(t, fromEmail("<1@x>", "sari@example.id", "halo"))
		m := v.reply(t, r.Conversation.ID, "balasan")
		sender := newCountingSender(func(n int) error {
			if n == 1 {
				return &inbox.RetryAfterError{After: 10 * time.Minute, Err: errors.New("429 too many requests")}
			}
			return nil
		})
		d := v.dispatcher("one", sender)
		v.runOnce(t, d, 1)
		v.clock.Advance(5 * time.Minute)
		v.runOnce(t, d, 0)
		v.clock.Advance(6 * time.Minute)
		v.runOnce(t, d, 1)
		if got := v.delivery(t, m.ID); got.Delivery != inbox.DeliverySent || sender.count(m.ID) != 2 {
			t.Errorf("after retry-after: %s after %d sends", got.Delivery, sender.count(m.ID))
		}
	})

	t.Run("two dispatchers never send one message twice", func(t *testing.T) {
		v := newService(t, open)
		r := v.ingest(t, fromEmail("<1@x>", "sari@example.id", "halo"))
		var queued []string
		for i := range 30 {
			queued = append(queued, v.reply(t, r.Conversation.ID, fmt.Sprint("balasan ", i)).ID)
		}
		sender := newCountingSender(nil)
		var wg sync.WaitGroup
		for _, owner := range []string{"one", "two"} {
			d := v.dispatcher(owner, sender)
			wg.Go(func() {
				for range 100 {
					n, err := d.RunOnce(t.Context())
					if err != nil {
						t.Errorf("%s: %v", owner, err)
						return
					}
					if n == 0 {
						return
					}
				}
			})
		}
		wg.Wait()
		for _, id := range queued {
			if n := sender.count(id); n != 1 {
				t.Errorf("message %s sent %d times, want once", id, n)
			}
			if got := v.delivery(t, id); got.Delivery != inbox.DeliverySent {
				t.Errorf("message %s is %s, want sent", id, got.Delivery)
			}
		}
		if n := depth(t, v.s); n != 0 {
			t.Errorf("outbox depth %d, want 0", n)
		}
	})

	t.Run("a reply on a channel the customer cannot be reached on is refused", func(t *testing.T) {
		v := newService(t, open)
		r := v.ingest(t, fromEmail("<1@x>", "sari@example.id", "halo"))
		_, err := v.x.Reply(t.Context(), inbox.ReplyRequest{ConversationID: r.Conversation.ID, Channel: inbox.ChannelTelegram, Text: "x"})
		if !errors.Is(err, inbox.ErrNoChannel) {
			t.Errorf("err = %v, want inbox.ErrNoChannel", err)
		}
		if n := depth(t, v.s); n != 0 {
			t.Errorf("outbox depth %d, want 0", n)
		}
	})
}

func runChannelEvents(t *testing.T, open func(t *testing.T) inbox.Store) {
	t.Run("a channel event reported twice is stored once", func(t *testing.T) {
		v := newService(t, open)
		r := v.ingest(t, inbox.Inbound{Channel: inbox.ChannelVoice, ExternalID: "call-1", Text: "Panggilan masuk",
			From: []inbox.Identity{{Kind: inbox.KindPhone, Value: "+6281234567890"}}})
		e := inbox.Event{Kind: "call_ended", Data: map[string]string{"text": "Call ended after 2:13"}}
		first, dup, err := v.x.AddChannelEvent(t.Context(), r.Conversation.ID, inbox.ChannelVoice, "call-1:ended", e)
		must(t, err, "event")
		if dup {
			t.Errorf("first report marked as a duplicate")
		}
		again, dup, err := v.x.AddChannelEvent(t.Context(), r.Conversation.ID, inbox.ChannelVoice, "call-1:ended", e)
		must(t, err, "event again")
		if !dup || again.ID != first.ID {
			t.Errorf("second report: duplicate %v, id %s; want true and %s", dup, again.ID, first.ID)
		}
		if n := len(events(v.timeline(t, r.Conversation.ID))); n != 1 {
			t.Errorf("%d events in the timeline, want 1", n)
		}
	})

	t.Run("a reply or note sent twice with one message id is stored and queued once", func(t *testing.T) {
		v := newService(t, open)
		r := v.ingest(t, fromEmail("<1@x>", "sari@example.id", "halo"))
		other := v.ingest(t, fromEmail("<2@x>", "budi@example.id", "halo juga"))
		id := inbox.NewID()
		req := inbox.ReplyRequest{ConversationID: r.Conversation.ID, MessageID: id, AgentID: "agent-1", Text: "siap kak"}
		first, err := v.x.Reply(t.Context(), req)
		must(t, err, "reply")
		again, err := v.x.Reply(t.Context(), req)
		must(t, err, "the same reply again")
		if first.ID != id || again.ID != id {
			t.Fatalf("ids %s and %s; want both %s", first.ID, again.ID, id)
		}
		if n := depth(t, v.s); n != 1 {
			t.Errorf("outbox holds %d jobs after one reply sent twice; want 1", n)
		}
		noteID := inbox.NewID()
		note := inbox.NoteRequest{ConversationID: r.Conversation.ID, MessageID: noteID, AgentID: "agent-1", Text: "@dewi cek ya"}
		_, err = v.x.Note(t.Context(), note)
		must(t, err, "note")
		_, err = v.x.Note(t.Context(), note)
		must(t, err, "the same note again")
		notes := 0
		for _, m := range v.timeline(t, r.Conversation.ID) {
			if m.Direction == inbox.DirectionNote {
				notes++
			}
		}
		if notes != 1 {
			t.Errorf("%d notes after one note sent twice; want 1", notes)
		}
		for name, bad := range map[string]inbox.ReplyRequest{
			"another conversation's message": {ConversationID: other.Conversation.ID, MessageID: id, AgentID: "agent-1", Text: "x"},
			"another agent's message":        {ConversationID: r.Conversation.ID, MessageID: id, AgentID: "agent-2", Text: "x"},
			"a note's id for a reply":        {ConversationID: r.Conversation.ID, MessageID: noteID, AgentID: "agent-1", Text: "x"},
		} {
			if _, err := v.x.Reply(t.Context(), bad); !errors.Is(err, inbox.ErrConflict) {
				t.Errorf("%s: %v; want a conflict", name, err)
			}
		}
		if _, err := v.x.Reply(t.Context(), inbox.ReplyRequest{ConversationID: r.Conversation.ID, MessageID: "../../etc", AgentID: "agent-1", Text: "x"}); !errors.Is(err, inbox.ErrInvalid) {
			t.Errorf("a malformed id: %v; want invalid", err)
		}
	})

	t.Run("a subject goes out only on email: a WhatsApp reply drops the email thread's subject", func(t *testing.T) {
		v := newService(t, open)
		v.ingest(t, fromEmail("<1@x>", "sari@example.id", "halo"))
		r := v.ingest(t, inbox.Inbound{Channel: inbox.ChannelWhatsApp, ExternalID: "wamid.1",
			From: []inbox.Identity{{Kind: inbox.KindWhatsApp, Value: "+6281234567890"}, {Kind: inbox.KindEmail, Value: "sari@example.id"}}, Text: "ini Sari"})
		for _, tc := range []struct {
			ch   inbox.Channel
			want string
		}{{inbox.ChannelWhatsApp, ""}, {inbox.ChannelEmail, "Re: Pesanan"}} {
			m, err := v.x.Reply(t.Context(), inbox.ReplyRequest{ConversationID: r.Conversation.ID, Channel: tc.ch,
				Subject: "Re: Pesanan", Text: "siap kak", AgentID: "agent-1"})
			must(t, err, "reply on "+string(tc.ch))
			if m.Subject != tc.want {
				t.Errorf("reply on %s has subject %q, want %q", tc.ch, m.Subject, tc.want)
			}
		}
	})

	t.Run("delivery receipts move a sent reply forward and never back", func(t *testing.T) {
		v := newService(t, open)
		r := v.ingest(t, fromEmail("<1@x>", "sari@example.id", "halo"))
		m := v.reply(t, r.Conversation.ID, "balasan")
		v.runOnce(t, v.dispatcher("one", newCountingSender(nil)), 1)
		ext := "ext-" + m.ID
		for _, st := range []struct {
			state, want inbox.Delivery
		}{
			{inbox.DeliveryRead, inbox.DeliveryRead},
			{inbox.DeliveryDelivered, inbox.DeliveryRead},
			{inbox.DeliveryFailed, inbox.DeliveryRead},
		} {
			must(t, v.x.RecordDelivery(t.Context(), inbox.ChannelEmail, ext, inbox.DeliveryUpdate{State: st.state}), "receipt "+string(st.state))
			if got := v.delivery(t, m.ID); got.Delivery != st.want {
				t.Errorf("after a %s receipt: %s, want %s", st.state, got.Delivery, st.want)
			}
		}
		err := v.x.RecordDelivery(t.Context(), inbox.ChannelEmail, "ext-unknown", inbox.DeliveryUpdate{State: inbox.DeliveryRead})
		notFound(t, err, "a receipt for an unknown message")
	})
}

// failingActivity is the real store recording an inbound message in two steps, as the MongoDB
// store does, with one fault injected: the first delivery's second step (its activity) fails,
// as a timeout or a crash between the two would.
type failingActivity struct {
	inbox.Store
	mu     sync.Mutex
	failed bool
}

func (f *failingActivity) InsertInbound(ctx context.Context, m inbox.Message, p inbox.ConversationPatch) (inbox.Message, inbox.Conversation, bool, error) {
	f.mu.Lock()
	fail := !f.failed
	f.failed = true
	f.mu.Unlock()
	if !fail {
		return f.Store.InsertInbound(ctx, m, p)
	}
	if _, _, err := f.Store.InsertMessage(ctx, m); err != nil {
		return inbox.Message{}, inbox.Conversation{}, false, err
	}
	return inbox.Message{}, inbox.Conversation{}, false, errors.New("injected: connection lost")
}

func runRetries(t *testing.T, open func(t *testing.T) inbox.Store) {
	t.Run("a retried delivery completes the activity that a failed attempt left out", func(t *testing.T) {
		// Ingest stores the message, then records the activity in a second step. When that
		// step fails the caller retries; the retry finds the message stored and must finish the
		// job, or the conversation would never show the message.
		s := &failingActivity{Store: open(t)}
		clock := NewClock(Base())
		x := inbox.New(s, bus.NewLocal(discardLog(), 0), inbox.NewNormalizer("ID"), clock.Now, discardLog())
		in := fromEmail("<1@x>", "sari@example.id", "halo, ada stok?")
		if _, err := x.Ingest(t.Context(), in); err == nil {
			t.Fatalf("the injected fault did not surface")
		}
		r, err := x.Ingest(t.Context(), in)
		must(t, err, "retry")
		conv, err := s.ConversationByID(t.Context(), r.Message.ConversationID)
		must(t, err, "conversation")
		if conv.Unread != 1 || conv.Preview != "halo, ada stok?" || !conv.LastMessageAt.Equal(r.Message.CreatedAt) {
			t.Errorf("after the retry the conversation shows unread %d, preview %q, last %v; want 1, the message, %v",
				conv.Unread, conv.Preview, conv.LastMessageAt, r.Message.CreatedAt)
		}
	})
}

// pausingActivity is the real store made to record an inbound message in two steps, as the
// MongoDB store does (insert, then activity), with the first delivery held between them until
// release is closed: a duplicate delivery can then run while the first is half done.
type pausingActivity struct {
	inbox.Store
	once             sync.Once
	entered, release chan struct{}
}

func (p *pausingActivity) InsertInbound(ctx context.Context, m inbox.Message, patch inbox.ConversationPatch) (inbox.Message, inbox.Conversation, bool, error) {
	first := false
	p.once.Do(func() { first = true })
	if !first {
		return p.Store.InsertInbound(ctx, m, patch)
	}
	stored, dup, err := p.Store.InsertMessage(ctx, m)
	if err != nil || dup {
		return stored, inbox.Conversation{}, dup, err
	}
	close(p.entered)
	<-p.release
	_, after, err := p.Store.UpdateConversation(ctx, m.ConversationID, patch)
	if errors.Is(err, inbox.ErrConflict) {
		// The duplicate finished the job meanwhile (the contract of InsertInbound).
		after, err = p.Store.ConversationByID(ctx, m.ConversationID)
		return stored, after, true, err
	}
	return stored, after, false, err
}

// runRacingDuplicates checks that a duplicate delivery arriving while the first is still
// between its two steps (message stored, activity not yet recorded) does not count the message
// twice: the store applies an activity once per message id.
func runRacingDuplicates(t *testing.T, open func(t *testing.T) inbox.Store) {
	t.Run("a duplicate delivered while the first is between its steps does not count the message twice", func(t *testing.T) {
		p := &pausingActivity{Store: open(t), entered: make(chan struct{}), release: make(chan struct{})}
		clock := NewClock(Base())
		x := inbox.New(p, bus.NewLocal(discardLog(), 0), inbox.NewNormalizer("ID"), clock.Now, discardLog())
		in := fromEmail("<1@x>", "sari@example.id", "halo")
		first := make(chan error, 1)
		go func() {
			_, err := x.Ingest(context.WithoutCancel(t.Context()), in)
			first <- err
		}()
		<-p.entered
		dup, err := x.Ingest(t.Context(), in)
		must(t, err, "duplicate delivery")
		close(p.release)
		must(t, <-first, "first delivery")
		conv, err := p.ConversationByID(t.Context(), dup.Message.ConversationID)
		must(t, err, "conversation")
		if conv.Unread != 1 {
			t.Errorf("unread = %d after one message delivered twice, want 1", conv.Unread)
		}
	})
}
