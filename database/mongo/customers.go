package mongo

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/serambi/serambi/inbox"
)

// Who owns a verified identity is kept in its own collection, `identities`, whose _id is the
// identity's natural key "kind:value": inserting the claim IS the uniqueness check, atomic on
// MongoDB and on FerretDB alike. ARCHITECTURE.md describes a unique multikey index on the
// customers' embedded identities instead; that is a deliberate deviation: a unique index over
// array elements cannot say "only the verified ones" without a partial index (which FerretDB
// lacks), and FerretDB indexes an array as one value, so it would not enforce uniqueness per
// element at all. The customer document still embeds all its identities (verified or not) for
// reads, under a non-unique multikey index for CustomersWithIdentity.

type customerDoc struct {
	ID         string        `bson:"_id"`
	Name       string        `bson:"name"`
	Avatar     string        `bson:"avatar,omitempty"`
	Locale     string        `bson:"locale,omitempty"`
	Identities []identityDoc `bson:"identities"`
	MergedInto string        `bson:"mergedInto,omitempty"`
	// Pending is set while CreateCustomer is still claiming the customer's verified identities.
	// A customer that loses a claim race is deleted again; until then CustomersWithIdentity must
	// not offer it as a merge suggestion.
	Pending bool `bson:"pending,omitempty"`
	// Rev counts changes to Identities: arrays are rewritten under a revision check, because
	// FerretDB has no positional update operators.
	Rev       int64     `bson:"rev"`
	CreatedAt time.Time `bson:"createdAt"`
	UpdatedAt time.Time `bson:"updatedAt"`
}

type identityDoc struct {
	Key         string    `bson:"key"` // kind:value, what the multikey index holds
	Kind        string    `bson:"kind"`
	Value       string    `bson:"value"`
	Verified    bool      `bson:"verified"`
	AddedAt     time.Time `bson:"addedAt"`
	Unreachable bool      `bson:"unreachable,omitempty"`
}

// claimDoc says which customer owns a verified identity.
type claimDoc struct {
	ID         string `bson:"_id"` // kind:value
	CustomerID string `bson:"customerId"`
}

func toIdentityDoc(id inbox.Identity) identityDoc {
	return identityDoc{Key: id.Key(), Kind: string(id.Kind), Value: id.Value, Verified: id.Verified,
		AddedAt: ms(id.AddedAt), Unreachable: id.Unreachable}
}

func (d identityDoc) identity() inbox.Identity {
	return inbox.Identity{Kind: inbox.IdentityKind(d.Kind), Value: d.Value, Verified: d.Verified,
		AddedAt: fromDB(d.AddedAt), Unreachable: d.Unreachable}
}

func (d customerDoc) customer() inbox.Customer {
	c := inbox.Customer{ID: d.ID, Name: d.Name, Avatar: d.Avatar, Locale: d.Locale, MergedInto: d.MergedInto,
		CreatedAt: fromDB(d.CreatedAt), UpdatedAt: fromDB(d.UpdatedAt), Identities: make([]inbox.Identity, 0, len(d.Identities))}
	for _, id := range d.Identities {
		c.Identities = append(c.Identities, id.identity())
	}
	return c
}

func identityKey(kind inbox.IdentityKind, value string) string {
	return inbox.Identity{Kind: kind, Value: value}.Key()
}

// CreateCustomer stores c, then claims its verified identities. Storing the customer first means a
// claim always names a customer that exists; when a claim is taken, the claims made so far and
// the customer are removed again and the error is an *inbox.IdentityTakenError.
func (s *Store) CreateCustomer(ctx context.Context, c inbox.Customer) error {
	d := customerDoc{ID: c.ID, Name: c.Name, Avatar: c.Avatar, Locale: c.Locale, MergedInto: c.MergedInto,
		CreatedAt: ms(c.CreatedAt), UpdatedAt: ms(c.UpdatedAt), Identities: []identityDoc{}}
	var verified []inbox.Identity
	for _, id := range c.Identities {
		if slices.ContainsFunc(d.Identities, func(o identityDoc) bool { return o.Key == id.Key() }) {
			continue
		}
		d.Identities = append(d.Identities, toIdentityDoc(id))
		if id.Verified {
			verified = append(verified, id)
		}
	}
	d.Pending = len(verified) > 0
	if _, err := s.customers.InsertOne(ctx, d); err != nil {
		if isDuplicateKey(err) {
			return fmt.Errorf("mongo: customer %s exists already: %w", c.ID, inbox.ErrConflict)
		}
		return fmt.Errorf("mongo: insert customer %s: %w", c.ID, err)
	}
	for i, id := range verified {
		owner, err := s.claim(ctx, id.Key(), c.ID)
		if err == nil && owner == c.ID {
			continue
		}
		// Undo with a context that outlives a cancelled request: a half-created customer
		// holding claims would block those identities.
		undo, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if uerr := s.unclaimCreate(undo, c.ID, verified[:i]); uerr != nil {
			s.log.Error("could not undo a refused customer", "customer", c.ID, "err", uerr)
		}
		if err != nil {
			return err
		}
		return &inbox.IdentityTakenError{Identity: id, OwnerID: owner}
	}
	if d.Pending {
		unlock := s.exclusive(s.customers)
		_, err := s.customers.UpdateOne(ctx, bson.D{{Key: "_id", Value: c.ID}}, bson.D{{Key: "$unset", Value: bson.D{{Key: "pending", Value: ""}}}})
		unlock()
		if err != nil {
			return fmt.Errorf("mongo: finish customer %s: %w", c.ID, err)
		}
	}
	return nil
}

// claim makes customerID the owner of the identity key unless someone owns it, and returns the
// owner either way.
func (s *Store) claim(ctx context.Context, key, customerID string) (string, error) {
	for range 3 {
		_, err := s.identities.InsertOne(ctx, claimDoc{ID: key, CustomerID: customerID})
		if err == nil {
			return customerID, nil
		}
		if !isDuplicateKey(err) {
			return "", fmt.Errorf("mongo: claim identity %s: %w", key, err)
		}
		var owner claimDoc
		err = s.identities.FindOne(ctx, bson.D{{Key: "_id", Value: key}}).Decode(&owner)
		if errors.Is(err, mongo.ErrNoDocuments) {
			continue // released between our insert and this read: try again
		}
		if err != nil {
			return "", fmt.Errorf("mongo: read claim of identity %s: %w", key, err)
		}
		return owner.CustomerID, nil
	}
	return "", fmt.Errorf("mongo: claim identity %s: its owner keeps changing: %w", key, inbox.ErrConflict)
}

func (s *Store) unclaimCreate(ctx context.Context, customerID string, claimed []inbox.Identity) error {
	keys := make([]string, 0, len(claimed))
	for _, id := range claimed {
		keys = append(keys, id.Key())
	}
	if len(keys) > 0 {
		unlock := s.exclusive(s.identities)
		_, err := s.identities.DeleteMany(ctx, bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: keys}}}, {Key: "customerId", Value: customerID}})
		unlock()
		if err != nil {
			return fmt.Errorf("release claims: %w", err)
		}
	}
	if _, err := s.customers.DeleteOne(ctx, bson.D{{Key: "_id", Value: customerID}}); err != nil {
		return fmt.Errorf("delete customer: %w", err)
	}
	return nil
}

func (s *Store) customerDoc(ctx context.Context, id string) (customerDoc, error) {
	var d customerDoc
	if err := s.customers.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&d); err != nil {
		return d, fmt.Errorf("mongo: customer %s: %w", id, notFound(err))
	}
	return d, nil
}

// CustomerByID returns the customer as stored.
func (s *Store) CustomerByID(ctx context.Context, id string) (inbox.Customer, error) {
	d, err := s.customerDoc(ctx, id)
	if err != nil {
		return inbox.Customer{}, err
	}
	return d.customer(), nil
}

// CustomerIDByIdentity returns the owner of a claimed identity.
func (s *Store) CustomerIDByIdentity(ctx context.Context, kind inbox.IdentityKind, value string) (string, error) {
	var c claimDoc
	key := identityKey(kind, value)
	if err := s.identities.FindOne(ctx, bson.D{{Key: "_id", Value: key}}).Decode(&c); err != nil {
		return "", fmt.Errorf("mongo: owner of identity %s: %w", key, notFound(err))
	}
	return c.CustomerID, nil
}

// maxHolders bounds CustomersWithIdentity: an identifier typed into forms by more customers than
// this is not worth suggesting merges for.
const maxHolders = 100

// CustomersWithIdentity lists customers holding kind:value, verified or not.
func (s *Store) CustomersWithIdentity(ctx context.Context, kind inbox.IdentityKind, value string) ([]string, error) {
	key := identityKey(kind, value)
	docs, err := findAll[struct {
		ID string `bson:"_id"`
	}](ctx, s.customers, bson.D{{Key: "identities.key", Value: key}, {Key: "pending", Value: bson.D{{Key: "$ne", Value: true}}}},
		options.Find().SetProjection(bson.D{{Key: "_id", Value: 1}}).SetSort(bson.D{{Key: "_id", Value: 1}}).SetLimit(maxHolders))
	if err != nil {
		return nil, fmt.Errorf("mongo: holders of identity %s: %w", key, err)
	}
	out := make([]string, 0, len(docs))
	for _, d := range docs {
		out = append(out, d.ID)
	}
	return out, nil
}

// AddIdentity adds id to the customer, claiming it first when verified.
func (s *Store) AddIdentity(ctx context.Context, customerID string, id inbox.Identity) error {
	if _, err := s.customerDoc(ctx, customerID); err != nil {
		return err
	}
	if id.Verified {
		owner, err := s.claim(ctx, id.Key(), customerID)
		if err != nil {
			return err
		}
		if owner != customerID {
			return &inbox.IdentityTakenError{Identity: id, OwnerID: owner}
		}
	}
	return s.changeIdentities(ctx, customerID, func(ids []identityDoc) ([]identityDoc, bool) {
		return addIdentity(ids, toIdentityDoc(id))
	})
}

// addIdentity adds nd to ids, or upgrades the one with its key to verified.
func addIdentity(ids []identityDoc, nd identityDoc) ([]identityDoc, bool) {
	i := slices.IndexFunc(ids, func(o identityDoc) bool { return o.Key == nd.Key })
	switch {
	case i < 0:
		return append(ids, nd), true
	case nd.Verified && !ids[i].Verified:
		ids[i].Verified = true
		return ids, true
	}
	return ids, false
}

// SetIdentityUnreachable flags or clears one identity of the customer.
func (s *Store) SetIdentityUnreachable(ctx context.Context, customerID string, kind inbox.IdentityKind, value string, unreachable bool) error {
	key := identityKey(kind, value)
	found := false
	err := s.changeIdentities(ctx, customerID, func(ids []identityDoc) ([]identityDoc, bool) {
		i := slices.IndexFunc(ids, func(o identityDoc) bool { return o.Key == key })
		found = i >= 0
		if !found || ids[i].Unreachable == unreachable {
			return ids, false
		}
		ids[i].Unreachable = unreachable
		return ids, true
	})
	if err != nil {
		return err
	}
	if !found {
		return fmt.Errorf("mongo: customer %s has no identity %s: %w", customerID, key, inbox.ErrNotFound)
	}
	return nil
}

// changeIdentities rewrites a customer's identities with change, under a revision check so that
// concurrent changes are applied one after the other (compare-and-set).
func (s *Store) changeIdentities(ctx context.Context, customerID string, change func([]identityDoc) ([]identityDoc, bool)) error {
	for range maxCASAttempts {
		done, err := func() (bool, error) {
			unlock := s.exclusive(s.customers)
			defer unlock()
			d, err := s.customerDoc(ctx, customerID)
			if err != nil {
				return false, err
			}
			ids, changed := change(slices.Clone(d.Identities))
			if !changed {
				return true, nil
			}
			if ids == nil {
				ids = []identityDoc{}
			}
			res, err := s.customers.UpdateOne(ctx, bson.D{{Key: "_id", Value: customerID}, {Key: "rev", Value: d.Rev}},
				bson.D{{Key: "$set", Value: bson.D{{Key: "identities", Value: ids}}}, {Key: "$inc", Value: bson.D{{Key: "rev", Value: 1}}}})
			if err != nil {
				return false, fmt.Errorf("mongo: update identities of customer %s: %w", customerID, err)
			}
			return res.MatchedCount == 1, nil
		}()
		if err != nil || done {
			return err
		}
	}
	return fmt.Errorf("mongo: identities of customer %s keep changing: %w", customerID, inbox.ErrConflict)
}

// UpdateCustomerProfile sets the non-empty values.
func (s *Store) UpdateCustomerProfile(ctx context.Context, id, name, avatar, locale string) error {
	set := bson.D{}
	for _, f := range []struct{ k, v string }{{"name", name}, {"avatar", avatar}, {"locale", locale}} {
		if f.v != "" {
			set = append(set, bson.E{Key: f.k, Value: f.v})
		}
	}
	if len(set) == 0 {
		_, err := s.customerDoc(ctx, id)
		return err
	}
	unlock := s.exclusive(s.customers)
	res, err := s.customers.UpdateOne(ctx, bson.D{{Key: "_id", Value: id}}, bson.D{{Key: "$set", Value: set}})
	unlock()
	if err != nil {
		return fmt.Errorf("mongo: update profile of customer %s: %w", id, err)
	}
	if res.MatchedCount == 0 {
		return fmt.Errorf("mongo: customer %s: %w", id, inbox.ErrNotFound)
	}
	return nil
}

// FindCustomers implements inbox.CustomerFinder with a case-insensitive regular expression of the
// quoted text over names and identity values. It scans the customers: MongoDB's $text index would
// match whole words only (not "0812" in a phone number), and FerretDB has none.
func (s *Store) FindCustomers(ctx context.Context, text string, limit int) ([]inbox.Customer, error) {
	if limit <= 0 || limit > inbox.MaxFound {
		limit = inbox.MaxFound
	}
	re := bson.Regex{Pattern: regexp.QuoteMeta(text), Options: "i"}
	filter := bson.D{
		{Key: "mergedInto", Value: bson.D{{Key: "$in", Value: bson.A{nil, ""}}}},
		{Key: "pending", Value: bson.D{{Key: "$ne", Value: true}}},
		{Key: "$or", Value: bson.A{
			bson.D{{Key: "name", Value: re}},
			bson.D{{Key: "identities.value", Value: re}},
		}},
	}
	docs, err := findAll[customerDoc](ctx, s.customers, filter,
		options.Find().SetSort(bson.D{{Key: "updatedAt", Value: -1}, {Key: "_id", Value: -1}}).SetLimit(int64(limit)))
	if err != nil {
		return nil, fmt.Errorf("mongo: find customers: %w", err)
	}
	out := make([]inbox.Customer, 0, len(docs))
	for _, d := range docs {
		out = append(out, d.customer())
	}
	return out, nil
}
