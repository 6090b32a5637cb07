package agents

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"

	"github.com/serambi/serambi/inbox"
)

// PublicSessionID names a session in pages and forms. The stored id is the hash of the cookie
// token and is what the store looks sessions up by, so it is hashed once more before it is shown.
func PublicSessionID(s Session) string {
	sum := sha256.Sum256([]byte("session:" + s.ID))
	return hex.EncodeToString(sum[:12])
}

// Sessions lists an agent's live sessions, newest first.
func (s *Service) Sessions(ctx context.Context, agentID string) ([]Session, error) {
	list, err := s.store.ListSessions(ctx, agentID)
	if err != nil {
		return nil, fmt.Errorf("list sessions of agent %s: %w", agentID, err)
	}
	now := s.now()
	live := list[:0:0]
	for _, x := range list {
		if now.Before(x.ExpiresAt) {
			live = append(live, x)
		}
	}
	return live, nil
}

// RevokeSession ends one of the agent's sessions, named by its public id, and returns it (the
// console closes its live sockets). An id that is not one of the agent's sessions is ErrNotFound,
// so nobody can end someone else's session.
func (s *Service) RevokeSession(ctx context.Context, agentID, publicID string) (Session, error) {
	list, err := s.store.ListSessions(ctx, agentID)
	if err != nil {
		return Session{}, fmt.Errorf("list sessions of agent %s: %w", agentID, err)
	}
	for _, x := range list {
		if subtle.ConstantTimeCompare([]byte(PublicSessionID(x)), []byte(publicID)) == 1 {
			if err := s.store.DeleteSession(ctx, x.ID); err != nil {
				return Session{}, fmt.Errorf("revoke session: %w", err)
			}
			s.log.Info("session revoked", "agent", agentID)
			return x, nil
		}
	}
	return Session{}, fmt.Errorf("session %s: %w", publicID, inbox.ErrNotFound)
}
