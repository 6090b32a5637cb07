package inbox

import (
	"fmt"
	"net/mail"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/nyaruka/phonenumbers"
)

// Normalizer turns identifiers as customers and channels write them into one canonical form, so
// that "Siti@Example.COM" and "siti@example.com", or "0812-3456-7890" and "+62 812 3456 7890",
// are the same identity.
type Normalizer struct {
	// Region is the ISO 3166 region used for phone numbers written without a country code.
	Region string
	// phones remembers numbers already parsed: phonenumbers.Parse was a tenth of the CPU of a
	// WhatsApp message, and the same customers write again and again. Shared by copies.
	phones *idCache
}

// NewNormalizer returns a Normalizer for numbers written in region (e.g. "ID").
func NewNormalizer(region string) Normalizer {
	return Normalizer{Region: strings.ToUpper(region), phones: newIDCache(20_000)}
}

const maxIdentityLen = 320 // the longest valid email address; nothing legitimate is longer

// Normalize returns id in canonical form, or an error wrapping ErrInvalid that says what is wrong.
func (n Normalizer) Normalize(id Identity) (Identity, error) {
	v := strings.TrimSpace(id.Value)
	if v == "" {
		return id, fmt.Errorf("%s identity is empty: %w", id.Kind, ErrInvalid)
	}
	if !utf8.ValidString(v) || len(v) > maxIdentityLen {
		return id, fmt.Errorf("%s identity is not valid text of at most %d bytes: %w", id.Kind, maxIdentityLen, ErrInvalid)
	}
	switch id.Kind {
	case KindEmail:
		e, err := NormalizeEmail(v)
		if err != nil {
			return id, err
		}
		v = e
	case KindPhone, KindWhatsApp:
		p, err := n.NormalizePhone(v)
		if err != nil {
			return id, err
		}
		v = p
	case KindTelegram:
		if _, err := strconv.ParseInt(v, 10, 64); err != nil {
			return id, fmt.Errorf("telegram identity %q is not a numeric user id: %w", v, ErrInvalid)
		}
	case KindWidget, KindShop:
		// Opaque ids chosen by the widget or the shop: kept as given, case included.
	default:
		return id, fmt.Errorf("unknown identity kind %q: %w", id.Kind, ErrInvalid)
	}
	id.Value = v
	return id, nil
}

// NormalizeEmail lower-cases an address and checks that it is one address, without a display name.
func NormalizeEmail(s string) (string, error) {
	a, err := mail.ParseAddress(s)
	if err != nil || a.Name != "" || !strings.Contains(a.Address, "@") {
		return "", fmt.Errorf("email %q is not a valid address: %w", s, ErrInvalid)
	}
	return strings.ToLower(a.Address), nil
}

// NormalizePhone returns the number in E.164 (+6281234567890). A number without a country code is
// read in the normalizer's region. Connectors whose providers send international numbers without
// the '+' (WhatsApp's wa_id) add it themselves: guessing here would misread national numbers.
func (n Normalizer) NormalizePhone(s string) (string, error) {
	if n.phones != nil {
		if e164, ok := n.phones.get(s); ok {
			return e164, nil
		}
	}
	num, err := phonenumbers.Parse(s, n.Region)
	if err != nil || !phonenumbers.IsPossibleNumber(num) {
		return "", fmt.Errorf("phone %q is not a possible phone number (region %s): %w", s, n.Region, ErrInvalid)
	}
	e164 := phonenumbers.Format(num, phonenumbers.E164)
	if n.phones != nil {
		n.phones.put(s, e164) // only answers: a refused input costs a parse each time, as before
	}
	return e164, nil
}
