package widget

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/golang-jwt/jwt/v5"

	"github.com/serambi/serambi/inbox"
)

// A visitor is known by a token the server mints and the browser keeps in localStorage. The
// token is the proof of possession: whoever holds it is that visitor. It is never stored: the
// identity recorded on the customer is a hash of it, so an agent (or anyone reading the database
// or the API) who sees the identity cannot take over the visitor's chat.
const (
	tokenBytes = 24 // 192 bits, 32 characters of base64url
	tokenLen   = 32
	maxJWTLen  = 4096
	maxSubLen  = 128
)

// Prefixes of the widget identity's value: an anonymous visitor ("v:" + hash of the token) or a
// visitor the shop signed for ("s:" + the shop's customer id, or "e:" + the email when the shop
// gave no id), so the same shop customer is one widget identity in every browser.
const (
	anonPrefix   = "v:"
	shopPrefix   = "s:"
	emailPrefix  = "e:"
	outPrefix    = "out:" // external id of an agent reply sent on the widget
	inPrefix     = "v:"   // external id of a visitor message: v:<visitor>:<client id>
	maxClientID  = 64
	minClientID  = 8
	jwtClockSkew = 30 * time.Second
)

// newToken mints a visitor token.
func newToken() string {
	b := make([]byte, tokenBytes)
	_, _ = rand.Read(b) // crypto/rand never fails on Linux; it panics rather than return short
	return base64.RawURLEncoding.EncodeToString(b)
}

// validToken reports whether t looks like a token newToken made; anything else is replaced by a
// fresh one, so a visitor cannot choose a short, guessable token.
func validToken(t string) bool {
	if len(t) != tokenLen {
		return false
	}
	_, err := base64.RawURLEncoding.DecodeString(t)
	return err == nil
}

// visitorID is the public name of a token: 22 characters of its SHA-256.
func visitorID(token string) string {
	h := sha256.Sum256([]byte("serambi-widget-visitor\x00" + token))
	return base64.RawURLEncoding.EncodeToString(h[:16])
}

// validClientID accepts the ids the widget gives its messages: 8-64 characters of base64url.
func validClientID(s string) bool {
	if len(s) < minClientID || len(s) > maxClientID {
		return false
	}
	for _, c := range []byte(s) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// ErrBadIdentity: a signed identity was refused (bad signature, expired, wrong algorithm).
var ErrBadIdentity = errors.New("signed identity refused")

// Claims is what a shop signs to say who the visitor is. Exactly as JSON:
//
//	{"sub":"<shop customer id>","email":"siti@example.id","name":"Siti Rahma","exp":1767225600}
//
// signed HS256 with the widget inbox's JWT secret. exp is required; sub or email is required.
type Claims struct {
	Email string `json:"email,omitempty"`
	Name  string `json:"name,omitempty"`
	jwt.RegisteredClaims
}

// verified is a visitor identity the shop vouched for.
type verified struct {
	ShopID, Email, Name string
}

// verifyJWT checks raw against secret: HS256 only, exp required and in the future (with a little
// clock skew), and at least a customer id or an email.
func verifyJWT(raw string, secret Secret, now time.Time) (verified, error) {
	if secret == "" {
		return verified{}, fmt.Errorf("%w: this widget inbox has no JWT secret, so it cannot verify identities", ErrBadIdentity)
	}
	if len(raw) > maxJWTLen {
		return verified{}, fmt.Errorf("%w: token longer than %d bytes", ErrBadIdentity, maxJWTLen)
	}
	var cl Claims
	_, err := jwt.ParseWithClaims(raw, &cl, func(*jwt.Token) (any, error) { return []byte(secret.Reveal()), nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}), jwt.WithExpirationRequired(),
		jwt.WithLeeway(jwtClockSkew), jwt.WithTimeFunc(func() time.Time { return now }))
	if err != nil {
		return verified{}, fmt.Errorf("%w: %w", ErrBadIdentity, err)
	}
	v := verified{ShopID: strings.TrimSpace(cl.Subject), Name: strings.TrimSpace(cl.Name)}
	if len(v.ShopID) > maxSubLen || !utf8.ValidString(v.ShopID) {
		return verified{}, fmt.Errorf("%w: sub must be at most %d bytes of text", ErrBadIdentity, maxSubLen)
	}
	if e := strings.TrimSpace(cl.Email); e != "" {
		n, err := inbox.NormalizeEmail(e)
		if err != nil {
			return verified{}, fmt.Errorf("%w: email: %w", ErrBadIdentity, err)
		}
		v.Email = n
	}
	if v.ShopID == "" && v.Email == "" {
		return verified{}, fmt.Errorf("%w: the token names neither a customer (sub) nor an email", ErrBadIdentity)
	}
	if utf8.RuneCountInString(v.Name) > 120 {
		v.Name = string([]rune(v.Name)[:120])
	}
	return v, nil
}

// SignIdentity makes the token a shop's backend puts on its pages for a logged-in customer. It is
// here for tests, the demo and Go shops; any JWT library that signs HS256 does the same.
func SignIdentity(secret Secret, c Claims) (string, error) {
	return jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString([]byte(secret.Reveal()))
}

// widgetValue is the value of the visitor's widget identity.
func (v verified) widgetValue() string {
	if v.ShopID != "" {
		return shopPrefix + v.ShopID
	}
	return emailPrefix + v.Email
}

// from lists the identities a message carries, the deciding one first (inbox.Inbound.From).
// An identified visitor is the shop's customer: their shop id, their email (the shop vouches for
// it) and the shop-keyed widget identity, all verified. The anonymous token rides along
// unverified, so that an earlier anonymous chat in this browser becomes a merge suggestion and
// never an automatic link (the browser may be shared). An anonymous visitor is their token's
// identity, plus any email typed into the widget, unverified.
func from(anonID string, v *verified, typedEmail string) []inbox.Identity {
	var ids []inbox.Identity
	if v != nil {
		if v.ShopID != "" {
			ids = append(ids, inbox.Identity{Kind: inbox.KindShop, Value: v.ShopID, Verified: true})
		}
		if v.Email != "" {
			ids = append(ids, inbox.Identity{Kind: inbox.KindEmail, Value: v.Email, Verified: true})
		}
		ids = append(ids, inbox.Identity{Kind: inbox.KindWidget, Value: v.widgetValue(), Verified: true},
			inbox.Identity{Kind: inbox.KindWidget, Value: anonPrefix + anonID})
	} else {
		ids = append(ids, inbox.Identity{Kind: inbox.KindWidget, Value: anonPrefix + anonID, Verified: true})
	}
	if typedEmail != "" && (v == nil || v.Email != typedEmail) {
		ids = append(ids, inbox.Identity{Kind: inbox.KindEmail, Value: typedEmail})
	}
	return ids
}
