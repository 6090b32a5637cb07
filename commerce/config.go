package commerce

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/serambi/serambi/config"
)

// Secret is config.Secret: it prints, logs and marshals as "[redacted]".
type Secret = config.Secret

// Config is the commerce configuration.
type Config struct {
	// Currency is the shop's currency, used where a payload names none (Shopify carts and
	// products, WooCommerce products). Default IDR.
	Currency string
	// LowStock: a tracked product with at most this many units left is flagged low. Default 3.
	LowStock int64
	// AbandonAfter: an open cart untouched this long is marked abandoned. Default 1 hour.
	AbandonAfter time.Duration
	// SweepEvery is how often Run looks for abandoned carts. Default 1 minute.
	SweepEvery time.Duration
	// ContactsUnverified keeps the email and phone of shop records unverified (see service.go).
	ContactsUnverified bool
	// Recommendations is how many "also bought" products the panel shows. Default 4.
	Recommendations int
	// DeliveryRetention is how long webhook delivery ids are remembered for deduplication.
	// Default 7 days (Shopify retries for 48 hours).
	DeliveryRetention time.Duration
	// ActionTeams are team names or ids whose members may cancel and refund orders; admins always
	// may.
	ActionTeams []string

	Shopify        ShopifyConfig
	WooCommerce    WooConfig
	ActionsWebhook WebhookConfig
}

// ShopifyConfig connects one Shopify shop.
type ShopifyConfig struct {
	// WebhookSecret is the app's client secret (or the shop's webhook signing secret): the key of
	// X-Shopify-Hmac-Sha256. Without it the Shopify webhook route is not mounted.
	WebhookSecret Secret
	// Shop is the shop's myshopify domain, e.g. toko-batik.myshopify.com.
	Shop string
	// AccessToken is an Admin API access token with write_orders; without it cancellations and
	// refunds of Shopify orders go to ActionsWebhook (if set) or are not offered.
	AccessToken Secret
	// APIVersion of the Admin API. Default 2024-10.
	APIVersion string
	// AdminBase overrides https://{Shop} (tests point it at shopifyfake).
	AdminBase string
}

// WebhooksEnabled reports whether Shopify webhooks are accepted.
func (c ShopifyConfig) WebhooksEnabled() bool { return c.WebhookSecret != "" }

// AdminEnabled reports whether the Admin API adapter is configured.
func (c ShopifyConfig) AdminEnabled() bool {
	return c.AccessToken != "" && (c.Shop != "" || c.AdminBase != "")
}

func (c ShopifyConfig) base() string {
	if c.AdminBase != "" {
		return strings.TrimRight(c.AdminBase, "/")
	}
	return "https://" + c.Shop
}

// WooConfig connects one WooCommerce store.
type WooConfig struct {
	// WebhookSecret is the secret set on the store's webhooks: the key of X-WC-Webhook-Signature.
	WebhookSecret Secret
	// StoreURL is the store's address, for links to its admin.
	StoreURL string
}

// WebhooksEnabled reports whether WooCommerce webhooks are accepted.
func (c WooConfig) WebhooksEnabled() bool { return c.WebhookSecret != "" }

// WebhookConfig is the generic signed webhook that carries cancellations and refunds to shops
// Serambi has no adapter for.
type WebhookConfig struct {
	URL    string
	Secret Secret
}

// WithDefaults fills in what is not set.
func (c Config) WithDefaults() Config {
	if c.Currency == "" {
		c.Currency = "IDR"
	}
	if c.LowStock <= 0 {
		c.LowStock = 3
	}
	if c.AbandonAfter <= 0 {
		c.AbandonAfter = time.Hour
	}
	if c.SweepEvery <= 0 {
		c.SweepEvery = time.Minute
	}
	if c.Recommendations <= 0 {
		c.Recommendations = 4
	}
	if c.DeliveryRetention <= 0 {
		c.DeliveryRetention = 7 * 24 * time.Hour
	}
	if c.Shopify.APIVersion == "" {
		c.Shopify.APIVersion = "2024-10"
	}
	return c
}

// Validate checks the configuration, naming the variable to fix.
func (c Config) Validate() error {
	var errs []error
	if !ValidCurrency(c.Currency) {
		errs = append(errs, fmt.Errorf("SERAMBI_COMMERCE_CURRENCY %q must be an ISO 4217 code such as IDR", c.Currency))
	}
	if c.Shopify.Shop != "" && (strings.ContainsAny(c.Shopify.Shop, "/:@ ") || !strings.Contains(c.Shopify.Shop, ".")) {
		errs = append(errs, fmt.Errorf("SERAMBI_SHOPIFY_SHOP %q must be the shop's domain, e.g. toko.myshopify.com", c.Shopify.Shop))
	}
	if c.Shopify.AccessToken != "" && c.Shopify.Shop == "" && c.Shopify.AdminBase == "" {
		errs = append(errs, errors.New("SERAMBI_SHOPIFY_ACCESS_TOKEN is set but SERAMBI_SHOPIFY_SHOP is not: name the shop the token is for"))
	}
	if c.ActionsWebhook.URL != "" {
		u, err := url.Parse(c.ActionsWebhook.URL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			errs = append(errs, fmt.Errorf("SERAMBI_COMMERCE_ACTIONS_URL must be an absolute http(s) URL"))
		}
		if c.ActionsWebhook.Secret == "" {
			errs = append(errs, errors.New("SERAMBI_COMMERCE_ACTIONS_URL is set but SERAMBI_COMMERCE_ACTIONS_SECRET is not: the shop could not tell Serambi's requests from forgeries"))
		}
	}
	return errors.Join(errs...)
}

// LoadFromEnv reads the SERAMBI_COMMERCE_*, SERAMBI_SHOPIFY_* and SERAMBI_WOOCOMMERCE_* variables.
func LoadFromEnv(getenv func(string) string) (Config, error) {
	get := func(k string) string { return strings.TrimSpace(getenv(k)) }
	c := Config{
		Currency:           strings.ToUpper(get("SERAMBI_COMMERCE_CURRENCY")),
		ContactsUnverified: get("SERAMBI_COMMERCE_CONTACTS_UNVERIFIED") == "true",
		Shopify: ShopifyConfig{
			WebhookSecret: Secret(get("SERAMBI_SHOPIFY_WEBHOOK_SECRET")), Shop: get("SERAMBI_SHOPIFY_SHOP"),
			AccessToken: Secret(get("SERAMBI_SHOPIFY_ACCESS_TOKEN")), APIVersion: get("SERAMBI_SHOPIFY_API_VERSION"),
			AdminBase: get("SERAMBI_SHOPIFY_ADMIN_URL"),
		},
		WooCommerce:    WooConfig{WebhookSecret: Secret(get("SERAMBI_WOOCOMMERCE_WEBHOOK_SECRET")), StoreURL: get("SERAMBI_WOOCOMMERCE_URL")},
		ActionsWebhook: WebhookConfig{URL: get("SERAMBI_COMMERCE_ACTIONS_URL"), Secret: Secret(get("SERAMBI_COMMERCE_ACTIONS_SECRET"))},
	}
	var errs []error
	dur := func(k string, dst *time.Duration) {
		if v := get(k); v != "" {
			d, err := time.ParseDuration(v)
			if err != nil || d <= 0 {
				errs = append(errs, fmt.Errorf("%s %q must be a positive duration such as 90m", k, v))
				return
			}
			*dst = d
		}
	}
	dur("SERAMBI_COMMERCE_ABANDON_AFTER", &c.AbandonAfter)
	dur("SERAMBI_COMMERCE_SWEEP_EVERY", &c.SweepEvery)
	if v := get("SERAMBI_COMMERCE_LOW_STOCK"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 {
			errs = append(errs, fmt.Errorf("SERAMBI_COMMERCE_LOW_STOCK %q must be a whole number of units, at least 1", v))
		}
		c.LowStock = n
	}
	for _, t := range strings.Split(get("SERAMBI_COMMERCE_ACTION_TEAMS"), ",") {
		if t = strings.TrimSpace(t); t != "" {
			c.ActionTeams = append(c.ActionTeams, t)
		}
	}
	c = c.WithDefaults()
	return c, errors.Join(append(errs, c.Validate())...)
}
