package inbox

import (
	"errors"
	"fmt"
	"time"
)

var (
	ErrNotFound = errors.New("not found")
	// ErrConflict: the thing changed under us (a conditional update did not match).
	ErrConflict = errors.New("conflict")
	// ErrInvalid: the input breaks a rule of the domain; the wrapped message says which.
	ErrInvalid = errors.New("invalid")
	// ErrNoIdentity: an inbound message names no usable sender.
	ErrNoIdentity = errors.New("no identity")
	// ErrTooLarge: an attachment or body is over its configured limit.
	ErrTooLarge = errors.New("too large")
	// ErrNoChannel: the customer cannot be reached on the requested channel.
	ErrNoChannel = errors.New("channel not available for this customer")
)

// IdentityTakenError says a verified identity already belongs to another customer.
type IdentityTakenError struct {
	Identity Identity
	OwnerID  string
}

func (e *IdentityTakenError) Error() string {
	return fmt.Sprintf("identity %s already belongs to customer %s", e.Identity.Key(), e.OwnerID)
}

// Is lets errors.Is(err, ErrConflict) match: a taken identity is a conflict.
func (e *IdentityTakenError) Is(target error) bool { return target == ErrConflict }

// PermanentError wraps a send failure that retrying cannot fix (the user blocked the bot,
// the address does not exist): the outbox marks the message failed at once.
type PermanentError struct{ Err error }

func (e *PermanentError) Error() string { return e.Err.Error() }
func (e *PermanentError) Unwrap() error { return e.Err }

// Permanent marks err as not worth retrying.
func Permanent(err error) error { return &PermanentError{Err: err} }

// RetryAfterError wraps a send failure whose channel said when to try again (HTTP 429 retry_after).
type RetryAfterError struct {
	After time.Duration
	Err   error
}

func (e *RetryAfterError) Error() string {
	return fmt.Sprintf("%v (retry after %s)", e.Err, e.After)
}
func (e *RetryAfterError) Unwrap() error { return e.Err }
