// Package config reads Serambi's settings from SERAMBI_* environment variables. Every setting has
// a working default, so `serambi` with no variables runs on localhost with the embedded database;
// a value that cannot be used stops start-up with an error naming the variable and what it expects.
package config

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/nyaruka/phonenumbers"
)

// Config is everything the serambi binary needs to start.
type Config struct {
	// Listen is the address the HTTP server binds, host:port.
	Listen string
	// DataDir holds the SQLite database, attachments on disk and the generated secret key.
	DataDir string
	// MongoDBURI selects the MongoDB store; empty means SQLite at DataDir/serambi.db.
	MongoDBURI string
	// DefaultRegion is the ISO 3166 region for phone numbers written without a country code.
	DefaultRegion string
	// BaseURL is how browsers and callback receivers reach this server, without a trailing slash.
	BaseURL string
	// BaseURLFromListen says BaseURL was derived from Listen rather than set, so it follows the
	// address actually bound (SERAMBI_LISTEN=127.0.0.1:0 picks a free port).
	BaseURLFromListen bool
	LogLevel          slog.Level
	// LogFormat is "json" or "text".
	LogFormat string
	// MaxBodyBytes bounds a JSON request body.
	MaxBodyBytes int64
	// MaxAttachmentBytes bounds one uploaded attachment.
	MaxAttachmentBytes int64
	// APICallbackURL receives replies to conversations of the API channel; empty disables sending.
	APICallbackURL string
	// APICallbackSecret signs callback bodies (X-Serambi-Signature).
	APICallbackSecret string
	// NATSURL is the NATS server, or comma-separated servers, carrying events between instances;
	// empty means the in-process bus (one instance). It may hold credentials: never log it as is.
	NATSURL string
	// NATSSubject is the NATS subject of this deployment's events.
	NATSSubject string
	// InstanceID names this process in outbox leases; it must differ between instances.
	InstanceID string
	// SecretKey signs attachment URLs. Empty after Load when SERAMBI_SECRET_KEY is unset:
	// EnsureSecretKey then loads or creates the one kept in DataDir.
	SecretKey []byte
	// OutboxMaxAttempts is how many times a reply is tried before it is marked failed.
	OutboxMaxAttempts int
	// ShutdownTimeout bounds how long in-flight requests and sends may take after SIGTERM.
	ShutdownTimeout time.Duration
	// Getenv is where the settings came from. Each connector reads its own SERAMBI_<CHANNEL>_*
	// settings through it, so that the channel's options live beside the channel's code.
	Getenv func(string) string
}

// Defaults.
const (
	DefaultListen             = "127.0.0.1:8080"
	DefaultDataDir            = "./data"
	DefaultRegion             = "ID"
	DefaultMaxBodyBytes       = 1 << 20
	DefaultMaxAttachmentBytes = 25 << 20
	DefaultOutboxMaxAttempts  = 8
	DefaultShutdownTimeout    = 30 * time.Second
	DefaultNATSSubject        = "serambi.events"

	minSecretLen = 32
	// SecretKeyFile is the file under DataDir that keeps a generated secret key across restarts.
	SecretKeyFile = "secret.key"
)

// Load reads the configuration through getenv (os.Getenv in production). It has no side effects:
// the secret key file is read or created later by EnsureSecretKey, once the data dir is wanted.
func Load(getenv func(string) string) (Config, error) {
	r := reader{getenv: getenv}
	c := Config{
		Listen:            r.str("SERAMBI_LISTEN", DefaultListen),
		DataDir:           r.str("SERAMBI_DATA_DIR", DefaultDataDir),
		MongoDBURI:        r.str("SERAMBI_MONGODB_URI", ""),
		DefaultRegion:     strings.ToUpper(r.str("SERAMBI_DEFAULT_REGION", DefaultRegion)),
		LogFormat:         strings.ToLower(r.str("SERAMBI_LOG_FORMAT", "json")),
		APICallbackURL:    r.str("SERAMBI_API_CALLBACK_URL", ""),
		APICallbackSecret: r.str("SERAMBI_API_CALLBACK_SECRET", ""),
		InstanceID:        r.str("SERAMBI_INSTANCE_ID", ""),
		NATSURL:           r.str("SERAMBI_NATS_URL", ""),
		NATSSubject:       r.str("SERAMBI_NATS_SUBJECT", DefaultNATSSubject),
		Getenv:            getenv,
	}
	c.MaxBodyBytes = r.size("SERAMBI_MAX_BODY_BYTES", DefaultMaxBodyBytes, 1<<10, 1<<30)
	c.MaxAttachmentBytes = r.size("SERAMBI_MAX_ATTACHMENT_BYTES", DefaultMaxAttachmentBytes, 1<<10, 1<<32)
	c.OutboxMaxAttempts = int(r.size("SERAMBI_OUTBOX_MAX_ATTEMPTS", DefaultOutboxMaxAttempts, 1, 100))
	c.ShutdownTimeout = r.duration("SERAMBI_SHUTDOWN_TIMEOUT", DefaultShutdownTimeout)

	if _, port, err := net.SplitHostPort(c.Listen); err != nil || port == "" {
		r.fail("SERAMBI_LISTEN", c.Listen, "a host:port address such as 127.0.0.1:8080 or :8080")
	}
	if c.DataDir == "" || strings.ContainsRune(c.DataDir, 0) {
		r.fail("SERAMBI_DATA_DIR", c.DataDir, "a directory path")
	}
	if c.MongoDBURI != "" && !strings.HasPrefix(c.MongoDBURI, "mongodb://") && !strings.HasPrefix(c.MongoDBURI, "mongodb+srv://") {
		r.failSecret("SERAMBI_MONGODB_URI", "a URI starting with mongodb:// or mongodb+srv://")
	}
	if c.NATSURL != "" {
		if why := badNATSServers(c.NATSURL); why != "" {
			// Not repeated: the URLs may carry a user and password or a token.
			r.failSecret("SERAMBI_NATS_URL", "nats://host:4222 or tls://host:4222 URLs, comma-separated ("+why+")")
		}
	}
	if !natsSubject(c.NATSSubject) {
		r.fail("SERAMBI_NATS_SUBJECT", c.NATSSubject, "a NATS subject of dot-separated names without spaces or wildcards (* >), such as serambi.events")
	}
	if len(c.DefaultRegion) != 2 || phonenumbers.GetCountryCodeForRegion(c.DefaultRegion) == 0 {
		r.fail("SERAMBI_DEFAULT_REGION", c.DefaultRegion, "a two-letter ISO 3166 region with a phone numbering plan, such as ID or MY")
	}
	c.BaseURL = strings.TrimRight(r.str("SERAMBI_BASE_URL", ""), "/")
	if c.BaseURL == "" {
		c.BaseURL, c.BaseURLFromListen = "http://"+defaultHost(c.Listen), true
	} else if !absoluteHTTP(c.BaseURL) {
		r.fail("SERAMBI_BASE_URL", c.BaseURL, "an absolute http:// or https:// URL such as https://support.example.com")
	}
	if lvl := r.str("SERAMBI_LOG_LEVEL", "info"); c.LogLevel.UnmarshalText([]byte(lvl)) != nil {
		r.fail("SERAMBI_LOG_LEVEL", lvl, "one of debug, info, warn, error")
	}
	if c.LogFormat != "json" && c.LogFormat != "text" {
		r.fail("SERAMBI_LOG_FORMAT", c.LogFormat, "json or text")
	}
	if c.APICallbackURL != "" && !absoluteHTTP(c.APICallbackURL) {
		r.fail("SERAMBI_API_CALLBACK_URL", c.APICallbackURL, "an absolute http:// or https:// URL")
	}
	switch {
	case c.APICallbackURL != "" && len(c.APICallbackSecret) < 16:
		r.failSecret("SERAMBI_API_CALLBACK_SECRET", "at least 16 characters, shared with the receiver of SERAMBI_API_CALLBACK_URL to verify X-Serambi-Signature")
	case c.APICallbackURL == "" && c.APICallbackSecret != "":
		r.failSecret("SERAMBI_API_CALLBACK_SECRET", "to be set only together with SERAMBI_API_CALLBACK_URL")
	}
	if k := r.str("SERAMBI_SECRET_KEY", ""); k != "" {
		if len(k) < minSecretLen {
			r.failSecret("SERAMBI_SECRET_KEY", fmt.Sprintf("at least %d characters of random text (for example `openssl rand -hex 32`)", minSecretLen))
		}
		c.SecretKey = []byte(k)
	}
	if c.InstanceID == "" {
		c.InstanceID = defaultInstanceID()
	} else if len(c.InstanceID) > 128 || strings.ContainsAny(c.InstanceID, " \t\r\n") {
		r.fail("SERAMBI_INSTANCE_ID", c.InstanceID, "at most 128 characters without spaces")
	}
	if err := errors.Join(r.errs...); err != nil {
		return Config{}, err
	}
	return c, nil
}

// Bound returns the configuration for a server bound to addr: a BaseURL derived from Listen
// follows the port actually bound.
func (c Config) Bound(addr string) Config {
	if c.BaseURLFromListen {
		c.BaseURL = "http://" + defaultHost(addr)
	}
	return c
}

// StorePath is the SQLite database file used when no MongoDB URI is set.
func (c Config) StorePath() string { return filepath.Join(c.DataDir, "serambi.db") }

// AttachmentsDir is where the SQLite setup keeps attachment bytes.
func (c Config) AttachmentsDir() string { return filepath.Join(c.DataDir, "attachments") }

// EnsureSecretKey makes sure c.SecretKey is set: when SERAMBI_SECRET_KEY was not given it reads the
// key kept in DataDir, creating it on first start, so signed attachment URLs survive restarts.
func (c *Config) EnsureSecretKey() error {
	if len(c.SecretKey) > 0 {
		return nil
	}
	path := filepath.Join(c.DataDir, SecretKeyFile)
	if b, err := os.ReadFile(path); err == nil {
		k := strings.TrimSpace(string(b))
		if len(k) < minSecretLen {
			return fmt.Errorf("secret key file %s holds fewer than %d characters: delete it to generate a new one, or set SERAMBI_SECRET_KEY", path, minSecretLen)
		}
		c.SecretKey = []byte(k)
		return nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("read secret key: %w", err)
	}
	if err := os.MkdirAll(c.DataDir, 0o700); err != nil {
		return fmt.Errorf("SERAMBI_DATA_DIR %s: %w", c.DataDir, err)
	}
	raw := make([]byte, 32)
	_, _ = rand.Read(raw) // crypto/rand.Read never fails
	k := hex.EncodeToString(raw)
	// O_EXCL: when two processes start at once on a new data dir, one key wins and the other reads it.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return c.EnsureSecretKey()
	}
	if err != nil {
		return fmt.Errorf("create secret key file: %w", err)
	}
	if _, err := f.WriteString(k + "\n"); err != nil {
		f.Close()
		return fmt.Errorf("write secret key file: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write secret key file: %w", err)
	}
	c.SecretKey = []byte(k)
	return nil
}

// Logger returns the slog logger the configuration asks for, writing to w.
func (c Config) Logger(w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: c.LogLevel}
	if c.LogFormat == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

type reader struct {
	getenv func(string) string
	errs   []error
}

func (r *reader) str(name, def string) string {
	if v := strings.TrimSpace(r.getenv(name)); v != "" {
		return v
	}
	return def
}

func (r *reader) fail(name, value, want string) {
	r.errs = append(r.errs, fmt.Errorf("%s=%q is not valid: want %s", name, value, want))
}

// failSecret reports a bad value without repeating it: it may be a password.
func (r *reader) failSecret(name, want string) {
	r.errs = append(r.errs, fmt.Errorf("%s is not valid: want %s", name, want))
}

// size reads a whole number of at least lo and at most hi; it accepts KiB/MiB/GiB suffixes.
func (r *reader) size(name string, def, lo, hi int64) int64 {
	v := r.str(name, "")
	if v == "" {
		return def
	}
	mult := int64(1)
	s := v
	for suffix, m := range map[string]int64{"KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30} {
		if n, ok := strings.CutSuffix(v, suffix); ok {
			s, mult = strings.TrimSpace(n), m
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n > hi || n*mult < lo || n*mult > hi {
		r.fail(name, v, fmt.Sprintf("a whole number from %d to %d (KiB, MiB and GiB suffixes allowed)", lo, hi))
		return def
	}
	return n * mult
}

func (r *reader) duration(name string, def time.Duration) time.Duration {
	v := r.str(name, "")
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 || d > time.Hour {
		r.fail(name, v, "a positive duration of at most 1h, such as 30s or 2m")
		return def
	}
	return d
}

func absoluteHTTP(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" && u.User == nil
}

// badNATSServers says what is wrong with a comma-separated list of NATS server URLs, naming the
// entry by position and never by value; "" when every entry is usable.
func badNATSServers(list string) string {
	entries := strings.Split(list, ",")
	for i, s := range entries {
		which := ""
		if len(entries) > 1 {
			which = fmt.Sprintf("server %d of %d: ", i+1, len(entries))
		}
		u, err := url.Parse(strings.TrimSpace(s))
		switch {
		case strings.TrimSpace(s) == "":
			return which + "empty"
		case err != nil || u.Opaque != "":
			return which + "not a URL"
		case u.Scheme != "nats" && u.Scheme != "tls":
			return which + "the scheme must be nats or tls"
		case u.Hostname() == "":
			return which + "no host"
		}
		if p := u.Port(); p != "" {
			if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
				return which + "the port must be a number from 1 to 65535"
			}
		}
	}
	return ""
}

// natsSubject reports whether s is a NATS subject one can publish on: dot-separated tokens of
// printable characters, none empty, and no wildcards (* and > would subscribe to others' events).
func natsSubject(s string) bool {
	if s == "" || len(s) > 255 {
		return false
	}
	for _, tok := range strings.Split(s, ".") {
		if tok == "" || strings.ContainsAny(tok, "*>") {
			return false
		}
		for _, r := range tok {
			if r <= ' ' || r == 0x7f {
				return false
			}
		}
	}
	return true
}

// defaultHost turns a listen address into one a browser can reach: ":8080" and "0.0.0.0:8080"
// listen everywhere, and localhost reaches them.
func defaultHost(listen string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return listen
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "localhost"
	}
	return net.JoinHostPort(host, port)
}

func defaultInstanceID() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "serambi"
	}
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return host + "-" + hex.EncodeToString(b)
}
