package whatsapp

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"github.com/serambi/serambi/config"
)

// Secret is config.Secret: it prints, logs and marshals as "[redacted]".
type Secret = config.Secret

// Defaults.
const (
	DefaultGraphBase   = "https://graph.facebook.com/v20.0"
	DefaultWebhookPath = "/whatsapp"
	// DefaultMaxMediaSize is WhatsApp's largest media (a document).
	DefaultMaxMediaSize = 100 << 20
	// maxWebhookBody bounds a webhook POST: batches are small JSON, never media.
	maxWebhookBody = 3 << 20
)

// Template is a message template approved by Meta that an admin made available to agents.
// Outside the 24-hour customer-service window a template is the only thing WhatsApp delivers.
type Template struct {
	Name     string `json:"name"`
	Language string `json:"language"`
	// Params is how many body parameters ({{1}}, {{2}}, ...) the template takes.
	Params int `json:"params"`
	// Text is the approved body with its placeholders, shown to agents and stored as the text of
	// the message that sent it.
	Text string `json:"text"`
}

// Render fills the template's placeholders, for the timeline and the console's preview.
func (t Template) Render(params []string) string {
	text := t.Text
	for i, p := range params {
		text = strings.ReplaceAll(text, "{{"+strconv.Itoa(i+1)+"}}", p)
	}
	return text
}

// Config is one WhatsApp Business phone number on the Cloud API.
type Config struct {
	// AccessToken is the system-user token used as Bearer on the Graph API.
	AccessToken Secret
	// AppSecret signs webhook bodies (X-Hub-Signature-256).
	AppSecret Secret
	// VerifyToken is what Meta sends back in hub.verify_token when the webhook is subscribed.
	VerifyToken Secret
	// PhoneNumberID is the business number's Graph id; messages leave from it, and webhook
	// changes for other numbers of the account are ignored.
	PhoneNumberID string
	// GraphBase is the Graph API base with its version: Meta, a proxy, or a test's fake.
	GraphBase string
	// WebhookPath is the route Register adds to its group (GET verification and POST).
	WebhookPath string
	// MaxMediaSize bounds a downloaded attachment; larger media become a notice.
	MaxMediaSize int64
	// Templates are the approved templates agents may send.
	Templates []Template
}

// Enabled reports whether a number is configured at all.
func (c Config) Enabled() bool { return c.AccessToken != "" || c.PhoneNumberID != "" }

// LogValue lets a Config be logged whole without its secrets.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(slog.String("phoneNumberId", c.PhoneNumberID), slog.String("graphBase", c.GraphBase),
		slog.Int("templates", len(c.Templates)))
}

// String is the same for fmt.
func (c Config) String() string {
	return fmt.Sprintf("whatsapp number %s via %s", c.PhoneNumberID, c.GraphBase)
}

// Template returns the configured template called name in language ("" matches any).
func (c Config) Template(name, language string) (Template, bool) {
	for _, t := range c.Templates {
		if t.Name == name && (language == "" || t.Language == language) {
			return t, true
		}
	}
	return Template{}, false
}

// WithDefaults fills what is unset.
func (c Config) WithDefaults() Config {
	if c.GraphBase == "" {
		c.GraphBase = DefaultGraphBase
	}
	c.GraphBase = strings.TrimRight(c.GraphBase, "/")
	if c.WebhookPath == "" {
		c.WebhookPath = DefaultWebhookPath
	}
	if c.MaxMediaSize <= 0 {
		c.MaxMediaSize = DefaultMaxMediaSize
	}
	return c
}

var (
	digits       = regexp.MustCompile(`^[0-9]{1,32}$`)
	templateName = regexp.MustCompile(`^[a-z0-9_]{1,512}$`)
	languageCode = regexp.MustCompile(`^[a-z]{2,3}(_[A-Za-z]{2,4})?$`)
)

// Validate says what is wrong, naming the environment variable that sets it.
func (c Config) Validate() error {
	var errs []error
	if c.AccessToken == "" {
		errs = append(errs, errors.New("SERAMBI_WHATSAPP_ACCESS_TOKEN is required: a system-user access token with whatsapp_business_messaging permission"))
	}
	if c.AppSecret == "" {
		errs = append(errs, errors.New("SERAMBI_WHATSAPP_APP_SECRET is required: the Meta app's secret, which signs webhook deliveries"))
	}
	if c.VerifyToken == "" {
		errs = append(errs, errors.New("SERAMBI_WHATSAPP_VERIFY_TOKEN is required: any string, entered again as the Verify token in the app's webhook settings"))
	}
	if !digits.MatchString(c.PhoneNumberID) {
		errs = append(errs, fmt.Errorf("SERAMBI_WHATSAPP_PHONE_NUMBER_ID %q must be the numeric phone number id from WhatsApp Manager (not the phone number)", c.PhoneNumberID))
	}
	if u, err := url.Parse(c.GraphBase); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		errs = append(errs, fmt.Errorf("SERAMBI_WHATSAPP_GRAPH_URL %q must be an http(s) URL such as %s", c.GraphBase, DefaultGraphBase))
	}
	if !strings.HasPrefix(c.WebhookPath, "/") {
		errs = append(errs, fmt.Errorf("webhook path %q must start with /", c.WebhookPath))
	}
	for i, t := range c.Templates {
		if !templateName.MatchString(t.Name) || !languageCode.MatchString(t.Language) || t.Params < 0 || t.Params > 64 {
			errs = append(errs, fmt.Errorf("SERAMBI_WHATSAPP_TEMPLATES[%d]: needs a name of a-z, 0-9 and _, a language code such as en_US or id, and 0-64 params", i))
		}
	}
	return errors.Join(errs...)
}

// LoadFromEnv reads SERAMBI_WHATSAPP_* variables. With neither a token nor a number id the
// channel is simply not configured (Enabled is false) and no error is returned.
//
//	SERAMBI_WHATSAPP_ACCESS_TOKEN     Graph API bearer token (required to enable)
//	SERAMBI_WHATSAPP_APP_SECRET       app secret that signs webhooks (required)
//	SERAMBI_WHATSAPP_VERIFY_TOKEN     webhook verify token (required)
//	SERAMBI_WHATSAPP_PHONE_NUMBER_ID  business phone number id (required)
//	SERAMBI_WHATSAPP_GRAPH_URL        Graph API base incl. version (default https://graph.facebook.com/v20.0)
//	SERAMBI_WHATSAPP_MAX_MEDIA_MB     largest media to download, in MB (default 100)
//	SERAMBI_WHATSAPP_TEMPLATES        JSON list of approved templates:
//	                                  [{"name":"order_update","language":"id","params":1,"text":"Pesanan {{1}} sudah dikirim"}]
func LoadFromEnv(getenv func(string) string) (Config, error) {
	c := Config{
		AccessToken:   Secret(strings.TrimSpace(getenv("SERAMBI_WHATSAPP_ACCESS_TOKEN"))),
		AppSecret:     Secret(strings.TrimSpace(getenv("SERAMBI_WHATSAPP_APP_SECRET"))),
		VerifyToken:   Secret(strings.TrimSpace(getenv("SERAMBI_WHATSAPP_VERIFY_TOKEN"))),
		PhoneNumberID: strings.TrimSpace(getenv("SERAMBI_WHATSAPP_PHONE_NUMBER_ID")),
		GraphBase:     strings.TrimSpace(getenv("SERAMBI_WHATSAPP_GRAPH_URL")),
	}
	var errs []error
	if v := strings.TrimSpace(getenv("SERAMBI_WHATSAPP_MAX_MEDIA_MB")); v != "" {
		mb, err := strconv.ParseInt(v, 10, 64)
		if err != nil || mb <= 0 || mb > 2000 {
			errs = append(errs, fmt.Errorf("SERAMBI_WHATSAPP_MAX_MEDIA_MB %q must be a whole number of megabytes from 1 to 2000", v))
		}
		c.MaxMediaSize = mb << 20
	}
	if v := strings.TrimSpace(getenv("SERAMBI_WHATSAPP_TEMPLATES")); v != "" {
		dec := json.NewDecoder(strings.NewReader(v))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&c.Templates); err != nil {
			errs = append(errs, fmt.Errorf(`SERAMBI_WHATSAPP_TEMPLATES must be a JSON list like [{"name":"order_update","language":"id","params":1,"text":"..."}]: %w`, err))
		}
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
