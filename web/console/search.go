package console

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/serambi/serambi/inbox"
	"github.com/serambi/serambi/templates"
)

// search finds customers by part of a name, an email address or a phone number and lists their
// conversations: the whole console page, or the list column for htmx. A query too short to search
// answers 200 with the reason in the list, as a search box should.
func (c *Console) search(ctx echo.Context) error {
	p, err := c.page(ctx, "Search")
	if err != nil {
		return c.fail(ctx, err)
	}
	r := ctx.Request()
	q := ctx.QueryParam("q")
	d := templates.SearchData{Query: q, Seq: p.Seq}
	found, err := c.Inbox.FindCustomers(r.Context(), q, inbox.MaxFound)
	switch {
	case errors.Is(err, inbox.ErrInvalid):
		d.Problem = p.T("SearchTooShort")
	case err != nil:
		return c.fail(ctx, err)
	}
	for _, cust := range found {
		conv, err := c.store.ConversationByCustomer(r.Context(), cust.ID)
		if errors.Is(err, inbox.ErrNotFound) {
			d.Without++
			continue
		}
		if err != nil {
			return c.fail(ctx, fmt.Errorf("conversation of customer %s: %w", cust.ID, err))
		}
		d.Rows = append(d.Rows, templates.Row{Conv: conv, CustomerName: cust.Name})
	}
	if isHTMX(ctx) {
		return render(ctx, http.StatusOK, templates.SearchList(p.Viewer, d))
	}
	p.Title = p.T("SearchCustomers")
	p.Calls = c.ringingFor(r.Context(), p.Me, p.Viewer)
	return render(ctx, http.StatusOK, templates.SearchPage(p, d))
}
