package inbox

import (
	"context"
	"fmt"
	"strings"
	"unicode/utf8"
)

// MaxFound bounds a customer search: it answers an agent typing a name, not a report.
const MaxFound = 50

// CustomerFinder finds customers by a piece of their name or of one of their identities' values.
// database/sqlite and database/mongo implement it.
//
// FindCustomers returns at most limit customers, not merged away, whose name or any identity
// value contains text, ignoring case, most recently changed first. text is matched literally:
// no wildcard or pattern character in it means anything special.
type CustomerFinder interface {
	FindCustomers(ctx context.Context, text string, limit int) ([]Customer, error)
}

// FindCustomers is the console's customer search: "siti", "rahma@example", "0812-3456" or
// "+62 812 3456 7890" find the customer. A query that reads as a phone number in the default
// region also finds the E.164 form the phone and WhatsApp identities are stored in. It needs at
// least two characters; fewer are ErrInvalid.
func (x *Inbox) FindCustomers(ctx context.Context, text string, limit int) ([]Customer, error) {
	finder, ok := x.store.(CustomerFinder)
	if !ok {
		// Not ErrInvalid: nothing is wrong with the query, and the console must not say so.
		return nil, fmt.Errorf("customer search: the store (%T) cannot search customers", x.store)
	}
	text = strings.TrimSpace(text)
	if !utf8.ValidString(text) || utf8.RuneCountInString(text) < 2 || len(text) > 200 {
		return nil, fmt.Errorf("search for 2 to 200 characters of valid text: %w", ErrInvalid)
	}
	if limit <= 0 || limit > MaxFound {
		limit = MaxFound
	}
	queries := append([]string{text}, x.phoneForms(text)...)
	var out []Customer
	seen := map[string]bool{}
	for _, q := range queries {
		found, err := finder.FindCustomers(ctx, q, limit)
		if err != nil {
			return nil, fmt.Errorf("find customers: %w", err)
		}
		for _, c := range found {
			if !seen[c.ID] && len(out) < limit {
				seen[c.ID] = true
				out = append(out, c)
			}
		}
	}
	return out, nil
}

// phoneForms are the ways text may be stored when it reads as (part of) a phone number: mostly
// digits, with the separators people type. Phone and WhatsApp identities are E.164, so "0812 3456"
// is also searched as "08123456" and, without the trunk prefix, "8123456"; a whole number also as
// its E.164 form ("+62812…").
func (x *Inbox) phoneForms(text string) []string {
	var digits strings.Builder
	for _, r := range text {
		switch {
		case r >= '0' && r <= '9':
			digits.WriteRune(r)
		case strings.ContainsRune("+-. ()", r):
		default:
			return nil
		}
	}
	if digits.Len() < 4 {
		return nil
	}
	var forms []string
	d := digits.String()
	if d != text {
		forms = append(forms, d)
	}
	if national, ok := strings.CutPrefix(d, "0"); ok && len(national) >= 4 {
		forms = append(forms, national) // "0812…" is stored as "+62812…"
	}
	if e164, err := x.norm.NormalizePhone(text); err == nil && e164 != text {
		forms = append(forms, e164)
	}
	return forms
}
