package email

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"slices"

	"github.com/serambi/serambi/inbox"
)

// How a thread key was decided; stored in Meta "email.threadBy" so that a wrong join can be
// explained.
const (
	threadByReference     = "references"      // a Message-ID in In-Reply-To/References is stored
	threadByToken         = "token"           // the plus-address token named the thread
	threadBySubject       = "subject-changed" // the parent is known but the topic changed: new thread
	threadByUnknownParent = "unknown-parent"  // the parent is not here (yet): its root's id
	threadByNew           = "new"             // not a reply: a thread of its own
)

// threadDecision is where an incoming mail belongs inside its customer's conversation.
type threadDecision struct {
	Key string
	By  string
	// Parent is the stored message it answers, when found.
	Parent *inbox.Message
}

// threadFor decides an incoming mail's thread key; ownID is its external id, tokens what its
// plus-address tokens stand for (tokensOf).
//
// The rules, in order:
//  1. The nearest stored ancestor (In-Reply-To, then References from the newest) gives its thread
//     — our own sent mails included, through their sent record. If the reply changed the subject
//     to another topic, it starts a thread of its own instead.
//  2. A plus-address token in the recipients gives the thread it was issued for, when it was
//     issued to this same sender's customer, or to this very address of a customer while nobody
//     held it verified (clients that drop In-Reply-To and References).
//  3. A reply whose parent is not stored (yet) takes its References root, or its In-Reply-To: the
//     parent, when it arrives, computes the same root, and late parents move their early replies
//     (see joinEarlyReplies).
//  4. Anything else is a new thread keyed by its own id.
//
// An empty Message-ID never becomes a key (ownID is then a content hash) and is never looked up,
// so mails without ids are never glued together.
func (c *Connector) threadFor(ctx context.Context, p *Parsed, ownID string, tokens []tokenRecord) (threadDecision, error) {
	var cands []string
	for _, id := range p.InReplyTo {
		cands = append(cands, id)
	}
	for i := len(p.References) - 1; i >= 0; i-- {
		cands = append(cands, p.References[i])
	}
	seen := map[string]bool{ownID: true, p.MessageID: true}
	for _, id := range cands {
		if seen[id] {
			continue
		}
		seen[id] = true
		m, err := c.deps.Store.MessageByExternalID(ctx, inbox.ChannelEmail, id)
		if errors.Is(err, inbox.ErrNotFound) {
			continue
		}
		if err != nil {
			return threadDecision{}, fmt.Errorf("look up parent %s: %w", id, err)
		}
		key, subject := m.ThreadKey, m.Subject
		if m.Direction == inbox.DirectionOut {
			var rec sentRecord
			ok, err := getJSON(ctx, c.deps.State, sentKey(id), &rec)
			if err != nil {
				return threadDecision{}, err
			}
			if ok {
				if key == "" {
					key = rec.ThreadKey
				}
				if subject == "" {
					subject = rec.Subject
				}
			}
		}
		if key == "" {
			key = id
		}
		if !sameTopic(p.Subject, subject) {
			return threadDecision{Key: ownID, By: threadBySubject, Parent: &m}, nil
		}
		return threadDecision{Key: key, By: threadByReference, Parent: &m}, nil
	}
	if d, ok, err := c.threadByToken(ctx, p, tokens); err != nil || ok {
		return d, err
	}
	switch {
	case len(p.References) > 0:
		return threadDecision{Key: p.References[0], By: threadByUnknownParent}, nil
	case len(p.InReplyTo) > 0:
		return threadDecision{Key: p.InReplyTo[0], By: threadByUnknownParent}, nil
	}
	return threadDecision{Key: ownID, By: threadByNew}, nil
}

// tokensOf returns what the plus-address tokens among p's recipients stand for: only tokens we
// issued (the HMAC matches), in the order they appear.
func (c *Connector) tokensOf(ctx context.Context, p *Parsed) ([]tokenRecord, error) {
	if !c.mb.PlusAddressing {
		return nil, nil
	}
	var tokens []string
	for _, r := range p.Recipients {
		if t, ok := plusToken(r, c.mb.Address); ok && validTokenSyntax(t) && !slices.Contains(tokens, t) {
			tokens = append(tokens, t)
		}
	}
	if len(tokens) == 0 {
		return nil, nil
	}
	key, err := c.tokenKeyBytes(ctx)
	if err != nil {
		return nil, err
	}
	var recs []tokenRecord
	for _, t := range tokens {
		var rec tokenRecord
		ok, err := getJSON(ctx, c.deps.State, tokenKey(t), &rec)
		if err != nil {
			return nil, err
		}
		if !ok || subtle.ConstantTimeCompare([]byte(threadToken(key, rec.CustomerID, rec.ThreadKey)), []byte(t)) != 1 {
			c.log.Info("ignoring an unknown plus-address token", "token", t)
			continue
		}
		recs = append(recs, rec)
	}
	return recs, nil
}

// threadByToken gives the thread of a plus-address token among the recipients (tokens, from
// tokensOf), when the token's customer is the sender's: the one who holds the sender's address
// verified, or, for an address nobody holds verified, the one the token was sent to at it
// (Ingest then claims the address for them, see answeredCustomer).
func (c *Connector) threadByToken(ctx context.Context, p *Parsed, tokens []tokenRecord) (threadDecision, bool, error) {
	senderID, looked := "", false
	for _, rec := range tokens {
		if !looked {
			var err error
			senderID, err = c.deps.Store.CustomerIDByIdentity(ctx, inbox.KindEmail, p.From.Addr)
			if errors.Is(err, inbox.ErrNotFound) {
				senderID, err = "", nil
			}
			if err != nil {
				return threadDecision{}, false, fmt.Errorf("look up sender %s: %w", p.From.Addr, err)
			}
			looked = true
		}
		owner := senderID
		if owner == "" && slices.Contains(rec.To, p.From.Addr) {
			owner = rec.CustomerID
		}
		if owner != rec.CustomerID {
			// A new sender cannot be in anyone's thread, nor one sender in another's.
			c.log.Info("plus-address token of another customer's thread ignored")
			continue
		}
		if !sameTopic(p.Subject, rec.Subject) {
			return threadDecision{}, false, nil
		}
		return threadDecision{Key: rec.ThreadKey, By: threadByToken}, true, nil
	}
	return threadDecision{}, false, nil
}

// maxProofLookups bounds the References read for a proof: an answer names the mail it answers
// in In-Reply-To or among its newest References.
const maxProofLookups = 20

// answeredCustomer returns the customer to whose address, p's From, we sent the mail p answers:
// the sent record of a Message-ID in In-Reply-To or References says the mail went to that very
// address, or a token among the recipients (tokens, from tokensOf) was sent to it. Only our own
// records count, written when we sent, so only someone who received that mail at that address
// can name it: never a subject, never a Message-ID we did not send, never a mail forwarded to
// someone else (their From differs). (A forged From is trusted no more than it is already: the
// email channel treats the From address as the sender's.) "" when nothing proves it.
func (c *Connector) answeredCustomer(ctx context.Context, p *Parsed, tokens []tokenRecord) (string, error) {
	ids := slices.Clone(p.InReplyTo[:min(len(p.InReplyTo), maxProofLookups)])
	for i := len(p.References) - 1; i >= 0 && len(ids) < maxProofLookups; i-- {
		if !slices.Contains(ids, p.References[i]) {
			ids = append(ids, p.References[i])
		}
	}
	for _, id := range ids {
		if id == p.MessageID {
			continue
		}
		var rec sentRecord
		ok, err := getJSON(ctx, c.deps.State, sentKey(id), &rec)
		if err != nil {
			return "", err
		}
		if ok && rec.To != "" && rec.To == p.From.Addr && rec.CustomerID != "" {
			return rec.CustomerID, nil
		}
	}
	for _, rec := range tokens {
		if rec.CustomerID != "" && slices.Contains(rec.To, p.From.Addr) {
			return rec.CustomerID, nil
		}
	}
	return "", nil
}

// joinEarlyReplies moves replies that arrived before this mail (and so were keyed by this mail's
// Message-ID, their In-Reply-To) into this mail's thread. Idempotent.
func (c *Connector) joinEarlyReplies(ctx context.Context, conversationID, messageID, key string) error {
	if messageID == "" || key == messageID {
		return nil
	}
	n, err := c.deps.Store.SetThreadKey(ctx, conversationID, messageID, key)
	if err != nil {
		return fmt.Errorf("join early replies of %s: %w", messageID, err)
	}
	if n > 0 {
		c.log.Info("early replies joined their parent's thread", "mailbox", c.mb.ID, "parent", messageID, "moved", n)
	}
	return nil
}
