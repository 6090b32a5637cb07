package shop

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/serambi/serambi/bus"
	"github.com/serambi/serambi/commerce"
	"github.com/serambi/serambi/inbox"
)

// Stores are where Seed writes: the real stores of a Serambi instance.
type Stores struct {
	Inbox    inbox.Store
	Blobs    inbox.Blobs // unused: the seeded history has no attachments
	Commerce commerce.Store
	// Region is the default phone region ("ID" when empty).
	Region string
	// BaseURL is Serambi's base URL; product images are BaseURL + ImagePath(sku), which the demo
	// serves from ProductImageSVG. Required.
	BaseURL string
	Log     *slog.Logger
	// Agents are the accounts the history is written by, in DemoAgents order (admin, then the
	// two agents): authors of replies and notes, and assignees. When fewer are given the history
	// wraps around them; with none it names the DemoAgents but links no account and assigns
	// nothing.
	Agents []AgentRef
	// Workers is how many writes run at once (default 8).
	Workers int
}

// AgentRef names an agent account.
type AgentRef struct{ ID, Name string }

// Seed writes the world generated for now into the stores, once. Messages are stored as
// delivered long ago: nothing is queued in the outbox, so nothing is sent.
//
// The seed records itself in the audit log of the first customer ("demo.seed", with the time it
// was generated for), when it starts and when it is done. On a store seeded before, Seed writes
// nothing and returns that same world, generated for the recorded time (so the orders, carts and
// timelines a simulation gets are the stored ones, whenever the demo restarts). A seed that was
// interrupted is completed with its recorded time: every write is idempotent.
func Seed(ctx context.Context, st Stores, now time.Time) (World, error) {
	return seed(ctx, st, now, fullSize())
}

// auditAction marks the demo seed in the first customer's audit log.
const auditAction = "demo.seed"

func seed(ctx context.Context, st Stores, now time.Time, sz size) (World, error) {
	if st.Inbox == nil || st.Commerce == nil {
		return World{}, errors.New("demo shop: Stores.Inbox and Stores.Commerce are required")
	}
	base := strings.TrimRight(st.BaseURL, "/")
	if u, err := url.Parse(base); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return World{}, fmt.Errorf("demo shop: BaseURL %q must be Serambi's absolute http(s) URL (it prefixes the product images)", st.BaseURL)
	}
	if st.Region == "" {
		st.Region = "ID"
	}
	if st.Log == nil {
		st.Log = slog.New(slog.DiscardHandler)
	}
	if st.Workers <= 0 {
		st.Workers = 8
	}
	began := time.Now()
	now = now.UTC().Truncate(time.Second)
	w := generate(now, base, sz)
	// The customers and their identities do not depend on now: the first one finds the record.
	started, done, err := earlier(ctx, st.Inbox, w.Customers[0])
	if err != nil {
		return World{}, err
	}
	if !started.IsZero() {
		now = started
		w = generate(now, base, sz)
	}
	if done {
		if err := w.adopt(ctx, st.Inbox); err != nil {
			return World{}, err
		}
		st.Log.Info("demo shop already seeded", "at", now, "customers", len(w.Customers), "orders", len(w.Orders))
		return w, nil
	}
	s := seeder{st: st, w: &w, norm: inbox.NewNormalizer(st.Region), now: now}
	if err := s.begin(ctx, started.IsZero()); err != nil {
		return World{}, err
	}
	if err := s.run(ctx); err != nil {
		return World{}, err
	}
	if err := s.mark(ctx, "done"); err != nil {
		return World{}, err
	}
	msgs := 0
	for _, th := range w.threads {
		msgs += len(th.msgs)
	}
	st.Log.Info("demo shop seeded", "products", len(w.Products), "customers", len(w.Customers), "conversations", len(w.threads),
		"messages", msgs, "orders", len(w.Orders), "carts", len(w.Carts), "took", time.Since(began).Round(time.Millisecond))
	return w, nil
}

// earlier reads the record of an earlier seed from the audit log of its first customer: the time
// it was generated for (zero when there was none), and whether it finished.
func earlier(ctx context.Context, store inbox.Store, first Customer) (started time.Time, done bool, err error) {
	id := identities(first)[0]
	owner, err := store.CustomerIDByIdentity(ctx, id.Kind, id.Value)
	if errors.Is(err, inbox.ErrNotFound) {
		return time.Time{}, false, nil
	}
	if err != nil {
		return time.Time{}, false, fmt.Errorf("demo shop: look for an earlier seed: %w", err)
	}
	entries, err := store.ListAudit(ctx, owner, 1000)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("demo shop: read the audit log of %s: %w", owner, err)
	}
	for _, e := range entries {
		if e.Action != auditAction {
			continue
		}
		t, err := time.Parse(time.RFC3339, e.Data["generatedFor"])
		if err != nil {
			return time.Time{}, false, fmt.Errorf("demo shop: audit entry %s has no valid generatedFor: %w", e.ID, err)
		}
		started = t.UTC()
		done = done || e.Data["step"] == "done"
	}
	return started, done, nil
}

// adopt sets each customer's id to the stored one, found by their identities.
func (w *World) adopt(ctx context.Context, store inbox.Store) error {
	for i := range w.Customers {
		c := &w.Customers[i]
		id := identities(*c)[0]
		owner, err := store.CustomerIDByIdentity(ctx, id.Kind, id.Value)
		if err != nil {
			return fmt.Errorf("demo shop: find seeded customer %s: %w", id.Key(), err)
		}
		c.ID = owner
	}
	return nil
}

type seeder struct {
	st   Stores
	w    *World
	norm inbox.Normalizer
	now  time.Time
}

// phase logs how long a step of the seed took.
func (s *seeder) phase(name string, began time.Time) {
	s.st.Log.Debug("demo shop seed step", "step", name, "took", time.Since(began).Round(time.Millisecond))
}

// begin stores the first customer, who carries the record of the seed, and records that the
// seed started (unless an interrupted one did).
func (s *seeder) begin(ctx context.Context, record bool) error {
	if err := s.customer(ctx)(0); err != nil {
		return err
	}
	if !record {
		return nil
	}
	return s.mark(ctx, "started")
}

// mark records a step of the seed in the first customer's audit log.
func (s *seeder) mark(ctx context.Context, step string) error {
	err := s.st.Inbox.InsertAudit(ctx, inbox.AuditEntry{ID: inbox.NewID(), Action: auditAction, CustomerID: s.w.Customers[0].ID,
		Data: map[string]string{"step": step, "generatedFor": s.now.Format(time.RFC3339)}, At: time.Now().UTC()})
	if err != nil {
		return fmt.Errorf("demo shop: record the seed as %s: %w", step, err)
	}
	return nil
}

// run writes the world.
func (s *seeder) run(ctx context.Context) error {
	began := time.Now()
	// Customers and their conversations first: the shop's records link to them by identity, and
	// would otherwise create customers of their own.
	if err := parallel(ctx, s.st.Workers, len(s.w.Customers), func() func(int) error { return s.customer(ctx) }); err != nil {
		return err
	}
	s.phase("customers and conversations", began)
	began = time.Now()
	commerceWorker := func(put func(svc *commerce.Service, i int, clock *time.Time) error) func() func(int) error {
		return func() func(int) error {
			var clock time.Time
			svc, err := commerce.New(commerce.Config{Currency: Currency}, commerce.Deps{
				Store: s.st.Commerce, Customers: s.st.Inbox, Events: quiet{}, Normalizer: s.norm,
				Now: func() time.Time { return clock }, Log: s.st.Log,
			})
			return func(i int) error {
				if err != nil {
					return err
				}
				return put(svc, i, &clock)
			}
		}
	}
	if err := parallel(ctx, s.st.Workers, len(s.w.Orders), commerceWorker(func(svc *commerce.Service, i int, clock *time.Time) error {
		o := s.w.Orders[i]
		*clock = o.ShopUpdatedAt.Add(2 * time.Second)
		if _, err := svc.PutOrder(ctx, o); err != nil {
			return fmt.Errorf("demo shop: order %s: %w", o.ID, err)
		}
		return nil
	})); err != nil {
		return err
	}
	s.phase("orders", began)
	began = time.Now()
	if err := parallel(ctx, s.st.Workers, len(s.w.Carts), commerceWorker(func(svc *commerce.Service, i int, clock *time.Time) error {
		c := s.w.Carts[i]
		*clock = c.ShopUpdatedAt.Add(time.Second)
		if _, err := svc.PutCart(ctx, c); err != nil {
			return fmt.Errorf("demo shop: cart %s: %w", c.ID, err)
		}
		return nil
	})); err != nil {
		return err
	}
	if err := s.abandon(ctx); err != nil {
		return err
	}
	if err := parallel(ctx, s.st.Workers, len(s.w.Loyalty), commerceWorker(func(svc *commerce.Service, i int, clock *time.Time) error {
		l := s.w.Loyalty[i]
		*clock = l.ShopUpdatedAt.Add(time.Second)
		if _, err := svc.PutLoyalty(ctx, l); err != nil {
			return fmt.Errorf("demo shop: loyalty of %s: %w", l.ShopCustomerID, err)
		}
		return nil
	})); err != nil {
		return err
	}
	s.phase("carts and loyalty", began)
	began = time.Now()
	defer s.phase("products", began)
	return parallel(ctx, s.st.Workers, len(s.w.Products), commerceWorker(func(svc *commerce.Service, i int, clock *time.Time) error {
		p := s.w.Products[i]
		*clock = s.now
		if _, err := svc.PutProduct(ctx, p); err != nil {
			return fmt.Errorf("demo shop: product %s: %w", p.SKU, err)
		}
		return nil
	}))
}

// customer returns a worker that stores customer i, their conversation and its timeline.
func (s *seeder) customer(ctx context.Context) func(int) error {
	convOf := map[int]int{}
	for k, th := range s.w.threads {
		convOf[th.customer] = k
	}
	return func(i int) error {
		c := &s.w.Customers[i]
		ids := identities(*c)
		for _, id := range ids {
			if n, err := s.norm.Normalize(id); err != nil || n.Value != id.Value {
				return fmt.Errorf("demo shop: identity %s of %s is not in the connectors' form: %v", id.Key(), c.Name, err)
			}
		}
		err := s.st.Inbox.CreateCustomer(ctx, inbox.Customer{ID: c.ID, Name: c.Name, Locale: c.Locale, Identities: ids,
			CreatedAt: c.since, UpdatedAt: c.since})
		var taken *inbox.IdentityTakenError
		switch {
		case errors.As(err, &taken):
			// An interrupted earlier seed, generated at another time, stored this person under
			// another id: continue with theirs.
			c.ID = taken.OwnerID
		case errors.Is(err, inbox.ErrConflict):
			if _, err := s.st.Inbox.CustomerByID(ctx, c.ID); err != nil {
				return fmt.Errorf("demo shop: customer %s: %w", c.Name, err)
			}
		case err != nil:
			return fmt.Errorf("demo shop: customer %s: %w", c.Name, err)
		}
		k, ok := convOf[i]
		if !ok {
			return nil
		}
		th := &s.w.threads[k]
		conv := th.conv
		conv.CustomerID = c.ID
		conv.AssigneeID = s.agentID(conv.AssigneeID)
		stored, err := s.st.Inbox.EnsureConversation(ctx, conv)
		if err != nil {
			return fmt.Errorf("demo shop: conversation of %s: %w", c.Name, err)
		}
		for _, m := range th.msgs {
			m, keep := s.agentsIn(m)
			if !keep {
				continue
			}
			m.ConversationID, m.CustomerID = stored.ID, c.ID
			if m.Direction == inbox.DirectionIn {
				m.AuthorID = c.ID
			}
			if _, _, err := s.st.Inbox.InsertMessage(ctx, m); err != nil && !errors.Is(err, inbox.ErrConflict) {
				return fmt.Errorf("demo shop: message of %s: %w", c.Name, err)
			}
		}
		return nil
	}
}

// agentID turns an agent placeholder into the id of the demo's account.
func (s *seeder) agentID(ref string) string {
	n, ok := agentIndex(ref)
	if !ok || len(s.st.Agents) == 0 {
		return ""
	}
	return s.st.Agents[n%len(s.st.Agents)].ID
}

func agentIndex(ref string) (int, bool) {
	v, ok := strings.CutPrefix(ref, agentRef)
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(v)
	return n, err == nil && n >= 0
}

// agentsIn names the demo's accounts in m; false when m is an assignment and there are none.
func (s *seeder) agentsIn(m inbox.Message) (inbox.Message, bool) {
	if n, ok := agentIndex(m.AuthorID); ok {
		m.AuthorID = s.agentID(m.AuthorID)
		if len(s.st.Agents) > 0 {
			m.AuthorName = s.st.Agents[n%len(s.st.Agents)].Name
		}
	}
	if m.Event != nil {
		e := *m.Event
		if e.Kind == inbox.EventAssigned && len(s.st.Agents) == 0 {
			return m, false
		}
		e.ActorID = s.agentID(e.ActorID)
		if e.Kind == inbox.EventAssigned {
			e.From, e.To = s.agentID(e.From), s.agentID(e.To)
		}
		m.Event = &e
		if m.Channel == inbox.ChannelInternal {
			m.Text = eventText(e)
		}
	}
	return m, true
}

// abandon marks the carts left for more than an hour abandoned an hour after they were last
// touched, as the commerce sweep would have.
func (s *seeder) abandon(ctx context.Context) error {
	carts := slices.Clone(s.w.Carts)
	slices.SortFunc(carts, func(a, b commerce.Cart) int { return a.ShopUpdatedAt.Compare(b.ShopUpdatedAt) })
	for _, c := range carts {
		at := c.ShopUpdatedAt.Add(time.Hour)
		if at.After(s.now) {
			break
		}
		if _, err := s.st.Commerce.MarkAbandoned(ctx, c.ShopUpdatedAt.Add(time.Millisecond), at, 100); err != nil {
			return fmt.Errorf("demo shop: mark cart %s abandoned: %w", c.ID, err)
		}
	}
	return nil
}

// quiet is the bus of the seed: nobody is listening yet, and the console reads the store when
// it opens.
type quiet struct{}

func (quiet) Publish(context.Context, bus.Event) {}

// parallel runs do(i) for i in [0, n) on up to workers goroutines, each with its own worker
// (newWorker is called once per goroutine), and returns the first error.
func parallel(ctx context.Context, workers, n int, newWorker func() func(int) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(workers, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			do := newWorker()
			for i := range next {
				if err := do(i); err != nil {
					cancel(err)
				}
			}
		}()
	}
feed:
	for i := range n {
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return ctx.Err()
}
