package commerce

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/serambi/serambi/bus"
	"github.com/serambi/serambi/inbox"
)

// Customers is what commerce needs from the inbox's store to link shop records to customers;
// inbox.Store has it.
type Customers interface {
	CustomerByID(ctx context.Context, id string) (inbox.Customer, error)
	CustomerIDByIdentity(ctx context.Context, kind inbox.IdentityKind, value string) (string, error)
	CustomersWithIdentity(ctx context.Context, kind inbox.IdentityKind, value string) ([]string, error)
	CreateCustomer(ctx context.Context, c inbox.Customer) error
	AddIdentity(ctx context.Context, customerID string, id inbox.Identity) error
	UpdateCustomerProfile(ctx context.Context, id, name, avatar, locale string) error
	AddSuggestion(ctx context.Context, s inbox.MergeSuggestion) error
}

// Timeline is what agent actions need from the inbox: the customer's conversation, replies that
// carry cards, and events that record what was done; *inbox.Inbox has it.
type Timeline interface {
	ConversationOfCustomer(ctx context.Context, customerID string) (inbox.Conversation, error)
	Reply(ctx context.Context, r inbox.ReplyRequest) (inbox.Message, error)
	AddEvent(ctx context.Context, conversationID string, e inbox.Event) (inbox.Message, error)
}

// Deps is what the service is built from.
type Deps struct {
	Store      Store
	Customers  Customers
	Timeline   Timeline
	Events     bus.Publisher
	Normalizer inbox.Normalizer
	// HTTP is the client for the shops' admin APIs and the actions webhook (default: 15 s timeout).
	HTTP *http.Client
	Now  func() time.Time
	Log  *slog.Logger
}

// Service is commerce: ingestion, the customer view, recommendations and agent actions.
type Service struct {
	cfg       Config
	store     Store
	customers Customers
	timeline  Timeline
	events    bus.Publisher
	norm      inbox.Normalizer
	now       func() time.Time
	log       *slog.Logger
	actions   map[Source]ShopActions
	locks     orderLocks
}

// New returns the service. cfg is validated (see Config.Validate).
func New(cfg Config, d Deps) (*Service, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if d.Store == nil || d.Customers == nil || d.Events == nil {
		return nil, errors.New("commerce: Store, Customers and Events are required")
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	if d.HTTP == nil {
		d.HTTP = &http.Client{Timeout: 15 * time.Second}
	}
	now := d.Now
	s := &Service{cfg: cfg, store: d.Store, customers: d.Customers, timeline: d.Timeline, events: d.Events, norm: d.Normalizer,
		now: func() time.Time { return now().UTC().Truncate(time.Millisecond) }, log: d.Log, actions: map[Source]ShopActions{}}
	if cfg.Shopify.AdminEnabled() {
		s.actions[SourceShopify] = NewShopifyAdmin(cfg.Shopify, d.HTTP, d.Now)
	}
	if cfg.ActionsWebhook.URL != "" {
		hook := NewSignedWebhook(cfg.ActionsWebhook, d.HTTP, d.Now)
		for _, src := range []Source{SourceAPI, SourceWooCommerce} {
			s.actions[src] = hook
		}
		if _, ok := s.actions[SourceShopify]; !ok {
			s.actions[SourceShopify] = hook
		}
	}
	return s, nil
}

// Config returns the configuration in use.
func (s *Service) Config() Config { return s.cfg }

// Store returns the store the service works on.
func (s *Service) Store() Store { return s.store }

// SetActions makes the service send cancellations and refunds of orders from src to a.
// Call it while wiring, before serving.
func (s *Service) SetActions(src Source, a ShopActions) { s.actions[src] = a }

// Result is what an ingest did.
type Result struct {
	ID         string `json:"id"`
	CustomerID string `json:"customerId,omitempty"`
	// Duplicate: the stored record was already this version or newer; nothing changed.
	Duplicate bool `json:"duplicate"`
}

// PutProduct stores a product version.
func (s *Service) PutProduct(ctx context.Context, p Product) (Result, error) {
	if err := s.cleanProduct(&p); err != nil {
		return Result{}, err
	}
	_, _, err := s.store.UpdateProduct(ctx, p.SKU, MergeProduct(p))
	if errors.Is(err, ErrUnchanged) {
		return Result{ID: p.SKU, Duplicate: true}, nil
	}
	if err != nil {
		return Result{}, fmt.Errorf("store product %s: %w", p.SKU, err)
	}
	return Result{ID: p.SKU}, nil
}

// PutCart stores a cart version, linked to the customer its contact names.
func (s *Service) PutCart(ctx context.Context, c Cart) (Result, error) {
	if err := s.cleanCart(&c); err != nil {
		return Result{}, err
	}
	cust, err := s.resolve(ctx, c.Contact)
	if err != nil {
		return Result{}, err
	}
	c.CustomerID = cust
	before, after, err := s.store.UpdateCart(ctx, c.ID, MergeCart(c))
	if errors.Is(err, ErrUnchanged) {
		return Result{ID: c.ID, CustomerID: before.CustomerID, Duplicate: true}, nil
	}
	if err != nil {
		return Result{}, fmt.Errorf("store cart %s: %w", c.ID, err)
	}
	s.changed(ctx, before.CustomerID, after.CustomerID)
	return Result{ID: c.ID, CustomerID: after.CustomerID}, nil
}

// PutOrder stores an order version, linked to the customer its contact names, and marks the cart
// it came from as converted.
func (s *Service) PutOrder(ctx context.Context, o Order) (Result, error) {
	if err := s.cleanOrder(&o); err != nil {
		return Result{}, err
	}
	cust, err := s.resolve(ctx, o.Contact)
	if err != nil {
		return Result{}, err
	}
	o.CustomerID = cust
	before, after, err := s.store.UpdateOrder(ctx, o.ID, MergeOrder(o))
	dup := errors.Is(err, ErrUnchanged)
	if err != nil && !dup {
		return Result{}, fmt.Errorf("store order %s: %w", o.ID, err)
	}
	if dup {
		after = before
	}
	if after.CartID != "" {
		// Also on a duplicate: a crash between the two writes must not leave the cart open.
		_, cart, err := s.store.UpdateCart(ctx, after.CartID, ConvertCart(after.ID, after.CustomerID, s.now()))
		switch {
		case err == nil:
			s.changed(ctx, cart.CustomerID)
		case !errors.Is(err, ErrUnchanged):
			return Result{}, fmt.Errorf("mark cart %s converted by order %s: %w", after.CartID, after.ID, err)
		}
	}
	if dup {
		return Result{ID: o.ID, CustomerID: after.CustomerID, Duplicate: true}, nil
	}
	s.changed(ctx, before.CustomerID, after.CustomerID)
	return Result{ID: o.ID, CustomerID: after.CustomerID}, nil
}

// PutLoyalty stores a loyalty account version.
func (s *Service) PutLoyalty(ctx context.Context, l Loyalty) (Result, error) {
	if err := s.cleanLoyalty(&l); err != nil {
		return Result{}, err
	}
	cust, err := s.resolve(ctx, l.Contact)
	if err != nil {
		return Result{}, err
	}
	l.CustomerID = cust
	before, after, err := s.store.UpdateLoyalty(ctx, l.ShopCustomerID, MergeLoyalty(l))
	if errors.Is(err, ErrUnchanged) {
		return Result{ID: l.ShopCustomerID, CustomerID: before.CustomerID, Duplicate: true}, nil
	}
	if err != nil {
		return Result{}, fmt.Errorf("store loyalty of %s: %w", l.ShopCustomerID, err)
	}
	s.changed(ctx, before.CustomerID, after.CustomerID)
	return Result{ID: l.ShopCustomerID, CustomerID: after.CustomerID}, nil
}

// changed tells the console that these customers' commerce panels are out of date.
func (s *Service) changed(ctx context.Context, customerIDs ...string) {
	at := s.now()
	for i, id := range customerIDs {
		if id == "" || slices.Contains(customerIDs[:i], id) {
			continue
		}
		s.events.Publish(ctx, bus.Event{Topic: TopicChanged, CustomerID: id, At: at})
	}
}

// Linking records to customers.
//
// A shop vouches for its own customer ids: the shop id is a verified identity, as it is when the
// chat widget passes it signed. The email and phone of an order are verified too by default: the
// shop has just sent its order confirmation there, and linking them is what lets the agent see
// the order when the customer writes in from that address, even if the order was their first
// contact (an unknown email creates the customer, who then has the order before the first
// message). Config.ContactsUnverified turns that off for shops that take orders without
// confirming addresses: email and phone are then kept unverified and only suggest a merge.
//
// A verified identity never moves: when the shop's customer id belongs to customer A and the
// order's email to customer B, the order goes to A (the shop id decides) and the two are offered
// to the agent as "possibly the same customer".

func (s *Service) identities(c Contact) []inbox.Identity {
	var ids []inbox.Identity
	add := func(kind inbox.IdentityKind, v string, verified bool) {
		if strings.TrimSpace(v) == "" {
			return
		}
		id, err := s.norm.Normalize(inbox.Identity{Kind: kind, Value: v, Verified: verified})
		if err != nil {
			// A mistyped phone in a checkout form must not lose the order: link by what is usable.
			s.log.Info("ignoring an unusable shop contact", "kind", kind, "err", err)
			return
		}
		if !slices.ContainsFunc(ids, func(o inbox.Identity) bool { return o.Key() == id.Key() }) {
			ids = append(ids, id)
		}
	}
	add(inbox.KindShop, c.ShopCustomerID, true)
	add(inbox.KindEmail, c.Email, !s.cfg.ContactsUnverified)
	add(inbox.KindPhone, c.Phone, !s.cfg.ContactsUnverified)
	return ids
}

// resolve returns the customer the contact names, creating one when nobody holds its verified
// identities; "" when the contact names nobody (an anonymous cart).
func (s *Service) resolve(ctx context.Context, c Contact) (string, error) {
	ids := s.identities(c)
	if !slices.ContainsFunc(ids, func(id inbox.Identity) bool { return id.Verified }) {
		return "", nil // only unverified contacts: nothing to link by
	}
	for attempt := 0; ; attempt++ {
		owner, err := s.ownerOf(ctx, ids)
		if err != nil {
			return "", err
		}
		if owner != "" {
			return owner, s.link(ctx, owner, c.Name, ids)
		}
		id, err := s.createCustomer(ctx, c.Name, ids)
		var taken *inbox.IdentityTakenError
		if errors.As(err, &taken) && attempt < 3 {
			continue // another ingest created this customer a moment ago: join it
		}
		return id, err
	}
}

func (s *Service) ownerOf(ctx context.Context, ids []inbox.Identity) (string, error) {
	for _, id := range ids {
		if !id.Verified {
			continue
		}
		owner, err := s.customers.CustomerIDByIdentity(ctx, id.Kind, id.Value)
		if errors.Is(err, inbox.ErrNotFound) {
			continue
		}
		if err != nil {
			return "", fmt.Errorf("look up identity %s: %w", id.Key(), err)
		}
		return s.canonical(ctx, owner)
	}
	return "", nil
}

// canonical follows merges to the surviving customer.
func (s *Service) canonical(ctx context.Context, id string) (string, error) {
	for range 8 {
		c, err := s.customers.CustomerByID(ctx, id)
		if err != nil {
			return "", fmt.Errorf("load customer %s: %w", id, err)
		}
		if c.MergedInto == "" {
			return c.ID, nil
		}
		id = c.MergedInto
	}
	return "", fmt.Errorf("customer %s: merge chain too long: %w", id, inbox.ErrConflict)
}

func (s *Service) createCustomer(ctx context.Context, name string, ids []inbox.Identity) (string, error) {
	now := s.now()
	c := inbox.Customer{ID: inbox.NewID(), Name: cleanName(name), CreatedAt: now, UpdatedAt: now}
	for _, id := range ids {
		id.AddedAt = now
		c.Identities = append(c.Identities, id)
	}
	if err := s.customers.CreateCustomer(ctx, c); err != nil {
		return "", fmt.Errorf("create customer: %w", err)
	}
	for _, id := range ids {
		s.suggestHolders(ctx, c.ID, id, now)
	}
	s.events.Publish(ctx, bus.Event{Topic: bus.CustomerChanged, CustomerID: c.ID, At: now})
	return c.ID, nil
}

// link adds the contact's identities the customer does not have yet.
func (s *Service) link(ctx context.Context, owner, name string, ids []inbox.Identity) error {
	c, err := s.customers.CustomerByID(ctx, owner)
	if err != nil {
		return fmt.Errorf("load customer %s: %w", owner, err)
	}
	now := s.now()
	changed := false
	for _, id := range ids {
		if have := slices.IndexFunc(c.Identities, func(o inbox.Identity) bool { return o.Key() == id.Key() }); have >= 0 &&
			(c.Identities[have].Verified || !id.Verified) {
			continue
		}
		id.AddedAt = now
		err := s.customers.AddIdentity(ctx, owner, id)
		var taken *inbox.IdentityTakenError
		if errors.As(err, &taken) {
			s.suggest(ctx, owner, taken.OwnerID, id, now)
			continue
		}
		if err != nil {
			return fmt.Errorf("add identity %s to customer %s: %w", id.Key(), owner, err)
		}
		changed = true
		if !id.Verified {
			s.suggestHolders(ctx, owner, id, now)
		}
	}
	if c.Name == "" && cleanName(name) != "" {
		if err := s.customers.UpdateCustomerProfile(ctx, owner, cleanName(name), "", ""); err != nil {
			return fmt.Errorf("name customer %s: %w", owner, err)
		}
		changed = true
	}
	if changed {
		s.events.Publish(ctx, bus.Event{Topic: bus.CustomerChanged, CustomerID: owner, At: now})
	}
	return nil
}

func (s *Service) suggestHolders(ctx context.Context, customerID string, id inbox.Identity, now time.Time) {
	holders, err := s.customers.CustomersWithIdentity(ctx, id.Kind, id.Value)
	if err != nil {
		s.log.Warn("could not look up holders of a shop contact", "customer", customerID, "err", err)
		return
	}
	for _, h := range holders {
		if h != customerID {
			s.suggest(ctx, customerID, h, id, now)
		}
	}
}

// suggest records "possibly the same customer"; a hint that cannot be stored never fails an ingest.
func (s *Service) suggest(ctx context.Context, customerID, otherID string, reason inbox.Identity, now time.Time) {
	otherID, err := s.canonical(ctx, otherID)
	if err != nil || otherID == customerID {
		return
	}
	if err := s.customers.AddSuggestion(ctx, inbox.MergeSuggestion{CustomerID: customerID, OtherID: otherID, Reason: reason, At: now}); err != nil {
		s.log.Warn("could not store merge suggestion", "customer", customerID, "other", otherID, "err", err)
	}
}

// Validation. Every rule names the field, so that a shop developer can fix the payload from the
// error alone.

const (
	maxIDLen    = 256
	maxNameLen  = 512
	maxURLLen   = 2048
	maxItems    = 500
	maxQuantity = 1_000_000
	maxStock    = 1_000_000_000
	maxLocs     = 200
	maxTracking = 20
)

func invalid(format string, a ...any) error {
	return fmt.Errorf(format+": %w", append(a, inbox.ErrInvalid)...)
}

func checkID(field, v string) error {
	if v == "" || len(v) > maxIDLen || !utf8.ValidString(v) || strings.IndexFunc(v, unicode.IsControl) >= 0 {
		return invalid("%s must be 1-%d bytes of text without control characters", field, maxIDLen)
	}
	return nil
}

func cleanName(s string) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, strings.ToValidUTF8(s, ""))
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > maxNameLen {
		s = strings.ToValidUTF8(s[:maxNameLen], "")
	}
	return s
}

// checkURL accepts absolute http(s) URLs only: they end up in links and images an agent clicks.
func checkURL(field, v string) (string, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return "", nil
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || len(v) > maxURLLen {
		return "", invalid("%s %q must be an absolute http(s) URL of at most %d bytes", field, truncate(v, 80), maxURLLen)
	}
	return v, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "…"
}

func (s *Service) currency(field, c string) (string, error) {
	if c == "" {
		c = s.cfg.Currency
	}
	c = strings.ToUpper(strings.TrimSpace(c))
	if !ValidCurrency(c) {
		return "", invalid("%s %q must be an ISO 4217 code such as IDR", field, c)
	}
	return c, nil
}

func ms(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC().Truncate(time.Millisecond)
}

func checkAmount(field string, v int64) error {
	if v < 0 || v > 1<<53 {
		return invalid("%s must be a whole number of minor units from 0 to 2^53", field)
	}
	return nil
}

func (s *Service) cleanItems(field string, items []LineItem) ([]LineItem, error) {
	if len(items) > maxItems {
		return nil, invalid("%s has %d entries; at most %d", field, len(items), maxItems)
	}
	out := make([]LineItem, 0, len(items))
	for i, it := range items {
		f := fmt.Sprintf("%s[%d]", field, i)
		it.SKU = strings.TrimSpace(it.SKU)
		if it.SKU != "" {
			if err := checkID(f+".sku", it.SKU); err != nil {
				return nil, err
			}
		}
		it.Name = cleanName(it.Name)
		if it.SKU == "" && it.Name == "" {
			return nil, invalid("%s needs a sku or a name", f)
		}
		if it.ID != "" {
			if err := checkID(f+".id", it.ID); err != nil {
				return nil, err
			}
		}
		if it.Quantity < 0 || it.Quantity > maxQuantity {
			return nil, invalid("%s.quantity must be from 0 to %d", f, maxQuantity)
		}
		if err := errors.Join(checkAmount(f+".unitPrice", it.UnitPrice), checkAmount(f+".total", it.Total)); err != nil {
			return nil, err
		}
		if it.Total == 0 {
			it.Total = it.UnitPrice * it.Quantity
		}
		var err error
		if it.ImageURL, err = checkURL(f+".imageUrl", it.ImageURL); err != nil {
			return nil, err
		}
		out = append(out, it)
	}
	return out, nil
}

func (s *Service) cleanProduct(p *Product) error {
	p.SKU = strings.TrimSpace(p.SKU)
	if err := checkID("sku", p.SKU); err != nil {
		return err
	}
	p.Name = cleanName(p.Name)
	if p.Name == "" {
		return invalid("name is required")
	}
	var err error
	if p.Currency, err = s.currency("currency", p.Currency); err != nil {
		return err
	}
	if err := checkAmount("price", p.Price); err != nil {
		return err
	}
	if p.ImageURL, err = checkURL("imageUrl", p.ImageURL); err != nil {
		return err
	}
	if p.URL, err = checkURL("url", p.URL); err != nil {
		return err
	}
	if len(p.Stock) > maxLocs {
		return invalid("stock has %d locations; at most %d", len(p.Stock), maxLocs)
	}
	seen := map[string]bool{}
	for i, l := range p.Stock {
		l.Location = cleanName(l.Location)
		if l.Location == "" {
			l.Location = "default"
		}
		if seen[l.Location] {
			return invalid("stock[%d].location %q is listed twice", i, l.Location)
		}
		seen[l.Location] = true
		if l.Available < -maxStock || l.Available > maxStock {
			return invalid("stock[%d].available must be from -%d to %d", i, maxStock, maxStock)
		}
		p.Stock[i] = l
	}
	slices.SortFunc(p.Stock, func(a, b StockLevel) int { return strings.Compare(a.Location, b.Location) })
	if p.Source == "" {
		p.Source = SourceAPI
	}
	if p.ShopUpdatedAt.IsZero() {
		return invalid("updatedAt is required: the shop's last-modified time decides which version is newer")
	}
	p.ShopUpdatedAt = ms(p.ShopUpdatedAt)
	p.Digest = productDigest(*p)
	p.UpdatedAt = s.now()
	return nil
}

func (s *Service) cleanContact(c *Contact) error {
	c.ShopCustomerID = strings.TrimSpace(c.ShopCustomerID)
	if c.ShopCustomerID != "" {
		if err := checkID("customer.shopCustomerId", c.ShopCustomerID); err != nil {
			return err
		}
	}
	c.Email, c.Phone, c.Name = strings.TrimSpace(c.Email), strings.TrimSpace(c.Phone), cleanName(c.Name)
	if len(c.Email) > 320 || len(c.Phone) > 64 {
		return invalid("customer email or phone is too long")
	}
	return nil
}

func (s *Service) cleanCart(c *Cart) error {
	if err := checkID("cart id", c.ID); err != nil {
		return err
	}
	if err := s.cleanContact(&c.Contact); err != nil {
		return err
	}
	var err error
	if c.Currency, err = s.currency("currency", c.Currency); err != nil {
		return err
	}
	if c.Items, err = s.cleanItems("items", c.Items); err != nil {
		return err
	}
	if err := checkAmount("total", c.Total); err != nil {
		return err
	}
	if c.Total == 0 {
		for _, it := range c.Items {
			c.Total += it.Total
		}
	}
	if c.Source == "" {
		c.Source = SourceAPI
	}
	if c.ShopUpdatedAt.IsZero() {
		return invalid("updatedAt is required: the shop's last-modified time decides which version is newer")
	}
	c.ShopUpdatedAt, c.ShopCreatedAt = ms(c.ShopUpdatedAt), ms(c.ShopCreatedAt)
	c.CustomerID, c.Status, c.AbandonedAt, c.ConvertedAt, c.OrderID = "", "", time.Time{}, time.Time{}, ""
	c.Digest = cartDigest(*c)
	c.UpdatedAt = s.now()
	return nil
}

func (s *Service) cleanOrder(o *Order) error {
	if err := checkID("order id", o.ID); err != nil {
		return err
	}
	if err := s.cleanContact(&o.Contact); err != nil {
		return err
	}
	o.Number = cleanName(o.Number)
	if o.Number == "" {
		o.Number = o.ID
	}
	if o.CartID != "" {
		if err := checkID("cartId", o.CartID); err != nil {
			return err
		}
	}
	var err error
	if o.Currency, err = s.currency("currency", o.Currency); err != nil {
		return err
	}
	if o.Items, err = s.cleanItems("items", o.Items); err != nil {
		return err
	}
	if err := errors.Join(checkAmount("subtotal", o.Subtotal), checkAmount("shipping", o.Shipping), checkAmount("tax", o.Tax),
		checkAmount("discount", o.Discount), checkAmount("total", o.Total), checkAmount("refunded", o.Refunded)); err != nil {
		return err
	}
	if !o.Payment.Valid() {
		return invalid("paymentStatus %q is not one of pending, authorized, partially_paid, paid, partially_refunded, refunded, voided, failed", o.Payment)
	}
	if o.Fulfillment == "" {
		o.Fulfillment = FulfillmentUnfulfilled
	}
	if !o.Fulfillment.Valid() {
		return invalid("fulfillmentStatus %q is not one of unfulfilled, partial, fulfilled, in_transit, out_for_delivery, delivered, ready_for_pickup, picked_up, failed", o.Fulfillment)
	}
	if len(o.Tracking) > maxTracking {
		return invalid("tracking has %d entries; at most %d", len(o.Tracking), maxTracking)
	}
	for i := range o.Tracking {
		t := &o.Tracking[i]
		t.Number, t.Carrier = cleanName(t.Number), cleanName(t.Carrier)
		if t.URL, err = checkURL(fmt.Sprintf("tracking[%d].url", i), t.URL); err != nil {
			return err
		}
	}
	if o.AdminURL, err = checkURL("adminUrl", o.AdminURL); err != nil {
		return err
	}
	o.CancelReason = cleanName(o.CancelReason)
	if !o.CancelledAt.IsZero() {
		o.Cancelled = true
	}
	if o.Source == "" {
		o.Source = SourceAPI
	}
	if o.ShopUpdatedAt.IsZero() {
		return invalid("updatedAt is required: the shop's last-modified time decides which version is newer")
	}
	o.ShopUpdatedAt, o.PlacedAt, o.CancelledAt = ms(o.ShopUpdatedAt), ms(o.PlacedAt), ms(o.CancelledAt)
	if o.PlacedAt.IsZero() {
		o.PlacedAt = o.ShopUpdatedAt
	}
	if o.Cancelled && o.CancelledAt.IsZero() {
		o.CancelledAt = o.ShopUpdatedAt
	}
	// The steps this version shows, on top of any the source read from the payload (Shopify's
	// fulfilments and refunds carry their own times).
	h := append([]StatusEvent(nil), o.History...)
	h = append(h, StatusEvent{At: o.PlacedAt, Kind: EventPlaced})
	if o.Payment != PaymentUnknown {
		h = append(h, StatusEvent{At: o.ShopUpdatedAt, Kind: EventPayment, Status: string(o.Payment)})
	}
	h = append(h, StatusEvent{At: o.ShopUpdatedAt, Kind: EventFulfillment, Status: string(o.Fulfillment)})
	if o.Cancelled {
		h = append(h, StatusEvent{At: o.CancelledAt, Kind: EventCancelled, Status: o.CancelReason})
	}
	for i := range h {
		h[i].At = ms(h[i].At)
	}
	o.History = mergeHistory(nil, h)
	o.CustomerID = ""
	o.Digest = orderDigest(*o)
	o.CreatedAt = s.now()
	o.UpdatedAt = o.CreatedAt
	return nil
}

func (s *Service) cleanLoyalty(l *Loyalty) error {
	if err := checkID("shopCustomerId", l.ShopCustomerID); err != nil {
		return err
	}
	l.Contact.ShopCustomerID = l.ShopCustomerID
	if err := s.cleanContact(&l.Contact); err != nil {
		return err
	}
	if l.Points < -1<<40 || l.Points > 1<<40 {
		return invalid("points is out of range")
	}
	l.Tier = cleanName(l.Tier)
	if len(l.Tier) > 64 {
		return invalid("tier must be at most 64 bytes")
	}
	if l.ShopUpdatedAt.IsZero() {
		return invalid("updatedAt is required: the shop's last-modified time decides which version is newer")
	}
	l.ShopUpdatedAt = ms(l.ShopUpdatedAt)
	l.CustomerID = ""
	l.Digest = loyaltyDigest(*l)
	l.UpdatedAt = s.now()
	return nil
}

// LinkCart links a cart to a customer when a channel learns whose it is: the chat widget reports
// the shop's cart token of a visitor whose identity the shop signed. Shopify's cart webhooks name
// no customer, so this is how a live Shopify cart reaches the sidebar before checkout. The cart
// may not have arrived yet: a placeholder keeps the link, and the cart's first version fills it.
// A cart already linked to someone else is left alone (inbox.ErrConflict).
func (s *Service) LinkCart(ctx context.Context, cartID, customerID string) error {
	if err := checkID("cart id", cartID); err != nil {
		return err
	}
	if customerID == "" {
		return invalid("customer id is required")
	}
	now := s.now()
	_, after, err := s.store.UpdateCart(ctx, cartID, func(cur Cart, found bool) (Cart, error) {
		switch {
		case !found:
			return Cart{ID: cartID, CustomerID: customerID, Status: CartOpen, Source: SourceAPI, Currency: s.cfg.Currency, UpdatedAt: now}, nil
		case cur.CustomerID == customerID:
			return cur, ErrUnchanged
		case cur.CustomerID != "":
			return cur, fmt.Errorf("cart %s belongs to another customer: %w", cartID, inbox.ErrConflict)
		}
		cur.CustomerID, cur.UpdatedAt = customerID, now
		return cur, nil
	})
	if errors.Is(err, ErrUnchanged) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("link cart %s: %w", cartID, err)
	}
	s.changed(ctx, after.CustomerID)
	return nil
}
