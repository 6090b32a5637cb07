// Package connectors is the channel boundary. Each channel lives in its own package below this
// one (email, widget, telegram, whatsapp, voice) and knows the inbox only through these small
// interfaces, so the inbox never depends on a channel.
package connectors

import (
	"context"
	"time"

	"github.com/serambi/serambi/inbox"
)

// Ingester takes an inbound message into the inbox; *inbox.Inbox implements it.
type Ingester interface {
	Ingest(ctx context.Context, in inbox.Inbound) (inbox.IngestResult, error)
}

// Sender delivers an outbound message on one channel (the outbox dispatcher calls it).
type Sender interface {
	Send(ctx context.Context, out inbox.Outbound) (externalID string, err error)
}

// StateStore keeps what a connector must remember across restarts (an IMAP mailbox's
// UIDVALIDITY and last UID, a Telegram bot's update offset) and who may poll what: a lease makes
// sure only one instance polls a given account at a time.
type StateStore interface {
	// GetState returns the state stored under key; inbox.ErrNotFound when there is none.
	GetState(ctx context.Context, key string) ([]byte, error)
	// PutState stores state under key, replacing what was there.
	PutState(ctx context.Context, key string, state []byte) error
	// AcquireLease takes or renews the lease on key for owner until now+ttl. It returns false,
	// without error, when another owner holds an unexpired lease.
	AcquireLease(ctx context.Context, key, owner string, now time.Time, ttl time.Duration) (bool, error)
	// ReleaseLease gives the lease up if owner holds it.
	ReleaseLease(ctx context.Context, key, owner string) error
}
