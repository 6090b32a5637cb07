package widget

import (
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/serambi/serambi/config"
)

// Secret is config.Secret: it prints, logs and marshals as "[redacted]".
type Secret = config.Secret

// Rate is "Count events per Per": a token bucket that refills Count tokens every Per and holds at
// most Burst (Count when Burst is zero).
type Rate struct {
	Count int
	Per   time.Duration
	Burst int
}

// Unlimited reports whether the rate limits nothing.
func (r Rate) Unlimited() bool { return r.Count <= 0 || r.Per <= 0 }

func (r Rate) String() string {
	if r.Unlimited() {
		return "unlimited"
	}
	return fmt.Sprintf("%d/%s", r.Count, r.Per)
}

// ParseRate reads "30/1m" (30 per minute), "5/10s", or "0" / "off" for no limit.
func ParseRate(s string) (Rate, error) {
	s = strings.TrimSpace(s)
	if s == "0" || strings.EqualFold(s, "off") {
		return Rate{}, nil
	}
	n, per, ok := strings.Cut(s, "/")
	count, err := strconv.Atoi(strings.TrimSpace(n))
	if !ok || err != nil || count <= 0 {
		return Rate{}, fmt.Errorf("rate %q must look like 30/1m (a count, a slash, a duration) or off", s)
	}
	d, err := time.ParseDuration(strings.TrimSpace(per))
	if err != nil || d <= 0 {
		return Rate{}, fmt.Errorf("rate %q must look like 30/1m (a count, a slash, a duration) or off", s)
	}
	return Rate{Count: count, Per: d}, nil
}

// Config is the widget connector's process-wide configuration. What differs per website (colours,
// greeting, allowed origins, the JWT secret) is in Settings, kept per widget inbox in the store;
// the Default* fields here seed the first widget inbox so the widget works before anyone opens
// the console.
type Config struct {
	// Disabled turns the widget's routes off (SERAMBI_WIDGET_ENABLED=false).
	Disabled bool
	// Default is the widget inbox seeded from the environment.
	Default Settings
	// MaxMessageChars bounds one visitor message, in characters.
	MaxMessageChars int
	// VisitorRate and IPRate bound messages (and uploads) per visitor and per client address.
	VisitorRate, IPRate Rate
	// MaxConnsPerIP bounds concurrent sockets from one client address; 0 is unlimited.
	MaxConnsPerIP int
	// MaxUploadBytes bounds one uploaded file.
	MaxUploadBytes int64
	// OfflineAfter is how long a visitor must have been gone before a reply is also emailed
	// (when an email fallback is wired and the visitor left an address).
	OfflineAfter time.Duration
	// Demo serves the demo shop page at /widget/demo.
	Demo bool
	// TrustProxy takes the client address from X-Forwarded-For / X-Real-IP (behind a reverse
	// proxy); otherwise the TCP peer address is used, which a visitor cannot forge.
	TrustProxy bool
	// PingTimeout is how long a socket may be silent before it is closed; clients ping every 25 s.
	PingTimeout time.Duration
	// StatusEvery is how often "agents online" is checked and pushed to visitors when it changed.
	StatusEvery time.Duration
}

// Defaults.
const (
	DefaultInboxID         = "default"
	DefaultMaxMessageChars = 4000
	DefaultMaxUploadBytes  = 10 << 20
	DefaultMaxConnsPerIP   = 200
	DefaultOfflineAfter    = 5 * time.Minute
	DefaultPingTimeout     = 75 * time.Second
	DefaultStatusEvery     = 10 * time.Second
)

// Default rates: a visitor may type quickly for a while but not flood (20 messages, then one every
// three seconds); an address gets more, because an office or a mobile carrier puts many visitors
// behind one.
const (
	DefaultVisitorRatePerMinute = 20
	DefaultIPRatePerMinute      = 120
)

// Enabled reports whether the widget's routes are served.
func (c Config) Enabled() bool { return !c.Disabled }

// WithDefaults fills what is unset.
func (c Config) WithDefaults() Config {
	c.Default = c.Default.WithDefaults()
	if c.MaxMessageChars <= 0 {
		c.MaxMessageChars = DefaultMaxMessageChars
	}
	if c.MaxUploadBytes <= 0 {
		c.MaxUploadBytes = DefaultMaxUploadBytes
	}
	if c.OfflineAfter <= 0 {
		c.OfflineAfter = DefaultOfflineAfter
	}
	if c.PingTimeout <= 0 {
		c.PingTimeout = DefaultPingTimeout
	}
	if c.StatusEvery <= 0 {
		c.StatusEvery = DefaultStatusEvery
	}
	return c
}

// LogValue lets a Config be logged whole without its secrets.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.Bool("enabled", c.Enabled()), slog.String("inbox", c.Default.ID),
		slog.Any("origins", c.Default.AllowedOrigins), slog.Bool("identity", c.Default.JWTSecret != ""),
		slog.String("visitorRate", c.VisitorRate.String()), slog.String("ipRate", c.IPRate.String()),
	)
}

// LoadFromEnv reads SERAMBI_WIDGET_* variables. The widget is on by default, with one widget
// inbox ("default") that accepts the Serambi server's own origin (the demo page) until
// SERAMBI_WIDGET_ORIGINS names the shop's site.
//
//	SERAMBI_WIDGET_ENABLED          false turns the widget routes off (default true)
//	SERAMBI_WIDGET_INBOX            id of the seeded widget inbox (default "default")
//	SERAMBI_WIDGET_NAME             name in the chat header (default "Support")
//	SERAMBI_WIDGET_COLOR            brand colour #RRGGBB (default #0f766e)
//	SERAMBI_WIDGET_POSITION         right (default) or left
//	SERAMBI_WIDGET_LANGUAGE         auto (default: the visitor's browser), en or id
//	SERAMBI_WIDGET_GREETING_EN      greeting in English
//	SERAMBI_WIDGET_GREETING_ID      greeting in Bahasa Indonesia
//	SERAMBI_WIDGET_ORIGINS          comma-separated origins allowed to embed it, e.g. https://shop.example
//	SERAMBI_WIDGET_JWT_SECRET       HS256 secret for signed visitor identities (at least 32 bytes)
//	SERAMBI_WIDGET_PRECHAT          off (default), or a list of name,email[,required]
//	SERAMBI_WIDGET_PRECHAT_FIELDS   extra pre-chat fields: key=English label|Label Indonesia, comma-separated
//	SERAMBI_WIDGET_OFFLINE_EMAIL    ask for an email when no agent is online (default true)
//	SERAMBI_WIDGET_UPLOADS          let visitors send files and images (default true)
//	SERAMBI_WIDGET_MAX_UPLOAD_MB    largest uploaded file in MB (default 10)
//	SERAMBI_WIDGET_MAX_CHARS        longest visitor message in characters (default 4000)
//	SERAMBI_WIDGET_RATE_VISITOR     messages per visitor, e.g. 20/1m (default), or off
//	SERAMBI_WIDGET_RATE_IP          messages per client address, e.g. 120/1m (default), or off
//	SERAMBI_WIDGET_MAX_CONNS_PER_IP concurrent sockets per client address (default 200, 0 = unlimited)
//	SERAMBI_WIDGET_OFFLINE_AFTER    away time after which replies are also emailed (default 5m)
//	SERAMBI_WIDGET_DEMO             serve the demo shop at /widget/demo (default true)
//	SERAMBI_WIDGET_TRUST_PROXY      take the client address from X-Forwarded-For (default false)
func LoadFromEnv(getenv func(string) string) (Config, error) {
	get := func(k string) string { return strings.TrimSpace(getenv(k)) }
	var errs []error
	boolean := func(k string, def bool) bool {
		v := get(k)
		if v == "" {
			return def
		}
		b, err := strconv.ParseBool(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s %q must be true or false", k, v))
			return def
		}
		return b
	}
	number := func(k string, def, lo, hi int) int {
		v := get(k)
		if v == "" {
			return def
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < lo || n > hi {
			errs = append(errs, fmt.Errorf("%s %q must be a whole number from %d to %d", k, v, lo, hi))
			return def
		}
		return n
	}
	rate := func(k string, def Rate) Rate {
		v := get(k)
		if v == "" {
			return def
		}
		r, err := ParseRate(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", k, err))
			return def
		}
		return r
	}
	c := Config{
		Disabled: !boolean("SERAMBI_WIDGET_ENABLED", true),
		Default: Settings{
			ID: get("SERAMBI_WIDGET_INBOX"), Name: get("SERAMBI_WIDGET_NAME"), Color: get("SERAMBI_WIDGET_COLOR"),
			Position: get("SERAMBI_WIDGET_POSITION"), Language: strings.ToLower(get("SERAMBI_WIDGET_LANGUAGE")),
			GreetingEN: get("SERAMBI_WIDGET_GREETING_EN"), GreetingID: get("SERAMBI_WIDGET_GREETING_ID"),
			JWTSecret: Secret(get("SERAMBI_WIDGET_JWT_SECRET")), OfflineEmail: boolean("SERAMBI_WIDGET_OFFLINE_EMAIL", true),
			Uploads: boolean("SERAMBI_WIDGET_UPLOADS", true), Source: SourceEnv,
		},
		MaxMessageChars: number("SERAMBI_WIDGET_MAX_CHARS", DefaultMaxMessageChars, 1, 100_000),
		MaxUploadBytes:  int64(number("SERAMBI_WIDGET_MAX_UPLOAD_MB", DefaultMaxUploadBytes>>20, 1, 100)) << 20,
		MaxConnsPerIP:   number("SERAMBI_WIDGET_MAX_CONNS_PER_IP", DefaultMaxConnsPerIP, 0, 1_000_000),
		VisitorRate:     rate("SERAMBI_WIDGET_RATE_VISITOR", Rate{Count: DefaultVisitorRatePerMinute, Per: time.Minute}),
		IPRate:          rate("SERAMBI_WIDGET_RATE_IP", Rate{Count: DefaultIPRatePerMinute, Per: time.Minute}),
		Demo:            boolean("SERAMBI_WIDGET_DEMO", true),
		TrustProxy:      boolean("SERAMBI_WIDGET_TRUST_PROXY", false),
	}
	for _, o := range strings.Split(get("SERAMBI_WIDGET_ORIGINS"), ",") {
		if o = strings.TrimSpace(o); o != "" {
			c.Default.AllowedOrigins = append(c.Default.AllowedOrigins, o)
		}
	}
	if v := get("SERAMBI_WIDGET_OFFLINE_AFTER"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			errs = append(errs, fmt.Errorf("SERAMBI_WIDGET_OFFLINE_AFTER %q must be a duration such as 5m", v))
		}
		c.OfflineAfter = d
	}
	pre, err := parsePreChat(get("SERAMBI_WIDGET_PRECHAT"), get("SERAMBI_WIDGET_PRECHAT_FIELDS"))
	if err != nil {
		errs = append(errs, err)
	}
	c.Default.PreChat = pre
	c = c.WithDefaults()
	if err := c.Default.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("SERAMBI_WIDGET_* settings: %w", err))
	}
	return c, errors.Join(errs...)
}

// parsePreChat reads SERAMBI_WIDGET_PRECHAT ("name,email,required") and
// SERAMBI_WIDGET_PRECHAT_FIELDS ("order=Order number|Nomor pesanan,city=City|Kota").
func parsePreChat(ask, fields string) (PreChat, error) {
	var p PreChat
	var errs []error
	if ask != "" && !strings.EqualFold(ask, "off") {
		for _, w := range strings.Split(strings.ToLower(ask), ",") {
			switch strings.TrimSpace(w) {
			case "name":
				p.AskName = true
			case "email":
				p.AskEmail = true
			case "required":
				p.RequireEmail = true
			case "":
			default:
				errs = append(errs, fmt.Errorf("SERAMBI_WIDGET_PRECHAT %q: %q is not one of name, email, required", ask, w))
			}
		}
		p.Enabled = true
	}
	for _, f := range strings.Split(fields, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		key, labels, ok := strings.Cut(f, "=")
		en, id, _ := strings.Cut(labels, "|")
		if !ok || strings.TrimSpace(en) == "" {
			errs = append(errs, fmt.Errorf("SERAMBI_WIDGET_PRECHAT_FIELDS item %q must look like key=English label|Label Indonesia", f))
			continue
		}
		p.Fields = append(p.Fields, Field{Key: strings.TrimSpace(key), LabelEN: strings.TrimSpace(en), LabelID: strings.TrimSpace(id)})
		p.Enabled = true
	}
	return p, errors.Join(errs...)
}
