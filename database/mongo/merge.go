package mongo

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/serambi/serambi/inbox"
)

// MergeCustomers makes loserID part of survivorID as a sequence of steps, each one idempotent, so
// that running it again after a crash at any point finishes the merge:
//
//  1. mark the loser MergedInto the survivor (first: from then on every read that follows
//     MergedInto lands on the survivor, and a re-run knows this merge is under way);
//  2. copy the loser's identities to the survivor, move its claims, then empty its list;
//  3. move merge suggestions from and about the loser to the survivor;
//  4. move the conversation: re-point it when the survivor has none, otherwise move its messages
//     into the survivor's, fold its activity in (recorded in Absorbed, so that a re-run does not
//     count it twice) and delete it.
func (s *Store) MergeCustomers(ctx context.Context, survivorID, loserID string, at time.Time) error {
	if survivorID == loserID {
		return fmt.Errorf("mongo: customer %s cannot be merged into itself: %w", survivorID, inbox.ErrInvalid)
	}
	at = ms(at)
	surv, err := s.customerDoc(ctx, survivorID)
	if err != nil {
		return err
	}
	if surv.MergedInto != "" {
		return fmt.Errorf("mongo: survivor %s was itself merged into %s: %w", survivorID, surv.MergedInto, inbox.ErrConflict)
	}
	if err := s.markMerged(ctx, survivorID, loserID, at); err != nil {
		return err
	}
	if err := s.mergeIdentities(ctx, survivorID, loserID); err != nil {
		return err
	}
	if err := s.mergeSuggestions(ctx, survivorID, loserID, at); err != nil {
		return err
	}
	return s.mergeConversations(ctx, survivorID, loserID, at)
}

func (s *Store) markMerged(ctx context.Context, survivorID, loserID string, at time.Time) error {
	for range maxCASAttempts {
		done, err := func() (bool, error) {
			unlock := s.exclusive(s.customers)
			defer unlock()
			l, err := s.customerDoc(ctx, loserID)
			if err != nil {
				return false, err
			}
			switch l.MergedInto {
			case survivorID:
				return true, nil // a re-run
			case "":
			default:
				return false, fmt.Errorf("mongo: customer %s was merged into %s already: %w", loserID, l.MergedInto, inbox.ErrConflict)
			}
			res, err := s.customers.UpdateOne(ctx, bson.D{{Key: "_id", Value: loserID}, {Key: "rev", Value: l.Rev}},
				bson.D{{Key: "$set", Value: bson.D{{Key: "mergedInto", Value: survivorID}, {Key: "updatedAt", Value: at}}}, {Key: "$inc", Value: bson.D{{Key: "rev", Value: 1}}}})
			if err != nil {
				return false, fmt.Errorf("mongo: mark customer %s merged: %w", loserID, err)
			}
			return res.MatchedCount == 1, nil
		}()
		if err != nil || done {
			return err
		}
	}
	return fmt.Errorf("mongo: customer %s keeps changing: %w", loserID, inbox.ErrConflict)
}

func (s *Store) mergeIdentities(ctx context.Context, survivorID, loserID string) error {
	l, err := s.customerDoc(ctx, loserID)
	if err != nil {
		return err
	}
	if len(l.Identities) > 0 {
		err := s.changeIdentities(ctx, survivorID, func(ids []identityDoc) ([]identityDoc, bool) {
			changed := false
			for _, id := range l.Identities {
				var c bool
				ids, c = addIdentity(ids, id)
				changed = changed || c
			}
			return ids, changed
		})
		if err != nil {
			return err
		}
	}
	// Every claim the loser holds, including one whose AddIdentity was interrupted before the
	// loser's list had it.
	unlock := s.exclusive(s.identities)
	_, err = s.identities.UpdateMany(ctx, bson.D{{Key: "customerId", Value: loserID}}, bson.D{{Key: "$set", Value: bson.D{{Key: "customerId", Value: survivorID}}}})
	unlock()
	if err != nil {
		return fmt.Errorf("mongo: move claims of customer %s: %w", loserID, err)
	}
	return s.changeIdentities(ctx, loserID, func(ids []identityDoc) ([]identityDoc, bool) {
		return []identityDoc{}, len(ids) > 0
	})
}

func (s *Store) mergeSuggestions(ctx context.Context, survivorID, loserID string, at time.Time) error {
	for _, field := range []string{"customerId", "otherId"} {
		for {
			docs, err := findAll[suggestionDoc](ctx, s.suggestions, bson.D{{Key: field, Value: loserID}}, options.Find().SetLimit(maxList))
			if err != nil {
				return fmt.Errorf("mongo: suggestions of customer %s: %w", loserID, err)
			}
			for _, d := range docs {
				sg := d.suggestion()
				if field == "customerId" {
					sg.CustomerID = survivorID
				} else {
					sg.OtherID = survivorID
				}
				if sg.CustomerID != sg.OtherID {
					if err := s.AddSuggestion(ctx, sg); err != nil {
						return err
					}
				}
				if _, err := s.suggestions.DeleteOne(ctx, bson.D{{Key: "_id", Value: d.ID}}); err != nil {
					return fmt.Errorf("mongo: delete suggestion %s: %w", d.ID, err)
				}
			}
			if len(docs) < maxList {
				break
			}
		}
	}
	return nil
}

func (s *Store) mergeConversations(ctx context.Context, survivorID, loserID string, at time.Time) error {
	for range 3 {
		lc, err := s.conversationDoc(ctx, bson.D{{Key: "customerId", Value: loserID}})
		if errors.Is(err, inbox.ErrNotFound) {
			return s.moveCustomerMessages(ctx, survivorID, loserID)
		}
		if err != nil {
			return err
		}
		sc, err := s.conversationDoc(ctx, bson.D{{Key: "customerId", Value: survivorID}})
		switch {
		case errors.Is(err, inbox.ErrNotFound):
			err = s.adoptConversation(ctx, survivorID, lc)
			if errors.Is(err, inbox.ErrConflict) {
				continue // the survivor got a conversation meanwhile: fold into it instead
			}
		case err == nil:
			err = s.foldConversation(ctx, sc, lc, at)
		}
		if err != nil {
			return err
		}
		return s.moveCustomerMessages(ctx, survivorID, loserID)
	}
	return fmt.Errorf("mongo: conversations of customers %s and %s keep changing: %w", survivorID, loserID, inbox.ErrConflict)
}

// adoptConversation gives the loser's conversation to a survivor that has none.
func (s *Store) adoptConversation(ctx context.Context, survivorID string, lc conversationDoc) error {
	if err := s.moveCustomerMessages(ctx, survivorID, lc.CustomerID); err != nil {
		return err
	}
	unlock := s.exclusive(s.conversations)
	defer unlock()
	_, err := s.conversations.UpdateOne(ctx, bson.D{{Key: "_id", Value: lc.ID}, {Key: "customerId", Value: lc.CustomerID}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "customerId", Value: survivorID}}}, {Key: "$inc", Value: bson.D{{Key: "rev", Value: 1}}}})
	if isDuplicateKey(err) {
		return fmt.Errorf("mongo: customer %s has a conversation now: %w", survivorID, inbox.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("mongo: give conversation %s to customer %s: %w", lc.ID, survivorID, err)
	}
	return nil
}

// foldConversation moves lc's timeline into sc and deletes lc.
func (s *Store) foldConversation(ctx context.Context, sc, lc conversationDoc, at time.Time) error {
	move := func() error {
		unlock := s.exclusive(s.messages)
		defer unlock()
		_, err := s.messages.UpdateMany(ctx, bson.D{{Key: "conversationId", Value: lc.ID}},
			bson.D{{Key: "$set", Value: bson.D{{Key: "conversationId", Value: sc.ID}, {Key: "customerId", Value: sc.CustomerID}}}})
		if err != nil {
			return fmt.Errorf("mongo: move messages of conversation %s into %s: %w", lc.ID, sc.ID, err)
		}
		return nil
	}
	if err := move(); err != nil {
		return err
	}
	folded := false
	for attempt := 0; attempt < maxCASAttempts && !folded; attempt++ {
		_, _, done, err := s.updateConversationOnce(ctx, sc.ID, func(d conversationDoc) (conversationDoc, error) {
			if slices.Contains(d.Absorbed, lc.ID) {
				return d, nil // folded in by an earlier run
			}
			d.Absorbed = append(d.Absorbed, lc.ID)
			for _, ch := range lc.Channels {
				if !slices.Contains(d.Channels, ch) {
					d.Channels = append(d.Channels, ch)
				}
			}
			d.Unread += lc.Unread
			if lc.LastInboundAt.After(d.LastInboundAt) {
				d.LastInboundAt = lc.LastInboundAt
			}
			for ch, t := range lc.LastInbound {
				d.noteInbound(ch, t)
			}
			if lc.LastMessageAt.After(d.LastMessageAt) {
				d.LastMessageAt, d.Preview = lc.LastMessageAt, lc.Preview
				if lc.LastChannel != "" {
					d.LastChannel = lc.LastChannel
				}
			}
			if at.After(d.UpdatedAt) {
				d.UpdatedAt = at
			}
			return d, nil
		})
		if err != nil {
			return err
		}
		folded = done
	}
	if !folded {
		return fmt.Errorf("mongo: conversation %s keeps changing: %w", sc.ID, inbox.ErrConflict)
	}
	if _, err := s.conversations.DeleteOne(ctx, bson.D{{Key: "_id", Value: lc.ID}}); err != nil {
		return fmt.Errorf("mongo: delete merged conversation %s: %w", lc.ID, err)
	}
	// A message an ingest put into lc after the move above but before the delete would be left
	// in a conversation that no longer exists: move once more now that nothing can find lc.
	return move()
}

// moveCustomerMessages re-points every message of the loser to the survivor.
func (s *Store) moveCustomerMessages(ctx context.Context, survivorID, loserID string) error {
	unlock := s.exclusive(s.messages)
	defer unlock()
	_, err := s.messages.UpdateMany(ctx, bson.D{{Key: "customerId", Value: loserID}}, bson.D{{Key: "$set", Value: bson.D{{Key: "customerId", Value: survivorID}}}})
	if err != nil {
		return fmt.Errorf("mongo: move messages of customer %s: %w", loserID, err)
	}
	return nil
}
