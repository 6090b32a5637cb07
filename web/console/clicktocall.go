package console

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/serambi/serambi/agents"
	"github.com/serambi/serambi/connectors/voice"
	"github.com/serambi/serambi/connectors/voice/ami"
	"github.com/serambi/serambi/inbox"
	"github.com/serambi/serambi/templates"
)

// Originator starts click-to-call: the PBX rings the agent's extension, then dials number.
// It returns the call's id.
type Originator interface {
	Originate(ctx context.Context, ext, number string) (string, error)
}

// canCall says whether agent a is offered Call buttons.
func (c *Console) canCall(a agents.Agent) bool { return c.Originator != nil && a.Extension != "" }

// viewerKey groups sockets that are shown identical fragments.
func viewerKey(a agents.Agent, canCall bool) string {
	k := a.Locale + "|" + a.Timezone
	if canCall {
		k += "|call"
	}
	return k
}

// callCustomer rings the signed-in agent's extension and then one of the customer's phone numbers.
// Only a number the customer has as an identity is dialled, whatever the form says, so the console
// cannot be used to call arbitrary (premium-rate, say) numbers at the company's expense.
func (c *Console) callCustomer(ctx echo.Context) error {
	l := c.localizer(ctx)
	if c.Originator == nil {
		return c.failStatus(ctx, http.StatusNotImplemented, l.T("ErrCallsOff"))
	}
	a := me(ctx)
	if a.Extension == "" {
		return c.failStatus(ctx, http.StatusUnprocessableEntity, l.T("ErrNoExtension"))
	}
	r := ctx.Request()
	cust, err := c.Inbox.Customer(r.Context(), ctx.Param("id"))
	if err != nil {
		return c.fail(ctx, err)
	}
	want := strings.TrimSpace(ctx.FormValue("number"))
	number := ""
	for _, id := range cust.Identities {
		if templates.Dialable(id.Kind) && id.Value == want {
			number = id.Value
			break
		}
	}
	if number == "" {
		return c.failStatus(ctx, http.StatusUnprocessableEntity, l.T("ErrNotCustomersNumber"))
	}
	callID, err := c.Originator.Originate(r.Context(), a.Extension, number)
	switch {
	case errors.Is(err, voice.ErrNotConfigured):
		return c.failStatus(ctx, http.StatusNotImplemented, l.T("ErrCallsOff"))
	case errors.Is(err, ami.ErrNotConnected):
		return c.failStatus(ctx, http.StatusServiceUnavailable, l.T("ErrPhoneSystemDown"))
	case errors.Is(err, inbox.ErrInvalid):
		return c.fail(ctx, err)
	case err != nil:
		c.Log.Warn("click-to-call failed", "agent", a.ID, "customer", cust.ID, "err", err)
		return c.failStatus(ctx, http.StatusBadGateway, l.F("CallNotStarted", map[string]any{"Detail": err.Error()}))
	}
	c.Log.Info("click-to-call started", "agent", a.ID, "customer", cust.ID, "call", callID)
	toast(ctx, "ok", l.F("Calling", map[string]any{"Number": number}))
	return ctx.NoContent(http.StatusOK)
}
