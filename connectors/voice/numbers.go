package voice

import (
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/nyaruka/phonenumbers"

	"github.com/serambi/serambi/inbox"
)

// How a PBX writes a number that has neither a '+' nor a leading 0 ("493055571600"): Zammad's
// generic CTI and most PBX scripts send international numbers without the '+', some send national
// numbers without the trunk prefix.
const (
	BareInternational = "international"
	BareNational      = "national"
)

// numbers turns numbers as providers and PBXes write them into E.164.
type numbers struct {
	norm inbox.Normalizer
	bare string
}

// withheld are the ways callers without a number show up.
var withheld = map[string]bool{
	"": true, "anonymous": true, "unknown": true, "<unknown>": true, "restricted": true,
	"private": true, "unavailable": true, "withheld": true, "blocked": true,
}

var visualSeparators = strings.NewReplacer(" ", "", "-", "", ".", "", "(", "", ")", "", "/", "")

// phone returns raw in E.164, or "" when it is not a phone number: a withheld caller, an
// extension ("201"), a Twilio client ("client:alice") or a SIP address whose user part is no
// number.
func (n numbers) phone(raw string) string {
	s := strings.TrimSpace(raw)
	if withheld[strings.ToLower(s)] || len(s) > 64 {
		return ""
	}
	lower := strings.ToLower(s)
	switch {
	case strings.HasPrefix(lower, "tel:"):
		s = s[4:]
	case strings.HasPrefix(lower, "sip:"), strings.HasPrefix(lower, "sips:"):
		_, rest, _ := strings.Cut(s, ":")
		s, _, _ = strings.Cut(rest, "@")
		s, _, _ = strings.Cut(s, ";")
	}
	s = visualSeparators.Replace(s)
	digits := strings.TrimPrefix(s, "+")
	if digits == "" || strings.Trim(digits, "0123456789") != "" || len(digits) < 6 {
		return "" // letters, or too short to be anything but an extension
	}
	international := ""
	switch {
	case strings.HasPrefix(s, "00"):
		international = "+" + digits[2:] // the international call prefix of most of the world
	case !strings.HasPrefix(s, "+") && !strings.HasPrefix(s, "0") && n.bare != BareNational:
		international = "+" + digits
	}
	if international != "" {
		if num, err := phonenumbers.Parse(international, ""); err == nil && phonenumbers.IsValidNumber(num) {
			return phonenumbers.Format(num, phonenumbers.E164)
		}
	}
	e, err := n.norm.NormalizePhone(s)
	if err != nil {
		return ""
	}
	return e
}

// dialFormats are how Originate writes the customer's number for the dialplan.
const (
	DialE164     = "e164"     // +6281234567890
	DialDigits   = "digits"   // 6281234567890
	DialNational = "national" // 081234567890
)

// dial renders an E.164 number the way the dialplan expects it.
func dial(e164, format string) (string, error) {
	num, err := phonenumbers.Parse(e164, "")
	if err != nil {
		return "", fmt.Errorf("number %q: %w", e164, inbox.ErrInvalid)
	}
	switch format {
	case DialDigits:
		return strings.TrimPrefix(e164, "+"), nil
	case DialNational:
		return strings.Map(func(r rune) rune {
			if r >= '0' && r <= '9' {
				return r
			}
			return -1
		}, phonenumbers.Format(num, phonenumbers.NATIONAL)), nil
	}
	return e164, nil
}

// agentPart turns the callee of a provider's agent leg into a short agent name:
// "client:alice" → "alice", "sip:201@pbx.example.com" → "201"; a phone number stays as it is.
func agentPart(s string) string {
	s = strings.TrimSpace(s)
	lower := strings.ToLower(s)
	switch {
	case strings.HasPrefix(lower, "client:"):
		return s[len("client:"):]
	case strings.HasPrefix(lower, "sip:"), strings.HasPrefix(lower, "sips:"):
		_, rest, _ := strings.Cut(s, ":")
		user, _, _ := strings.Cut(rest, "@")
		return user
	}
	return s
}

var extensionRE = regexp.MustCompile(`^[A-Za-z0-9_.\-]{1,40}$`)

// validExtension reports whether ext can be put into a channel name ("PJSIP/<ext>") safely.
func validExtension(ext string) bool { return extensionRE.MatchString(ext) }

// clip keeps a provider's free text within n bytes of valid UTF-8 without control characters.
func clip(s string, n int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, s)
	s = strings.TrimSpace(s)
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut]
}
