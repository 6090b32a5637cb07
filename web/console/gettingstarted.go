package console

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/serambi/serambi/commerce"
	"github.com/serambi/serambi/connectors/telegram"
	"github.com/serambi/serambi/connectors/voice"
	"github.com/serambi/serambi/connectors/whatsapp"
	"github.com/serambi/serambi/connectors/widget"
	"github.com/serambi/serambi/i18n"
	"github.com/serambi/serambi/inbox"
	"github.com/serambi/serambi/templates"
)

// The routes the checklist tells providers to call. They are where the instance mounts each
// connector's and the shop's own routes (webhooks under /webhooks, the call center's provider
// routes under /api/v1); gettingstarted_test.go registers the real routes and checks every one.
const (
	// webhooksPrefix is the group the instance mounts commerce.RegisterWebhooks and the channels'
	// webhook routes on.
	webhooksPrefix     = "/webhooks"
	shopifyWebhookPath = webhooksPrefix + "/shopify"
	wooWebhookPath     = webhooksPrefix + "/woocommerce"
	whatsappPath       = webhooksPrefix + whatsapp.DefaultWebhookPath
	telegramPath       = webhooksPrefix + telegram.DefaultWebhookPath
	voiceCTIPath       = "/api/v1/voice/cti/"
	twilioStatusPath   = "/api/v1/voice/twilio/status"
	twilioRecordPath   = "/api/v1/voice/twilio/recording"
	// The topics each shop should send; the commerce webhooks handle exactly these.
	shopifyTopics = "orders/create, orders/updated, orders/fulfilled, carts/create, carts/update, products/create, products/update"
	wooTopics     = "order.created, order.updated, order.restored, product.created, product.updated"
	apiKeyCommand = "serambi apikey create --name shop"
	// setupStateKey is where the checklist's dismissal is kept, one record per install.
	setupStateKey = "console/getting-started"
)

// Install is what the Getting started checklist knows about this install beyond the channels'
// live status (Deps.Channels). It holds no secret: only whether each one is set.
type Install struct {
	// BaseURL is SERAMBI_BASE_URL, the address providers and shops call.
	BaseURL string
	// Widget is the chat widget's seeded inbox.
	WidgetEnabled bool
	WidgetInbox   string
	WidgetDemo    bool
	// WidgetOrigins are the sites allowed to embed the widget (SERAMBI_WIDGET_ORIGINS).
	WidgetOrigins []string
	// VoiceURL is the base URL call providers call (SERAMBI_VOICE_PUBLIC_URL).
	VoiceURL string
	// Which call sources are configured.
	CTI, Twilio, AMI bool
	// Which shop webhooks are configured (their secrets are set).
	Shopify, WooCommerce bool
}

// InstallFromEnv describes an install from its SERAMBI_* variables, with the same loaders that
// configure the connectors and the shop. Start-up has already refused invalid values, so errors
// are not repeated here: what could be read is used.
func InstallFromEnv(baseURL string, getenv func(string) string) *Install {
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	in := &Install{BaseURL: strings.TrimRight(baseURL, "/")}
	w, _ := widget.LoadFromEnv(getenv)
	in.WidgetEnabled, in.WidgetInbox, in.WidgetDemo = w.Enabled(), w.Default.WithDefaults().ID, w.Demo
	in.WidgetOrigins = w.Default.AllowedOrigins
	v, _ := voice.LoadFromEnv(getenv)
	in.VoiceURL = strings.TrimRight(v.PublicURL, "/")
	if in.VoiceURL == "" {
		in.VoiceURL = in.BaseURL
	}
	in.CTI, in.Twilio, in.AMI = v.CTIToken != "", v.TwilioAuthToken != "", v.AMI.Addr != ""
	s, _ := commerce.LoadFromEnv(getenv)
	in.Shopify, in.WooCommerce = s.Shopify.WebhooksEnabled(), s.WooCommerce.WebhooksEnabled()
	return in
}

// SettingsStore keeps small per-install console settings: the checklist's dismissal.
// connectors.StateStore (both stores) implements it.
type SettingsStore interface {
	// GetState returns the value under key; inbox.ErrNotFound when there is none.
	GetState(ctx context.Context, key string) ([]byte, error)
	PutState(ctx context.Context, key string, value []byte) error
}

// setupState is the stored record of the checklist.
type setupState struct {
	Dismissed bool      `json:"dismissed"`
	By        string    `json:"by,omitempty"`
	At        time.Time `json:"at,omitzero"`
}

func (c *Console) registerGettingStarted(admin *echo.Group) {
	admin.GET("/getting-started", c.gettingStartedPage)
	admin.GET("/getting-started/nudge", c.setupNudge)
	admin.POST("/getting-started/dismiss", c.dismissSetup)
	admin.POST("/getting-started/restore", c.restoreSetup)
}

// settingsStore is Deps.Settings, or else the inbox store when it keeps connector state too (both
// real stores do), so the dismissal survives restarts without extra wiring. Nil: nothing can be
// remembered and the checklist offers no dismissal.
func (c *Console) settingsStore() SettingsStore {
	if c.Settings != nil {
		return c.Settings
	}
	if s, ok := c.store.(SettingsStore); ok {
		return s
	}
	return nil
}

func (c *Console) loadSetupState(ctx context.Context) (setupState, error) {
	var st setupState
	s := c.settingsStore()
	if s == nil {
		return st, nil
	}
	b, err := s.GetState(ctx, setupStateKey)
	if errors.Is(err, inbox.ErrNotFound) {
		return st, nil
	}
	if err != nil {
		return st, fmt.Errorf("read the checklist's state: %w", err)
	}
	if err := json.Unmarshal(b, &st); err != nil {
		// A damaged record must not lock the admin out of the page: show the checklist.
		c.Log.Warn("checklist state unreadable; showing the checklist", "err", err)
		return setupState{}, nil
	}
	return st, nil
}

func (c *Console) saveSetupState(ctx context.Context, st setupState) error {
	s := c.settingsStore()
	if s == nil {
		return errors.New("no store for console settings is configured")
	}
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	if err := s.PutState(ctx, setupStateKey, b); err != nil {
		return fmt.Errorf("save the checklist's state: %w", err)
	}
	return nil
}

func (c *Console) gettingStartedPage(ctx echo.Context) error {
	p, err := c.page(ctx, "GSTitle")
	if err != nil {
		return c.fail(ctx, err)
	}
	r := ctx.Request()
	st, err := c.loadSetupState(r.Context())
	if err != nil {
		return c.fail(ctx, err)
	}
	list, err := c.checklist(r.Context(), c.install(ctx), p.L, randomToken)
	if err != nil {
		return c.fail(ctx, err)
	}
	list.Dismissed = st.Dismissed
	return render(ctx, http.StatusOK, templates.GettingStartedPage(p, list))
}

// setupNudge is the inbox's "finish setting up (3/7)" link; empty once the checklist is complete
// or dismissed.
func (c *Console) setupNudge(ctx echo.Context) error {
	r := ctx.Request()
	st, err := c.loadSetupState(r.Context())
	if err != nil {
		return c.fail(ctx, err)
	}
	empty := func() error {
		ctx.Response().Header().Set(echo.HeaderCacheControl, "no-store")
		return ctx.NoContent(http.StatusOK)
	}
	if st.Dismissed {
		return empty()
	}
	a := me(ctx)
	l := c.Catalog.Localizer(a.Locale)
	// The nudge shows only counts: no secret needs making.
	list, err := c.checklist(r.Context(), c.install(ctx), l, func() string { return "" })
	if err != nil {
		return c.fail(ctx, err)
	}
	if list.Complete() {
		return empty()
	}
	done, total := list.Steps()
	return render(ctx, http.StatusOK, templates.SetupNudge(templates.Viewer{L: l, Loc: c.zone(a.Timezone), Now: c.Now()}, done, total))
}

func (c *Console) dismissSetup(ctx echo.Context) error {
	return c.setDismissed(ctx, true, "/")
}

func (c *Console) restoreSetup(ctx echo.Context) error {
	return c.setDismissed(ctx, false, "/admin/getting-started")
}

func (c *Console) setDismissed(ctx echo.Context, dismissed bool, to string) error {
	st := setupState{Dismissed: dismissed, By: me(ctx).ID, At: c.Now().UTC()}
	if err := c.saveSetupState(ctx.Request().Context(), st); err != nil {
		return c.fail(ctx, err)
	}
	c.Log.Info("getting started checklist", "dismissed", dismissed, "agent", st.By)
	if isHTMX(ctx) {
		ctx.Response().Header().Set("HX-Redirect", to)
		return ctx.NoContent(http.StatusNoContent)
	}
	return ctx.Redirect(http.StatusSeeOther, to)
}

// install is Deps.Install, or else a default install (no variables set) at the address the
// admin reached the console on.
func (c *Console) install(ctx echo.Context) *Install {
	if c.Install != nil {
		return c.Install
	}
	return InstallFromEnv(ctx.Scheme()+"://"+ctx.Request().Host, nil)
}

// checklist builds the steps. fresh makes a new secret for a step whose secret is not set yet;
// secrets already configured are never read here, so they cannot reach the page.
func (c *Console) checklist(ctx context.Context, in *Install, l *i18n.Localizer, fresh func() string) (templates.SetupChecklist, error) {
	var status []ChannelStatus
	if c.Channels != nil {
		status = c.Channels(ctx)
	}
	base := in.BaseURL
	voiceBase := in.VoiceURL
	if voiceBase == "" {
		voiceBase = base
	}
	cl := templates.SetupChecklist{BaseURL: base, Unreachable: unreachable(base)}

	cl.Email.Status, cl.Email.Done = channelState(status, inbox.ChannelEmail)
	cl.Email.Env = envBlock(
		"SERAMBI_EMAIL_ADDRESS", "support@"+l.T("GSPhDomain"),
		"SERAMBI_EMAIL_NAME", l.T("GSPhSupportName"),
		"SERAMBI_EMAIL_IMAP_HOST", "imap."+l.T("GSPhDomain"),
		"SERAMBI_EMAIL_IMAP_PASSWORD", "<"+l.T("GSPhMailPassword")+">",
		"SERAMBI_EMAIL_SMTP_HOST", "smtp."+l.T("GSPhDomain"),
		"SERAMBI_EMAIL_SMTP_USERNAME", "support@"+l.T("GSPhDomain"),
		"SERAMBI_EMAIL_SMTP_PASSWORD", "<"+l.T("GSPhMailPassword")+">",
	)

	w := &cl.Widget
	w.Enabled, w.InboxID, w.Origins = in.WidgetEnabled, in.WidgetInbox, in.WidgetOrigins
	if c.WidgetInboxes != nil && w.Enabled {
		// Origins saved on the Chat widget page win over the environment's.
		if ws, err := c.WidgetInboxes.Get(ctx, w.InboxID); err == nil {
			w.Origins = ws.AllowedOrigins
		}
	}
	w.Done = w.Enabled && len(w.Origins) > 0
	w.Snippet = `<script src="` + base + `/widget.js" data-serambi-inbox="` + w.InboxID + `" async></script>`
	if in.WidgetDemo {
		w.DemoURL = "/widget/demo?inbox=" + url.QueryEscape(w.InboxID)
	}
	w.OriginsEnv = envBlock("SERAMBI_WIDGET_ORIGINS", "https://"+l.T("GSPhDomain")+",https://www."+l.T("GSPhDomain"))

	t := &cl.Telegram
	t.Status, t.Done = channelState(status, inbox.ChannelTelegram)
	if !t.Done {
		t.Env = envBlock("SERAMBI_TELEGRAM_TOKEN", "<"+l.T("GSPhBotToken")+">")
		t.WebhookEnv = envBlock("SERAMBI_TELEGRAM_MODE", string(telegram.ModeWebhook),
			"SERAMBI_TELEGRAM_WEBHOOK_URL", base+telegramPath,
			"SERAMBI_TELEGRAM_WEBHOOK_SECRET", fresh())
	}

	wa := &cl.WhatsApp
	wa.Status, wa.Done = channelState(status, inbox.ChannelWhatsApp)
	wa.WebhookURL = base + whatsappPath
	// Configured (or half-configured, which start-up refuses) means its tokens are set: say so,
	// and do not offer new ones that would not match.
	if len(configuredOnly(wa.Status)) == 0 {
		wa.VerifyToken = fresh()
		wa.Env = envBlock(
			"SERAMBI_WHATSAPP_ACCESS_TOKEN", "<"+l.T("GSPhWAAccessToken")+">",
			"SERAMBI_WHATSAPP_APP_SECRET", "<"+l.T("GSPhWAAppSecret")+">",
			"SERAMBI_WHATSAPP_VERIFY_TOKEN", wa.VerifyToken,
			"SERAMBI_WHATSAPP_PHONE_NUMBER_ID", "<"+l.T("GSPhWAPhoneID")+">",
		)
	}

	v := &cl.Voice
	v.Status, v.Done = channelState(status, inbox.ChannelVoice)
	v.CTI, v.Twilio, v.AMI = in.CTI, in.Twilio, in.AMI
	v.Done = v.Done || v.CTI || v.Twilio || v.AMI
	if v.CTI {
		v.CTIURL = voiceBase + voiceCTIPath + "{SERAMBI_VOICE_CTI_TOKEN}"
	} else {
		token := fresh()
		v.CTIURL = voiceBase + voiceCTIPath + token
		v.CTIEnv = envBlock("SERAMBI_VOICE_CTI_TOKEN", token)
	}
	v.TwilioStatusURL, v.TwilioRecordingURL = voiceBase+twilioStatusPath, voiceBase+twilioRecordPath
	if !v.Twilio {
		v.TwilioEnv = envBlock("SERAMBI_VOICE_TWILIO_AUTH_TOKEN", "<"+l.T("GSPhTwilioToken")+">",
			"SERAMBI_VOICE_TWILIO_ACCOUNT_SID", "AC…")
	}
	if !v.AMI {
		v.AMIEnv = envBlock("SERAMBI_VOICE_AMI_ADDR", "127.0.0.1:5038",
			"SERAMBI_VOICE_AMI_USERNAME", "serambi",
			"SERAMBI_VOICE_AMI_SECRET", fresh(),
			"SERAMBI_VOICE_AMI_EXTENSIONS", "201,202")
	}

	s := &cl.Shop
	s.Shopify, s.Woo = in.Shopify, in.WooCommerce
	s.Done = s.Shopify || s.Woo
	s.ShopifyURL, s.WooURL = base+shopifyWebhookPath, base+wooWebhookPath
	s.ShopifyTopics, s.WooTopics = shopifyTopics, wooTopics
	if !s.Shopify {
		// Shopify chooses this key (the notifications page's signing key or the app's client
		// secret); Serambi can only be told it.
		s.ShopifyEnv = envBlock("SERAMBI_SHOPIFY_WEBHOOK_SECRET", "<"+l.T("GSPhShopifySecret")+">")
	}
	if !s.Woo {
		s.WooSecret = fresh()
		s.WooEnv = envBlock("SERAMBI_WOOCOMMERCE_WEBHOOK_SECRET", s.WooSecret,
			"SERAMBI_WOOCOMMERCE_URL", "https://"+l.T("GSPhDomain"))
	}

	keys, err := c.Agents.Store().ListAPIKeys(ctx)
	if err != nil {
		return cl, fmt.Errorf("list API keys: %w", err)
	}
	for _, k := range keys {
		if !k.Revoked {
			cl.APIKey.Active++
		}
	}
	cl.APIKey.Done, cl.APIKey.Command = cl.APIKey.Active > 0, apiKeyCommand
	return cl, nil
}

// channelState returns a channel's accounts and whether the channel works: some account is
// configured and not failing or still connecting.
func channelState(list []ChannelStatus, ch inbox.Channel) ([]ChannelStatus, bool) {
	var out []ChannelStatus
	done := false
	for _, s := range list {
		if s.Channel != ch {
			continue
		}
		out = append(out, s)
		switch s.State {
		case "not_configured", "error", "connecting", "":
		default:
			done = true
		}
	}
	return configuredOnly(out), done
}

// configuredOnly drops "not configured" rows: the step itself says what to do then.
func configuredOnly(list []ChannelStatus) []ChannelStatus {
	var out []ChannelStatus
	for _, s := range list {
		if s.State != "not_configured" && s.State != "" {
			out = append(out, s)
		}
	}
	return out
}

// envBlock writes NAME=value lines, as an .env file or a systemd EnvironmentFile takes them.
func envBlock(pairs ...string) string {
	var b strings.Builder
	for i := 0; i+1 < len(pairs); i += 2 {
		b.WriteString(pairs[i] + "=" + pairs[i+1] + "\n")
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// unreachable reports a base URL that Meta, Telegram or a shop cannot call: loopback, a
// wildcard, or plain http (their webhooks require https).
func unreachable(base string) bool {
	u, err := url.Parse(base)
	if err != nil || u.Host == "" {
		return true
	}
	if u.Scheme != "https" {
		return true
	}
	host := u.Hostname()
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && (ip.IsLoopback() || ip.IsUnspecified())
}
