package commerce

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/serambi/serambi/inbox"
)

// Shops write amounts as decimal strings in major units ("4250000.00" rupiah, "12.50" dollars);
// Serambi keeps integers of minor units. Parsing is exact (no floating point on the way), and an
// amount with more decimals than the currency has is refused rather than rounded.

// MinorDigits is a currency's ISO 4217 minor unit: how many decimals one minor unit stands for.
// The rupiah has two (ISO), although its cash has none; amounts are kept as ISO says.
func MinorDigits(currency string) int {
	switch currency {
	case "JPY", "KRW", "VND", "CLP", "ISK", "UGX", "XAF", "XOF", "XPF", "PYG", "RWF", "KMF", "GNF", "VUV", "BIF", "DJF":
		return 0
	case "BHD", "KWD", "OMR", "JOD", "IQD", "LYD", "TND":
		return 3
	}
	return 2
}

// ValidCurrency reports whether c looks like an ISO 4217 code: three upper-case letters.
func ValidCurrency(c string) bool {
	if len(c) != 3 {
		return false
	}
	for _, r := range c {
		if r < 'A' || r > 'Z' {
			return false
		}
	}
	return true
}

// ParseAmount turns a decimal string in major units into minor units of currency. An empty
// string is zero. The error wraps inbox.ErrInvalid and quotes the amount.
func ParseAmount(s, currency string) (int64, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, nil
	}
	digits := MinorDigits(currency)
	neg := strings.HasPrefix(s, "-")
	body := strings.TrimPrefix(strings.TrimPrefix(s, "-"), "+")
	whole, frac, _ := strings.Cut(body, ".")
	if whole == "" && frac == "" || !allDigits(whole) || !allDigits(frac) {
		return 0, fmt.Errorf("amount %q is not a decimal number: %w", s, inbox.ErrInvalid)
	}
	// Trailing zeros beyond the currency's digits are harmless ("12.500" dollars).
	frac = strings.TrimRight(frac, "0")
	if len(frac) > digits {
		return 0, fmt.Errorf("amount %q has more decimals than %s has (%d): %w", s, currency, digits, inbox.ErrInvalid)
	}
	frac += strings.Repeat("0", digits-len(frac))
	if whole == "" {
		whole = "0"
	}
	n, err := strconv.ParseInt(whole+frac, 10, 64)
	if err != nil || n > math.MaxInt64/4 {
		return 0, fmt.Errorf("amount %q is too large: %w", s, inbox.ErrInvalid)
	}
	if neg {
		n = -n
	}
	return n, nil
}

func allDigits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// FormatAmount writes minor units as the decimal string in major units that shop APIs expect
// ("41.94"), the inverse of ParseAmount.
func FormatAmount(minor int64, currency string) string {
	digits := MinorDigits(currency)
	neg := minor < 0
	if neg {
		minor = -minor
	}
	s := strconv.FormatInt(minor, 10)
	if digits > 0 {
		if len(s) <= digits {
			s = strings.Repeat("0", digits-len(s)+1) + s
		}
		s = s[:len(s)-digits] + "." + s[len(s)-digits:]
	}
	if neg {
		s = "-" + s
	}
	return s
}
