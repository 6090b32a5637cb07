package shop

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/serambi/serambi/commerce"
	"github.com/serambi/serambi/database/mongo"
	"github.com/serambi/serambi/database/mongo/mongotest"
	"github.com/serambi/serambi/database/sqlite"
	"github.com/serambi/serambi/inbox"
)

// stores is what a test seeds: one of the two real stores.
type stores struct {
	inbox    inbox.Store
	commerce commerce.Store
}

func openSQLite(t testing.TB) stores {
	t.Helper()
	s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "serambi.db"), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("open SQLite: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close SQLite: %v", err)
		}
	})
	return stores{s, s}
}

func openMongo(t testing.TB) stores {
	t.Helper()
	s, err := mongo.Open(t.Context(), mongotest.Start(t), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("open MongoDB: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.Close(ctx); err != nil {
			t.Errorf("close MongoDB: %v", err)
		}
	})
	shop, err := s.Commerce(t.Context())
	if err != nil {
		t.Fatalf("open commerce collections: %v", err)
	}
	return stores{s, shop}
}

var testAgents = []AgentRef{{ID: "agt-admin", Name: "Admin Serambi"}, {ID: "agt-dewi", Name: "Dewi Lestari"}, {ID: "agt-rizky", Name: "Rizky Pratama"}}

func storesFor(s stores) Stores {
	return Stores{Inbox: s.inbox, Commerce: s.commerce, Region: "ID", BaseURL: "http://127.0.0.1:8080/", Agents: testAgents}
}

func TestSeed(t *testing.T) {
	for _, tc := range []struct {
		name string
		open func(testing.TB) stores
		size size
	}{
		{"sqlite", openSQLite, fullSize()},
		// FerretDB, the MongoDB stand-in, scans a collection for every query not by _id: the
		// whole world would take minutes. A smaller one takes every path of the seed.
		{"mongo", openMongo, size{customers: 50, regulars: 5, prospects: 7, orders: 150, openCarts: 4, oldCarts: 6}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			runSeed(t, tc.open(t), tc.size)
		})
	}
}

func runSeed(t *testing.T, s stores, sz size) {
	ctx := t.Context()
	now := time.Now().UTC()
	began := time.Now()
	w, err := seed(ctx, storesFor(s), now, sz)
	t.Logf("seeded %d customers, %d orders in %s", len(w.Customers), len(w.Orders), time.Since(began).Round(time.Millisecond))
	if err != nil {
		t.Fatalf("seed: %v", err)
	}
	before := snapshot(t, s, w)

	t.Run("customers have their identities", func(t *testing.T) {
		for _, c := range w.Customers {
			for _, id := range identities(c) {
				owner, err := s.inbox.CustomerIDByIdentity(ctx, id.Kind, id.Value)
				if err != nil || owner != c.ID {
					t.Errorf("%s: %s belongs to %q (%v), want %s", c.Name, id.Key(), owner, err, c.ID)
				}
			}
			got, err := s.inbox.CustomerByID(ctx, c.ID)
			if err != nil || got.Name != c.Name || got.Locale != c.Locale {
				t.Errorf("customer %s: %+v, %v", c.ID, got, err)
			}
		}
	})

	if len(w.MultiChannel()) == 0 {
		t.Fatal("no customer's conversation spans three channels")
	}
	t.Run("a multi-channel customer has one conversation across channels", func(t *testing.T) {
		c := w.TourCustomer()
		conv, err := s.inbox.ConversationByCustomer(ctx, c.ID)
		if err != nil {
			t.Fatalf("conversation of %s: %v", c.Name, err)
		}
		msgs, err := s.inbox.ListMessages(ctx, conv.ID, inbox.Cursor{}, inbox.MaxPage)
		if err != nil {
			t.Fatal(err)
		}
		var chans []inbox.Channel
		for _, m := range msgs {
			if m.ConversationID != conv.ID || m.CustomerID != c.ID {
				t.Errorf("message %s is in conversation %s of %s", m.ID, m.ConversationID, m.CustomerID)
			}
			if (m.Direction == inbox.DirectionIn || m.Direction == inbox.DirectionOut) && !slices.Contains(chans, m.Channel) {
				chans = append(chans, m.Channel)
			}
			if m.Direction == inbox.DirectionOut && !slices.ContainsFunc(testAgents, func(a AgentRef) bool { return a.ID == m.AuthorID && a.Name == m.AuthorName }) {
				t.Errorf("reply %s by %q (%s), not a demo agent", m.ID, m.AuthorID, m.AuthorName)
			}
		}
		if len(chans) < 3 || len(conv.Channels) < 3 {
			t.Errorf("%s's conversation holds messages from %v (row says %v), want three channels or more", c.Name, chans, conv.Channels)
		}
	})

	t.Run("the conversation list is lived-in", func(t *testing.T) {
		// Every status as generated (TestConversationRowsMatchTheirTimelines sees all four in the
		// full world).
		statuses := map[inbox.Status]int{}
		for _, th := range w.threads {
			statuses[th.conv.Status]++
		}
		for _, st := range []inbox.Status{inbox.StatusOpen, inbox.StatusPending, inbox.StatusSnoozed, inbox.StatusResolved} {
			n, err := s.inbox.CountConversations(ctx, inbox.ConversationFilter{Statuses: []inbox.Status{st}})
			if err != nil || n != statuses[st] {
				t.Errorf("%s conversations: %d (%v), want %d", st, n, err, statuses[st])
			}
		}
		if statuses[inbox.StatusOpen] == 0 || statuses[inbox.StatusResolved] == 0 {
			t.Errorf("statuses %v: want open and resolved conversations at least", statuses)
		}
		tagged := map[string]int{}
		for _, th := range w.threads {
			for _, tag := range th.conv.Tags {
				tagged[tag]++
			}
		}
		if tagged["pengiriman"] == 0 || tagged["vip"] == 0 {
			t.Errorf("conversations per tag %v: want pengiriman and vip among them", tagged)
		}
		for tag, want := range tagged {
			n, err := s.inbox.CountConversations(ctx, inbox.ConversationFilter{Tag: tag})
			if err != nil || n != want {
				t.Errorf("conversations tagged %s: %d (%v), want %d", tag, n, err, want)
			}
		}
		top, err := s.inbox.ListConversations(ctx, inbox.ConversationFilter{Limit: 5})
		if err != nil || len(top) != 5 || now.Sub(top[0].LastMessageAt) > 24*time.Hour {
			t.Errorf("newest conversations %+v, %v: want the newest active within the last day", top, err)
		}
	})

	t.Run("the commerce panel has data", func(t *testing.T) {
		c := w.TourCustomer()
		orders, err := s.commerce.OrdersOf(ctx, c.ID, inbox.Cursor{}, 500)
		if err != nil || len(orders) == 0 || len(orders) != len(w.OrdersOf(c)) {
			t.Errorf("orders of %s: %d (%v), want %d", c.Name, len(orders), err, len(w.OrdersOf(c)))
		}
		l, err := s.commerce.LoyaltyOf(ctx, c.ID)
		if err != nil || l.Tier != c.Tier || l.Points <= 0 {
			t.Errorf("loyalty of %s: %+v, %v; want tier %s", c.Name, l, err, c.Tier)
		}
		sums, err := s.commerce.Summaries(ctx, c.ID)
		if err != nil || len(sums) != 1 || sums[0].Currency != "IDR" || sums[0].Value <= 0 {
			t.Errorf("summaries of %s: %+v, %v", c.Name, sums, err)
		}
		var open, abandoned int
		for _, cart := range w.Carts {
			owner, _ := w.CustomerByShopID(cart.Contact.ShopCustomerID)
			cur, err := s.commerce.CurrentCart(ctx, owner.ID)
			if err != nil || cur.ID != cart.ID {
				t.Errorf("current cart of %s: %s (%v), want %s", owner.Name, cur.ID, err, cart.ID)
				continue
			}
			switch cur.Status {
			case commerce.CartOpen:
				open++
			case commerce.CartAbandoned:
				abandoned++
				if !cur.AbandonedAt.Equal(cur.ShopUpdatedAt.Add(time.Hour)) {
					t.Errorf("cart %s abandoned at %s, an hour after %s expected", cur.ID, cur.AbandonedAt, cur.ShopUpdatedAt)
				}
			}
		}
		if open != sz.openCarts || abandoned != sz.oldCarts {
			t.Errorf("carts: %d open, %d abandoned; want %d and %d", open, abandoned, sz.openCarts, sz.oldCarts)
		}
		var skus []string
		for _, p := range w.Products {
			skus = append(skus, p.SKU)
		}
		ps, err := s.commerce.Products(ctx, skus)
		if err != nil || len(ps) != len(w.Products) {
			t.Fatalf("products: %d stored (%v), want %d", len(ps), err, len(w.Products))
		}
		for _, p := range ps {
			if p.ImageURL != "http://127.0.0.1:8080"+ImagePath(p.SKU) {
				t.Errorf("%s: image %q", p.SKU, p.ImageURL)
			}
		}
		o, err := s.commerce.OrderByID(ctx, w.OrderIDs[len(w.OrderIDs)/2])
		if err != nil || o.CustomerID == "" || len(o.History) < 3 {
			t.Errorf("order %s: customer %q, history %v (%v)", o.ID, o.CustomerID, o.History, err)
		}
	})

	t.Run("nothing waits in the outbox", func(t *testing.T) {
		depth, err := s.inbox.OutboxDepth(ctx)
		if err != nil || depth != 0 {
			t.Errorf("outbox depth %d (%v), want 0", depth, err)
		}
		jobs, err := s.inbox.ClaimOutbox(ctx, "test", now.Add(time.Hour), time.Minute, 10)
		if err != nil || len(jobs) != 0 {
			t.Errorf("claimable jobs %v (%v), want none", jobs, err)
		}
	})

	t.Run("a second seed adds nothing", func(t *testing.T) {
		again, err := seed(ctx, storesFor(s), now.Add(3*time.Hour), sz)
		if err != nil {
			t.Fatalf("second seed: %v", err)
		}
		// Later, but the same world: the one the stores hold.
		if !reflect.DeepEqual(again, w) {
			t.Error("the second seed, three hours later, returned another world than the one stored")
		}
		if after := snapshot(t, s, w); after != before {
			t.Errorf("the second seed changed the stores:\nbefore %s\nafter  %s", before, after)
		}
	})

	// Last: it writes. What each connector makes of a message from this customer joins their
	// one conversation (connectors/telegram/update.go, whatsapp/inbound.go, widget/identity.go,
	// email/connector.go, voice/connector.go).
	t.Run("messages from the connectors join the seeded conversation", func(t *testing.T) {
		c := w.TourCustomer()
		conv, err := s.inbox.ConversationByCustomer(ctx, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		x := inbox.New(s.inbox, quiet{}, inbox.NewNormalizer("ID"), time.Now, slog.New(slog.DiscardHandler))
		wa := c.Phone[1:] // wa_id: the number without '+'
		from := map[inbox.Channel]inbox.Inbound{
			inbox.ChannelTelegram: {ExternalID: TelegramBotID + ":" + strconv.FormatInt(c.TelegramID, 10) + ":5000",
				From: []inbox.Identity{{Kind: inbox.KindTelegram, Value: strconv.FormatInt(c.TelegramID, 10), Verified: true}}},
			inbox.ChannelWhatsApp: {ExternalID: "wamid.test-1",
				From: []inbox.Identity{{Kind: inbox.KindWhatsApp, Value: "+" + wa, Verified: true}, {Kind: inbox.KindPhone, Value: "+" + wa, Verified: true}}},
			inbox.ChannelWidget: {ExternalID: "v:browser-of-test:cid-00001",
				From: []inbox.Identity{{Kind: inbox.KindShop, Value: c.ShopID, Verified: true}, {Kind: inbox.KindEmail, Value: c.Email, Verified: true},
					{Kind: inbox.KindWidget, Value: c.WidgetVisitor, Verified: true}, {Kind: inbox.KindWidget, Value: "v:browser-of-test"}}},
			inbox.ChannelEmail: {ExternalID: "test-1@example.com", Subject: "Halo",
				From: []inbox.Identity{{Kind: inbox.KindEmail, Value: c.Email, Verified: true}}},
			inbox.ChannelVoice: {ExternalID: "cti:test-call-1",
				From: []inbox.Identity{{Kind: inbox.KindPhone, Value: c.Phone, Verified: true}}},
		}
		if len(c.Channels) < 3 {
			t.Errorf("the tour customer uses %v", c.Channels)
		}
		for _, ch := range c.Channels {
			in := from[ch]
			in.Channel, in.Text = ch, w.Say(c, 1)
			res, err := x.Ingest(ctx, in)
			if err != nil {
				t.Errorf("%s: %v", in.Channel, err)
				continue
			}
			if res.CustomerID != c.ID || res.Conversation.ID != conv.ID || res.Duplicate {
				t.Errorf("%s message went to customer %s conversation %s (duplicate %v), want %s %s", in.Channel,
					res.CustomerID, res.Conversation.ID, res.Duplicate, c.ID, conv.ID)
			}
		}
		if sug, err := s.inbox.ListSuggestions(ctx, c.ID); err != nil || len(sug) != 0 {
			t.Errorf("merge suggestions %v (%v): the connectors' identities should all be the customer's own", sug, err)
		}
	})
}

// snapshot counts what the seed wrote, to compare two seeds.
func snapshot(t *testing.T, s stores, w World) string {
	t.Helper()
	ctx := t.Context()
	convs, err := s.inbox.CountConversations(ctx, inbox.ConversationFilter{})
	if err != nil {
		t.Fatal(err)
	}
	var msgs, orders, carts, points int
	for _, c := range w.Customers {
		if conv, err := s.inbox.ConversationByCustomer(ctx, c.ID); err == nil {
			for cur := (inbox.Cursor{}); ; {
				page, err := s.inbox.ListMessages(ctx, conv.ID, cur, inbox.MaxPage)
				if err != nil {
					t.Fatal(err)
				}
				msgs += len(page)
				if len(page) < inbox.MaxPage {
					break
				}
				cur = inbox.Cursor{At: page[len(page)-1].CreatedAt, ID: page[len(page)-1].ID}
			}
		} else if !errors.Is(err, inbox.ErrNotFound) {
			t.Fatal(err)
		}
		os, err := s.commerce.OrdersOf(ctx, c.ID, inbox.Cursor{}, 1000)
		if err != nil {
			t.Fatal(err)
		}
		orders += len(os)
		if _, err := s.commerce.CurrentCart(ctx, c.ID); err == nil {
			carts++
		}
		if l, err := s.commerce.LoyaltyOf(ctx, c.ID); err == nil {
			points += int(l.Points)
		}
	}
	depth, err := s.inbox.OutboxDepth(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("conversations=%d messages=%d orders=%d carts=%d points=%d outbox=%d", convs, msgs, orders, carts, points, depth)
}

func TestSeedCompletesAnInterruptedSeed(t *testing.T) {
	ctx := t.Context()
	now := time.Now().UTC().Truncate(time.Second)
	whole := openSQLite(t)
	w, err := Seed(ctx, storesFor(whole), now)
	if err != nil {
		t.Fatal(err)
	}
	want := snapshot(t, whole, w)
	for _, tc := range []struct {
		name string
		// recorded: the interrupted seed recorded its start; restart: when the demo starts again.
		recorded bool
		restart  time.Time
	}{
		{"died before recording its start, restarted at once", false, now},
		{"died after recording its start, restarted hours later", true, now.Add(5 * time.Hour)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cut := openSQLite(t)
			half := generate(now, "http://127.0.0.1:8080", fullSize())
			sd := seeder{st: storesFor(cut), w: &half, norm: inbox.NewNormalizer("ID"), now: now}
			if err := sd.begin(ctx, tc.recorded); err != nil {
				t.Fatal(err)
			}
			// Half the customers and their timelines stored, then the process died.
			if err := parallel(ctx, 4, len(half.Customers)/2, func() func(int) error { return sd.customer(ctx) }); err != nil {
				t.Fatal(err)
			}
			got, err := Seed(ctx, storesFor(cut), tc.restart)
			if err != nil {
				t.Fatalf("seed after an interrupted one: %v", err)
			}
			if !reflect.DeepEqual(got, w) {
				t.Error("the completed seed returned another world than a whole one")
			}
			if s := snapshot(t, cut, w); s != want {
				t.Errorf("an interrupted seed, completed, differs from a whole one:\nwhole     %s\ncompleted %s", want, s)
			}
		})
	}
}

func TestSeedRefusesIncompleteStores(t *testing.T) {
	s := openSQLite(t)
	for _, tc := range []struct {
		name string
		st   Stores
	}{
		{"no inbox store", Stores{Commerce: s.commerce, BaseURL: "http://localhost:8080"}},
		{"no commerce store", Stores{Inbox: s.inbox, BaseURL: "http://localhost:8080"}},
		{"no base URL", Stores{Inbox: s.inbox, Commerce: s.commerce}},
		{"relative base URL", Stores{Inbox: s.inbox, Commerce: s.commerce, BaseURL: "/serambi"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Seed(t.Context(), tc.st, time.Now()); err == nil {
				t.Error("seeded")
			}
			n, err := s.inbox.CountConversations(t.Context(), inbox.ConversationFilter{})
			if err != nil || n != 0 {
				t.Errorf("%d conversations stored (%v)", n, err)
			}
		})
	}
}

// BenchmarkSeed measures a whole seed into a fresh SQLite store, as `serambi demo` does on its
// first start.
func BenchmarkSeed(b *testing.B) {
	now := time.Now()
	for b.Loop() {
		b.StopTimer()
		s := openSQLite(b)
		b.StartTimer()
		if _, err := Seed(b.Context(), storesFor(s), now); err != nil {
			b.Fatal(err)
		}
	}
}
