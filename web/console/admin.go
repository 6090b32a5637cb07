package console

import (
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"regexp"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/serambi/serambi/agents"
	"github.com/serambi/serambi/i18n"
	"github.com/serambi/serambi/inbox"
	"github.com/serambi/serambi/templates"
)

// Admin and settings pages are plain forms that post and redirect back with a notice (PRG), so
// they work without script and a reload never re-posts.

func (c *Console) agentsPage(ctx echo.Context) error {
	p, err := c.page(ctx, "AdminAgents")
	if err != nil {
		return c.fail(ctx, err)
	}
	r := ctx.Request()
	list, err := c.Agents.Agents(r.Context())
	if err != nil {
		return c.fail(ctx, err)
	}
	teams, err := c.Agents.Teams(r.Context())
	if err != nil {
		return c.fail(ctx, err)
	}
	msg, errMsg := notice(ctx, p.Viewer)
	return render(ctx, http.StatusOK, templates.AgentsPage(p, list, teams, msg, errMsg))
}

func (c *Console) createAgent(ctx echo.Context) error {
	ext, err := c.extension(ctx, ctx.FormValue("extension"))
	if err != nil {
		return c.afterAdmin(ctx, "/admin/agents", "", err)
	}
	r := ctx.Request()
	a, err := c.Agents.Create(r.Context(), agents.NewAgent{
		Email: ctx.FormValue("email"), Name: ctx.FormValue("name"), Password: ctx.FormValue("password"),
		Role: agents.Role(ctx.FormValue("role")), Locale: i18n.Supported(ctx.FormValue("locale")), Timezone: ctx.FormValue("timezone"),
	})
	if err == nil && ext != "" {
		// NewAgent has no extension; the account exists by now, so a failure here is reported
		// and the admin can set the extension in the agent's row.
		_, err = c.Agents.Update(r.Context(), a.ID, agents.AgentChange{Extension: &ext})
	}
	return c.afterAdmin(ctx, "/admin/agents", "AgentCreated", err)
}

// extensionRE is what an agent's phone extension may be: the digits the PBX rings.
var extensionRE = regexp.MustCompile(`^[0-9]{1,20}$`)

// extension checks an extension from a form; empty means the agent has no phone.
func (c *Console) extension(ctx echo.Context, v string) (string, error) {
	v = strings.TrimSpace(v)
	if v != "" && !extensionRE.MatchString(v) {
		return "", fmt.Errorf("%s: %w", c.localizer(ctx).T("ErrExtension"), inbox.ErrInvalid)
	}
	return v, nil
}

func (c *Console) updateAgent(ctx echo.Context) error {
	form, err := ctx.FormParams()
	if err != nil {
		return c.fail(ctx, err)
	}
	role := agents.Role(form.Get("role"))
	disabled := form.Get("disabled") == "1"
	teams := form["teams"]
	if teams == nil {
		teams = []string{}
	}
	ch := agents.AgentChange{Role: &role, Disabled: &disabled, TeamIDs: &teams}
	// Only a form that has the field changes the extension, so an older form or a script that
	// posts role and teams alone does not wipe it.
	if _, ok := form["extension"]; ok {
		ext, err := c.extension(ctx, form.Get("extension"))
		if err != nil {
			return c.afterAdmin(ctx, "/admin/agents", "", err)
		}
		ch.Extension = &ext
	}
	_, err = c.Agents.Update(ctx.Request().Context(), ctx.Param("id"), ch)
	if err == nil && disabled {
		c.hub.dropAgent(ctx.Param("id"))
	}
	return c.afterAdmin(ctx, "/admin/agents", "AgentSaved", err)
}

func (c *Console) teamsPage(ctx echo.Context) error {
	p, err := c.page(ctx, "AdminTeams")
	if err != nil {
		return c.fail(ctx, err)
	}
	r := ctx.Request()
	teams, err := c.Agents.Teams(r.Context())
	if err != nil {
		return c.fail(ctx, err)
	}
	list, err := c.Agents.Agents(r.Context())
	if err != nil {
		return c.fail(ctx, err)
	}
	members := map[string][]string{}
	for _, a := range list {
		for _, t := range a.TeamIDs {
			members[t] = append(members[t], a.ID)
		}
	}
	msg, errMsg := notice(ctx, p.Viewer)
	return render(ctx, http.StatusOK, templates.TeamsPage(p, teams, members, msg, errMsg))
}

func (c *Console) createTeam(ctx echo.Context) error {
	_, err := c.Agents.CreateTeam(ctx.Request().Context(), ctx.FormValue("name"))
	return c.afterAdmin(ctx, "/admin/teams", "TeamCreated", err)
}

func (c *Console) deleteTeam(ctx echo.Context) error {
	err := c.Agents.DeleteTeam(ctx.Request().Context(), ctx.Param("id"))
	return c.afterAdmin(ctx, "/admin/teams", "TeamDeleted", err)
}

func (c *Console) cannedPage(ctx echo.Context) error {
	p, err := c.page(ctx, "CannedResponses")
	if err != nil {
		return c.fail(ctx, err)
	}
	var list []agents.CannedResponse
	if c.Canned != nil {
		if list, err = c.Canned.ListCanned(ctx.Request().Context()); err != nil {
			return c.fail(ctx, err)
		}
	}
	msg, errMsg := notice(ctx, p.Viewer)
	return render(ctx, http.StatusOK, templates.CannedPage(p, list, c.Canned != nil, msg, errMsg))
}

func (c *Console) createCanned(ctx echo.Context) error {
	if c.Canned == nil {
		return c.failStatus(ctx, http.StatusNotImplemented, c.localizer(ctx).T("CannedUnavailable"))
	}
	cr, err := agents.ValidateCanned(agents.CannedResponse{Shortcut: ctx.FormValue("shortcut"), Title: ctx.FormValue("title"), Text: ctx.FormValue("text")})
	if err == nil {
		now := c.Now().UTC()
		cr.ID, cr.CreatedBy, cr.CreatedAt, cr.UpdatedAt = inbox.NewID(), me(ctx).ID, now, now
		err = c.Canned.CreateCanned(ctx.Request().Context(), cr)
	}
	return c.afterAdmin(ctx, "/admin/canned", "CannedSaved", err)
}

func (c *Console) deleteCanned(ctx echo.Context) error {
	if c.Canned == nil {
		return c.failStatus(ctx, http.StatusNotImplemented, c.localizer(ctx).T("CannedUnavailable"))
	}
	err := c.Canned.DeleteCanned(ctx.Request().Context(), ctx.Param("id"))
	return c.afterAdmin(ctx, "/admin/canned", "CannedDeleted", err)
}

// afterAdmin redirects back to the page with a notice of what happened.
func (c *Console) afterAdmin(ctx echo.Context, page, okKey string, err error) error {
	c.forgetDirectory()
	if err != nil {
		status, msg := c.describe(ctx, err)
		if status >= 500 {
			return c.failStatus(ctx, status, msg)
		}
		return ctx.Redirect(http.StatusSeeOther, page+"?error="+url.QueryEscape(msg))
	}
	return ctx.Redirect(http.StatusSeeOther, page+"?ok="+okKey)
}

// notice reads the result a redirect carried: ok is a message id, error is already worded.
// Only known ids are shown, so a crafted link cannot put arbitrary words in the notice.
func notice(ctx echo.Context, v templates.Viewer) (msg, errMsg string) {
	switch k := ctx.QueryParam("ok"); k {
	case "AgentCreated", "AgentSaved", "TeamCreated", "TeamDeleted", "CannedSaved", "CannedDeleted", "SettingsSaved", "SessionRevoked",
		"WidgetCreated", "WidgetSaved", "WidgetDeleted", "WidgetSecretRemoved":
		msg = v.T(k)
	}
	if e := ctx.QueryParam("error"); e != "" {
		errMsg = e
		if len(errMsg) > 300 {
			errMsg = errMsg[:300]
		}
	}
	return msg, errMsg
}

func (c *Console) settingsPage(ctx echo.Context) error {
	p, err := c.page(ctx, "Settings")
	if err != nil {
		return c.fail(ctx, err)
	}
	list, err := c.Agents.Sessions(ctx.Request().Context(), p.Me.ID)
	if err != nil {
		return c.fail(ctx, err)
	}
	cur := session(ctx).ID
	rows := make([]templates.SessionRow, 0, len(list))
	for _, s := range list {
		rows = append(rows, templates.SessionRow{ID: agents.PublicSessionID(s), UserAgent: deviceName(s.UserAgent), IP: s.IP,
			LastSeen: s.LastSeenAt, Current: s.ID == cur})
	}
	msg, errMsg := notice(ctx, p.Viewer)
	return render(ctx, http.StatusOK, templates.SettingsPage(p, rows, msg, errMsg))
}

func (c *Console) saveSettings(ctx echo.Context) error {
	locale := i18n.Supported(ctx.FormValue("locale"))
	tz := strings.TrimSpace(ctx.FormValue("timezone"))
	_, err := c.Agents.Update(ctx.Request().Context(), me(ctx).ID, agents.AgentChange{Locale: &locale, Timezone: &tz})
	return c.afterAdmin(ctx, "/settings", "SettingsSaved", err)
}

func (c *Console) revokeSession(ctx echo.Context) error {
	sess, err := c.Agents.RevokeSession(ctx.Request().Context(), me(ctx).ID, ctx.Param("sid"))
	if err == nil {
		c.hub.dropSession(sess.ID)
	}
	return c.afterAdmin(ctx, "/settings", "SessionRevoked", err)
}

// deviceName shortens a User-Agent to the browser and system it names.
func deviceName(ua string) string {
	browser := ""
	for _, b := range []string{"Edg", "Firefox", "Chrome", "Safari"} {
		if strings.Contains(ua, b+"/") {
			browser = map[string]string{"Edg": "Edge"}[b]
			if browser == "" {
				browser = b
			}
			break
		}
	}
	system := ""
	for _, s := range []string{"Windows", "Mac OS X", "Android", "iPhone", "Linux"} {
		if strings.Contains(ua, s) {
			system = s
			break
		}
	}
	switch {
	case browser != "" && system != "":
		return browser + " · " + system
	case browser != "":
		return browser
	case ua == "":
		return "?"
	}
	if len(ua) > 60 {
		return ua[:60] + "…"
	}
	return ua
}

// attachment serves a file of a message to a signed-in agent. Only images that browsers render
// safely are shown inline; everything else downloads, and nothing is sniffed or runs script.
func (c *Console) attachment(ctx echo.Context) error {
	r := ctx.Request()
	m, err := c.store.MessageByID(r.Context(), ctx.Param("msg"))
	if err != nil {
		return c.fail(ctx, err)
	}
	var att *inbox.Attachment
	for i := range m.Attachments {
		if m.Attachments[i].SHA256 == ctx.Param("sha") {
			att = &m.Attachments[i]
			break
		}
	}
	if att == nil {
		return c.fail(ctx, inbox.ErrNotFound)
	}
	body, err := c.Blobs.Open(r.Context(), att.SHA256)
	if err != nil {
		return c.fail(ctx, err)
	}
	defer body.Close()
	h := ctx.Response().Header()
	ctype, disp := "application/octet-stream", "attachment"
	if templates.InlineImage(*att) {
		ctype, disp = strings.ToLower(att.ContentType), "inline"
	}
	h.Set(echo.HeaderContentType, ctype)
	h.Set(echo.HeaderContentDisposition, mime.FormatMediaType(disp, map[string]string{"filename": att.Name}))
	h.Set("Content-Security-Policy", "default-src 'none'; sandbox")
	h.Set(echo.HeaderCacheControl, "private, max-age=86400, immutable") // content-addressed
	ctx.Response().WriteHeader(http.StatusOK)
	_, err = io.Copy(ctx.Response(), body)
	return err
}
