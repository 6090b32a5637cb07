package mongo

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/serambi/serambi/inbox"
)

// connector_state holds one document per key: the connector's state bytes and, separately, the
// lease on the key (who polls that account). Either may exist without the other.

// GetState returns the state stored under key.
func (s *Store) GetState(ctx context.Context, key string) ([]byte, error) {
	raw, err := s.state.FindOne(ctx, bson.D{{Key: "_id", Value: key}}).Raw()
	if err != nil {
		return nil, fmt.Errorf("mongo: connector state %s: %w", key, notFound(err))
	}
	v, err := raw.LookupErr("state")
	if err != nil {
		return nil, fmt.Errorf("mongo: connector state %s: %w", key, inbox.ErrNotFound) // only a lease so far
	}
	_, data, ok := v.BinaryOK()
	if !ok {
		return nil, fmt.Errorf("mongo: connector state %s is stored as %s, not binary", key, v.Type)
	}
	return append([]byte{}, data...), nil
}

// PutState stores state under key.
func (s *Store) PutState(ctx context.Context, key string, state []byte) error {
	unlock := s.exclusive(s.state)
	defer unlock()
	set := bson.D{{Key: "$set", Value: bson.D{{Key: "state", Value: bson.Binary{Data: append([]byte{}, state...)}}}}}
	for range 2 {
		// Two first writes of a key can both try to insert; the loser's retry updates.
		_, err := s.state.UpdateOne(ctx, bson.D{{Key: "_id", Value: key}}, set, options.UpdateOne().SetUpsert(true))
		if err == nil {
			return nil
		}
		if !isDuplicateKey(err) {
			return fmt.Errorf("mongo: put connector state %s: %w", key, err)
		}
	}
	return fmt.Errorf("mongo: put connector state %s: %w", key, inbox.ErrConflict)
}

// AcquireLease takes or renews the lease on key for owner. It is two atomic steps: renew or take
// an existing document whose lease is ours, expired or absent; failing that, create the document
// holding our lease. If that insert is a duplicate key, someone else holds a live lease.
func (s *Store) AcquireLease(ctx context.Context, key, owner string, now time.Time, ttl time.Duration) (bool, error) {
	now = ms(now)
	until := ms(now.Add(ttl))
	unlock := s.exclusive(s.state)
	defer unlock()
	res, err := s.state.UpdateOne(ctx, bson.D{{Key: "_id", Value: key}, {Key: "$or", Value: bson.A{
		bson.D{{Key: "leaseOwner", Value: owner}},
		bson.D{{Key: "leaseUntil", Value: bson.D{{Key: "$lte", Value: now}}}},
		bson.D{{Key: "leaseOwner", Value: bson.D{{Key: "$exists", Value: false}}}},
	}}}, bson.D{{Key: "$set", Value: bson.D{{Key: "leaseOwner", Value: owner}, {Key: "leaseUntil", Value: until}}}})
	if err != nil {
		return false, fmt.Errorf("mongo: lease %s: %w", key, err)
	}
	if res.MatchedCount == 1 {
		return true, nil
	}
	_, err = s.state.InsertOne(ctx, bson.D{{Key: "_id", Value: key}, {Key: "leaseOwner", Value: owner}, {Key: "leaseUntil", Value: until}})
	if isDuplicateKey(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("mongo: lease %s: %w", key, err)
	}
	return true, nil
}

// ReleaseLease gives the lease on key up if owner holds it.
func (s *Store) ReleaseLease(ctx context.Context, key, owner string) error {
	unlock := s.exclusive(s.state)
	defer unlock()
	_, err := s.state.UpdateOne(ctx, bson.D{{Key: "_id", Value: key}, {Key: "leaseOwner", Value: owner}},
		bson.D{{Key: "$unset", Value: bson.D{{Key: "leaseOwner", Value: ""}, {Key: "leaseUntil", Value: ""}}}})
	if err != nil && !errors.Is(err, mongo.ErrNoDocuments) {
		return fmt.Errorf("mongo: release lease %s: %w", key, err)
	}
	return nil
}
