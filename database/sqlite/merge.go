package sqlite

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/serambi/serambi/inbox"
)

// MergeCustomers moves the loser's identities, suggestions and timeline to the survivor and marks
// the loser merged. Here it is one transaction; every step is also written to be a no-op when
// already done, so calling it again is harmless.
func (s *Store) MergeCustomers(ctx context.Context, survivorID, loserID string, at time.Time) error {
	if survivorID == loserID {
		return fmt.Errorf("customer %s cannot be merged into itself: %w", survivorID, inbox.ErrInvalid)
	}
	return s.write(ctx, func(w *writer) error {
		survivor, err := loadCustomer(w, survivorID)
		if err != nil {
			return err
		}
		loser, err := loadCustomer(w, loserID)
		if err != nil {
			return err
		}
		if survivor.MergedInto != "" {
			return fmt.Errorf("survivor %s was itself merged into %s: %w", survivorID, survivor.MergedInto, inbox.ErrConflict)
		}
		if loser.MergedInto != "" && loser.MergedInto != survivorID {
			return fmt.Errorf("customer %s was merged into %s already: %w", loserID, loser.MergedInto, inbox.ErrConflict)
		}
		if err := mergeIdentities(w, survivor, loser); err != nil {
			return fmt.Errorf("move identities: %w", err)
		}
		if err := mergeSuggestions(w, survivorID, loserID); err != nil {
			return fmt.Errorf("move suggestions: %w", err)
		}
		if err := mergeConversations(w, survivorID, loserID, at); err != nil {
			return fmt.Errorf("move timeline: %w", err)
		}
		_, err = w.exec(`UPDATE customers SET merged_into = ?, updated_at = ? WHERE id = ?`, survivorID, ts(at), loserID)
		return err
	})
}

func mergeIdentities(w *writer, survivor, loser inbox.Customer) error {
	for _, id := range loser.Identities {
		have := slices.IndexFunc(survivor.Identities, func(o inbox.Identity) bool { return o.Key() == id.Key() })
		if have < 0 {
			// Moving the row moves the claim with it: the claim is the row's verified flag.
			if _, err := w.exec(`UPDATE identities SET customer_id = ? WHERE customer_id = ? AND kind = ? AND value = ?`,
				survivor.ID, loser.ID, string(id.Kind), id.Value); err != nil {
				return err
			}
			continue
		}
		// Both hold it: the loser's copy goes first, so that upgrading the survivor's copy does
		// not meet the loser's claim.
		if _, err := w.exec(`DELETE FROM identities WHERE customer_id = ? AND kind = ? AND value = ?`,
			loser.ID, string(id.Kind), id.Value); err != nil {
			return err
		}
		if id.Verified && !survivor.Identities[have].Verified {
			if _, err := w.exec(`UPDATE identities SET verified = 1 WHERE customer_id = ? AND kind = ? AND value = ?`,
				survivor.ID, string(id.Kind), id.Value); err != nil {
				return err
			}
		}
	}
	return nil
}

func mergeSuggestions(w *writer, survivorID, loserID string) error {
	steps := []struct {
		q    string
		args []any
	}{
		{`INSERT OR IGNORE INTO suggestions (customer_id, other_id, reason, at)
			SELECT ?, other_id, reason, at FROM suggestions WHERE customer_id = ? AND other_id <> ?`, []any{survivorID, loserID, survivorID}},
		{`INSERT OR IGNORE INTO suggestions (customer_id, other_id, reason, at)
			SELECT customer_id, ?, reason, at FROM suggestions WHERE other_id = ? AND customer_id <> ?`, []any{survivorID, loserID, survivorID}},
		{`DELETE FROM suggestions WHERE customer_id = ? OR other_id = ?`, []any{loserID, loserID}},
	}
	for _, st := range steps {
		if _, err := w.exec(st.q, st.args...); err != nil {
			return err
		}
	}
	return nil
}

func mergeConversations(w *writer, survivorID, loserID string, at time.Time) error {
	lc, err := loadConversation(w, "c.customer_id = ?", loserID)
	if errors.Is(err, inbox.ErrNotFound) {
		return nil // moved already, or the loser never wrote
	}
	if err != nil {
		return err
	}
	sc, err := loadConversation(w, "c.customer_id = ?", survivorID)
	if errors.Is(err, inbox.ErrNotFound) {
		// The loser's conversation becomes the survivor's, whole.
		moved := lc
		moved.CustomerID, moved.UpdatedAt = survivorID, utc(at)
		if err := saveConversation(w, lc, moved); err != nil {
			return err
		}
		_, err := w.exec(`UPDATE messages SET customer_id = ? WHERE conversation_id = ?`, survivorID, lc.ID)
		return err
	}
	if err != nil {
		return err
	}
	if _, err := w.exec(`UPDATE messages SET conversation_id = ?, customer_id = ? WHERE conversation_id = ?`, sc.ID, survivorID, lc.ID); err != nil {
		return err
	}
	if err := saveConversation(w, sc, combine(sc, lc, at)); err != nil {
		return err
	}
	if _, err := w.exec(`DELETE FROM conversation_labels WHERE conversation_id = ?`, lc.ID); err != nil {
		return err
	}
	_, err = w.exec(`DELETE FROM conversations WHERE id = ?`, lc.ID)
	return err
}

// combine is the survivor's conversation covering the loser's activity too.
func combine(sc, lc inbox.Conversation, at time.Time) inbox.Conversation {
	out := sc
	out.Channels = slices.Clone(sc.Channels)
	for _, ch := range lc.Channels {
		if !slices.Contains(out.Channels, ch) {
			out.Channels = append(out.Channels, ch)
		}
	}
	out.Tags = slices.Clone(sc.Tags)
	for _, t := range lc.Tags {
		if !slices.Contains(out.Tags, t) {
			out.Tags = append(out.Tags, t)
		}
	}
	slices.Sort(out.Tags)
	if lc.LastMessageAt.After(sc.LastMessageAt) {
		out.LastMessageAt, out.Preview = lc.LastMessageAt, lc.Preview
		if lc.LastChannel != "" {
			out.LastChannel = lc.LastChannel
		}
	}
	if lc.LastInboundAt.After(out.LastInboundAt) {
		out.LastInboundAt = lc.LastInboundAt
	}
	out.LastInbound = maps.Clone(sc.LastInbound)
	for ch, t := range lc.LastInbound {
		out.NoteInbound(ch, t)
	}
	out.Unread = sc.Unread + lc.Unread
	out.UpdatedAt = utc(at)
	return out
}
