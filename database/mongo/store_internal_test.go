package mongo

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/serambi/serambi/agents"
	"github.com/serambi/serambi/bus"
	"github.com/serambi/serambi/database/mongo/mongotest"
	"github.com/serambi/serambi/inbox"
)

// These tests pin down what is particular to the MongoDB store: indexes, duplicate keys as
// FerretDB reports them, and the crash paths of the writes that replace transactions. The
// behaviour every store shares is checked by database/storetest (store_test.go).

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func open(t *testing.T, uri string) *Store {
	t.Helper()
	s, err := Open(t.Context(), uri, discard())
	if err != nil {
		t.Fatalf("open %s: %v", uri, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.Close(ctx); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return s
}

func must(t *testing.T, err error, what string) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

var base = time.Date(2026, 3, 2, 9, 30, 0, 0, time.UTC)

func TestOpenNamesTheDatabaseFromTheURI(t *testing.T) {
	uri := mongotest.Start(t)
	u, err := url.Parse(uri)
	must(t, err, "parse")
	cases := []struct {
		name, path, want string
	}{
		{"the URI's database", u.Path, strings.TrimPrefix(u.Path, "/")},
		{"no database in the URI", "/", DefaultDatabase},
		{"no path at all", "", DefaultDatabase},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v := *u
			v.Path = tc.path
			s := open(t, v.String())
			if s.db.Name() != tc.want {
				t.Errorf("database %q, want %q", s.db.Name(), tc.want)
			}
			if s.serial == nil {
				t.Errorf("FerretDB was not recognised: its updates would not be serialised")
			}
		})
	}
}

func TestOpenRefusesABadURIWithoutQuotingIt(t *testing.T) {
	for _, uri := range []string{"", "http://example.id", "mongodb://admin:s3cret@host:notaport/db"} {
		_, err := Open(t.Context(), uri, discard())
		if !errors.Is(err, inbox.ErrInvalid) {
			t.Errorf("Open(%q) err = %v, want inbox.ErrInvalid", uri, err)
		}
		if err != nil && strings.Contains(err.Error(), "s3cret") {
			t.Errorf("the error quotes the password: %v", err)
		}
	}
}

func TestIndexesAreEnsuredIdempotently(t *testing.T) {
	uri := mongotest.Start(t)
	s := open(t, uri)
	// A second instance starting on the same database, and a third run on the first.
	open(t, uri)
	must(t, s.ensureIndexes(t.Context()), "ensure again")

	type spec struct {
		Key    bson.D `bson:"key"`
		Unique bool   `bson:"unique"`
	}
	for _, want := range indexes {
		cur, err := s.db.Collection(want.coll).Indexes().List(t.Context())
		must(t, err, "list indexes of "+want.coll)
		var got []spec
		must(t, cur.All(t.Context(), &got), "decode indexes")
		n := 0
		for _, g := range got {
			if fmt.Sprint(g.Key) == fmt.Sprint(want.keys) {
				n++
				if g.Unique != want.unique {
					t.Errorf("%s %v unique = %v, want %v", want.coll, want.keys, g.Unique, want.unique)
				}
			}
		}
		if n != 1 {
			t.Errorf("%s has %d indexes on %v, want 1", want.coll, n, want.keys)
		}
	}
}

func TestIsDuplicateKey(t *testing.T) {
	cases := []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"an insert's write error 11000", mongo.WriteException{WriteErrors: []mongo.WriteError{{Code: 11000, Message: "E11000 duplicate key error"}}}, true},
		{"a command error 11000", mongo.CommandError{Code: 11000, Message: "E11000 duplicate key error collection: x"}, true},
		{"FerretDB's update breaking a unique index", mongo.CommandError{Code: 1, Name: "InternalError",
			Message: "[msg_update.go:133 handler.(*Handler).updateDocument] constraint failed: UNIQUE constraint failed: index 'x_k_1' (2067)"}, true},
		{"wrapped", fmt.Errorf("insert: %w", mongo.WriteException{WriteErrors: []mongo.WriteError{{Code: 11000}}}), true},
		{"another server error", mongo.CommandError{Code: 2, Message: "BadValue"}, false},
		{"a network error", errors.New("connection reset"), false},
	}
	for _, tc := range cases {
		if got := isDuplicateKey(tc.err); got != tc.want {
			t.Errorf("%s: isDuplicateKey = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// FerretDB reports a unique index broken by an update as InternalError, not 11000: the store
// must still answer ErrConflict rather than a server error.
func TestAnUpdateBreakingAUniqueKeyIsAConflict(t *testing.T) {
	s := open(t, mongotest.Start(t))
	ctx := t.Context()

	t.Run("a delivery receipt naming another message's external id", func(t *testing.T) {
		for _, id := range []string{"m1", "m2"} {
			_, _, err := s.InsertMessage(ctx, inbox.Message{ID: id, ConversationID: "c", CustomerID: "x", Direction: inbox.DirectionOut,
				Channel: inbox.ChannelTelegram, Delivery: inbox.DeliveryQueued, CreatedAt: base})
			must(t, err, "insert "+id)
		}
		_, err := s.UpdateDelivery(ctx, "m1", inbox.DeliveryUpdate{State: inbox.DeliverySent, ExternalID: "tg-1", At: base})
		must(t, err, "first sent")
		_, err = s.UpdateDelivery(ctx, "m2", inbox.DeliveryUpdate{State: inbox.DeliverySent, ExternalID: "tg-1", At: base})
		if !errors.Is(err, inbox.ErrConflict) {
			t.Errorf("err = %v, want inbox.ErrConflict", err)
		}
		m, err := s.MessageByExternalID(ctx, inbox.ChannelTelegram, "tg-1")
		must(t, err, "by external id")
		if m.ID != "m1" {
			t.Errorf("tg-1 is %s, want m1", m.ID)
		}
	})

	t.Run("an agent taking another agent's email", func(t *testing.T) {
		a := agents.Agent{ID: "a", Email: "a@example.id", Name: "A", Role: agents.RoleAgent, CreatedAt: base}
		b := agents.Agent{ID: "b", Email: "b@example.id", Name: "B", Role: agents.RoleAgent, CreatedAt: base}
		must(t, s.CreateAgent(ctx, a), "create a")
		must(t, s.CreateAgent(ctx, b), "create b")
		b.Email = a.Email
		if err := s.UpdateAgent(ctx, b); !errors.Is(err, inbox.ErrConflict) {
			t.Errorf("err = %v, want inbox.ErrConflict", err)
		}
		got, err := s.AgentByEmail(ctx, "a@example.id")
		must(t, err, "by email")
		if got.ID != "a" {
			t.Errorf("a@example.id is agent %s, want a", got.ID)
		}
	})
}

func outbound(id string) (inbox.Message, inbox.OutboxJob) {
	m := inbox.Message{ID: id, ConversationID: "conv", CustomerID: "cust", Direction: inbox.DirectionOut,
		Channel: inbox.ChannelEmail, Text: "Pesanan Anda sudah dikirim", AuthorID: "agent-1", CreatedAt: base}
	return m, inbox.OutboxJob{ID: id, MessageID: id, Channel: inbox.ChannelEmail, NextAttemptAt: base, CreatedAt: base}
}

func TestEnqueueOutboundSurvivesACrashBetweenJobAndMessage(t *testing.T) {
	s := open(t, mongotest.Start(t))
	ctx := t.Context()
	m, job := outbound("reply-1")
	// The first of EnqueueOutbound's two writes, as a crash would leave it.
	m.Delivery = inbox.DeliveryQueued
	md := toMessageDoc(m)
	_, err := s.outbox.InsertOne(ctx, jobDoc{ID: job.ID, MessageID: m.ID, Channel: string(job.Channel),
		NextAttemptAt: job.NextAttemptAt, CreatedAt: job.CreatedAt, Message: &md})
	must(t, err, "insert the job alone")
	if _, err := s.MessageByID(ctx, m.ID); !errors.Is(err, inbox.ErrNotFound) {
		t.Fatalf("the message exists before the claim: %v", err)
	}

	jobs, err := s.ClaimOutbox(ctx, "a", base, time.Minute, 10)
	must(t, err, "claim")
	if len(jobs) != 1 || jobs[0].MessageID != m.ID {
		t.Fatalf("claimed %+v, want the job", jobs)
	}
	got, err := s.MessageByID(ctx, m.ID)
	must(t, err, "the message after the claim")
	if got.Delivery != inbox.DeliveryQueued || got.Text != m.Text || got.ConversationID != m.ConversationID {
		t.Errorf("restored message = %+v, want the queued copy", got)
	}
}

func TestEnqueueOutboundRetriedStoresOnce(t *testing.T) {
	s := open(t, mongotest.Start(t))
	ctx := t.Context()
	m, job := outbound("reply-1")
	must(t, s.EnqueueOutbound(ctx, m, job, nil), "enqueue")
	must(t, s.EnqueueOutbound(ctx, m, job, nil), "enqueue again")
	n, err := s.OutboxDepth(ctx)
	must(t, err, "depth")
	if n != 1 {
		t.Errorf("depth = %d, want 1", n)
	}
	msgs, err := s.ListMessages(ctx, "conv", inbox.Cursor{}, 10)
	must(t, err, "list")
	if len(msgs) != 1 || msgs[0].Delivery != inbox.DeliveryQueued {
		t.Errorf("messages = %+v, want one queued", msgs)
	}
}

// TestDispatcherSendsAReplyWhoseEnqueueWasCutShort runs the real dispatcher: without the restore
// in ClaimOutbox it would find no message and drop the job.
func TestDispatcherSendsAReplyWhoseEnqueueWasCutShort(t *testing.T) {
	s := open(t, mongotest.Start(t))
	ctx := t.Context()
	c := inbox.Customer{ID: "cust", Name: "Siti", CreatedAt: base, UpdatedAt: base,
		Identities: []inbox.Identity{{Kind: inbox.KindEmail, Value: "siti@example.id", Verified: true, AddedAt: base}}}
	must(t, s.CreateCustomer(ctx, c), "customer")
	_, err := s.EnsureConversation(ctx, inbox.Conversation{ID: "conv", CustomerID: "cust", Status: inbox.StatusOpen, CreatedAt: base, UpdatedAt: base})
	must(t, err, "conversation")
	m, job := outbound("reply-1")
	m.Delivery = inbox.DeliveryQueued
	md := toMessageDoc(m)
	_, err = s.outbox.InsertOne(ctx, jobDoc{ID: job.ID, MessageID: m.ID, Channel: string(job.Channel),
		NextAttemptAt: job.NextAttemptAt, CreatedAt: job.CreatedAt, Message: &md})
	must(t, err, "insert the job alone")

	sender := &recordingSender{}
	d := inbox.NewDispatcher(s, map[inbox.Channel]inbox.Sender{inbox.ChannelEmail: sender}, bus.NewLocal(discard(), 0),
		inbox.DispatcherConfig{Owner: "a"}, func() time.Time { return base }, discard())
	n, err := d.RunOnce(ctx)
	must(t, err, "dispatch")
	if n != 1 || len(sender.sent) != 1 || sender.sent[0] != m.ID {
		t.Fatalf("handled %d, sent %v, want the reply once", n, sender.sent)
	}
	got, err := s.MessageByID(ctx, m.ID)
	must(t, err, "message")
	if got.Delivery != inbox.DeliverySent {
		t.Errorf("delivery %q, want sent", got.Delivery)
	}
	if depth, _ := s.OutboxDepth(ctx); depth != 0 {
		t.Errorf("depth = %d, want 0", depth)
	}
}

type recordingSender struct {
	mu   sync.Mutex
	sent []string
}

func (r *recordingSender) Send(_ context.Context, out inbox.Outbound) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sent = append(r.sent, out.Message.ID)
	return "<" + out.Message.ID + "@serambi>", nil
}

// mergeWorld is two customers, each with a conversation of two inbound messages, about to merge.
type mergeWorld struct {
	s              *Store
	survivor, lose inbox.Customer
	sc, lc         inbox.Conversation
	messages       []string
}

func newMergeWorld(t *testing.T) mergeWorld {
	s := open(t, mongotest.Start(t))
	ctx := t.Context()
	w := mergeWorld{s: s}
	w.survivor = inbox.Customer{ID: "surv", Name: "Siti", CreatedAt: base, UpdatedAt: base,
		Identities: []inbox.Identity{{Kind: inbox.KindEmail, Value: "siti@example.id", Verified: true, AddedAt: base}}}
	w.lose = inbox.Customer{ID: "lose", Name: "Siti (widget)", CreatedAt: base, UpdatedAt: base,
		Identities: []inbox.Identity{{Kind: inbox.KindWidget, Value: "visitor-1", Verified: true, AddedAt: base},
			{Kind: inbox.KindPhone, Value: "+6281234567890", Verified: false, AddedAt: base}}}
	for _, c := range []inbox.Customer{w.survivor, w.lose} {
		must(t, s.CreateCustomer(ctx, c), "customer "+c.ID)
	}
	var err error
	w.sc, err = s.EnsureConversation(ctx, inbox.Conversation{ID: "sc", CustomerID: "surv", Status: inbox.StatusOpen, CreatedAt: base, UpdatedAt: base})
	must(t, err, "survivor conversation")
	w.lc, err = s.EnsureConversation(ctx, inbox.Conversation{ID: "lc", CustomerID: "lose", Status: inbox.StatusOpen, CreatedAt: base, UpdatedAt: base})
	must(t, err, "loser conversation")
	for i, conv := range []inbox.Conversation{w.sc, w.lc, w.sc, w.lc} {
		at := base.Add(time.Duration(i+1) * time.Second)
		id := fmt.Sprint("m", i+1)
		_, _, err := s.InsertMessage(ctx, inbox.Message{ID: id, ConversationID: conv.ID, CustomerID: conv.CustomerID,
			Direction: inbox.DirectionIn, Channel: inbox.ChannelWidget, Text: id, CreatedAt: at})
		must(t, err, "message")
		_, _, err = s.UpdateConversation(ctx, conv.ID, inbox.ConversationPatch{
			Activity: &inbox.Activity{At: at, Channel: inbox.ChannelWidget, Preview: id, Inbound: true}, UpdatedAt: at})
		must(t, err, "activity")
		w.messages = append([]string{id}, w.messages...)
	}
	must(t, s.AddSuggestion(ctx, inbox.MergeSuggestion{CustomerID: "other", OtherID: "lose",
		Reason: inbox.Identity{Kind: inbox.KindPhone, Value: "+6281234567890"}, At: base}), "suggestion")
	return w
}

// check asserts the finished merge.
func (w mergeWorld) check(t *testing.T) {
	t.Helper()
	ctx := t.Context()
	s := w.s
	owner, err := s.CustomerIDByIdentity(ctx, inbox.KindWidget, "visitor-1")
	must(t, err, "owner of the loser's widget id")
	if owner != "surv" {
		t.Errorf("widget:visitor-1 owned by %s, want surv", owner)
	}
	surv, err := s.CustomerByID(ctx, "surv")
	must(t, err, "survivor")
	var keys []string
	for _, id := range surv.Identities {
		keys = append(keys, id.Key())
	}
	slices.Sort(keys)
	if want := []string{"email:siti@example.id", "phone:+6281234567890", "widget:visitor-1"}; !slices.Equal(keys, want) {
		t.Errorf("survivor identities %v, want %v", keys, want)
	}
	loser, err := s.CustomerByID(ctx, "lose")
	must(t, err, "loser")
	if loser.MergedInto != "surv" || len(loser.Identities) != 0 {
		t.Errorf("loser mergedInto %q with %d identities, want surv with none", loser.MergedInto, len(loser.Identities))
	}
	if _, err := s.ConversationByID(ctx, "lc"); !errors.Is(err, inbox.ErrNotFound) {
		t.Errorf("the loser's conversation: err = %v, want not found", err)
	}
	conv, err := s.ConversationByCustomer(ctx, "surv")
	must(t, err, "survivor conversation")
	if conv.ID != "sc" || conv.Unread != 4 || conv.Preview != "m4" || !conv.LastMessageAt.Equal(base.Add(4*time.Second)) {
		t.Errorf("survivor conversation %s unread %d preview %q last %v, want sc 4 m4 +4s", conv.ID, conv.Unread, conv.Preview, conv.LastMessageAt)
	}
	msgs, err := s.ListMessages(ctx, "sc", inbox.Cursor{}, 10)
	must(t, err, "timeline")
	var got []string
	for _, m := range msgs {
		got = append(got, m.ID)
		if m.CustomerID != "surv" {
			t.Errorf("message %s names customer %s", m.ID, m.CustomerID)
		}
	}
	if !slices.Equal(got, w.messages) {
		t.Errorf("timeline %v, want %v", got, w.messages)
	}
	sugg, err := s.ListSuggestions(ctx, "other")
	must(t, err, "suggestions")
	if len(sugg) != 1 || sugg[0].OtherID != "surv" {
		t.Errorf("suggestions of other = %+v, want one about surv", sugg)
	}
}

// TestMergeFinishesAfterACrash stops a merge after each of its steps, as a crash would, and
// checks that calling MergeCustomers again completes it without counting anything twice.
func TestMergeFinishesAfterACrash(t *testing.T) {
	cases := []struct {
		name    string
		partial func(t *testing.T, w mergeWorld)
	}{
		{"nothing done yet", func(*testing.T, mergeWorld) {}},
		{"after marking the loser", func(t *testing.T, w mergeWorld) {
			must(t, w.s.markMerged(t.Context(), "surv", "lose", base), "mark")
		}},
		{"after copying identities, before moving the claims", func(t *testing.T, w mergeWorld) {
			ctx := t.Context()
			must(t, w.s.markMerged(ctx, "surv", "lose", base), "mark")
			l, err := w.s.customerDoc(ctx, "lose")
			must(t, err, "loser")
			must(t, w.s.changeIdentities(ctx, "surv", func(ids []identityDoc) ([]identityDoc, bool) {
				for _, id := range l.Identities {
					ids, _ = addIdentity(ids, id)
				}
				return ids, true
			}), "copy identities")
		}},
		{"after folding the conversation, before deleting the loser's", func(t *testing.T, w mergeWorld) {
			ctx := t.Context()
			lc, err := w.s.conversationDoc(ctx, bson.D{{Key: "_id", Value: "lc"}})
			must(t, err, "loser conversation")
			must(t, w.s.MergeCustomers(ctx, "surv", "lose", base), "merge")
			// Put the deleted conversation back: the state a crash before the delete leaves.
			_, err = w.s.conversations.InsertOne(ctx, lc)
			must(t, err, "restore the loser's conversation")
		}},
		{"completed once already", func(t *testing.T, w mergeWorld) {
			must(t, w.s.MergeCustomers(t.Context(), "surv", "lose", base), "merge")
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := newMergeWorld(t)
			tc.partial(t, w)
			must(t, w.s.MergeCustomers(t.Context(), "surv", "lose", base.Add(time.Hour)), "merge")
			w.check(t)
		})
	}
}

func TestMergeRefusesAThirdParty(t *testing.T) {
	w := newMergeWorld(t)
	ctx := t.Context()
	must(t, w.s.CreateCustomer(ctx, inbox.Customer{ID: "third", CreatedAt: base, UpdatedAt: base}), "third")
	must(t, w.s.MergeCustomers(ctx, "surv", "lose", base), "merge")
	if err := w.s.MergeCustomers(ctx, "third", "lose", base); !errors.Is(err, inbox.ErrConflict) {
		t.Errorf("merging a merged-away customer into a third: err = %v, want inbox.ErrConflict", err)
	}
	if err := w.s.MergeCustomers(ctx, "lose", "third", base); !errors.Is(err, inbox.ErrConflict) {
		t.Errorf("merging into a merged-away customer: err = %v, want inbox.ErrConflict", err)
	}
	if err := w.s.MergeCustomers(ctx, "surv", "surv", base); !errors.Is(err, inbox.ErrInvalid) {
		t.Errorf("merging a customer into itself: err = %v, want inbox.ErrInvalid", err)
	}
}

// A customer still claiming its identities (or left so by a crash) is no merge suggestion.
func TestAPendingCustomerIsNotAHolder(t *testing.T) {
	s := open(t, mongotest.Start(t))
	ctx := t.Context()
	must(t, s.CreateCustomer(ctx, inbox.Customer{ID: "done", CreatedAt: base, UpdatedAt: base,
		Identities: []inbox.Identity{{Kind: inbox.KindEmail, Value: "x@example.id", AddedAt: base}}}), "create")
	_, err := s.customers.InsertOne(ctx, customerDoc{ID: "pending", Pending: true, CreatedAt: base, UpdatedAt: base,
		Identities: []identityDoc{toIdentityDoc(inbox.Identity{Kind: inbox.KindEmail, Value: "x@example.id", AddedAt: base})}})
	must(t, err, "insert a pending customer")
	holders, err := s.CustomersWithIdentity(ctx, inbox.KindEmail, "x@example.id")
	must(t, err, "holders")
	if !slices.Equal(holders, []string{"done"}) {
		t.Errorf("holders = %v, want [done]", holders)
	}
}

func TestTimesAreStoredInWholeMilliseconds(t *testing.T) {
	s := open(t, mongotest.Start(t))
	ctx := t.Context()
	at := base.Add(1234567 * time.Nanosecond) // +1.234567ms
	want := base.Add(time.Millisecond)
	_, err := s.EnsureConversation(ctx, inbox.Conversation{ID: "c", CustomerID: "x", Status: inbox.StatusOpen, CreatedAt: at, UpdatedAt: at})
	must(t, err, "conversation")
	_, after, err := s.UpdateConversation(ctx, "c", inbox.ConversationPatch{Activity: &inbox.Activity{At: at, Preview: "p"}, UpdatedAt: at})
	must(t, err, "activity")
	stored, err := s.ConversationByID(ctx, "c")
	must(t, err, "reload")
	for name, got := range map[string]time.Time{"returned": after.LastMessageAt, "stored": stored.LastMessageAt, "created": stored.CreatedAt} {
		if !got.Equal(want) || got.Location() != time.UTC {
			t.Errorf("%s time %v, want %v in UTC", name, got, want)
		}
	}
	m, _, err := s.InsertMessage(ctx, inbox.Message{ID: "m", ConversationID: "c", CreatedAt: at.In(time.FixedZone("WIB", 7*3600))})
	must(t, err, "message")
	if !m.CreatedAt.Equal(want) {
		t.Errorf("returned CreatedAt %v, want %v", m.CreatedAt, want)
	}
	// A cursor built from a returned message excludes exactly that message.
	page, err := s.ListMessages(ctx, "c", inbox.Cursor{At: m.CreatedAt, ID: m.ID}, 10)
	must(t, err, "page after m")
	if len(page) != 0 {
		t.Errorf("the page after m holds %d messages", len(page))
	}
}

func TestMapsKeepAnyKey(t *testing.T) {
	s := open(t, mongotest.Start(t))
	meta := map[string]string{"$where": "1", "a.b": "2", "": "3", "X-Mailer": "4"}
	m, _, err := s.InsertMessage(t.Context(), inbox.Message{ID: "m", ConversationID: "c", Meta: meta, CreatedAt: base,
		Event: &inbox.Event{Kind: inbox.EventTagged, Data: map[string]string{"$set": "x"}}})
	must(t, err, "insert")
	got, err := s.MessageByID(t.Context(), m.ID)
	must(t, err, "load")
	if fmt.Sprint(got.Meta) != fmt.Sprint(meta) || got.Event.Data["$set"] != "x" {
		t.Errorf("meta %v data %v, want %v and $set=x", got.Meta, got.Event.Data, meta)
	}
}

func TestConcurrentPutsOfOneBlobKeepOneCopy(t *testing.T) {
	s := open(t, mongotest.Start(t))
	data := make([]byte, spoolInMemory+12345) // spools to a temporary file
	_, _ = rand.Read(data)
	const n = 6
	shas := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			sha, size, err := s.Blobs().Put(t.Context(), bytes.NewReader(data), int64(len(data)))
			if err != nil || size != int64(len(data)) {
				t.Errorf("put: %d bytes, %v", size, err)
			}
			shas[i] = sha
		})
	}
	wg.Wait()
	for _, sha := range shas[1:] {
		if sha != shas[0] {
			t.Fatalf("puts of one content gave %v", shas)
		}
	}
	copies, err := s.db.Collection(blobBucket+".files").CountDocuments(t.Context(), bson.D{{Key: "filename", Value: shas[0]}})
	must(t, err, "count")
	if copies != 1 {
		t.Errorf("%d copies stored, want 1", copies)
	}
	rc, err := s.Blobs().Open(t.Context(), shas[0])
	must(t, err, "open")
	defer rc.Close()
	got, err := io.ReadAll(rc)
	must(t, err, "read")
	if !bytes.Equal(got, data) {
		t.Errorf("read back %d bytes that differ", len(got))
	}
}

// The suite has no canned responses yet; these are the rules agents.CannedStore states.
func TestCannedResponses(t *testing.T) {
	s := open(t, mongotest.Start(t))
	ctx := t.Context()
	thanks := agents.CannedResponse{ID: "c1", Shortcut: "thanks", Title: "Thanks", Text: "Terima kasih, {{customer.name}}!", CreatedBy: "a", CreatedAt: base, UpdatedAt: base}
	ship := agents.CannedResponse{ID: "c2", Shortcut: "shipping", Title: "Shipping", Text: "Dikirim besok.", CreatedBy: "a", CreatedAt: base, UpdatedAt: base}
	must(t, s.CreateCanned(ctx, thanks), "create thanks")
	must(t, s.CreateCanned(ctx, ship), "create shipping")
	if err := s.CreateCanned(ctx, agents.CannedResponse{ID: "c3", Shortcut: "thanks", CreatedAt: base}); !errors.Is(err, inbox.ErrConflict) {
		t.Errorf("a second /thanks: err = %v, want inbox.ErrConflict", err)
	}
	taken := ship
	taken.Shortcut = "thanks"
	if err := s.UpdateCanned(ctx, taken); !errors.Is(err, inbox.ErrConflict) {
		t.Errorf("renaming /shipping to a taken shortcut: err = %v, want inbox.ErrConflict", err)
	}
	ship.Text, ship.UpdatedAt = "Dikirim hari ini.", base.Add(time.Minute)
	must(t, s.UpdateCanned(ctx, ship), "update")
	list, err := s.ListCanned(ctx)
	must(t, err, "list")
	if len(list) != 2 || list[0].Shortcut != "shipping" || list[0].Text != "Dikirim hari ini." || !list[0].UpdatedAt.Equal(ship.UpdatedAt) || list[1].ID != "c1" {
		t.Errorf("listed %+v, want shipping (updated) then thanks", list)
	}
	if err := s.UpdateCanned(ctx, agents.CannedResponse{ID: "nope", Shortcut: "nope"}); !errors.Is(err, inbox.ErrNotFound) {
		t.Errorf("updating an absent response: err = %v, want inbox.ErrNotFound", err)
	}
	must(t, s.DeleteCanned(ctx, "c1"), "delete")
	if err := s.DeleteCanned(ctx, "c1"); !errors.Is(err, inbox.ErrNotFound) {
		t.Errorf("deleting it again: err = %v, want inbox.ErrNotFound", err)
	}
}
