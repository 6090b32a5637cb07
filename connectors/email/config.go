package email

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/serambi/serambi/inbox"
)

// Secret is a password or key from the configuration. It prints, logs and marshals as
// "[redacted]", so that a Mailbox can be logged or shown to an admin without leaking it.
type Secret string

const redacted = "[redacted]"

// Reveal returns the secret itself, for the one place that must send it.
func (s Secret) Reveal() string { return string(s) }

func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return redacted
}

// GoString keeps %#v from printing the value.
func (s Secret) GoString() string { return strconv.Quote(s.String()) }

// LogValue keeps slog from printing the value.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalText keeps JSON and other encoders from printing the value.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// TLSMode says how a connection to a mail server is protected.
type TLSMode string

const (
	// TLSImplicit: TLS from the first byte (IMAPS 993, SMTPS 465).
	TLSImplicit TLSMode = "tls"
	// TLSStartTLS: a plain connection upgraded with STARTTLS before logging in (IMAP 143, submission 587).
	TLSStartTLS TLSMode = "starttls"
	// TLSNone: no encryption. Only accepted for servers on the loopback interface (test servers, a
	// local relay) unless AllowInsecure is set, because the password would cross the network in clear.
	TLSNone TLSMode = "none"
)

func (m TLSMode) valid() bool { return m == TLSImplicit || m == TLSStartTLS || m == TLSNone }

// IMAPConfig says where a mailbox's incoming mail is read.
type IMAPConfig struct {
	Host     string
	Port     int
	TLS      TLSMode
	Username string
	Password Secret
	// Folder is watched for new mail; INBOX when empty.
	Folder string
	// CAFile is a PEM file of extra certificate authorities (a self-signed server's certificate).
	CAFile string
	// PollInterval is how often the folder is checked when the server has no IDLE (or NoIdle).
	PollInterval time.Duration
	// NoIdle polls even when the server offers IDLE (for servers whose IDLE is broken).
	NoIdle bool
}

// SMTPConfig says where a mailbox's replies are sent.
type SMTPConfig struct {
	Host string
	Port int
	TLS  TLSMode
	// Username and Password authenticate with AUTH PLAIN; no authentication when Username is empty.
	Username string
	Password Secret
	CAFile   string
	// HeloName is the name given in EHLO; the support address's domain when empty.
	HeloName string
}

// Mailbox is one support address: where its mail is read and how its replies leave.
type Mailbox struct {
	// ID names the mailbox in the connector state and in logs ("support"); it must stay the same
	// across restarts, or the mailbox is imported again (without duplicates, but slowly).
	ID          string
	Address     string // support@example.com
	DisplayName string // "Example Support"
	IMAP        IMAPConfig
	SMTP        SMTPConfig
	// PlusAddressing makes replies carry Reply-To support+<token>@domain, so the customer's answer
	// finds its thread even when their mail client drops In-Reply-To and References. The mail
	// server must deliver support+anything@domain to this mailbox (most do).
	PlusAddressing bool
	// TokenSecret keys the plus-address tokens. When empty, a random key is created once and kept
	// in the connector state, which is as good unless the state is lost.
	TokenSecret Secret
	// LookBack is how far back the first connection imports (and a UIDVALIDITY change re-imports).
	LookBack time.Duration
	// SentFolder, when set, receives a copy of every reply (APPEND), so the team sees them in a
	// mail client too.
	SentFolder string
	// MaxAttachmentBytes bounds one attachment; larger ones are listed on the message but not stored.
	MaxAttachmentBytes int64
	// StoreRaw says when an incoming mail's source is kept in the blob store (Meta "email.raw"):
	// by default when parsing had to repair it, so that nothing is lost where the parser fell
	// short. (The IMAP server keeps every source anyway; "always" costs a synced file per mail.)
	StoreRaw StoreRawMode
	// AllowInsecure permits TLSNone to a server that is not on the loopback interface.
	AllowInsecure bool

	// ReconnectMin and ReconnectMax bound the exponential backoff between IMAP reconnects.
	ReconnectMin, ReconnectMax time.Duration
	// LeaseTTL is how long this instance holds the mailbox before another instance may take over.
	LeaseTTL time.Duration
	// IdleRestart bounds one IDLE command; the connection is then checked (NOOP) and IDLE reissued,
	// which also notices a server that vanished without closing the connection.
	IdleRestart time.Duration
}

// StoreRawMode says when the source of an incoming mail is kept.
type StoreRawMode string

const (
	StoreRawOnProblems StoreRawMode = "" // when the parser had to repair the mail (the default)
	StoreRawAlways     StoreRawMode = "always"
	StoreRawNever      StoreRawMode = "never"
)

// Defaults used when a field is zero.
const (
	DefaultLookBack           = 14 * 24 * time.Hour
	DefaultPollInterval       = 30 * time.Second
	DefaultMaxAttachmentBytes = 25 << 20
	DefaultReconnectMin       = time.Second
	DefaultReconnectMax       = 5 * time.Minute
	DefaultLeaseTTL           = time.Minute
	DefaultIdleRestart        = 10 * time.Minute
)

// WithDefaults fills in every zero field that has a default.
func (mb Mailbox) WithDefaults() Mailbox {
	mb.Address = strings.ToLower(strings.TrimSpace(mb.Address))
	if mb.IMAP.TLS == "" {
		mb.IMAP.TLS = TLSImplicit
	}
	if mb.IMAP.Port == 0 {
		mb.IMAP.Port = map[TLSMode]int{TLSImplicit: 993, TLSStartTLS: 143, TLSNone: 143}[mb.IMAP.TLS]
	}
	if mb.IMAP.Username == "" {
		mb.IMAP.Username = mb.Address
	}
	if mb.IMAP.Folder == "" {
		mb.IMAP.Folder = "INBOX"
	}
	if mb.IMAP.PollInterval <= 0 {
		mb.IMAP.PollInterval = DefaultPollInterval
	}
	if mb.SMTP.TLS == "" {
		mb.SMTP.TLS = TLSStartTLS
	}
	if mb.SMTP.Port == 0 {
		mb.SMTP.Port = map[TLSMode]int{TLSImplicit: 465, TLSStartTLS: 587, TLSNone: 25}[mb.SMTP.TLS]
	}
	if mb.SMTP.HeloName == "" {
		if _, domain, ok := strings.Cut(mb.Address, "@"); ok {
			mb.SMTP.HeloName = domain
		}
	}
	if mb.LookBack <= 0 {
		mb.LookBack = DefaultLookBack
	}
	if mb.MaxAttachmentBytes <= 0 {
		mb.MaxAttachmentBytes = DefaultMaxAttachmentBytes
	}
	if mb.ReconnectMin <= 0 {
		mb.ReconnectMin = DefaultReconnectMin
	}
	if mb.ReconnectMax <= 0 {
		mb.ReconnectMax = DefaultReconnectMax
	}
	if mb.ReconnectMax < mb.ReconnectMin {
		mb.ReconnectMax = mb.ReconnectMin
	}
	if mb.LeaseTTL <= 0 {
		mb.LeaseTTL = DefaultLeaseTTL
	}
	if mb.IdleRestart <= 0 {
		mb.IdleRestart = DefaultIdleRestart
	}
	return mb
}

var mailboxID = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,63}$`)

// Validate reports every problem of a mailbox (after WithDefaults) in one error.
func (mb Mailbox) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if !mailboxID.MatchString(mb.ID) {
		bad("mailbox id %q must be 1-64 lower-case letters, digits, '-' or '_'", mb.ID)
	}
	if _, err := inbox.NormalizeEmail(mb.Address); err != nil || strings.Contains(mb.Address, "+") {
		bad("mailbox %s: address %q must be a plain address like support@example.com", mb.ID, mb.Address)
	}
	for _, s := range []struct {
		name, host string
		port       int
		tls        TLSMode
	}{{"IMAP", mb.IMAP.Host, mb.IMAP.Port, mb.IMAP.TLS}, {"SMTP", mb.SMTP.Host, mb.SMTP.Port, mb.SMTP.TLS}} {
		if s.host == "" {
			bad("mailbox %s: %s host is missing", mb.ID, s.name)
		}
		if s.port <= 0 || s.port > 65535 {
			bad("mailbox %s: %s port %d is not a TCP port", mb.ID, s.name, s.port)
		}
		if !s.tls.valid() {
			bad("mailbox %s: %s TLS mode %q must be tls, starttls or none", mb.ID, s.name, s.tls)
		} else if s.tls == TLSNone && !mb.AllowInsecure && s.host != "" && !isLoopback(s.host) {
			bad("mailbox %s: %s without TLS is only allowed to a loopback server (%s is not); use tls or starttls", mb.ID, s.name, s.host)
		}
	}
	if mb.IMAP.Password == "" {
		bad("mailbox %s: IMAP password is missing", mb.ID)
	}
	if mb.SMTP.Username != "" && mb.SMTP.Password == "" {
		bad("mailbox %s: SMTP username is set but the SMTP password is missing", mb.ID)
	}
	return errors.Join(errs...)
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// LogValue describes the mailbox without its secrets.
func (mb Mailbox) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("id", mb.ID), slog.String("address", mb.Address),
		slog.String("imap", net.JoinHostPort(mb.IMAP.Host, strconv.Itoa(mb.IMAP.Port))+" "+string(mb.IMAP.TLS)),
		slog.String("smtp", net.JoinHostPort(mb.SMTP.Host, strconv.Itoa(mb.SMTP.Port))+" "+string(mb.SMTP.TLS)),
		slog.String("folder", mb.IMAP.Folder), slog.Bool("plusAddressing", mb.PlusAddressing),
	)
}

// String describes the mailbox without its secrets.
func (mb Mailbox) String() string {
	return fmt.Sprintf("mailbox %s <%s> imap %s:%d (%s) smtp %s:%d (%s)", mb.ID, mb.Address,
		mb.IMAP.Host, mb.IMAP.Port, mb.IMAP.TLS, mb.SMTP.Host, mb.SMTP.Port, mb.SMTP.TLS)
}

// LoadFromEnv reads the mailboxes configured in SERAMBI_EMAIL_* variables; getenv is os.Getenv in
// production. With SERAMBI_EMAIL_MAILBOXES=support,sales each mailbox reads
// SERAMBI_EMAIL_SUPPORT_<NAME>; without it, one mailbox "default" reads SERAMBI_EMAIL_<NAME> when
// SERAMBI_EMAIL_ADDRESS is set, and no mailbox is configured otherwise. See EnvVars for the names.
// Every problem is reported at once, each naming its variable.
func LoadFromEnv(getenv func(string) string) ([]Mailbox, error) {
	ids := strings.TrimSpace(getenv("SERAMBI_EMAIL_MAILBOXES"))
	if ids == "" {
		if getenv("SERAMBI_EMAIL_ADDRESS") == "" {
			return nil, nil
		}
		mb, err := loadMailbox(getenv, "default", "SERAMBI_EMAIL_")
		if err != nil {
			return nil, err
		}
		return []Mailbox{mb}, nil
	}
	var out []Mailbox
	var errs []error
	seen := map[string]bool{}
	for _, id := range strings.Split(ids, ",") {
		id = strings.ToLower(strings.TrimSpace(id))
		if id == "" {
			continue
		}
		if seen[id] {
			errs = append(errs, fmt.Errorf("SERAMBI_EMAIL_MAILBOXES names %q twice", id))
			continue
		}
		seen[id] = true
		prefix := "SERAMBI_EMAIL_" + strings.ToUpper(strings.ReplaceAll(id, "-", "_")) + "_"
		mb, err := loadMailbox(getenv, id, prefix)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, mb)
	}
	if len(out) == 0 && len(errs) == 0 {
		errs = append(errs, errors.New("SERAMBI_EMAIL_MAILBOXES is set but names no mailbox"))
	}
	return out, errors.Join(errs...)
}

// EnvVars lists the per-mailbox variable names (after the SERAMBI_EMAIL_[<ID>_] prefix) with
// what they mean, for the configuration docs.
var EnvVars = [][2]string{
	{"ADDRESS", "the support address, e.g. support@example.com (required)"},
	{"NAME", "display name used in From, e.g. \"Example Support\""},
	{"IMAP_HOST", "IMAP server (required)"},
	{"IMAP_PORT", "IMAP port; default 993 (tls) or 143"},
	{"IMAP_TLS", "tls | starttls | none (none only to a loopback server); default tls"},
	{"IMAP_USERNAME", "IMAP login; default the address"},
	{"IMAP_PASSWORD", "IMAP password (or IMAP_PASSWORD_FILE: a file holding it)"},
	{"IMAP_FOLDER", "folder to import; default INBOX"},
	{"IMAP_CA_FILE", "PEM file with extra CA certificates (self-signed servers)"},
	{"IMAP_POLL", "poll interval when the server lacks IDLE; default 30s"},
	{"IMAP_IDLE", "false: poll even if the server offers IDLE; default true"},
	{"SMTP_HOST", "SMTP server for replies (required)"},
	{"SMTP_PORT", "SMTP port; default 465 (tls), 587 (starttls) or 25 (none)"},
	{"SMTP_TLS", "tls | starttls | none; default starttls"},
	{"SMTP_USERNAME", "SMTP AUTH PLAIN login; no authentication when empty"},
	{"SMTP_PASSWORD", "SMTP password (or SMTP_PASSWORD_FILE)"},
	{"SMTP_CA_FILE", "PEM file with extra CA certificates"},
	{"SMTP_HELO", "name sent in EHLO; default the address's domain"},
	{"PLUS_ADDRESSING", "true: replies carry Reply-To support+<token>@domain for robust threading"},
	{"TOKEN_SECRET", "key for plus-address tokens (or TOKEN_SECRET_FILE); generated and stored when empty"},
	{"LOOKBACK", "how far back the first import goes, e.g. 14d, 72h; default 14d"},
	{"SENT_FOLDER", "IMAP folder that receives a copy of every reply, e.g. Sent; none when empty"},
	{"MAX_ATTACHMENT_MB", "largest attachment stored, in MiB; default 25"},
	{"STORE_RAW", "when to keep a mail's source in the blob store: problems (when parsing repaired it; default) | always | never"},
	{"ALLOW_INSECURE", "true: allow TLS none to a non-loopback server"},
}

func loadMailbox(getenv func(string) string, id, prefix string) (Mailbox, error) {
	var errs []error
	get := func(name string) string { return strings.TrimSpace(getenv(prefix + name)) }
	secret := func(name string) Secret {
		if v := getenv(prefix + name); v != "" {
			return Secret(v)
		}
		file := get(name + "_FILE")
		if file == "" {
			return ""
		}
		b, err := os.ReadFile(file)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s%s_FILE: %w", prefix, name, err))
			return ""
		}
		return Secret(strings.TrimRight(string(b), "\r\n"))
	}
	integer := func(name string) int {
		v := get(name)
		if v == "" {
			return 0
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			errs = append(errs, fmt.Errorf("%s%s=%q must be a non-negative whole number", prefix, name, v))
		}
		return n
	}
	boolean := func(name string, def bool) bool {
		v := get(name)
		if v == "" {
			return def
		}
		b, err := strconv.ParseBool(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s%s=%q must be true or false", prefix, name, v))
		}
		return b
	}
	duration := func(name string) time.Duration {
		v := get(name)
		if v == "" {
			return 0
		}
		d, err := parseDuration(v)
		if err != nil || d < 0 {
			errs = append(errs, fmt.Errorf("%s%s=%q must be a duration like 14d, 36h or 30s", prefix, name, v))
		}
		return d
	}
	tlsMode := func(name string) TLSMode {
		v := TLSMode(strings.ToLower(get(name)))
		if v != "" && !v.valid() {
			errs = append(errs, fmt.Errorf("%s%s=%q must be tls, starttls or none", prefix, name, v))
		}
		return v
	}
	mb := Mailbox{
		ID: id, Address: get("ADDRESS"), DisplayName: get("NAME"),
		IMAP: IMAPConfig{
			Host: get("IMAP_HOST"), Port: integer("IMAP_PORT"), TLS: tlsMode("IMAP_TLS"), Username: get("IMAP_USERNAME"),
			Password: secret("IMAP_PASSWORD"), Folder: get("IMAP_FOLDER"), CAFile: get("IMAP_CA_FILE"),
			PollInterval: duration("IMAP_POLL"), NoIdle: !boolean("IMAP_IDLE", true),
		},
		SMTP: SMTPConfig{
			Host: get("SMTP_HOST"), Port: integer("SMTP_PORT"), TLS: tlsMode("SMTP_TLS"), Username: get("SMTP_USERNAME"),
			Password: secret("SMTP_PASSWORD"), CAFile: get("SMTP_CA_FILE"), HeloName: get("SMTP_HELO"),
		},
		PlusAddressing: boolean("PLUS_ADDRESSING", false), TokenSecret: secret("TOKEN_SECRET"),
		LookBack: duration("LOOKBACK"), SentFolder: get("SENT_FOLDER"),
		MaxAttachmentBytes: int64(integer("MAX_ATTACHMENT_MB")) << 20,
		AllowInsecure:      boolean("ALLOW_INSECURE", false),
	}
	switch v := strings.ToLower(get("STORE_RAW")); v {
	case "", "problems":
	case "always", "never":
		mb.StoreRaw = StoreRawMode(v)
	default:
		errs = append(errs, fmt.Errorf("%sSTORE_RAW=%q must be problems, always or never", prefix, v))
	}
	if mb.Address == "" {
		errs = append(errs, fmt.Errorf("%sADDRESS is required (the support address, e.g. support@example.com)", prefix))
	}
	if mb.IMAP.Host == "" {
		errs = append(errs, fmt.Errorf("%sIMAP_HOST is required", prefix))
	}
	if mb.IMAP.Password == "" {
		errs = append(errs, fmt.Errorf("%sIMAP_PASSWORD (or %sIMAP_PASSWORD_FILE) is required", prefix, prefix))
	}
	if mb.SMTP.Host == "" {
		errs = append(errs, fmt.Errorf("%sSMTP_HOST is required", prefix))
	}
	if len(errs) > 0 {
		return Mailbox{}, errors.Join(errs...)
	}
	mb = mb.WithDefaults()
	if err := mb.Validate(); err != nil {
		return Mailbox{}, fmt.Errorf("%s*: %w", prefix, err)
	}
	return mb, nil
}

// parseDuration accepts Go durations and whole days ("14d").
func parseDuration(s string) (time.Duration, error) {
	if d, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(d)
		if err != nil {
			return 0, err
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	return time.ParseDuration(s)
}
