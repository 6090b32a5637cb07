package panel

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/serambi/serambi/commerce"
	"github.com/serambi/serambi/inbox"
	"github.com/serambi/serambi/templates"
)

// The abandoned-cart list shows the conversations of customers whose current cart is abandoned.
//
// Neither store can yet answer "which customers have an abandoned cart" nor list conversations of
// given customers, so a page is found by walking the conversation list (newest activity first)
// and reading each customer's current cart: at most abandonedScan conversations per request,
// which bounds the request whatever the size of the inbox. A page may therefore hold fewer rows
// than it could, with a "more" button that continues the walk where it stopped. With a store
// query of abandoned carts by AbandonedAt and a CustomerIDs field in inbox.ConversationFilter,
// this becomes one bounded read of each (see the report of issue #8).
const (
	abandonedScan = 200
	abandonedRows = 50
)

// AbandonedPage is one page of the abandoned-cart list, continuing after the conversation at
// `after` (zero: from the start).
func (p *Panel) AbandonedPage(ctx context.Context, after inbox.Cursor) (templates.CommerceAbandonedData, error) {
	var d templates.CommerceAbandonedData
	cur, scanned := after, 0
	for scanned < abandonedScan && len(d.Rows) < abandonedRows {
		limit := min(inbox.MaxPage, abandonedScan-scanned)
		convs, err := p.convs.Conversations(ctx, inbox.ConversationFilter{After: cur, Limit: limit})
		if err != nil {
			return d, fmt.Errorf("list conversations: %w", err)
		}
		for _, conv := range convs {
			scanned++
			cur = inbox.Cursor{At: conv.LastMessageAt, ID: conv.ID}
			row, ok, err := p.abandonedRow(ctx, conv)
			if err != nil {
				return d, err
			}
			if ok {
				if d.Rows = append(d.Rows, row); len(d.Rows) == abandonedRows {
					break
				}
			}
		}
		if len(convs) < limit && len(d.Rows) < abandonedRows {
			return d, nil // the end of the list
		}
	}
	d.Next = encodeCursor(cur)
	return d, nil
}

// abandonedRow is conv's row when its customer's current cart is abandoned.
func (p *Panel) abandonedRow(ctx context.Context, conv inbox.Conversation) (templates.CommerceAbandonedRow, bool, error) {
	cart, err := p.svc.Store().CurrentCart(ctx, conv.CustomerID)
	if errors.Is(err, inbox.ErrNotFound) {
		return templates.CommerceAbandonedRow{}, false, nil
	}
	if err != nil {
		return templates.CommerceAbandonedRow{}, false, fmt.Errorf("current cart of customer %s: %w", conv.CustomerID, err)
	}
	if cart.Status != commerce.CartAbandoned {
		return templates.CommerceAbandonedRow{}, false, nil
	}
	name := ""
	if cust, err := p.convs.Customer(ctx, conv.CustomerID); err == nil {
		name = cust.Name
	} else if !errors.Is(err, inbox.ErrNotFound) {
		return templates.CommerceAbandonedRow{}, false, fmt.Errorf("customer %s: %w", conv.CustomerID, err)
	}
	return templates.CommerceAbandonedRow{Row: templates.Row{Conv: conv, CustomerName: name}, Cart: cart}, true, nil
}

// abandoned serves the list: the whole console page, the list column for htmx, or the next
// page of rows (?after=).
func (h *handlers) abandoned(c echo.Context) error {
	pg, err := h.page(c)
	if err != nil {
		return err
	}
	var after inbox.Cursor
	if a := c.QueryParam("after"); a != "" {
		if after, err = decodeCursor(a); err != nil {
			return echo.NewHTTPError(http.StatusBadRequest, err.Error())
		}
	}
	d, err := h.p.AbandonedPage(c.Request().Context(), after)
	if err != nil {
		return err
	}
	d.Seq = pg.Seq
	pg.Viewer = h.p.viewer(pg.Viewer)
	switch {
	case c.QueryParam("after") != "":
		return render(c, templates.CommerceAbandonedRows(pg.Viewer, d))
	case c.Request().Header.Get("HX-Request") == "true":
		c.Response().Header().Set("HX-Push-Url", "/commerce/abandoned")
		return render(c, templates.CommerceAbandonedList(pg.Viewer, d))
	}
	pg.Title = pg.Viewer.T("CommerceAbandonedCarts")
	return render(c, templates.CommerceAbandonedPage(pg, d))
}
