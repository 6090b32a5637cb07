// Package panel puts commerce into the agent console: it implements console.CommercePanel (the
// customer sidebar's commerce slot) and serves the panel's own requests — older orders, sending
// product and order cards, and the confirmed cancel and refund actions — as HTML fragments for
// htmx. It sits apart from package commerce so that the domain does not depend on templates.
package panel

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"

	"github.com/serambi/serambi/agents"
	"github.com/serambi/serambi/commerce"
	"github.com/serambi/serambi/i18n"
	"github.com/serambi/serambi/inbox"
	"github.com/serambi/serambi/templates"
)

// Conversations finds conversations (cards go into them, the abandoned-cart list shows them)
// and their customers; *inbox.Inbox has it.
type Conversations interface {
	Conversation(ctx context.Context, id string) (inbox.Conversation, error)
	ConversationOfCustomer(ctx context.Context, customerID string) (inbox.Conversation, error)
	Customer(ctx context.Context, id string) (inbox.Customer, error)
}

// Panel renders the commerce panel.
type Panel struct {
	svc     *commerce.Service
	convs   Conversations
	catalog *i18n.Catalog
	now     func() time.Time
	log     *slog.Logger
}

// New returns the panel. catalog provides a fallback language for callers that pass a Viewer
// without a localizer.
func New(svc *commerce.Service, convs Conversations, catalog *i18n.Catalog, now func() time.Time, log *slog.Logger) *Panel {
	if now == nil {
		now = time.Now
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Panel{svc: svc, convs: convs, catalog: catalog, now: now, log: log}
}

// viewer fills what a Viewer lacks: the console hub loads the sidebar with an empty Viewer.
func (p *Panel) viewer(v templates.Viewer) templates.Viewer {
	if v.L == nil && p.catalog != nil {
		v.L = p.catalog.Localizer("en")
	}
	if v.Loc == nil {
		v.Loc = time.UTC
	}
	if v.Now.IsZero() {
		v.Now = p.now()
	}
	return v
}

// Panel implements console.CommercePanel: the content of the sidebar's commerce slot.
//
// The fragment does not depend on who looks at it (the hub renders it once per language and time
// zone), so it offers cancel and refund to every agent; the actions check the permission when
// they are posted, and answer an agent without it with a notice.
func (p *Panel) Panel(ctx context.Context, customerID string, v templates.Viewer) (templ.Component, error) {
	d, err := p.data(ctx, customerID)
	if err != nil {
		return nil, err
	}
	return templates.CommercePanel(p.viewer(v), d), nil
}

// CallSummary is the compact summary of a call's screen-pop (console.CallSummary).
func (p *Panel) CallSummary(ctx context.Context, customerID string, v templates.Viewer) (templ.Component, error) {
	view, err := p.svc.View(ctx, customerID)
	if err != nil {
		return nil, err
	}
	if view.Cart == nil && len(view.Orders) == 0 {
		return nil, nil
	}
	return templates.CommerceCallSummary(p.viewer(v), view), nil
}

// Slot is the whole slot (<section id="commerce-panel">), what the hub pushes on
// commerce.TopicChanged to replace the element with that id.
func (p *Panel) Slot(ctx context.Context, customerID string, v templates.Viewer) (templ.Component, error) {
	c, err := p.Panel(ctx, customerID, v)
	if err != nil {
		return nil, err
	}
	return templates.CommerceSlot(c), nil
}

func (p *Panel) data(ctx context.Context, customerID string) (templates.CommerceData, error) {
	view, err := p.svc.View(ctx, customerID)
	if err != nil {
		return templates.CommerceData{}, err
	}
	d := templates.CommerceData{View: view, CanAct: true, Cancellable: map[string]bool{}, Refundable: map[string]bool{}}
	for _, o := range view.Orders {
		d.Cancellable[o.ID], d.Refundable[o.ID] = p.svc.CanCancel(o), p.svc.CanRefund(o)
	}
	if view.More && len(view.Orders) > 0 {
		last := view.Orders[len(view.Orders)-1]
		d.Next = encodeCursor(inbox.Cursor{At: last.PlacedAt, ID: last.ID})
	}
	if p.convs != nil {
		if conv, err := p.convs.ConversationOfCustomer(ctx, customerID); err == nil {
			d.ConversationID = conv.ID
		} else if !errors.Is(err, inbox.ErrNotFound) {
			return d, fmt.Errorf("conversation of customer %s: %w", customerID, err)
		}
	}
	return d, nil
}

// Cursors of the "older orders" link: base64url of "RFC3339Nano id".
func encodeCursor(c inbox.Cursor) string {
	return base64.RawURLEncoding.EncodeToString([]byte(c.At.UTC().Format(time.RFC3339Nano) + " " + c.ID))
}

func decodeCursor(s string) (inbox.Cursor, error) {
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err == nil {
		if ts, id, ok := strings.Cut(string(raw), " "); ok && id != "" {
			if at, err := time.Parse(time.RFC3339Nano, ts); err == nil {
				return inbox.Cursor{At: at, ID: id}, nil
			}
		}
	}
	return inbox.Cursor{}, fmt.Errorf("cursor %q is not one the panel gave out: %w", s, inbox.ErrInvalid)
}

// PageFunc tells the panel's handlers who is asking: the console's page context of the request
// (agent, viewer, directory). The console provides it. An alias, not a defined type, so that
// Register matches console.CommerceRoutes without the console importing this package.
type PageFunc = func(c echo.Context) (templates.Page, error)

// Register mounts the panel's routes on g, which must be the console's authenticated group (session
// and CSRF checked):
//
//	GET  /commerce/customers/:id/panel          the slot, e.g. to refresh it
//	GET  /commerce/customers/:id/orders         older orders (?after=cursor&conv=)
//	POST /commerce/conversations/:id/cards      send a card (kind=product|order, ref=sku|order id, channel)
//	POST /commerce/orders/:id/cancel            confirmed cancellation (version, reason, refund, restock, notify, customer)
//	POST /commerce/orders/:id/refund            confirmed refund (version, full, qty_<lineItemId>, restock, notify, note, customer)
//	GET  /commerce/abandoned                    conversations of customers whose current cart is abandoned (?after=cursor)
//
// Every answer is HTML. The POSTs answer the re-rendered slot, with the outcome as a notice at its
// top (also for refusals, which htmx would not swap in with an error status).
func (p *Panel) Register(g *echo.Group, page PageFunc) {
	h := &handlers{p: p, page: page}
	g.GET("/commerce/customers/:id/panel", h.slot)
	g.GET("/commerce/customers/:id/orders", h.moreOrders)
	g.POST("/commerce/conversations/:id/cards", h.sendCard)
	g.POST("/commerce/orders/:id/cancel", h.cancel)
	g.POST("/commerce/orders/:id/refund", h.refund)
	g.GET("/commerce/abandoned", h.abandoned)
}

type handlers struct {
	p    *Panel
	page PageFunc
}

// ActorOf is the commerce actor of a console agent; team names come from the directory.
func ActorOf(a agents.Agent, dir *templates.Directory) commerce.Actor {
	act := commerce.Actor{ID: a.ID, Name: a.Name, Admin: a.Role == agents.RoleAdmin}
	for _, t := range a.TeamIDs {
		act.Teams = append(act.Teams, t)
		if n := dir.TeamName(t); n != "" {
			act.Teams = append(act.Teams, n)
		}
	}
	return act
}

func render(c echo.Context, comp templ.Component) error {
	c.Response().Header().Set(echo.HeaderContentType, echo.MIMETextHTMLCharsetUTF8)
	c.Response().WriteHeader(http.StatusOK)
	return comp.Render(c.Request().Context(), c.Response())
}

// answer re-renders the slot of customerID with a notice.
func (h *handlers) answer(c echo.Context, pg templates.Page, customerID, notice string, isErr bool) error {
	d, err := h.p.data(c.Request().Context(), customerID)
	if err != nil {
		h.p.log.Warn("commerce panel failed", "customer", customerID, "err", err)
		return render(c, templates.CommerceNotice(h.p.viewer(pg.Viewer), notice, isErr))
	}
	d.Notice, d.NoticeError = notice, isErr
	return render(c, templates.CommerceSlot(templates.CommercePanel(h.p.viewer(pg.Viewer), d)))
}

// problem turns an action's error into words for the agent. The shop's own refusal is shown as
// the shop said it; unexpected errors are logged and not detailed.
func (h *handlers) problem(c echo.Context, pg templates.Page, err error) string {
	v := h.p.viewer(pg.Viewer)
	var rej *commerce.RejectedError
	var rl *commerce.RateLimitedError
	switch {
	case errors.As(err, &rej):
		return rej.Error()
	case errors.As(err, &rl):
		return rl.Error()
	case errors.Is(err, commerce.ErrForbidden):
		return v.T("CommerceForbidden")
	case errors.Is(err, commerce.ErrNoAdapter):
		return v.T("CommerceNoAdapter")
	case errors.Is(err, inbox.ErrConflict):
		return v.T("CommerceConflict") + " (" + err.Error() + ")"
	case errors.Is(err, inbox.ErrInvalid), errors.Is(err, inbox.ErrNotFound), errors.Is(err, inbox.ErrNoChannel):
		return err.Error()
	}
	h.p.log.Error("commerce action failed", "path", c.Path(), "err", err)
	return v.T("CommerceFailed")
}

func (h *handlers) slot(c echo.Context) error {
	pg, err := h.page(c)
	if err != nil {
		return err
	}
	comp, err := h.p.Slot(c.Request().Context(), c.Param("id"), pg.Viewer)
	if err != nil {
		return err
	}
	return render(c, comp)
}

func (h *handlers) moreOrders(c echo.Context) error {
	pg, err := h.page(c)
	if err != nil {
		return err
	}
	after, err := decodeCursor(c.QueryParam("after"))
	if err != nil {
		return echo.NewHTTPError(http.StatusBadRequest, err.Error())
	}
	cust := c.Param("id")
	orders, more, err := h.p.svc.MoreOrders(c.Request().Context(), cust, after)
	if err != nil {
		return err
	}
	d := templates.CommerceData{View: commerce.CustomerView{CustomerID: cust, LowStock: h.p.svc.Config().LowStock}, CanAct: true,
		ConversationID: c.QueryParam("conv"), Cancellable: map[string]bool{}, Refundable: map[string]bool{}}
	for _, o := range orders {
		d.Cancellable[o.ID], d.Refundable[o.ID] = h.p.svc.CanCancel(o), h.p.svc.CanRefund(o)
	}
	next := ""
	if more {
		last := orders[len(orders)-1]
		next = encodeCursor(inbox.Cursor{At: last.PlacedAt, ID: last.ID})
	}
	return render(c, templates.CommerceOrders(h.p.viewer(pg.Viewer), d, orders, next))
}

func (h *handlers) sendCard(c echo.Context) error {
	pg, err := h.page(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	convID := c.Param("id")
	req := commerce.CardRequest{ConversationID: convID, Actor: ActorOf(pg.Me, pg.Dir), Channel: inbox.Channel(c.FormValue("channel")),
		Lang: h.p.customerLang(ctx, convID, pg.Me.Locale)}
	var m inbox.Message
	switch c.FormValue("kind") {
	case commerce.CardProduct:
		m, err = h.p.svc.SendProductCard(ctx, req, c.FormValue("ref"))
	case commerce.CardOrder:
		m, err = h.p.svc.SendOrderCard(ctx, req, c.FormValue("ref"))
	default:
		err = fmt.Errorf("kind must be product or order: %w", inbox.ErrInvalid)
	}
	cust := m.CustomerID
	if cust == "" {
		if conv, cerr := h.p.convs.Conversation(ctx, convID); cerr == nil {
			cust = conv.CustomerID
		}
	}
	if err != nil {
		return h.answer(c, pg, cust, h.problem(c, pg, err), true)
	}
	return h.answer(c, pg, cust, h.p.viewer(pg.Viewer).T("CommerceCardSent"), false)
}

// customerLang is the language a card speaks: the customer's when the inbox knows it, else the
// agent's (who is writing to them in it).
func (p *Panel) customerLang(ctx context.Context, convID, agentLang string) string {
	conv, err := p.convs.Conversation(ctx, convID)
	if err != nil {
		return agentLang
	}
	cust, err := p.convs.Customer(ctx, conv.CustomerID)
	if err != nil || cust.Locale == "" {
		return agentLang
	}
	return cust.Locale
}

func checked(c echo.Context, name string) bool {
	return c.FormValue(name) == "1" || c.FormValue(name) == "on"
}

func (h *handlers) cancel(c echo.Context) error {
	pg, err := h.page(c)
	if err != nil {
		return err
	}
	id := c.Param("id")
	_, err = h.p.svc.Cancel(c.Request().Context(), ActorOf(pg.Me, pg.Dir), id, c.FormValue("version"), commerce.CancelRequest{
		Reason: c.FormValue("reason"), Refund: checked(c, "refund"), Restock: checked(c, "restock"), Notify: checked(c, "notify")})
	if err != nil {
		return h.answer(c, pg, c.FormValue("customer"), h.problem(c, pg, err), true)
	}
	return h.answer(c, pg, c.FormValue("customer"), templates.CommerceText(h.p.viewer(pg.Viewer), "CancelledOK", h.number(c, id)), false)
}

func (h *handlers) refund(c echo.Context) error {
	pg, err := h.page(c)
	if err != nil {
		return err
	}
	id := c.Param("id")
	r := commerce.RefundRequest{Full: c.FormValue("full") != "0", Restock: checked(c, "restock"), Notify: checked(c, "notify"),
		Note: strings.TrimSpace(c.FormValue("note"))}
	if !r.Full {
		form, err := c.FormParams()
		if err != nil {
			return echo.NewHTTPError(http.StatusBadRequest, "form could not be read")
		}
		for k, vs := range form {
			line, ok := strings.CutPrefix(k, "qty_")
			if !ok || len(vs) == 0 {
				continue
			}
			n, err := strconv.ParseInt(strings.TrimSpace(vs[0]), 10, 64)
			if err != nil || n < 0 {
				return h.answer(c, pg, c.FormValue("customer"), h.p.viewer(pg.Viewer).T("CommerceWholeQuantities"), true)
			}
			if n > 0 {
				r.Items = append(r.Items, commerce.RefundItem{LineItemID: line, Quantity: n})
			}
		}
	}
	res, err := h.p.svc.Refund(c.Request().Context(), ActorOf(pg.Me, pg.Dir), id, c.FormValue("version"), r)
	if err != nil {
		return h.answer(c, pg, c.FormValue("customer"), h.problem(c, pg, err), true)
	}
	amount := h.p.viewer(pg.Viewer).L.Money(res.Amount, res.Currency)
	return h.answer(c, pg, c.FormValue("customer"), templates.CommerceText(h.p.viewer(pg.Viewer), "RefundedOK", amount), false)
}

func (h *handlers) number(c echo.Context, orderID string) string {
	if o, err := h.p.svc.Store().OrderByID(c.Request().Context(), orderID); err == nil {
		return o.Number
	}
	return orderID
}
