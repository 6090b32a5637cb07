package panel

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/serambi/serambi/commerce"
	"github.com/serambi/serambi/inbox"
	"github.com/serambi/serambi/templates"
)

// The abandoned-cart list shows the conversations of customers whose current cart is abandoned,
// newest touched cart first. It walks the store's abandoned carts (commerce.Store.AbandonedCarts,
// a bounded indexed read) and keeps a cart only when it is its customer's current cart, so a
// customer with several abandoned carts shows once, and one who came back to a newer open cart
// not at all, as the sidebar says. Each request reads at most abandonedScan carts.
const (
	abandonedScan  = 200
	abandonedRows  = 50
	abandonedBatch = 50
)

// AbandonedCarts implements console.AbandonedCarts: the rows of one batch of at most limit
// abandoned carts after the cursor (At = the cart's Touched(), ID = its id), and the cursor after
// the last cart read, zero when there are no more.
func (p *Panel) AbandonedCarts(ctx context.Context, after inbox.Cursor, limit int) ([]templates.CommerceAbandonedRow, inbox.Cursor, error) {
	if limit <= 0 || limit > inbox.MaxPage {
		limit = inbox.MaxPage
	}
	carts, err := p.svc.Store().AbandonedCarts(ctx, after, limit)
	if err != nil {
		return nil, inbox.Cursor{}, fmt.Errorf("abandoned carts: %w", err)
	}
	var rows []templates.CommerceAbandonedRow
	for _, cart := range carts {
		row, ok, err := p.abandonedRow(ctx, cart)
		if err != nil {
			return nil, inbox.Cursor{}, err
		}
		if ok {
			rows = append(rows, row)
		}
	}
	var next inbox.Cursor
	if len(carts) == limit {
		next = cartCursor(carts[len(carts)-1])
	}
	return rows, next, nil
}

// AbandonedCartOf implements console.AbandonedCarts for the live list: whether the customer's
// current cart is abandoned, and its Touched() time, the list's order.
func (p *Panel) AbandonedCartOf(ctx context.Context, customerID string) (time.Time, bool, error) {
	cur, err := p.svc.Store().CurrentCart(ctx, customerID)
	if errors.Is(err, inbox.ErrNotFound) {
		return time.Time{}, false, nil
	}
	if err != nil {
		return time.Time{}, false, fmt.Errorf("current cart of customer %s: %w", customerID, err)
	}
	if cur.Status != commerce.CartAbandoned {
		return time.Time{}, false, nil
	}
	return cur.Touched(), true, nil
}

// cartCursor is a cart's place in the abandoned-cart list.
func cartCursor(c commerce.Cart) inbox.Cursor { return inbox.Cursor{At: c.Touched(), ID: c.ID} }

// abandonedRow is the row of an abandoned cart when it is its customer's current cart and the
// customer has a conversation.
func (p *Panel) abandonedRow(ctx context.Context, cart commerce.Cart) (templates.CommerceAbandonedRow, bool, error) {
	cur, err := p.svc.Store().CurrentCart(ctx, cart.CustomerID)
	if errors.Is(err, inbox.ErrNotFound) {
		return templates.CommerceAbandonedRow{}, false, nil
	}
	if err != nil {
		return templates.CommerceAbandonedRow{}, false, fmt.Errorf("current cart of customer %s: %w", cart.CustomerID, err)
	}
	if cur.ID != cart.ID || cur.Status != commerce.CartAbandoned {
		return templates.CommerceAbandonedRow{}, false, nil // a newer cart of the customer decides
	}
	cust, err := p.convs.Customer(ctx, cart.CustomerID)
	if errors.Is(err, inbox.ErrNotFound) {
		return templates.CommerceAbandonedRow{}, false, nil
	}
	if err != nil {
		return templates.CommerceAbandonedRow{}, false, fmt.Errorf("customer %s: %w", cart.CustomerID, err)
	}
	conv, err := p.convs.ConversationOfCustomer(ctx, cust.ID)
	if errors.Is(err, inbox.ErrNotFound) {
		return templates.CommerceAbandonedRow{}, false, nil // a shop customer who never wrote
	}
	if err != nil {
		return templates.CommerceAbandonedRow{}, false, fmt.Errorf("conversation of customer %s: %w", cust.ID, err)
	}
	return templates.CommerceAbandonedRow{Row: templates.Row{Conv: conv, CustomerName: cust.Name}, Cart: cart}, true, nil
}

// AbandonedPage is one page of the abandoned-cart list, continuing after the cart at `after`
// (zero: from the start).
func (p *Panel) AbandonedPage(ctx context.Context, after inbox.Cursor) (templates.CommerceAbandonedData, error) {
	var d templates.CommerceAbandonedData
	cur := after
	for scanned := 0; scanned < abandonedScan; scanned += abandonedBatch {
		rows, next, err := p.AbandonedCarts(ctx, cur, abandonedBatch)
		if err != nil {
			return d, err
		}
		for i, r := range rows {
			d.Rows = append(d.Rows, r)
			if len(d.Rows) == abandonedRows {
				if i < len(rows)-1 || !next.IsZero() {
					d.Next = encodeCursor(cartCursor(r.Cart))
				}
				return d, nil
			}
		}
		if next.IsZero() {
			return d, nil // the end of the list
		}
		cur = next
	}
	d.Next = encodeCursor(cur)
	return d, nil
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
