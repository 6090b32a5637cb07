package console

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"

	"github.com/serambi/serambi/inbox"
	"github.com/serambi/serambi/templates"
)

// CommerceRoutes is a commerce panel that serves its own requests (the slot, older orders, cards,
// cancel and refund) on the console's authenticated group. When Deps.Commerce implements it, the
// console mounts them; *panel.Panel does. page is the console's page context of a request: who
// is asking, in which language and zone, with the directory of agents and teams.
type CommerceRoutes interface {
	Register(g *echo.Group, page func(echo.Context) (templates.Page, error))
}

// AbandonedCarts finds the conversations of customers whose cart is abandoned, for the list's
// abandoned-cart filter. When Deps.Commerce implements it, the filter bar offers the filter;
// *panel.Panel does.
//
// AbandonedCarts reads one batch of at most limit abandoned carts, most recently touched first,
// strictly after the cursor (At = the cart's Touched(), ID = its id), and returns a row for each
// cart that is its customer's current cart and whose customer has a conversation: so a customer
// appears once however many carts they left, and a batch may yield fewer rows than carts. next
// continues after the last cart read; it is zero when there are no more.
//
// AbandonedCartOf keeps the filtered list live: whether the customer's current cart is abandoned,
// and when it was last touched (the list's order), for a customer the bus says changed.
type AbandonedCarts interface {
	AbandonedCarts(ctx context.Context, after inbox.Cursor, limit int) (rows []templates.CommerceAbandonedRow, next inbox.Cursor, err error)
	AbandonedCartOf(ctx context.Context, customerID string) (touched time.Time, abandoned bool, err error)
}

// registerCommerce mounts the commerce panel's routes behind the session and CSRF checks of in.
func (c *Console) registerCommerce(in *echo.Group) {
	r, ok := c.Commerce.(CommerceRoutes)
	if !ok {
		return
	}
	r.Register(in.Group("", c.htmlErrors), func(ctx echo.Context) (templates.Page, error) { return c.page(ctx, "Inbox") })
}

// htmlErrors answers errors of handlers the console mounts but did not write (the commerce
// panel's) as the console answers its own: HTML or a short text for htmx, never the server's
// JSON error.
func (c *Console) htmlErrors(next echo.HandlerFunc) echo.HandlerFunc {
	return func(ctx echo.Context) error {
		err := next(ctx)
		if err == nil || ctx.Response().Committed {
			return err
		}
		var he *echo.HTTPError
		if errors.As(err, &he) {
			msg := http.StatusText(he.Code)
			if s, ok := he.Message.(string); ok && s != "" {
				msg = s
			}
			return c.failStatus(ctx, he.Code, msg)
		}
		return c.fail(ctx, err)
	}
}

// commerceSlot is the whole commerce slot of a customer for viewer v, what the hub pushes when
// commerce.changed names the customer. A panel that cannot be read fails the render, so the hub
// leaves the slot on screen as it was instead of emptying it.
func (c *Console) commerceSlot(ctx context.Context, customerID string, v templates.Viewer) templ.Component {
	comp, err := c.Commerce.Panel(ctx, customerID, v)
	if err != nil {
		return templ.ComponentFunc(func(context.Context, io.Writer) error {
			return fmt.Errorf("commerce panel of customer %s: %w", customerID, err)
		})
	}
	return templates.CommerceSlot(comp)
}
