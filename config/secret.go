package config

import "log/slog"

// Secret is a credential (a bot token, a webhook secret, an app secret). It prints, logs and
// marshals as "[redacted]" so that a configuration can be logged or shown to an admin without
// giving the credential away; Reveal is the one way to the value, used only where the wire
// needs it. Every connector's settings use it.
type Secret string

const redacted = "[redacted]"

func (s Secret) String() string   { return s.redacted() }
func (s Secret) GoString() string { return s.redacted() }

// LogValue keeps slog from printing the value, whichever handler is used.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.redacted()) }

// MarshalText makes JSON and other encoders print the redaction too.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.redacted()), nil }

// Reveal returns the secret itself.
func (s Secret) Reveal() string { return string(s) }

func (s Secret) redacted() string {
	if s == "" {
		return ""
	}
	return redacted
}
