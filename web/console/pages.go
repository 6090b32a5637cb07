package console

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sync"

	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"

	"github.com/serambi/serambi/agents"
	"github.com/serambi/serambi/connectors/whatsapp"
	"github.com/serambi/serambi/inbox"
	"github.com/serambi/serambi/templates"
)

// pageSize is how many rows and timeline entries one request reads.
const pageSize = 50

// abandonedBatches bounds the abandoned-cart list's reads per request: at most this many batches
// of pageSize carts. Carts whose conversation the list's other filters leave out cost a read but
// no row; past the bound the page ends early and the next one continues the walk.
const abandonedBatches = 4

// page is the frame of a signed-in page. The hub's sequence is read before anything else, so
// every event the page might have missed comes after it and is replayed by the socket.
func (c *Console) page(ctx echo.Context, title string) (templates.Page, error) {
	seq := c.hub.Seq()
	a := me(ctx)
	v, err := c.viewer(ctx.Request().Context(), a.Locale, a.Timezone)
	if err != nil {
		return templates.Page{}, err
	}
	v.CanCall = c.canCall(a)
	return templates.Page{Viewer: v, Me: a, CSRF: session(ctx).CSRFToken, Title: v.T(title), Hub: c.hub.ID(), Seq: seq,
		Assets: c.assets.urls, Canned: c.Canned != nil}, nil
}

func (c *Console) inboxPage(ctx echo.Context) error {
	return c.consolePage(ctx, "")
}

func (c *Console) conversationPage(ctx echo.Context) error {
	id := ctx.Param("id")
	if isHTMX(ctx) && ctx.Request().Header.Get("HX-Target") == "work" {
		return c.workFragment(ctx, id)
	}
	return c.consolePage(ctx, id)
}

// consolePage renders the whole console, with conversation convID open when it is set.
func (c *Console) consolePage(ctx echo.Context, convID string) error {
	p, err := c.page(ctx, "Inbox")
	if err != nil {
		return c.fail(ctx, err)
	}
	r := ctx.Request()
	lv := parseListView(r.URL.Query())
	list, err := c.loadList(r.Context(), lv, p.Me, inbox.Cursor{}, p.Seq)
	if err != nil {
		return c.fail(ctx, err)
	}
	if list.Counts, err = c.hub.counts(r.Context(), p.Me); err != nil {
		return c.fail(ctx, err)
	}
	p.Calls = c.ringingFor(r.Context(), p.Me, p.Viewer)
	var work templ.Component
	if convID != "" {
		d, err := c.loadConversation(r.Context(), convID, p.Viewer, p.Seq)
		if err != nil {
			return c.fail(ctx, err)
		}
		d.View = lv
		p.Title = customerTitle(p.Viewer, d.Customer)
		work = templates.Work(p.Viewer, d)
		c.markRead(r.Context(), d.Conv)
	}
	return render(ctx, http.StatusOK, templates.ConsolePage(p, list, work))
}

func (c *Console) workFragment(ctx echo.Context, convID string) error {
	p, err := c.page(ctx, "Inbox")
	if err != nil {
		return c.fail(ctx, err)
	}
	r := ctx.Request()
	d, err := c.loadConversation(r.Context(), convID, p.Viewer, p.Seq)
	if err != nil {
		return c.fail(ctx, err)
	}
	c.markRead(r.Context(), d.Conv)
	push := "/conversations/" + url.PathEscape(convID)
	if cur, err := url.Parse(r.Header.Get("HX-Current-URL")); err == nil && cur.RawQuery != "" {
		push += "?" + parseListView(cur.Query()).Query()
	}
	ctx.Response().Header().Set("HX-Push-Url", push)
	ctx.Response().Header().Set("HX-Trigger-After-Swap", `{"serambi:title":"`+jsonEscape(customerTitle(p.Viewer, d.Customer))+`"}`)
	return render(ctx, http.StatusOK, templates.Work(p.Viewer, d))
}

func (c *Console) markRead(ctx context.Context, conv inbox.Conversation) {
	if conv.Unread == 0 {
		return
	}
	if err := c.Inbox.MarkRead(ctx, conv.ID); err != nil {
		c.Log.Warn("could not mark conversation read", "conversation", conv.ID, "err", err)
	}
}

func customerTitle(v templates.Viewer, cust inbox.Customer) string {
	if cust.Name != "" {
		return cust.Name
	}
	return v.T("UnknownCustomer")
}

// listFragment is the list column for another view or filter (htmx).
func (c *Console) listFragment(ctx echo.Context) error {
	p, err := c.page(ctx, "Inbox")
	if err != nil {
		return c.fail(ctx, err)
	}
	r := ctx.Request()
	lv := parseListView(r.URL.Query())
	list, err := c.loadList(r.Context(), lv, p.Me, inbox.Cursor{}, p.Seq)
	if err != nil {
		return c.fail(ctx, err)
	}
	push := "/?" + list.View.Query()
	if cur, err := url.Parse(r.Header.Get("HX-Current-URL")); err == nil && len(cur.Path) > len("/conversations/") {
		push = cur.Path + "?" + list.View.Query()
	}
	ctx.Response().Header().Set("HX-Push-Url", push)
	return render(ctx, http.StatusOK, templates.ConversationList(p.Viewer, list))
}

// moreRows is the next page of a list, fetched when its end scrolls into view.
func (c *Console) moreRows(ctx echo.Context) error {
	p, err := c.page(ctx, "Inbox")
	if err != nil {
		return c.fail(ctx, err)
	}
	r := ctx.Request()
	after, err := decodeCursor(ctx.QueryParam("after"))
	if err != nil {
		return c.fail(ctx, err)
	}
	lv := parseListView(r.URL.Query())
	list, err := c.loadList(r.Context(), lv, p.Me, after, p.Seq)
	if err != nil {
		return c.fail(ctx, err)
	}
	return render(ctx, http.StatusOK, templates.RowsPage(p.Viewer, list))
}

// loadList reads one page of a list with the customers' names.
func (c *Console) loadList(ctx context.Context, lv templates.ListView, a agents.Agent, after inbox.Cursor, seq uint64) (templates.ListData, error) {
	carts, _ := c.Commerce.(AbandonedCarts)
	if carts == nil {
		lv.Cart = "" // no shop: the filter is not offered, and a stale link shows the list without it
	}
	if lv.Cart == templates.CartAbandoned {
		d, err := c.loadAbandoned(ctx, carts, lv, a, after, seq)
		d.CartFilter = true
		return d, err
	}
	f := filterFor(lv, a)
	f.After, f.Limit = after, pageSize
	convs, err := c.Inbox.Conversations(ctx, f)
	if err != nil {
		return templates.ListData{}, fmt.Errorf("list conversations: %w", err)
	}
	d := templates.ListData{View: lv, Seq: seq, Rows: make([]templates.Row, 0, len(convs))}
	for _, conv := range convs {
		name, err := c.customerName(ctx, conv.CustomerID)
		if err != nil {
			return templates.ListData{}, err
		}
		d.Rows = append(d.Rows, templates.Row{Conv: conv, CustomerName: name})
		for _, t := range conv.Tags {
			if !slices.Contains(d.Tags, t) {
				d.Tags = append(d.Tags, t)
			}
		}
	}
	if len(convs) == pageSize {
		last := convs[len(convs)-1]
		d.Next = encodeCursor(last.LastMessageAt, last.ID)
	}
	slices.Sort(d.Tags)
	d.CartFilter = carts != nil
	return d, nil
}

// loadAbandoned reads one page of a list narrowed to customers whose cart is abandoned: the
// conversations of the shop's abandoned carts, newest touched first, that pass the list's other
// filters. The cursor is the last cart's (touched time, cart id), not a conversation's.
func (c *Console) loadAbandoned(ctx context.Context, carts AbandonedCarts, lv templates.ListView, a agents.Agent, after inbox.Cursor, seq uint64) (templates.ListData, error) {
	f := filterFor(lv, a)
	d := templates.ListData{View: lv, Seq: seq, Rows: make([]templates.Row, 0, pageSize)}
	cur := after
	for range abandonedBatches {
		rows, next, err := carts.AbandonedCarts(ctx, cur, pageSize)
		if err != nil {
			return templates.ListData{}, fmt.Errorf("list abandoned carts: %w", err)
		}
		for i, r := range rows {
			if !matches(f, r.Row.Conv) || slices.ContainsFunc(d.Rows, func(x templates.Row) bool { return x.Conv.ID == r.Row.Conv.ID }) {
				continue
			}
			name, err := c.customerName(ctx, r.Row.Conv.CustomerID)
			if err != nil {
				return templates.ListData{}, err
			}
			d.Rows = append(d.Rows, templates.Row{Conv: r.Row.Conv, CustomerName: name, CartTouched: r.Cart.Touched()})
			for _, t := range r.Row.Conv.Tags {
				if !slices.Contains(d.Tags, t) {
					d.Tags = append(d.Tags, t)
				}
			}
			if len(d.Rows) == pageSize {
				if i < len(rows)-1 || !next.IsZero() {
					d.Next = encodeCursor(r.Cart.Touched(), r.Cart.ID)
				}
				slices.Sort(d.Tags)
				return d, nil
			}
		}
		if next.IsZero() {
			slices.Sort(d.Tags)
			return d, nil
		}
		cur = next
	}
	d.Next = encodeCursor(cur.At, cur.ID)
	slices.Sort(d.Tags)
	return d, nil
}

// customerName is the name a list row shows. The conversation row does not carry it, so names
// are cached and the hub forgets a customer's when the bus says it changed (see the report: a
// name denormalised onto the row would make this unnecessary).
func (c *Console) customerName(ctx context.Context, id string) (string, error) {
	name, gen, ok := c.names.get(id)
	if ok {
		return name, nil
	}
	cust, err := c.store.CustomerByID(ctx, id)
	if errors.Is(err, inbox.ErrNotFound) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("load customer %s: %w", id, err)
	}
	c.names.put(id, cust.Name, gen)
	return cust.Name, nil
}

// nameCache maps customer ids to names. A put is dropped when any name was forgotten since the
// read began, so a name read just before a change is never cached after it.
type nameCache struct {
	mu    sync.Mutex
	gen   uint64
	names map[string]string
}

const maxCachedNames = 100_000

func (n *nameCache) get(id string) (string, uint64, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	name, ok := n.names[id]
	return name, n.gen, ok
}

func (n *nameCache) put(id, name string, gen uint64) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if gen != n.gen {
		return
	}
	if n.names == nil || len(n.names) >= maxCachedNames {
		n.names = map[string]string{}
	}
	n.names[id] = name
}

func (n *nameCache) forget(ids ...string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.gen++
	for _, id := range ids {
		delete(n.names, id)
	}
}

// loadConversation reads what the work area shows: the newest page of the timeline, the customer,
// the channels a reply can take, merge suggestions and recent audit entries.
func (c *Console) loadConversation(ctx context.Context, id string, v templates.Viewer, seq uint64) (templates.ConversationData, error) {
	conv, err := c.Inbox.Conversation(ctx, id)
	if err != nil {
		return templates.ConversationData{}, err
	}
	d, err := c.loadSides(ctx, conv, v)
	if err != nil {
		return templates.ConversationData{}, err
	}
	d.Seq = seq
	msgs, err := c.Inbox.Messages(ctx, conv.ID, inbox.Cursor{}, pageSize)
	if err != nil {
		return templates.ConversationData{}, fmt.Errorf("list messages of %s: %w", conv.ID, err)
	}
	if len(msgs) == pageSize {
		oldest := msgs[len(msgs)-1]
		d.Older = encodeCursor(oldest.CreatedAt, oldest.ID)
	}
	slices.Reverse(msgs)
	d.Messages = msgs
	d.Collab = c.hub.collaborators(conv.ID)
	return d, nil
}

// loadSides reads everything of the work area except the timeline.
func (c *Console) loadSides(ctx context.Context, conv inbox.Conversation, v templates.Viewer) (templates.ConversationData, error) {
	cust, err := c.Inbox.Customer(ctx, conv.CustomerID)
	if err != nil {
		return templates.ConversationData{}, err
	}
	d := templates.ConversationData{Conv: conv, Customer: cust, Channels: c.replyChannels(cust, conv)}
	for _, rc := range d.Channels {
		if rc.TemplatesOnly {
			d.Templates = c.templatesOf()
		}
	}
	for _, id := range cust.Identities {
		if id.Unreachable {
			d.Unreachable = append(d.Unreachable, id)
		}
	}
	sugg, err := c.store.ListSuggestions(ctx, cust.ID)
	if err != nil {
		return templates.ConversationData{}, fmt.Errorf("list merge suggestions of %s: %w", cust.ID, err)
	}
	for _, s := range sugg {
		other, err := c.Inbox.Customer(ctx, s.OtherID)
		if err != nil || other.ID == cust.ID {
			continue // merged since, or gone: nothing to suggest
		}
		if slices.ContainsFunc(d.Suggestions, func(x templates.Suggestion) bool { return x.Other.ID == other.ID }) {
			continue
		}
		d.Suggestions = append(d.Suggestions, templates.Suggestion{Other: other, Reason: s.Reason})
	}
	if d.Audit, err = c.store.ListAudit(ctx, cust.ID, 10); err != nil {
		return templates.ConversationData{}, fmt.Errorf("list audit of %s: %w", cust.ID, err)
	}
	if c.Commerce != nil {
		panel, err := c.Commerce.Panel(ctx, cust.ID, v)
		if err != nil {
			c.Log.Warn("commerce panel failed", "customer", cust.ID, "err", err)
		} else {
			d.Commerce = panel
		}
	}
	return d, nil
}

// replyChannels lists the channels a reply can take, the default first, each with why it is
// offered and what might stop it arriving.
func (c *Console) replyChannels(cust inbox.Customer, conv inbox.Conversation) []templates.ReplyChannel {
	var out []templates.ReplyChannel
	for _, ch := range inbox.ReplyChannels(cust, conv) {
		rc := templates.ReplyChannel{Channel: ch, Reason: "ReasonHasIdentity"}
		switch {
		case ch == conv.LastChannel:
			rc.Reason = "ReasonLastUsed"
		case slices.Contains(conv.Channels, ch):
			rc.Reason = "ReasonUsedBefore"
		}
		// WhatsApp delivers free-form replies only within 24 hours of the customer's last
		// WhatsApp message; after that only approved templates.
		if ch == inbox.ChannelWhatsApp && !whatsapp.WindowOpen(conv, c.Now()) {
			rc.Warning, rc.TemplatesOnly = "WarnWhatsAppWindow", true
		}
		out = append(out, rc)
	}
	return out
}

// olderMessages is the page of the timeline before a cursor (loaded on scroll).
func (c *Console) olderMessages(ctx echo.Context) error {
	p, err := c.page(ctx, "Inbox")
	if err != nil {
		return c.fail(ctx, err)
	}
	before, err := decodeCursor(ctx.QueryParam("before"))
	if err != nil {
		return c.fail(ctx, err)
	}
	id := ctx.Param("id")
	conv, err := c.Inbox.Conversation(ctx.Request().Context(), id)
	if err != nil {
		return c.fail(ctx, err)
	}
	name, err := c.customerName(ctx.Request().Context(), conv.CustomerID)
	if err != nil {
		return c.fail(ctx, err)
	}
	msgs, err := c.Inbox.Messages(ctx.Request().Context(), id, before, pageSize)
	if err != nil {
		return c.fail(ctx, err)
	}
	next := ""
	if len(msgs) == pageSize {
		oldest := msgs[len(msgs)-1]
		next = encodeCursor(oldest.CreatedAt, oldest.ID)
	}
	slices.Reverse(msgs)
	return render(ctx, http.StatusOK, templates.OlderPage(p.Viewer, id, msgs, next, name))
}
