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

type jobDoc struct {
	ID            string    `bson:"_id"`
	MessageID     string    `bson:"messageId"`
	Channel       string    `bson:"channel"`
	Attempts      int       `bson:"attempts"`
	NextAttemptAt time.Time `bson:"nextAttemptAt"`
	LeaseOwner    string    `bson:"leaseOwner,omitempty"`
	// LeaseUntil is the zero date when the job is not leased, so "not leased by a live owner" is
	// one comparison, leaseUntil <= now, with no $exists.
	LeaseUntil time.Time `bson:"leaseUntil"`
	LastError  string    `bson:"lastError,omitempty"`
	CreatedAt  time.Time `bson:"createdAt"`
	// Message is a copy of the outbound message. The job is stored before the message, and a
	// claim re-creates the message from this copy when a crash came in between.
	Message *messageDoc `bson:"message,omitempty"`
}

func (d jobDoc) job() inbox.OutboxJob {
	return inbox.OutboxJob{ID: d.ID, MessageID: d.MessageID, Channel: inbox.Channel(d.Channel), Attempts: d.Attempts,
		NextAttemptAt: fromDB(d.NextAttemptAt), LeaseOwner: d.LeaseOwner, LeaseUntil: fromDB(d.LeaseUntil),
		LastError: d.LastError, CreatedAt: fromDB(d.CreatedAt)}
}

// EnqueueOutbound stores the message (as queued) and its job without a transaction. The job goes
// first and carries a copy of the message:
//   - a crash after the job and before the message loses nothing: ClaimOutbox finds the message
//     missing and stores the copy before handing the job out;
//   - the other order could leave a queued message that no job will ever send.
//
// Both inserts are idempotent, so a retried EnqueueOutbound completes the first one. If the
// message cannot be stored the job is removed again, so a reply reported as failed is not sent.
func (s *Store) EnqueueOutbound(ctx context.Context, m inbox.Message, job inbox.OutboxJob, p *inbox.ConversationPatch) error {
	if err := s.enqueue(ctx, m, job); err != nil {
		return err
	}
	if p == nil {
		return nil
	}
	// A second write (no transactions on FerretDB). The reply is queued and will be sent
	// whatever happens here; failing the call now would invite a retry that sends it twice, and
	// a conversation whose activity missed one reply only shows an older preview.
	if _, _, err := s.UpdateConversation(ctx, m.ConversationID, *p); err != nil {
		s.log.Warn("reply queued but not recorded on its conversation", "message", m.ID, "conversation", m.ConversationID, "err", err)
	}
	return nil
}

func (s *Store) enqueue(ctx context.Context, m inbox.Message, job inbox.OutboxJob) error {
	m.Delivery = inbox.DeliveryQueued
	md := toMessageDoc(m)
	jd := jobDoc{ID: job.ID, MessageID: job.MessageID, Channel: string(job.Channel), Attempts: job.Attempts,
		NextAttemptAt: ms(job.NextAttemptAt), LastError: job.LastError, CreatedAt: ms(job.CreatedAt), Message: &md}
	if jd.MessageID == "" {
		jd.MessageID = m.ID
	}
	if jd.MessageID != m.ID {
		return fmt.Errorf("mongo: job %s is for message %s, not %s: %w", job.ID, jd.MessageID, m.ID, inbox.ErrInvalid)
	}
	if _, err := s.outbox.InsertOne(ctx, jd); err != nil && !isDuplicateKey(err) {
		return fmt.Errorf("mongo: insert outbox job %s: %w", job.ID, err)
	}
	if _, _, err := s.InsertMessage(ctx, m); err != nil {
		undo, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if _, derr := s.outbox.DeleteOne(undo, bson.D{{Key: "_id", Value: job.ID}}); derr != nil {
			s.log.Error("could not remove the job of a message that was not stored; it will be sent from the job's copy",
				"job", job.ID, "err", derr)
		}
		return err
	}
	return nil
}

// ClaimOutbox leases due jobs one findOneAndUpdate at a time: each claim is atomic, so two
// claimers never get the same job.
func (s *Store) ClaimOutbox(ctx context.Context, owner string, now time.Time, lease time.Duration, limit int) ([]inbox.OutboxJob, error) {
	now = ms(now)
	filter := bson.D{
		{Key: "nextAttemptAt", Value: bson.D{{Key: "$lte", Value: now}}},
		{Key: "leaseUntil", Value: bson.D{{Key: "$lte", Value: now}}},
	}
	update := bson.D{{Key: "$set", Value: bson.D{{Key: "leaseOwner", Value: owner}, {Key: "leaseUntil", Value: ms(now.Add(lease))}}}}
	opts := options.FindOneAndUpdate().SetSort(bson.D{{Key: "nextAttemptAt", Value: 1}, {Key: "_id", Value: 1}}).
		SetReturnDocument(options.After)
	var claimed []jobDoc
	err := func() error {
		unlock := s.exclusive(s.outbox)
		defer unlock()
		for len(claimed) < int(clamp(limit, 1)) {
			var d jobDoc
			err := s.outbox.FindOneAndUpdate(ctx, filter, update, opts).Decode(&d)
			if errors.Is(err, mongo.ErrNoDocuments) {
				return nil
			}
			if err != nil {
				return fmt.Errorf("mongo: claim outbox job: %w", err)
			}
			claimed = append(claimed, d)
		}
		return nil
	}()
	jobs := make([]inbox.OutboxJob, 0, len(claimed))
	for _, d := range claimed {
		if rerr := s.restoreMessage(ctx, d); rerr != nil && err == nil {
			err = rerr
		}
		jobs = append(jobs, d.job())
	}
	// Jobs claimed before an error are returned with it: they are leased to owner now, and
	// dropping them would only delay them until the lease ends.
	return jobs, err
}

// restoreMessage stores the job's copy of its message if the message is missing: EnqueueOutbound
// was interrupted between storing the job and the message.
func (s *Store) restoreMessage(ctx context.Context, d jobDoc) error {
	err := s.messages.FindOne(ctx, bson.D{{Key: "_id", Value: d.MessageID}}, options.FindOne().SetProjection(bson.D{{Key: "_id", Value: 1}})).Err()
	if !errors.Is(err, mongo.ErrNoDocuments) || d.Message == nil {
		if err != nil && !errors.Is(err, mongo.ErrNoDocuments) {
			return fmt.Errorf("mongo: message of outbox job %s: %w", d.ID, err)
		}
		return nil
	}
	if _, _, err := s.InsertMessage(ctx, d.Message.message()); err != nil {
		return fmt.Errorf("mongo: restore message of outbox job %s: %w", d.ID, err)
	}
	s.log.Warn("restored the message of an outbox job whose enqueue was interrupted", "job", d.ID, "message", d.MessageID)
	return nil
}

// ownedJob explains why a job owner asked for is not theirs.
func (s *Store) ownedJob(ctx context.Context, jobID, owner string) error {
	var d jobDoc
	err := s.outbox.FindOne(ctx, bson.D{{Key: "_id", Value: jobID}}, options.FindOne().SetProjection(bson.D{{Key: "leaseOwner", Value: 1}})).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return fmt.Errorf("mongo: outbox job %s: %w", jobID, inbox.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("mongo: outbox job %s: %w", jobID, err)
	}
	return fmt.Errorf("mongo: outbox job %s is leased to %q, not %q: %w", jobID, d.LeaseOwner, owner, inbox.ErrConflict)
}

// CompleteOutbox removes a job its owner holds.
func (s *Store) CompleteOutbox(ctx context.Context, jobID, owner string) error {
	unlock := s.exclusive(s.outbox)
	defer unlock()
	res, err := s.outbox.DeleteOne(ctx, bson.D{{Key: "_id", Value: jobID}, {Key: "leaseOwner", Value: owner}})
	if err != nil {
		return fmt.Errorf("mongo: complete outbox job %s: %w", jobID, err)
	}
	if res.DeletedCount == 0 {
		return s.ownedJob(ctx, jobID, owner)
	}
	return nil
}

// RetryOutbox records a failed attempt and releases the lease until next.
func (s *Store) RetryOutbox(ctx context.Context, jobID, owner string, next time.Time, lastErr string) error {
	unlock := s.exclusive(s.outbox)
	defer unlock()
	res, err := s.outbox.UpdateOne(ctx, bson.D{{Key: "_id", Value: jobID}, {Key: "leaseOwner", Value: owner}}, bson.D{
		{Key: "$set", Value: bson.D{{Key: "nextAttemptAt", Value: ms(next)}, {Key: "lastError", Value: lastErr}, {Key: "leaseUntil", Value: time.Time{}}}},
		{Key: "$unset", Value: bson.D{{Key: "leaseOwner", Value: ""}}},
		{Key: "$inc", Value: bson.D{{Key: "attempts", Value: 1}}},
	})
	if err != nil {
		return fmt.Errorf("mongo: retry outbox job %s: %w", jobID, err)
	}
	if res.MatchedCount == 0 {
		return s.ownedJob(ctx, jobID, owner)
	}
	return nil
}

// ReleaseOutbox gives up every lease owner holds.
func (s *Store) ReleaseOutbox(ctx context.Context, owner string) error {
	unlock := s.exclusive(s.outbox)
	defer unlock()
	_, err := s.outbox.UpdateMany(ctx, bson.D{{Key: "leaseOwner", Value: owner}}, bson.D{
		{Key: "$set", Value: bson.D{{Key: "leaseUntil", Value: time.Time{}}}},
		{Key: "$unset", Value: bson.D{{Key: "leaseOwner", Value: ""}}},
	})
	if err != nil {
		return fmt.Errorf("mongo: release outbox leases of %s: %w", owner, err)
	}
	return nil
}

// OutboxDepth counts jobs waiting, leased or not.
func (s *Store) OutboxDepth(ctx context.Context) (int, error) {
	n, err := s.outbox.CountDocuments(ctx, bson.D{})
	if err != nil {
		return 0, fmt.Errorf("mongo: count outbox jobs: %w", err)
	}
	return int(n), nil
}
