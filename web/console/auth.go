package console

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"math"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/serambi/serambi/agents"
	"github.com/serambi/serambi/i18n"
	"github.com/serambi/serambi/templates"
)

const (
	sessionCookie = "serambi_session"
	// preCookie carries the CSRF token of the sign-in and setup forms, which are posted before
	// there is a session to keep a token in (double-submit: cookie and form field must agree).
	preCookie  = "serambi_pre"
	csrfHeader = "X-CSRF-Token"
	csrfField  = "_csrf"
	ctxAgent   = "console.agent"
	ctxSession = "console.session"
	ctxToken   = "console.token"
)

// authenticate lets a request through only with a live session. Pages redirect to sign-in;
// htmx and WebSocket requests get 401 (htmx follows HX-Redirect).
func (c *Console) authenticate(next echo.HandlerFunc) echo.HandlerFunc {
	return func(ctx echo.Context) error {
		var token string
		if ck, err := ctx.Cookie(sessionCookie); err == nil {
			token = ck.Value
		}
		a, sess, err := c.Agents.Authenticate(ctx.Request().Context(), token)
		if errors.Is(err, agents.ErrNoSession) {
			if token != "" {
				c.clearCookie(ctx, sessionCookie)
			}
			return c.toSignIn(ctx)
		}
		if err != nil {
			return c.fail(ctx, err)
		}
		ctx.Set(ctxAgent, a)
		ctx.Set(ctxSession, sess)
		ctx.Set(ctxToken, token)
		return next(ctx)
	}
}

func (c *Console) toSignIn(ctx echo.Context) error {
	target := "/login"
	if need, err := c.Agents.NeedsSetup(ctx.Request().Context()); err == nil && need {
		target = "/setup"
	} else if ctx.Request().Method == http.MethodGet && !isHTMX(ctx) && ctx.Request().URL.Path != "/" {
		target += "?next=" + url.QueryEscape(ctx.Request().URL.RequestURI())
	}
	if isHTMX(ctx) || ctx.Request().Method != http.MethodGet || ctx.Request().URL.Path == "/ws" {
		ctx.Response().Header().Set("HX-Redirect", target)
		return ctx.String(http.StatusUnauthorized, "not signed in")
	}
	return ctx.Redirect(http.StatusSeeOther, target)
}

// checkCSRF refuses state-changing requests whose token (X-CSRF-Token header from htmx, or the
// _csrf form field) is not the session's.
func (c *Console) checkCSRF(next echo.HandlerFunc) echo.HandlerFunc {
	return func(ctx echo.Context) error {
		switch ctx.Request().Method {
		case http.MethodGet, http.MethodHead, http.MethodOptions:
			return next(ctx)
		}
		sess := session(ctx)
		got := ctx.Request().Header.Get(csrfHeader)
		if got == "" && !strings.HasPrefix(ctx.Request().Header.Get(echo.HeaderContentType), echo.MIMEMultipartForm) {
			got = ctx.FormValue(csrfField)
		}
		if got == "" || sess.CSRFToken == "" || subtle.ConstantTimeCompare([]byte(got), []byte(sess.CSRFToken)) != 1 {
			c.Log.Warn("csrf token missing or wrong", "agent", sess.AgentID, "path", ctx.Request().URL.Path)
			return c.failStatus(ctx, http.StatusForbidden, c.localizer(ctx).T("ErrCSRF"))
		}
		return next(ctx)
	}
}

// requireAdmin keeps agents out of admin pages and actions.
func (c *Console) requireAdmin(next echo.HandlerFunc) echo.HandlerFunc {
	return func(ctx echo.Context) error {
		if me(ctx).Role != agents.RoleAdmin {
			return c.failStatus(ctx, http.StatusForbidden, c.localizer(ctx).T("ErrForbidden"))
		}
		return next(ctx)
	}
}

func me(ctx echo.Context) agents.Agent {
	a, _ := ctx.Get(ctxAgent).(agents.Agent)
	return a
}

func session(ctx echo.Context) agents.Session {
	s, _ := ctx.Get(ctxSession).(agents.Session)
	return s
}

// localizer is the signed-in agent's language, or the browser's before sign-in.
func (c *Console) localizer(ctx echo.Context) *i18n.Localizer {
	if a, ok := ctx.Get(ctxAgent).(agents.Agent); ok {
		return c.Catalog.Localizer(a.Locale)
	}
	return c.Catalog.Localizer(browserLang(ctx.Request()))
}

func browserLang(r *http.Request) string {
	for _, part := range strings.Split(r.Header.Get("Accept-Language"), ",") {
		tag, _, _ := strings.Cut(strings.TrimSpace(part), ";")
		if l := i18n.Supported(tag); strings.HasPrefix(strings.ToLower(tag), l) {
			return l
		}
	}
	return "en"
}

func (c *Console) setCookie(ctx echo.Context, name, value string, maxAge int, sameSite http.SameSite) {
	ctx.SetCookie(&http.Cookie{Name: name, Value: value, Path: "/", MaxAge: maxAge, HttpOnly: true,
		Secure: c.opt.SecureCookies, SameSite: sameSite})
}

func (c *Console) clearCookie(ctx echo.Context, name string) {
	c.setCookie(ctx, name, "", -1, http.SameSiteLaxMode)
}

func randomToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return base64.RawURLEncoding.EncodeToString(b)
}

// preToken returns the double-submit token for the sign-in forms, setting its cookie if needed.
func (c *Console) preToken(ctx echo.Context) string {
	if ck, err := ctx.Cookie(preCookie); err == nil && len(ck.Value) >= 32 {
		return ck.Value
	}
	t := randomToken()
	c.setCookie(ctx, preCookie, t, 3600, http.SameSiteStrictMode)
	return t
}

func (c *Console) preTokenOK(ctx echo.Context) bool {
	ck, err := ctx.Cookie(preCookie)
	got := ctx.FormValue(csrfField)
	return err == nil && got != "" && subtle.ConstantTimeCompare([]byte(ck.Value), []byte(got)) == 1
}

// publicPage is the Page of the sign-in and setup pages.
func (c *Console) publicPage(ctx echo.Context, title string) (templates.Page, error) {
	l := c.Catalog.Localizer(browserLang(ctx.Request()))
	v, err := c.viewer(ctx.Request().Context(), l.Lang(), "Asia/Jakarta")
	if err != nil {
		return templates.Page{}, err
	}
	return templates.Page{Viewer: v, CSRF: c.preToken(ctx), Title: l.T(title), Assets: c.assets.urls}, nil
}

func (c *Console) loginPage(ctx echo.Context) error {
	if need, err := c.Agents.NeedsSetup(ctx.Request().Context()); err == nil && need {
		return ctx.Redirect(http.StatusSeeOther, "/setup")
	}
	p, err := c.publicPage(ctx, "SignInTitle")
	if err != nil {
		return c.fail(ctx, err)
	}
	return render(ctx, http.StatusOK, templates.LoginPage(p, safeNext(ctx.QueryParam("next")), "", ""))
}

func (c *Console) login(ctx echo.Context) error {
	p, err := c.publicPage(ctx, "SignInTitle")
	if err != nil {
		return c.fail(ctx, err)
	}
	email := strings.TrimSpace(ctx.FormValue("email"))
	if !c.preTokenOK(ctx) {
		return render(ctx, http.StatusForbidden, templates.LoginPage(p, safeNext(ctx.QueryParam("next")), email, p.T("ErrCSRFLogin")))
	}
	r := ctx.Request()
	_, _, token, err := c.Agents.Login(r.Context(), email, ctx.FormValue("password"), clientIP(ctx), r.UserAgent())
	var limited *agents.RateLimitedError
	switch {
	case errors.As(err, &limited):
		wait := int(math.Ceil(limited.Until.Sub(c.Now()).Minutes()))
		msg := p.L.F("ErrRateLimited", map[string]any{"Minutes": max(wait, 1), "Time": p.L.Clock(limited.Until, p.Loc)})
		ctx.Response().Header().Set("Retry-After", retryAfter(limited.Until, c.Now()))
		return render(ctx, http.StatusTooManyRequests, templates.LoginPage(p, safeNext(ctx.QueryParam("next")), email, msg))
	case errors.Is(err, agents.ErrBadCredentials):
		return render(ctx, http.StatusUnauthorized, templates.LoginPage(p, safeNext(ctx.QueryParam("next")), email, p.T("ErrBadCredentials")))
	case err != nil:
		return c.fail(ctx, err)
	}
	c.startSession(ctx, token)
	return ctx.Redirect(http.StatusSeeOther, safeNext(ctx.QueryParam("next")))
}

func retryAfter(until, now time.Time) string {
	s := int(math.Ceil(until.Sub(now).Seconds()))
	return strconv.Itoa(max(s, 1))
}

func (c *Console) startSession(ctx echo.Context, token string) {
	c.setCookie(ctx, sessionCookie, token, 0, http.SameSiteLaxMode)
	c.clearCookie(ctx, preCookie)
}

// safeNext keeps the post-sign-in redirect on this site: a path, not "//evil" or a URL.
func safeNext(next string) string {
	if next == "" || !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") ||
		strings.ContainsAny(next, "\r\n") {
		return "/"
	}
	return next
}

func (c *Console) logout(ctx echo.Context) error {
	if t, _ := ctx.Get(ctxToken).(string); t != "" {
		if err := c.Agents.Logout(ctx.Request().Context(), t); err != nil {
			return c.fail(ctx, err)
		}
	}
	c.clearCookie(ctx, sessionCookie)
	c.hub.dropSession(session(ctx).ID)
	return ctx.Redirect(http.StatusSeeOther, "/login")
}

func (c *Console) setupPage(ctx echo.Context) error {
	need, err := c.Agents.NeedsSetup(ctx.Request().Context())
	if err != nil {
		return c.fail(ctx, err)
	}
	if !need {
		return ctx.Redirect(http.StatusSeeOther, "/login")
	}
	p, err := c.publicPage(ctx, "SetupTitle")
	if err != nil {
		return c.fail(ctx, err)
	}
	return render(ctx, http.StatusOK, templates.SetupPage(p, "", "", ""))
}

func (c *Console) setupSubmit(ctx echo.Context) error {
	p, err := c.publicPage(ctx, "SetupTitle")
	if err != nil {
		return c.fail(ctx, err)
	}
	email, name, password := ctx.FormValue("email"), ctx.FormValue("name"), ctx.FormValue("password")
	if need, err := c.Agents.NeedsSetup(ctx.Request().Context()); err != nil {
		return c.fail(ctx, err)
	} else if !need {
		return ctx.Redirect(http.StatusSeeOther, "/login")
	}
	if !c.preTokenOK(ctx) {
		return render(ctx, http.StatusForbidden, templates.SetupPage(p, email, name, p.T("ErrCSRFLogin")))
	}
	r := ctx.Request()
	_, err = c.Agents.SetupFirstAdmin(r.Context(), &c.setup, agents.NewAgent{Email: email, Name: name, Password: password,
		Locale: i18n.Supported(ctx.FormValue("locale")), Timezone: ctx.FormValue("timezone")})
	if errors.Is(err, agents.ErrSetupDone) {
		return ctx.Redirect(http.StatusSeeOther, "/login")
	}
	if err != nil {
		status, msg := c.describe(ctx, err)
		return render(ctx, status, templates.SetupPage(p, email, name, msg))
	}
	c.forgetDirectory()
	_, _, token, err := c.Agents.Login(r.Context(), email, password, clientIP(ctx), r.UserAgent())
	if err != nil {
		return ctx.Redirect(http.StatusSeeOther, "/login")
	}
	c.startSession(ctx, token)
	// The new admin's next task is connecting channels and the shop: the checklist guides it.
	return ctx.Redirect(http.StatusSeeOther, "/admin/getting-started")
}

// clientIP is the address the login rate limit counts. Forwarding headers are believed only when
// the server was told which proxies to trust (echo's IPExtractor); otherwise anyone could dodge
// the per-address limit by sending a made-up X-Forwarded-For.
func clientIP(ctx echo.Context) string {
	if ctx.Echo().IPExtractor != nil {
		return ctx.RealIP()
	}
	host, _, err := net.SplitHostPort(ctx.Request().RemoteAddr)
	if err != nil {
		return ctx.Request().RemoteAddr
	}
	return host
}
