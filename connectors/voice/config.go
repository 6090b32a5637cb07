package voice

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/serambi/serambi/config"
)

// Secret is config.Secret: it prints, logs and marshals as "[redacted]".
type Secret = config.Secret

// Config is the call-center connector's configuration. Each source is enabled by its own
// credentials; with none set the connector does nothing.
type Config struct {
	// PublicURL is the base URL the providers call, as they see it (https://support.example.com,
	// with a path prefix if a proxy adds one). Twilio signs the URL it called, which behind a
	// proxy or load balancer is not the Host the request arrives with: the signature is checked
	// against PublicURL + the request's path and query.
	PublicURL string
	// CTIToken enables POST /api/v1/voice/cti/{token} (Zammad's generic CTI shape).
	CTIToken Secret
	// TwilioAuthToken enables the Twilio status and recording callbacks and verifies them.
	TwilioAuthToken Secret
	// TwilioAccountSID, when set, must match the AccountSid of every callback; with the auth
	// token it also fetches recordings for the console's player.
	TwilioAccountSID string
	// TwilioAPIBase is where recordings that need the account's credentials live.
	TwilioAPIBase string
	AMI           AMIConfig
	// BareNumbers says how to read a number with neither '+' nor a leading 0: BareInternational
	// (the default, Zammad's convention "493055571600") or BareNational.
	BareNumbers string
}

// AMIConfig is the Asterisk Manager Interface connection.
type AMIConfig struct {
	Addr     string // host:port; empty disables AMI
	Username string
	Secret   Secret
	// Queues and Extensions select the calls to follow: calls that join one of the queues or
	// ring one of the extensions, and calls the extensions place to outside numbers. With both
	// empty every call with an outside party is followed.
	Queues     []string
	Extensions []string
	// Events is the Login's Events header ("on" or a class list such as "call,agent,dialplan").
	Events       string
	PingInterval time.Duration
	// Originate (click-to-call) rings <OriginateTech>/<agent extension>, and when the agent
	// picks up runs <OriginateContext>,<customer number>,1 to dial the customer.
	OriginateTech    string
	OriginateContext string
	OriginateTimeout time.Duration
	// DialFormat is how the customer's number is written for the dialplan: DialE164,
	// DialDigits or DialNational.
	DialFormat string
	// RecordingBaseURL, when set, turns MixMonitor's MIXMONITOR_FILENAME into a URL:
	// RecordingBaseURL + "/" + the file's base name.
	RecordingBaseURL string
}

// Defaults.
const (
	DefaultAMIEvents        = "on"
	DefaultPingInterval     = 20 * time.Second
	DefaultOriginateTech    = "PJSIP"
	DefaultOriginateContext = "from-internal"
	DefaultOriginateTimeout = 30 * time.Second
	minCTITokenLen          = 16
)

// Enabled reports whether any source is configured.
func (c Config) Enabled() bool {
	return c.CTIToken != "" || c.TwilioAuthToken != "" || c.AMI.Addr != ""
}

// WithDefaults fills unset optional settings.
func (c Config) WithDefaults() Config {
	if c.BareNumbers == "" {
		c.BareNumbers = BareInternational
	}
	if c.TwilioAPIBase == "" {
		c.TwilioAPIBase = DefaultTwilioAPIBase
	}
	c.TwilioAPIBase = strings.TrimRight(c.TwilioAPIBase, "/")
	a := &c.AMI
	if a.Events == "" {
		a.Events = DefaultAMIEvents
	}
	if a.PingInterval <= 0 {
		a.PingInterval = DefaultPingInterval
	}
	if a.OriginateTech == "" {
		a.OriginateTech = DefaultOriginateTech
	}
	if a.OriginateContext == "" {
		a.OriginateContext = DefaultOriginateContext
	}
	if a.OriginateTimeout <= 0 {
		a.OriginateTimeout = DefaultOriginateTimeout
	}
	if a.DialFormat == "" {
		a.DialFormat = DialE164
	}
	c.PublicURL = strings.TrimRight(c.PublicURL, "/")
	c.AMI.RecordingBaseURL = strings.TrimRight(c.AMI.RecordingBaseURL, "/")
	return c
}

var (
	tokenRE = regexp.MustCompile(`^[A-Za-z0-9._~\-]+$`)
	nameRE  = regexp.MustCompile(`^[A-Za-z0-9_.\-]{1,80}$`)
)

// Validate checks c (after WithDefaults) and names the variable to fix in each error.
func (c Config) Validate() error {
	var errs []error
	bad := func(name, want string) { errs = append(errs, fmt.Errorf("%s is not valid: want %s", name, want)) }
	if c.CTIToken != "" && (len(c.CTIToken) < minCTITokenLen || !tokenRE.MatchString(c.CTIToken.Reveal())) {
		bad("SERAMBI_VOICE_CTI_TOKEN", fmt.Sprintf("at least %d URL-safe characters (letters, digits, . _ ~ -), for example `openssl rand -hex 24`", minCTITokenLen))
	}
	switch {
	case c.TwilioAuthToken != "" && c.PublicURL == "":
		bad("SERAMBI_VOICE_PUBLIC_URL", "the absolute https:// base URL Twilio calls (it is part of what X-Twilio-Signature signs); SERAMBI_BASE_URL is used when it is unset")
	case c.PublicURL != "" && !absoluteHTTP(c.PublicURL):
		bad("SERAMBI_VOICE_PUBLIC_URL", "an absolute http:// or https:// URL such as https://support.example.com")
	}
	if c.TwilioAccountSID != "" && !regexp.MustCompile(`^AC[0-9a-fA-F]{32}$`).MatchString(c.TwilioAccountSID) {
		bad("SERAMBI_VOICE_TWILIO_ACCOUNT_SID", "a Twilio account SID: AC followed by 32 hex digits")
	}
	if c.BareNumbers != BareInternational && c.BareNumbers != BareNational {
		bad("SERAMBI_VOICE_BARE_NUMBERS", "international or national")
	}
	a := c.AMI
	if a.Addr != "" {
		if _, port, err := net.SplitHostPort(a.Addr); err != nil || port == "" {
			bad("SERAMBI_VOICE_AMI_ADDR", "host:port of the Asterisk manager, such as 127.0.0.1:5038")
		}
		if a.Username == "" || a.Secret == "" {
			bad("SERAMBI_VOICE_AMI_USERNAME and SERAMBI_VOICE_AMI_SECRET", "the manager.conf user and secret Serambi logs in with")
		}
		if strings.ContainsAny(a.Username+a.Secret.Reveal()+a.Events, "\r\n") {
			bad("SERAMBI_VOICE_AMI_USERNAME, _SECRET and _EVENTS", "values without line breaks")
		}
		for _, q := range a.Queues {
			if !nameRE.MatchString(q) {
				bad("SERAMBI_VOICE_AMI_QUEUES", "a comma-separated list of queue names (letters, digits, _ . -)")
				break
			}
		}
		for _, e := range a.Extensions {
			if !validExtension(e) {
				bad("SERAMBI_VOICE_AMI_EXTENSIONS", "a comma-separated list of extensions (letters, digits, _ . -)")
				break
			}
		}
		if !regexp.MustCompile(`^[A-Za-z0-9]{1,20}$`).MatchString(a.OriginateTech) {
			bad("SERAMBI_VOICE_ORIGINATE_TECH", "a channel technology such as PJSIP, SIP or IAX2")
		}
		if !nameRE.MatchString(a.OriginateContext) {
			bad("SERAMBI_VOICE_ORIGINATE_CONTEXT", "a dialplan context name such as from-internal")
		}
		if a.PingInterval < time.Second || a.PingInterval > 10*time.Minute {
			bad("SERAMBI_VOICE_AMI_PING_INTERVAL", "a duration from 1s to 10m")
		}
		if a.OriginateTimeout < time.Second || a.OriginateTimeout > 5*time.Minute {
			bad("SERAMBI_VOICE_ORIGINATE_TIMEOUT", "a duration from 1s to 5m")
		}
		switch a.DialFormat {
		case DialE164, DialDigits, DialNational:
		default:
			bad("SERAMBI_VOICE_DIAL_FORMAT", "e164, digits or national")
		}
		if a.RecordingBaseURL != "" && !absoluteHTTP(a.RecordingBaseURL) {
			bad("SERAMBI_VOICE_AMI_RECORDING_URL", "an absolute http:// or https:// URL under which recordings are served")
		}
	}
	return errors.Join(errs...)
}

// LoadFromEnv reads the connector's configuration:
//
//	SERAMBI_VOICE_PUBLIC_URL          base URL providers call (default SERAMBI_BASE_URL); Twilio signatures are checked against it
//	SERAMBI_VOICE_CTI_TOKEN           enables POST /api/v1/voice/cti/{token}; at least 16 URL-safe characters
//	SERAMBI_VOICE_TWILIO_AUTH_TOKEN   enables /api/v1/voice/twilio/status and /recording, verified with X-Twilio-Signature
//	SERAMBI_VOICE_TWILIO_ACCOUNT_SID  optional: callbacks of any other account are refused
//	SERAMBI_VOICE_BARE_NUMBERS        international (default) or national: how "493055571600" is read
//	SERAMBI_VOICE_AMI_ADDR            Asterisk manager host:port; enables the AMI client and click-to-call
//	SERAMBI_VOICE_AMI_USERNAME        manager.conf user
//	SERAMBI_VOICE_AMI_SECRET          manager.conf secret
//	SERAMBI_VOICE_AMI_QUEUES          comma-separated queues to follow (default: all calls with an outside party)
//	SERAMBI_VOICE_AMI_EXTENSIONS      comma-separated agent extensions to follow and to allow click-to-call from
//	SERAMBI_VOICE_AMI_EVENTS          Login Events header (default on)
//	SERAMBI_VOICE_AMI_PING_INTERVAL   keep-alive interval (default 20s)
//	SERAMBI_VOICE_AMI_RECORDING_URL   optional base URL under which MixMonitor recordings are served
//	SERAMBI_VOICE_ORIGINATE_TECH      channel technology of agent phones (default PJSIP)
//	SERAMBI_VOICE_ORIGINATE_CONTEXT   dialplan context that dials customers (default from-internal)
//	SERAMBI_VOICE_ORIGINATE_TIMEOUT   how long the agent's phone rings (default 30s)
//	SERAMBI_VOICE_DIAL_FORMAT         e164 (default), digits or national: how the customer's number reaches the dialplan
func LoadFromEnv(getenv func(string) string) (Config, error) {
	get := func(k string) string { return strings.TrimSpace(getenv(k)) }
	c := Config{
		PublicURL:        get("SERAMBI_VOICE_PUBLIC_URL"),
		CTIToken:         Secret(get("SERAMBI_VOICE_CTI_TOKEN")),
		TwilioAuthToken:  Secret(get("SERAMBI_VOICE_TWILIO_AUTH_TOKEN")),
		TwilioAccountSID: get("SERAMBI_VOICE_TWILIO_ACCOUNT_SID"),
		BareNumbers:      strings.ToLower(get("SERAMBI_VOICE_BARE_NUMBERS")),
		AMI: AMIConfig{
			Addr:             get("SERAMBI_VOICE_AMI_ADDR"),
			Username:         get("SERAMBI_VOICE_AMI_USERNAME"),
			Secret:           Secret(get("SERAMBI_VOICE_AMI_SECRET")),
			Queues:           list(get("SERAMBI_VOICE_AMI_QUEUES")),
			Extensions:       list(get("SERAMBI_VOICE_AMI_EXTENSIONS")),
			Events:           get("SERAMBI_VOICE_AMI_EVENTS"),
			RecordingBaseURL: get("SERAMBI_VOICE_AMI_RECORDING_URL"),
			OriginateTech:    get("SERAMBI_VOICE_ORIGINATE_TECH"),
			OriginateContext: get("SERAMBI_VOICE_ORIGINATE_CONTEXT"),
			DialFormat:       strings.ToLower(get("SERAMBI_VOICE_DIAL_FORMAT")),
		},
	}
	if c.PublicURL == "" {
		c.PublicURL = get("SERAMBI_BASE_URL")
	}
	var errs []error
	dur := func(name string, dst *time.Duration) {
		v := get(name)
		if v == "" {
			return
		}
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			errs = append(errs, fmt.Errorf("%s=%q is not valid: want a duration such as 20s or 1m", name, v))
			return
		}
		*dst = d
	}
	dur("SERAMBI_VOICE_AMI_PING_INTERVAL", &c.AMI.PingInterval)
	dur("SERAMBI_VOICE_ORIGINATE_TIMEOUT", &c.AMI.OriginateTimeout)
	c = c.WithDefaults()
	if err := c.Validate(); err != nil {
		errs = append(errs, err)
	}
	return c, errors.Join(errs...)
}

func list(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func absoluteHTTP(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" && u.User == nil && u.RawQuery == "" && u.Fragment == ""
}

// LogValue describes the configuration without its secrets.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.Bool("cti", c.CTIToken != ""), slog.Bool("twilio", c.TwilioAuthToken != ""),
		slog.String("publicUrl", c.PublicURL), slog.String("amiAddr", c.AMI.Addr),
		slog.Any("queues", c.AMI.Queues), slog.Any("extensions", c.AMI.Extensions))
}
