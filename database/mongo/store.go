// Package mongo is the MongoDB store: the production and scale-out storage of Serambi
// (go.mongodb.org/mongo-driver/v2). It implements inbox.Store, agents.Store and
// connectors.StateStore, and inbox.Blobs on GridFS.
//
// Nothing here needs a multi-document transaction: every method is one single-document atomic
// write, or a sequence of idempotent steps that a retry completes. Uniqueness comes from natural
// keys (an identity's "kind:value" as an _id, a message's "channel:externalId" under a unique
// index), never from reading first. The store passes database/storetest against an embedded
// FerretDB, which is how it is tested; see ferret.go for what FerretDB does differently.
//
// Collections (ARCHITECTURE.md's data model, adapted):
//
//	customers          identities embedded (verified or not), mergedInto on a merge's loser
//	identities         _id "kind:value" → customerId: the claim on a verified identity
//	conversations      one per customer (unique customerId); rev for compare-and-set updates
//	messages           dedupeKey "channel:externalId" unique+sparse; (conversationId, createdAt, _id)
//	outbox             one job per outbound message, with a copy of the message; lease fields
//	connector_state    per key: connector state bytes and a lease
//	merge_suggestions  _id "customerId/otherId"
//	audit, agents, sessions, teams, api_keys, canned_responses
//	attachments.*      GridFS bucket, plus attachments.sha: SHA-256 → the file holding those bytes
//
// Times are BSON dates: UTC, whole milliseconds (see ms).
package mongo

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver/connstring"

	"github.com/serambi/serambi/agents"
	"github.com/serambi/serambi/connectors"
	"github.com/serambi/serambi/inbox"
)

var (
	_ inbox.Store           = (*Store)(nil)
	_ agents.Store          = (*Store)(nil)
	_ connectors.StateStore = (*Store)(nil)
	_ inbox.Blobs           = (*Blobs)(nil)
)

// DefaultDatabase is used when the URI names no database.
const DefaultDatabase = "serambi"

// Collection names.
const (
	collCustomers     = "customers"
	collIdentities    = "identities"
	collConversations = "conversations"
	collMessages      = "messages"
	collOutbox        = "outbox"
	collState         = "connector_state"
	collAudit         = "audit"
	collSuggestions   = "merge_suggestions"
	collAPIKeys       = "api_keys"
	collAgents        = "agents"
	collSessions      = "sessions"
	collTeams         = "teams"
	collCanned        = "canned_responses"
	blobBucket        = "attachments"
)

// Store is the MongoDB store. It is safe for concurrent use.
type Store struct {
	client *mongo.Client
	db     *mongo.Database
	log    *slog.Logger

	customers, identities, conversations, messages, outbox, state, audit, suggestions *mongo.Collection
	apiKeys, agents, sessions, teams, canned                                          *mongo.Collection

	blobs *Blobs
	// serial is nil on MongoDB. On FerretDB it serialises this process's updates per collection,
	// because FerretDB does not apply an update atomically (see ferret.go).
	serial *serializer
}

// Open connects to the MongoDB server at uri, checks that it answers and ensures the indexes.
// The database is the URI's path ("mongodb://host/shop" uses "shop"), DefaultDatabase when empty.
func Open(ctx context.Context, uri string, log *slog.Logger) (*Store, error) {
	cs, err := connstring.ParseAndValidate(uri)
	if err != nil {
		// The driver's message can quote the URI, password included: say only what is wrong.
		return nil, fmt.Errorf("mongo: the MongoDB URI is not valid (expected mongodb://host[:port]/database or mongodb+srv://...): %w", inbox.ErrInvalid)
	}
	dbName := cs.Database
	if dbName == "" {
		dbName = DefaultDatabase
	}
	client, err := mongo.Connect(options.Client().ApplyURI(uri).SetAppName("serambi"))
	if err != nil {
		return nil, fmt.Errorf("mongo: connect to %s: %w", strings.Join(cs.Hosts, ","), err)
	}
	s := &Store{client: client, db: client.Database(dbName), log: log}
	if err := s.init(ctx); err != nil {
		_ = client.Disconnect(context.WithoutCancel(ctx))
		return nil, err
	}
	return s, nil
}

func (s *Store) init(ctx context.Context) error {
	if err := s.client.Ping(ctx, nil); err != nil {
		return fmt.Errorf("mongo: ping %s: %w", s.db.Name(), err)
	}
	ferret, err := isFerretDB(ctx, s.db)
	if err != nil {
		return err
	}
	if ferret {
		s.serial = newSerializer()
		s.log.Info("the MongoDB server is FerretDB: updates are serialised per collection in this process")
	}
	s.customers = s.db.Collection(collCustomers)
	s.identities = s.db.Collection(collIdentities)
	s.conversations = s.db.Collection(collConversations)
	s.messages = s.db.Collection(collMessages)
	s.outbox = s.db.Collection(collOutbox)
	s.state = s.db.Collection(collState)
	s.audit = s.db.Collection(collAudit)
	s.suggestions = s.db.Collection(collSuggestions)
	s.apiKeys = s.db.Collection(collAPIKeys)
	s.agents = s.db.Collection(collAgents)
	s.sessions = s.db.Collection(collSessions)
	s.teams = s.db.Collection(collTeams)
	s.canned = s.db.Collection(collCanned)
	s.blobs = newBlobs(s.db)
	return s.ensureIndexes(ctx)
}

// Close disconnects from the server.
func (s *Store) Close(ctx context.Context) error {
	if err := s.client.Disconnect(ctx); err != nil {
		return fmt.Errorf("mongo: disconnect: %w", err)
	}
	return nil
}

// Blobs returns the attachment store on GridFS.
func (s *Store) Blobs() *Blobs { return s.blobs }

// index is one index the store needs.
type index struct {
	coll   string
	keys   bson.D
	unique bool
	// sparse: the key is optional; documents without it are not indexed (and do not collide).
	sparse bool
}

// indexes are what the queries need. No TTL, partial, text or collation index: FerretDB has none
// and the store does not rely on them.
var indexes = []index{
	// Every holder of an identifier, verified or not (merge suggestions). Claims of verified
	// identities are in the identities collection, keyed by "kind:value" (see customers.go).
	{coll: collCustomers, keys: bson.D{{Key: "identities.key", Value: 1}}},
	{coll: collIdentities, keys: bson.D{{Key: "customerId", Value: 1}}},
	{coll: collConversations, keys: bson.D{{Key: "customerId", Value: 1}}, unique: true},
	// The inbox list: newest activity first, optionally per status or assignee.
	{coll: collConversations, keys: bson.D{{Key: "lastMessageAt", Value: -1}, {Key: "_id", Value: -1}}},
	{coll: collConversations, keys: bson.D{{Key: "status", Value: 1}, {Key: "lastMessageAt", Value: -1}, {Key: "_id", Value: -1}}},
	{coll: collConversations, keys: bson.D{{Key: "assigneeId", Value: 1}, {Key: "lastMessageAt", Value: -1}, {Key: "_id", Value: -1}}},
	// Ingest is idempotent on (channel, externalId): dedupeKey is "channel:externalId", absent
	// on messages without an external id (notes, events, replies not yet sent).
	{coll: collMessages, keys: bson.D{{Key: "dedupeKey", Value: 1}}, unique: true, sparse: true},
	{coll: collMessages, keys: bson.D{{Key: "conversationId", Value: 1}, {Key: "createdAt", Value: -1}, {Key: "_id", Value: -1}}},
	{coll: collMessages, keys: bson.D{{Key: "customerId", Value: 1}}},
	{coll: collOutbox, keys: bson.D{{Key: "nextAttemptAt", Value: 1}, {Key: "_id", Value: 1}}},
	{coll: collOutbox, keys: bson.D{{Key: "leaseOwner", Value: 1}}},
	{coll: collAudit, keys: bson.D{{Key: "customerId", Value: 1}, {Key: "at", Value: -1}, {Key: "_id", Value: -1}}},
	{coll: collSuggestions, keys: bson.D{{Key: "customerId", Value: 1}, {Key: "at", Value: -1}}},
	{coll: collSuggestions, keys: bson.D{{Key: "otherId", Value: 1}}},
	{coll: collAPIKeys, keys: bson.D{{Key: "hash", Value: 1}}, unique: true},
	{coll: collAgents, keys: bson.D{{Key: "email", Value: 1}}, unique: true},
	{coll: collSessions, keys: bson.D{{Key: "agentId", Value: 1}, {Key: "createdAt", Value: -1}}},
	{coll: collTeams, keys: bson.D{{Key: "name", Value: 1}}, unique: true},
	{coll: collCanned, keys: bson.D{{Key: "shortcut", Value: 1}}, unique: true},
	// Notifications (notifications.go): created once per agent, kind and message; an agent's
	// list newest first; the bell's unread count.
	{coll: collNotifications, keys: bson.D{{Key: "agentId", Value: 1}, {Key: "kind", Value: 1}, {Key: "messageId", Value: 1}}, unique: true},
	{coll: collNotifications, keys: bson.D{{Key: "agentId", Value: 1}, {Key: "createdAt", Value: -1}, {Key: "_id", Value: -1}}},
	{coll: collNotifications, keys: bson.D{{Key: "agentId", Value: 1}, {Key: "unread", Value: 1}}},
}

// ensureIndexes creates the indexes that do not exist yet; creating an existing index with the
// same options is a no-op, so every start may call it. Each index is created on its own: FerretDB
// 1.24 panics (and drops the connection) when one createIndexes command names two or more indexes
// that already exist.
func (s *Store) ensureIndexes(ctx context.Context) error {
	for _, ix := range indexes {
		opts := options.Index()
		if ix.unique {
			opts.SetUnique(true)
		}
		if ix.sparse {
			opts.SetSparse(true)
		}
		if _, err := s.db.Collection(ix.coll).Indexes().CreateOne(ctx, mongo.IndexModel{Keys: ix.keys, Options: opts}); err != nil {
			return fmt.Errorf("mongo: create index %v on %s: %w", ix.keys, ix.coll, err)
		}
	}
	return nil
}

// isDuplicateKey reports whether err says a unique key is taken. MongoDB says so with code
// 11000; FerretDB does for inserts, but an update that breaks a unique index comes back as an
// InternalError carrying SQLite's "UNIQUE constraint failed".
func isDuplicateKey(err error) bool {
	if err == nil {
		return false
	}
	if mongo.IsDuplicateKeyError(err) {
		return true
	}
	var se mongo.ServerError
	return errors.As(err, &se) && (se.HasErrorMessage("UNIQUE constraint failed") || se.HasErrorMessage("E11000"))
}

// notFound maps the driver's "no document" to the domain's ErrNotFound.
func notFound(err error) error {
	if errors.Is(err, mongo.ErrNoDocuments) {
		return inbox.ErrNotFound
	}
	return err
}

// ms is how a time is stored: UTC, whole milliseconds (a BSON date holds no finer). Every time
// that enters the store goes through it, so what a method returns equals what a later read gives,
// and cursors built from returned values compare exactly with stored ones.
func ms(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC().Truncate(time.Millisecond)
}

// fromDB normalises a time read back: the driver gives UTC, and a stored zero time back as the
// zero time.
func fromDB(t time.Time) time.Time {
	if t.IsZero() || t.Equal(time.Time{}) {
		return time.Time{}
	}
	return t.UTC()
}

// pair is one entry of a string map as stored. Maps are stored as arrays of pairs so that any key
// is allowed (MongoDB field names may not hold every string: '$' prefixes, dots, NULs).
type pair struct {
	K string `bson:"k"`
	V string `bson:"v"`
}

func toPairs(m map[string]string) []pair {
	if len(m) == 0 {
		return nil
	}
	out := make([]pair, 0, len(m))
	for k, v := range m {
		out = append(out, pair{k, v})
	}
	return out
}

func fromPairs(ps []pair) map[string]string {
	if len(ps) == 0 {
		return nil
	}
	m := make(map[string]string, len(ps))
	for _, p := range ps {
		m[p.K] = p.V
	}
	return m
}

// findAll decodes every document of a bounded query.
func findAll[T any](ctx context.Context, c *mongo.Collection, filter any, opts ...options.Lister[options.FindOptions]) ([]T, error) {
	cur, err := c.Find(ctx, filter, opts...)
	if err != nil {
		return nil, err
	}
	var out []T
	if err := cur.All(ctx, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// maxCASAttempts bounds a compare-and-set loop. Each failed attempt means another writer changed
// the document in between; this many in a row means something is wrong.
const maxCASAttempts = 100
