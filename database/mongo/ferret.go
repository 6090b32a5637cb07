package mongo

import (
	"context"
	"fmt"
	"sync"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// FerretDB (1.24, SQLite backend) is the wire-level stand-in the store's tests run against. It
// differs from MongoDB in ways this store works around:
//
//   - An update (update, findAndModify, upsert) is not atomic: FerretDB reads the matching
//     document, applies the operators in Go and writes the whole document back by _id, with no
//     isolation between connections. Two findOneAndUpdate calls with the same precondition can
//     both succeed, and concurrent $inc lose increments. MongoDB applies each of these atomically.
//     So when the server is FerretDB, the store serialises its own updates per collection (see
//     serializer). That makes one process correct; two processes sharing one FerretDB would still
//     race, which is acceptable for a test stand-in and is why FerretDB is not a production option.
//   - An update that breaks a unique index fails with InternalError (code 1), not 11000:
//     isDuplicateKey recognises both.
//   - createIndexes naming two or more existing indexes panics: indexes are created one by one.
//   - Positional updates ("identities.$") and arrayFilters are not implemented: array elements are
//     changed by rewriting the array under a revision check (compare-and-set).
//   - "sparse" is accepted and ignored, but its SQLite unique index lets any number of documents
//     lack the key, which is what sparse is used for here.
//   - Only a filter that is exactly {_id: value} uses an index; any other filter, even
//     {_id, rev}, makes FerretDB decode every document of the collection. That costs time, not
//     correctness, and the store keeps MongoDB's filters rather than trading test fidelity for
//     FerretDB speed.
//
// Inserts, and deletes by _id, are atomic on both: the unique constraints are SQLite's own.

// isFerretDB reports whether the server is FerretDB, which says so in buildInfo.
func isFerretDB(ctx context.Context, db *mongo.Database) (bool, error) {
	var info bson.M
	if err := db.RunCommand(ctx, bson.D{{Key: "buildInfo", Value: 1}}).Decode(&info); err != nil {
		return false, fmt.Errorf("mongo: buildInfo: %w", err)
	}
	_, ferret := info["ferretdbVersion"]
	return ferret, nil
}

// serializer holds one lock per collection. Its map is filled at construction and only read
// afterwards.
type serializer struct {
	locks map[string]*sync.Mutex
}

func newSerializer() *serializer {
	s := &serializer{locks: map[string]*sync.Mutex{}}
	for _, c := range []string{collCustomers, collIdentities, collConversations, collMessages, collOutbox,
		collState, collAudit, collSuggestions, collAPIKeys, collAgents, collSessions, collTeams, collCanned, blobBucket + ".files", blobBucket + ".chunks"} {
		s.locks[c] = &sync.Mutex{}
	}
	return s
}

// exclusive makes the caller the only writer of collection c in this process until the returned
// function is called; on MongoDB it does nothing. Callers never hold two at once, so there is no
// lock order to get wrong.
func (s *Store) exclusive(c *mongo.Collection) (unlock func()) {
	if s.serial == nil {
		return func() {}
	}
	mu := s.serial.locks[c.Name()]
	mu.Lock()
	return mu.Unlock
}
