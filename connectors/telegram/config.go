package telegram

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/serambi/serambi/config"
)

// Secret is config.Secret: it prints, logs and marshals as "[redacted]".
type Secret = config.Secret

// Mode is how updates reach Serambi.
type Mode string

const (
	// ModePolling asks Telegram for updates (getUpdates): works behind NAT, no public URL needed.
	ModePolling Mode = "polling"
	// ModeWebhook has Telegram POST each update to a public HTTPS URL (setWebhook).
	ModeWebhook Mode = "webhook"
)

// Defaults.
const (
	DefaultAPIBase = "https://api.telegram.org"
	// DefaultMaxFileSize is the largest file the public Bot API lets a bot download (getFile).
	// A self-hosted Bot API server allows more; raise it only for one.
	DefaultMaxFileSize  = 20 << 20
	DefaultPollTimeout  = 25 * time.Second
	DefaultLeaseTTL     = 2 * time.Minute
	DefaultWebhookPath  = "/telegram"
	maxWebhookBodyBytes = 1 << 20 // an update is a few KB; the body of a file never comes in one
)

// Config is one bot.
type Config struct {
	// Token is the bot token from @BotFather ("123456:ABC...").
	Token Secret
	// APIBase is where the Bot API is reached, without the /bot<token> part: Telegram, a
	// self-hosted Bot API server, a proxy, or a test's fake.
	APIBase string
	Mode    Mode
	// WebhookURL is the public HTTPS URL Telegram posts updates to (webhook mode): the URL at
	// which the route registered by Register is reachable from the internet.
	WebhookURL string
	// WebhookSecret is sent to Telegram as setWebhook's secret_token; Telegram echoes it in the
	// X-Telegram-Bot-Api-Secret-Token header of every delivery and anything without it is refused.
	WebhookSecret Secret
	// WebhookPath is the route Register adds to its group.
	WebhookPath string
	// AllowGroups takes messages from group chats too; by default only private chats are a
	// customer talking to the business.
	AllowGroups bool
	// PollTimeout is getUpdates' long-poll timeout.
	PollTimeout time.Duration
	// MaxFileSize bounds a downloaded attachment; larger files become a notice in the message.
	MaxFileSize int64
	// Instance names this process in the polling lease; it must differ between instances.
	Instance string
	// LeaseTTL is how long the polling lease lasts without renewal: the longest a crashed
	// poller keeps another instance from taking over.
	LeaseTTL time.Duration
}

// Enabled reports whether a bot is configured at all.
func (c Config) Enabled() bool { return c.Token != "" }

// BotID is the numeric id of the bot: the part of the token before the colon. It is public (the
// bot's own user id) and names the bot in state keys and logs.
func (c Config) BotID() string {
	id, _, _ := strings.Cut(c.Token.Reveal(), ":")
	return id
}

// LogValue lets a Config be logged whole without its secrets.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("bot", c.BotID()), slog.String("apiBase", c.APIBase), slog.String("mode", string(c.Mode)),
		slog.String("webhookURL", c.WebhookURL), slog.Bool("allowGroups", c.AllowGroups),
	)
}

// String is the same for fmt.
func (c Config) String() string {
	return fmt.Sprintf("telegram bot %s via %s (%s)", c.BotID(), c.APIBase, c.Mode)
}

var (
	tokenPattern  = regexp.MustCompile(`^[0-9]{1,20}:[A-Za-z0-9_-]{20,}$`)
	secretPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,256}$`)
)

// WithDefaults fills what is unset.
func (c Config) WithDefaults() Config {
	if c.APIBase == "" {
		c.APIBase = DefaultAPIBase
	}
	c.APIBase = strings.TrimRight(c.APIBase, "/")
	if c.Mode == "" {
		c.Mode = ModePolling
	}
	if c.WebhookPath == "" {
		c.WebhookPath = DefaultWebhookPath
	}
	if c.PollTimeout <= 0 {
		c.PollTimeout = DefaultPollTimeout
	}
	if c.MaxFileSize <= 0 {
		c.MaxFileSize = DefaultMaxFileSize
	}
	if c.LeaseTTL <= 0 {
		c.LeaseTTL = DefaultLeaseTTL
	}
	return c
}

// Validate says what is wrong, naming the environment variable that sets it.
func (c Config) Validate() error {
	var errs []error
	if !tokenPattern.MatchString(c.Token.Reveal()) {
		errs = append(errs, errors.New("SERAMBI_TELEGRAM_TOKEN must be a bot token from @BotFather, like 123456:AAH...; it is not shown here"))
	}
	if u, err := url.Parse(c.APIBase); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		errs = append(errs, fmt.Errorf("SERAMBI_TELEGRAM_API_URL %q must be an http(s) URL such as %s", c.APIBase, DefaultAPIBase))
	}
	switch c.Mode {
	case ModePolling:
	case ModeWebhook:
		if u, err := url.Parse(c.WebhookURL); err != nil || u.Scheme != "https" || u.Host == "" {
			errs = append(errs, fmt.Errorf("SERAMBI_TELEGRAM_WEBHOOK_URL %q must be the public https URL of the webhook route (Telegram only posts to https)", c.WebhookURL))
		}
		if !secretPattern.MatchString(c.WebhookSecret.Reveal()) {
			errs = append(errs, errors.New("SERAMBI_TELEGRAM_WEBHOOK_SECRET must be 1-256 characters of A-Z, a-z, 0-9, _ and - (Telegram's rule for secret_token)"))
		}
	default:
		errs = append(errs, fmt.Errorf("SERAMBI_TELEGRAM_MODE %q must be %q or %q", c.Mode, ModePolling, ModeWebhook))
	}
	if !strings.HasPrefix(c.WebhookPath, "/") {
		errs = append(errs, fmt.Errorf("webhook path %q must start with /", c.WebhookPath))
	}
	if c.PollTimeout > 50*time.Second {
		errs = append(errs, errors.New("SERAMBI_TELEGRAM_POLL_TIMEOUT must be at most 50s: Telegram ends long polls after 50 seconds"))
	}
	if c.LeaseTTL <= c.PollTimeout {
		errs = append(errs, errors.New("the polling lease must outlast one long poll"))
	}
	return errors.Join(errs...)
}

// LoadFromEnv reads SERAMBI_TELEGRAM_* variables. With no token the bot is simply not configured
// (Enabled is false) and no error is returned.
//
//	SERAMBI_TELEGRAM_TOKEN           bot token (required to enable)
//	SERAMBI_TELEGRAM_API_URL         Bot API base URL (default https://api.telegram.org)
//	SERAMBI_TELEGRAM_MODE            polling (default) or webhook
//	SERAMBI_TELEGRAM_WEBHOOK_URL     public https URL of the webhook route (webhook mode)
//	SERAMBI_TELEGRAM_WEBHOOK_SECRET  secret_token for setWebhook (webhook mode)
//	SERAMBI_TELEGRAM_GROUPS          true to take messages from group chats (default false)
//	SERAMBI_TELEGRAM_POLL_TIMEOUT    long-poll timeout, e.g. 25s
//	SERAMBI_TELEGRAM_MAX_FILE_MB     largest attachment to download, in MB (default 20)
//	SERAMBI_INSTANCE_ID              this instance's name in the polling lease (default: random)
func LoadFromEnv(getenv func(string) string) (Config, error) {
	c := Config{
		Token:         Secret(strings.TrimSpace(getenv("SERAMBI_TELEGRAM_TOKEN"))),
		APIBase:       strings.TrimSpace(getenv("SERAMBI_TELEGRAM_API_URL")),
		Mode:          Mode(strings.ToLower(strings.TrimSpace(getenv("SERAMBI_TELEGRAM_MODE")))),
		WebhookURL:    strings.TrimSpace(getenv("SERAMBI_TELEGRAM_WEBHOOK_URL")),
		WebhookSecret: Secret(strings.TrimSpace(getenv("SERAMBI_TELEGRAM_WEBHOOK_SECRET"))),
		Instance:      strings.TrimSpace(getenv("SERAMBI_INSTANCE_ID")),
	}
	var errs []error
	if v := strings.TrimSpace(getenv("SERAMBI_TELEGRAM_GROUPS")); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("SERAMBI_TELEGRAM_GROUPS %q must be true or false", v))
		}
		c.AllowGroups = b
	}
	if v := strings.TrimSpace(getenv("SERAMBI_TELEGRAM_POLL_TIMEOUT")); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			errs = append(errs, fmt.Errorf("SERAMBI_TELEGRAM_POLL_TIMEOUT %q must be a duration such as 25s", v))
		}
		c.PollTimeout = d
	}
	if v := strings.TrimSpace(getenv("SERAMBI_TELEGRAM_MAX_FILE_MB")); v != "" {
		mb, err := strconv.ParseInt(v, 10, 64)
		if err != nil || mb <= 0 || mb > 2000 {
			errs = append(errs, fmt.Errorf("SERAMBI_TELEGRAM_MAX_FILE_MB %q must be a whole number of megabytes from 1 to 2000", v))
		}
		c.MaxFileSize = mb << 20
	}
	if !c.Enabled() {
		return c, errors.Join(errs...)
	}
	c = c.WithDefaults()
	if err := c.Validate(); err != nil {
		errs = append(errs, err)
	}
	return c, errors.Join(errs...)
}
