package console

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/serambi/serambi/connectors/widget"
	"github.com/serambi/serambi/inbox"
	"github.com/serambi/serambi/templates"
)

// WidgetInboxes keeps the chat widget's inboxes' settings; *widget.SettingsStore implements it.
// The console must be given the running connector's own store, not a second one on the same
// state: its Put drops the connector's cached copy, so the next visitor gets the saved settings
// at once (other instances read them within the connector's cache time, a few seconds).
type WidgetInboxes interface {
	Get(ctx context.Context, id string) (widget.Settings, error)
	Put(ctx context.Context, s widget.Settings) error
	List(ctx context.Context) ([]widget.Settings, error)
	Delete(ctx context.Context, id string) error
}

// WidgetTyping tells widget visitors that an agent is typing to them; *widget.Connector
// implements it.
type WidgetTyping interface {
	AgentTyping(ctx context.Context, conversationID, agentName string, typing bool)
}

const (
	// widgetSecretBytes is the size of a generated identity secret: 48 random bytes, 64
	// characters of base64url, well over the widget's minimum of 32 bytes.
	widgetSecretBytes = 48
	// widgetBlankFields is how many empty pre-chat question rows the form offers for new ones.
	widgetBlankFields = 2
	// widgetMaxFields mirrors the widget's own limit: the form never offers more rows.
	widgetMaxFields = 10
	// widgetMaxOrigins bounds the origin lines one form may carry.
	widgetMaxOrigins = 100
)

func (c *Console) registerWidgetSettings(admin *echo.Group) {
	admin.GET("/widget", c.widgetInboxesPage)
	admin.POST("/widget", c.createWidgetInbox)
	admin.GET("/widget/:id", c.widgetInboxPage)
	admin.POST("/widget/:id", c.saveWidgetInbox)
	admin.POST("/widget/:id/secret", c.widgetSecret)
	admin.POST("/widget/:id/delete", c.deleteWidgetInbox)
}

// widgetOff answers an action on the widget's settings when the widget is turned off.
func (c *Console) widgetOff(ctx echo.Context) error {
	return c.failStatus(ctx, http.StatusNotImplemented, c.localizer(ctx).T("GSWidgetOff"))
}

func (c *Console) widgetInboxesPage(ctx echo.Context) error {
	p, err := c.page(ctx, "WidgetTitle")
	if err != nil {
		return c.fail(ctx, err)
	}
	var rows []templates.WidgetInboxRow
	if c.WidgetInboxes != nil {
		list, err := c.WidgetInboxes.List(ctx.Request().Context())
		if err != nil {
			return c.fail(ctx, err)
		}
		for _, s := range list {
			rows = append(rows, templates.WidgetInboxRow{ID: s.ID, Name: s.Name, Color: s.Color, Position: s.Position,
				Language: s.Language, Origins: s.AllowedOrigins, SecretSet: s.JWTSecret.Reveal() != "",
				FromEnv: s.Source == widget.SourceEnv, UpdatedAt: s.UpdatedAt})
		}
	}
	msg, errMsg := notice(ctx, p.Viewer)
	return render(ctx, http.StatusOK, templates.WidgetInboxesPage(p, rows, c.WidgetInboxes != nil, msg, errMsg))
}

func (c *Console) createWidgetInbox(ctx echo.Context) error {
	if c.WidgetInboxes == nil {
		return c.widgetOff(ctx)
	}
	r := ctx.Request()
	l := c.localizer(ctx)
	id, name := strings.TrimSpace(ctx.FormValue("id")), strings.TrimSpace(ctx.FormValue("name"))
	// Checked before WithDefaults, which would name a blank inbox "default" and "Support".
	s := widget.Settings{ID: id, Name: name, Source: widget.SourceConsole, OfflineEmail: true, Uploads: true}
	if err := errors.Join(blankProblem(s), s.WithDefaults().Validate()); err != nil {
		return ctx.Redirect(http.StatusSeeOther, "/admin/widget?error="+url.QueryEscape(l.T("WidgetNotSaved")+" "+oneLine(err)))
	}
	s = s.WithDefaults()
	_, err := c.WidgetInboxes.Get(r.Context(), id)
	switch {
	case err == nil:
		return ctx.Redirect(http.StatusSeeOther, "/admin/widget?error="+url.QueryEscape(l.F("WidgetExists", map[string]any{"Name": id})))
	case !errors.Is(err, inbox.ErrNotFound):
		return c.fail(ctx, err)
	}
	if err := c.WidgetInboxes.Put(r.Context(), s); err != nil {
		return c.fail(ctx, err)
	}
	c.Log.Info("widget inbox created", "inbox", s.ID, "agent", me(ctx).ID)
	return ctx.Redirect(http.StatusSeeOther, "/admin/widget/"+s.ID+"?ok=WidgetCreated")
}

// loadWidgetInbox reads the inbox the path names; on failure it has answered.
func (c *Console) loadWidgetInbox(ctx echo.Context) (widget.Settings, bool, error) {
	if c.WidgetInboxes == nil {
		return widget.Settings{}, false, c.widgetOff(ctx)
	}
	s, err := c.WidgetInboxes.Get(ctx.Request().Context(), ctx.Param("id"))
	if err != nil {
		return s, false, c.fail(ctx, err)
	}
	return s, true, nil
}

func (c *Console) widgetInboxPage(ctx echo.Context) error {
	s, ok, err := c.loadWidgetInbox(ctx)
	if !ok {
		return err
	}
	p, err := c.page(ctx, "WidgetTitle")
	if err != nil {
		return c.fail(ctx, err)
	}
	msg, errMsg := notice(ctx, p.Viewer)
	return render(ctx, http.StatusOK, templates.WidgetInboxPage(p, c.widgetForm(ctx, s), msg, errMsg))
}

// widgetForm is the form for s. The stored secret stays here: the form learns only that one is set.
func (c *Console) widgetForm(ctx echo.Context, s widget.Settings) templates.WidgetInboxForm {
	in := c.install(ctx)
	f := templates.WidgetInboxForm{ID: s.ID, Name: s.Name, Color: s.Color, Position: s.Position, Language: s.Language,
		GreetingEN: s.GreetingEN, GreetingID: s.GreetingID, Origins: strings.Join(s.AllowedOrigins, "\n"),
		PreChat: s.PreChat.Enabled, AskName: s.PreChat.AskName, AskEmail: s.PreChat.AskEmail, RequireEmail: s.PreChat.RequireEmail,
		OfflineEmail: s.OfflineEmail, Uploads: s.Uploads, SecretSet: s.JWTSecret.Reveal() != "",
		FromEnv: s.Source == widget.SourceEnv, UpdatedAt: s.UpdatedAt,
		Snippet:   `<script src="` + c.publicBase(ctx, in) + `/widget.js" data-serambi-inbox="` + s.ID + `" async></script>`,
		Deletable: !(in.WidgetEnabled && s.ID == in.WidgetInbox),
	}
	if in.WidgetDemo {
		f.DemoURL = "/widget/demo?inbox=" + url.QueryEscape(s.ID)
	}
	for _, fd := range s.PreChat.Fields {
		f.Fields = append(f.Fields, templates.WidgetFieldRow{Key: fd.Key, LabelEN: fd.LabelEN, LabelID: fd.LabelID, Required: fd.Required})
	}
	return withBlankFields(f)
}

// withBlankFields adds empty rows for new pre-chat questions, up to the widget's limit.
func withBlankFields(f templates.WidgetInboxForm) templates.WidgetInboxForm {
	for i := 0; i < widgetBlankFields && len(f.Fields) < widgetMaxFields; i++ {
		f.Fields = append(f.Fields, templates.WidgetFieldRow{})
	}
	return f
}

// publicBase is the address shops' pages load the widget from.
func (c *Console) publicBase(ctx echo.Context, in *Install) string {
	if in != nil && in.BaseURL != "" {
		return in.BaseURL
	}
	return ctx.Scheme() + "://" + ctx.Request().Host
}

// saveWidgetInbox stores the form over the inbox's settings, keeping its identity secret. A form
// the widget's rules refuse is shown again as submitted, with the reasons, and nothing is saved.
func (c *Console) saveWidgetInbox(ctx echo.Context) error {
	cur, ok, err := c.loadWidgetInbox(ctx)
	if !ok {
		return err
	}
	form, err := ctx.FormParams()
	if err != nil {
		return c.fail(ctx, err)
	}
	s, problems := settingsFromForm(cur, form)
	s.Source = widget.SourceConsole
	if err := blankProblem(s); err != nil {
		problems = append(problems, err.Error())
	}
	typed := s
	s = s.WithDefaults()
	if err := s.Validate(); err != nil {
		problems = append(problems, strings.Split(err.Error(), "\n")...)
	}
	if len(problems) > 0 {
		return c.refuseWidgetForm(ctx, typed, form, problems)
	}
	if err := c.WidgetInboxes.Put(ctx.Request().Context(), s); err != nil {
		if errors.Is(err, inbox.ErrInvalid) {
			return c.refuseWidgetForm(ctx, s, form, []string{oneLine(err)})
		}
		return c.fail(ctx, err)
	}
	c.Log.Info("widget inbox saved", "inbox", s.ID, "agent", me(ctx).ID, "origins", len(s.AllowedOrigins))
	return ctx.Redirect(http.StatusSeeOther, "/admin/widget/"+s.ID+"?ok=WidgetSaved")
}

// refuseWidgetForm answers 422 with the form as the admin sent it and what is wrong with it.
func (c *Console) refuseWidgetForm(ctx echo.Context, s widget.Settings, form url.Values, problems []string) error {
	p, err := c.page(ctx, "WidgetTitle")
	if err != nil {
		return c.fail(ctx, err)
	}
	f := c.widgetForm(ctx, s)
	// What the admin typed, not what parsing kept of it, so a mistake can be corrected in place.
	f.Origins = form.Get("origins")
	f.Errors = problems
	return render(ctx, http.StatusUnprocessableEntity, templates.WidgetInboxPage(p, f, "", ""))
}

// settingsFromForm applies a posted settings form to cur. Absent checkboxes are off, as browsers
// send only the ticked ones. Problems the widget's own Validate cannot see (too many lines) are
// returned; everything else is left to Validate, so the console applies exactly the widget's rules.
func settingsFromForm(cur widget.Settings, form url.Values) (widget.Settings, []string) {
	var problems []string
	s := cur
	s.Name = strings.TrimSpace(form.Get("name"))
	s.Color = strings.TrimSpace(form.Get("color"))
	s.Position = strings.TrimSpace(form.Get("position"))
	s.Language = strings.TrimSpace(form.Get("language"))
	s.GreetingEN = strings.TrimSpace(form.Get("greeting_en"))
	s.GreetingID = strings.TrimSpace(form.Get("greeting_id"))
	s.AllowedOrigins = []string{}
	for _, line := range strings.Split(form.Get("origins"), "\n") {
		if o := strings.TrimSpace(line); o != "" && !slices.Contains(s.AllowedOrigins, o) {
			s.AllowedOrigins = append(s.AllowedOrigins, o)
		}
	}
	if len(s.AllowedOrigins) > widgetMaxOrigins {
		problems = append(problems, fmt.Sprintf("at most %d allowed origins", widgetMaxOrigins))
	}
	on := func(k string) bool { return form.Get(k) == "1" }
	s.PreChat = widget.PreChat{Enabled: on("prechat"), AskName: on("ask_name"), AskEmail: on("ask_email"),
		RequireEmail: on("require_email"), Fields: []widget.Field{}}
	for i := 0; i < widgetMaxFields+widgetBlankFields; i++ {
		pre := "field." + strconv.Itoa(i) + "."
		f := widget.Field{Key: strings.TrimSpace(form.Get(pre + "key")), LabelEN: strings.TrimSpace(form.Get(pre + "en")),
			LabelID: strings.TrimSpace(form.Get(pre + "id")), Required: on(pre + "required")}
		if f.Key == "" && f.LabelEN == "" && f.LabelID == "" {
			continue // an unused row
		}
		s.PreChat.Fields = append(s.PreChat.Fields, f)
	}
	if s.PreChat.RequireEmail {
		s.PreChat.AskEmail = true // a required email must be asked for
	}
	s.OfflineEmail = on("offline_email")
	s.Uploads = on("uploads")
	return s, problems
}

// widgetSecret generates a new identity secret (shown in this one answer, never again) or
// removes it (every visitor is then anonymous).
func (c *Console) widgetSecret(ctx echo.Context) error {
	s, ok, err := c.loadWidgetInbox(ctx)
	if !ok {
		return err
	}
	r := ctx.Request()
	switch ctx.FormValue("action") {
	case "generate":
		b := make([]byte, widgetSecretBytes)
		if _, err := rand.Read(b); err != nil {
			return c.fail(ctx, fmt.Errorf("generate a widget identity secret: %w", err))
		}
		secret := base64.RawURLEncoding.EncodeToString(b)
		s.JWTSecret, s.Source = widget.Secret(secret), widget.SourceConsole
		if err := c.WidgetInboxes.Put(r.Context(), s); err != nil {
			return c.fail(ctx, err)
		}
		c.Log.Info("widget identity secret replaced", "inbox", s.ID, "agent", me(ctx).ID)
		p, err := c.page(ctx, "WidgetTitle")
		if err != nil {
			return c.fail(ctx, err)
		}
		f := c.widgetForm(ctx, s)
		f.NewSecret = secret
		// Shown in this answer only: not a redirect, whose URL or history would keep it.
		return render(ctx, http.StatusOK, templates.WidgetInboxPage(p, f, "", ""))
	case "remove":
		s.JWTSecret, s.Source = "", widget.SourceConsole
		if err := c.WidgetInboxes.Put(r.Context(), s); err != nil {
			return c.fail(ctx, err)
		}
		c.Log.Info("widget identity secret removed", "inbox", s.ID, "agent", me(ctx).ID)
		return ctx.Redirect(http.StatusSeeOther, "/admin/widget/"+s.ID+"?ok=WidgetSecretRemoved")
	}
	return c.failStatus(ctx, http.StatusBadRequest, c.localizer(ctx).T("WidgetSecretAction"))
}

func (c *Console) deleteWidgetInbox(ctx echo.Context) error {
	s, ok, err := c.loadWidgetInbox(ctx)
	if !ok {
		return err
	}
	if in := c.install(ctx); in.WidgetEnabled && s.ID == in.WidgetInbox {
		// The environment names it: it would be seeded again at the next start.
		return ctx.Redirect(http.StatusSeeOther, "/admin/widget/"+s.ID+"?error="+url.QueryEscape(c.localizer(ctx).T("WidgetDeleteEnv")))
	}
	if err := c.WidgetInboxes.Delete(ctx.Request().Context(), s.ID); err != nil {
		return c.fail(ctx, err)
	}
	c.Log.Info("widget inbox deleted", "inbox", s.ID, "agent", me(ctx).ID)
	return ctx.Redirect(http.StatusSeeOther, "/admin/widget?ok=WidgetDeleted")
}

// blankProblem refuses what WithDefaults would otherwise fill in silently: an inbox without an
// id or a name comes from a form that lost them, not from an admin who wants the defaults.
func blankProblem(s widget.Settings) error {
	var errs []error
	if s.ID == "" {
		errs = append(errs, errors.New(`id "" must be 1-40 characters of a-z, 0-9, _ and -, starting with a letter or digit`))
	}
	if s.Name == "" {
		errs = append(errs, errors.New("name must be 1-60 characters"))
	}
	return errors.Join(errs...)
}

// oneLine is an error's text on one line, for a notice.
func oneLine(err error) string {
	if err == nil {
		return ""
	}
	return strings.ReplaceAll(strings.TrimSuffix(err.Error(), ": "+inbox.ErrInvalid.Error()), "\n", "; ")
}
