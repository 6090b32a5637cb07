package console

import (
	"errors"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/serambi/serambi/agents"
	"github.com/serambi/serambi/inbox"
	"github.com/serambi/serambi/templates"
)

// describe is the one place that turns an error into a status and words an agent can act on.
// Domain rules (ErrInvalid) carry their own English detail, which is shown after the translated
// lead; anything unexpected is logged and shown as a generic failure.
func (c *Console) describe(ctx echo.Context, err error) (int, string) {
	l := c.localizer(ctx)
	var tooBig *http.MaxBytesError
	switch {
	case errors.Is(err, agents.ErrLastAdmin):
		return http.StatusConflict, l.T("ErrLastAdmin")
	case errors.As(err, &tooBig), errors.Is(err, inbox.ErrTooLarge):
		return http.StatusRequestEntityTooLarge, l.T("ErrTooLarge")
	case errors.Is(err, inbox.ErrNoChannel):
		return http.StatusUnprocessableEntity, l.T("ErrNoChannel")
	case errors.Is(err, inbox.ErrNotFound):
		return http.StatusNotFound, l.T("ErrNotFound")
	case errors.Is(err, inbox.ErrConflict):
		return http.StatusConflict, l.T("ErrConflict")
	case errors.Is(err, inbox.ErrInvalid):
		detail := strings.TrimSuffix(err.Error(), ": "+inbox.ErrInvalid.Error())
		return http.StatusUnprocessableEntity, l.F("ErrInvalid", map[string]any{"Detail": detail})
	}
	c.Log.ErrorContext(ctx.Request().Context(), "console request failed", "err", err, "path", ctx.Request().URL.Path)
	return http.StatusInternalServerError, l.T("ErrInternal")
}

// fail answers with err described: a short text for htmx (the browser shows it in a toast) or an
// error page.
func (c *Console) fail(ctx echo.Context, err error) error {
	status, msg := c.describe(ctx, err)
	return c.failStatus(ctx, status, msg)
}

func (c *Console) failStatus(ctx echo.Context, status int, msg string) error {
	if isHTMX(ctx) {
		return ctx.String(status, msg)
	}
	p := templates.Page{Title: msg, Assets: c.assets.urls}
	if a, ok := ctx.Get(ctxAgent).(agents.Agent); ok {
		p.Me = a
		p.CSRF = session(ctx).CSRFToken
	}
	l := c.localizer(ctx)
	p.Viewer = templates.Viewer{L: l, Loc: c.zone(p.Me.Timezone), Now: c.Now()}
	return render(ctx, status, templates.ErrorPage(p, status, msg))
}
