package email

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/serambi/serambi/connectors"
	"github.com/serambi/serambi/inbox"
)

// What the connector keeps in connectors.StateStore, as JSON:
//
//	email:<mailbox>:imap       imapState: where the import stands
//	email:<mailbox>:lease      the lease: which instance reads the mailbox
//	email:sent:<message-id>    sentRecord: the thread of each mail we sent
//	email:token:<token>        tokenRecord: the thread a plus-address token stands for
//	email:<mailbox>:secret     the generated token key, when none is configured
//	email:auto:<id>            an automatic mail already recorded as an event
type imapState struct {
	UIDValidity uint32 `json:"uidValidity"`
	LastUID     uint32 `json:"lastUid"`
	// LastInternalDate is the newest arrival time imported: after a UIDVALIDITY change the
	// re-sync starts a little before it.
	LastInternalDate time.Time `json:"lastInternalDate,omitzero"`
}

// sentRecord remembers what the outbox cannot store on the message itself: the thread a reply
// belongs to, and the headers it carried, so the customer's answer finds its place.
type sentRecord struct {
	ThreadKey      string   `json:"threadKey"`
	Subject        string   `json:"subject"`
	References     []string `json:"references,omitempty"`
	ConversationID string   `json:"conversationId"`
	CustomerID     string   `json:"customerId"`
	MessageID      string   `json:"messageId"` // the inbox message
	Mailbox        string   `json:"mailbox"`   // the mailbox it left through
	// To is the address it went to: an answer from that address proves it is the customer's
	// (see answeredCustomer). Empty in records written before it was kept: they prove nothing.
	To string `json:"to,omitempty"`
}

// tokenRecord is what a plus-address token stands for.
type tokenRecord struct {
	ThreadKey      string `json:"threadKey"`
	Subject        string `json:"subject"`
	CustomerID     string `json:"customerId"`
	ConversationID string `json:"conversationId"`
	// To lists the addresses mail carrying the token went to (the latest maxTokenRecipients), so
	// that mail from one of them to the token proves the address is the customer's.
	To []string `json:"to,omitempty"`
}

// maxTokenRecipients bounds tokenRecord.To: a thread's mail goes to a customer's one or two addresses.
const maxTokenRecipients = 8

func (c *Connector) stateKey(name string) string { return "email:" + c.mb.ID + ":" + name }

func sentKey(messageID string) string { return "email:sent:" + messageID }
func tokenKey(token string) string    { return "email:token:" + token }
func autoKey(id string) string        { return "email:auto:" + id }

func getJSON(ctx context.Context, s connectors.StateStore, key string, v any) (bool, error) {
	b, err := s.GetState(ctx, key)
	if errors.Is(err, inbox.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read state %s: %w", key, err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return false, fmt.Errorf("decode state %s: %w", key, err)
	}
	return true, nil
}

func putJSON(ctx context.Context, s connectors.StateStore, key string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode state %s: %w", key, err)
	}
	if err := s.PutState(ctx, key, b); err != nil {
		return fmt.Errorf("write state %s: %w", key, err)
	}
	return nil
}

// tokenLen is the length of a plus-address token: 80 bits of HMAC, in lower-case base32 so that
// it survives servers that fold the local part's case.
const tokenLen = 16

var tokenEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// threadToken is the plus-address token of a thread of a customer. It is an HMAC, so nobody can
// make up the token of a thread they have not received mail from; it is only honoured for mail
// from the same customer (see threadFor), so a token that leaked (a forwarded mail) still cannot
// put anyone's mail into someone else's thread.
func threadToken(key []byte, customerID, threadKey string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("serambi email thread token\x00" + customerID + "\x00" + threadKey))
	return tokenEncoding.EncodeToString(m.Sum(nil))[:tokenLen]
}

// validTokenSyntax rejects what cannot be one of our tokens before any lookup.
func validTokenSyntax(t string) bool {
	if len(t) != tokenLen {
		return false
	}
	for _, r := range t {
		if !(r >= 'a' && r <= 'z' || r >= '2' && r <= '7') {
			return false
		}
	}
	return true
}

// tokenKeyBytes returns the key for plus-address tokens: the configured secret, or one generated
// once and kept in the state store.
func (c *Connector) tokenKeyBytes(ctx context.Context) ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.tokenSecret != nil {
		return c.tokenSecret, nil
	}
	if s := c.mb.TokenSecret.Reveal(); s != "" {
		c.tokenSecret = []byte(s)
		return c.tokenSecret, nil
	}
	var stored struct {
		Key string `json:"key"`
	}
	ok, err := getJSON(ctx, c.deps.State, c.stateKey("secret"), &stored)
	if err != nil {
		return nil, err
	}
	if !ok || stored.Key == "" {
		b := make([]byte, 32)
		if _, err := rand.Read(b); err != nil {
			return nil, fmt.Errorf("generate token key: %w", err)
		}
		stored.Key = hex.EncodeToString(b)
		if err := putJSON(ctx, c.deps.State, c.stateKey("secret"), stored); err != nil {
			return nil, err
		}
		// Two instances starting at once may both write: read back so both use the survivor.
		if _, err := getJSON(ctx, c.deps.State, c.stateKey("secret"), &stored); err != nil {
			return nil, err
		}
	}
	key, err := hex.DecodeString(strings.TrimSpace(stored.Key))
	if err != nil || len(key) < 16 {
		return nil, fmt.Errorf("state %s holds no usable key", c.stateKey("secret"))
	}
	c.tokenSecret = key
	return key, nil
}
