package console

import (
	"context"
	"errors"
	"net/http"
	"net/url"

	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"

	"github.com/serambi/serambi/inbox"
	"github.com/serambi/serambi/notifications"
	"github.com/serambi/serambi/templates"
)

// notificationsPage is the size of one page of the notifications list.
const notificationsPage = 30

// registerNotifications adds the notification routes to the signed-in group. They answer
// with "off" pages when no notification service is configured.
func (c *Console) registerNotifications(in *echo.Group) {
	in.GET("/notifications", c.notificationsList)
	in.POST("/notifications/read-all", c.readAllNotifications)
	in.POST("/notifications/:id/open", c.openNotification)
}

// withBell gives every signed-in page its bell: the unread count is read only if a full page
// is rendered (fragments have no bell).
func (c *Console) withBell(next echo.HandlerFunc) echo.HandlerFunc {
	return func(ctx echo.Context) error {
		if c.Notifications == nil {
			return next(ctx)
		}
		r := ctx.Request()
		rctx := r.Context()
		agentID := me(ctx).ID
		ctx.SetRequest(r.WithContext(templates.WithBell(rctx, func() (int, bool) {
			n, err := c.Notifications.UnreadCount(rctx, agentID)
			if err != nil {
				c.Log.Warn("could not count unread notifications", "agent", agentID, "err", err)
				return 0, false
			}
			return n, true
		})))
		return next(ctx)
	}
}

func (c *Console) notificationsList(ctx echo.Context) error {
	p, err := c.page(ctx, "Notifications")
	if err != nil {
		return c.fail(ctx, err)
	}
	if c.Notifications == nil {
		return render(ctx, http.StatusOK, templates.NotificationsPage(p, templates.NotificationsData{Off: true}))
	}
	rctx := ctx.Request().Context()
	cur, err := decodeCursor(ctx.QueryParam("after"))
	if err != nil {
		return c.fail(ctx, err)
	}
	list, err := c.Notifications.List(rctx, p.Me.ID, notifications.Cursor{At: cur.At, ID: cur.ID}, notificationsPage+1)
	if err != nil {
		return c.fail(ctx, err)
	}
	d := templates.NotificationsData{Items: make([]templates.NotificationItem, 0, min(len(list), notificationsPage))}
	for i, n := range list {
		if i == notificationsPage {
			last := list[i-1]
			d.Next = encodeCursor(last.CreatedAt, last.ID)
			break
		}
		name, err := c.customerName(rctx, n.CustomerID)
		if err != nil {
			return c.fail(ctx, err)
		}
		d.Items = append(d.Items, templates.NotificationItem{Notification: n, CustomerName: name})
	}
	if d.Unread, err = c.Notifications.UnreadCount(rctx, p.Me.ID); err != nil {
		return c.fail(ctx, err)
	}
	return render(ctx, http.StatusOK, templates.NotificationsPage(p, d))
}

// openNotification marks one of the agent's notifications read and takes them to its
// conversation (or, after a merge, to the conversation its customer's timeline moved to).
// Another agent's notification is not found.
func (c *Console) openNotification(ctx echo.Context) error {
	if c.Notifications == nil {
		return c.fail(ctx, inbox.ErrNotFound)
	}
	rctx := ctx.Request().Context()
	a := me(ctx)
	n, err := c.Notifications.Get(rctx, a.ID, ctx.Param("id"))
	if err != nil {
		return c.fail(ctx, err)
	}
	if !n.Read() {
		if _, err := c.Notifications.MarkRead(rctx, a.ID, n.ID); err != nil {
			return c.fail(ctx, err)
		}
	}
	convID := n.ConversationID
	if _, err := c.store.ConversationByID(rctx, convID); errors.Is(err, inbox.ErrNotFound) && n.CustomerID != "" {
		if conv, err := c.Inbox.ConversationOfCustomer(rctx, n.CustomerID); err == nil {
			convID = conv.ID
		}
	}
	return c.seeOther(ctx, "/conversations/"+url.PathEscape(convID))
}

func (c *Console) readAllNotifications(ctx echo.Context) error {
	if c.Notifications != nil {
		if _, err := c.Notifications.MarkAllRead(ctx.Request().Context(), me(ctx).ID); err != nil {
			return c.fail(ctx, err)
		}
	}
	return c.seeOther(ctx, "/notifications")
}

// seeOther sends the browser to path after a POST: a full page navigation for a plain form,
// HX-Location for htmx.
func (c *Console) seeOther(ctx echo.Context, path string) error {
	if isHTMX(ctx) {
		ctx.Response().Header().Set("HX-Location", path)
		return ctx.NoContent(http.StatusOK)
	}
	return ctx.Redirect(http.StatusSeeOther, path)
}

// notifyMentions notifies the agents a note just stored mentions. The note is stored whatever
// happens here, so a failure is told to the author rather than failing their request (a retry
// would store the note twice).
func (c *Console) notifyMentions(ctx echo.Context, note inbox.Message) {
	if c.Notifications == nil || note.Direction != inbox.DirectionNote {
		return
	}
	if _, err := c.Notifications.Mentioned(ctx.Request().Context(), note); err != nil {
		c.Log.Error("could not notify the agents a note mentions", "message", note.ID, "err", err)
		toast(ctx, "error", c.localizer(ctx).T("ErrNotifyFailed"))
	}
}

// update applies an agent's change to a conversation, and notifies the agent it was assigned
// to by someone else. The assignee before the change is read first only for such a change.
func (c *Console) update(ctx context.Context, id, actorID string, ch inbox.Change) (inbox.Conversation, error) {
	previous, notify := "", false
	if c.Notifications != nil && ch.AssigneeID != nil && *ch.AssigneeID != "" && *ch.AssigneeID != actorID {
		if before, err := c.store.ConversationByID(ctx, id); err == nil {
			previous, notify = before.AssigneeID, true
		}
	}
	conv, err := c.Inbox.Update(ctx, id, actorID, ch)
	if err != nil || !notify {
		return conv, err
	}
	if _, err := c.Notifications.Assigned(ctx, conv, previous, actorID); err != nil {
		// The assignment stands and shows in the assignee's "Mine" view; only the bell misses it.
		c.Log.Error("could not notify the assignee", "conversation", id, "assignee", conv.AssigneeID, "err", err)
	}
	return conv, nil
}

// loadBell reads the unread count of the agent whose notifications changed.
func (h *Hub) loadBell(ctx context.Context, ev *event) (*event, error) {
	ev.unread = -1
	if h.c.Notifications == nil || ev.OtherID == "" {
		return ev, nil
	}
	n, err := h.c.Notifications.UnreadCount(ctx, ev.OtherID)
	if err != nil {
		return nil, err
	}
	ev.unread = n
	return ev, nil
}

// bellOp is the new bell for the sockets of the agent whose notifications changed.
func (fc *frameCache) bellOp(s *socket, ev *event) (string, op, bool) {
	if ev.unread < 0 || s.agent.ID != ev.OtherID {
		return "", op{}, false
	}
	html, ok := fc.render(s, "bell", func(v templates.Viewer) templ.Component { return templates.Bell(v, ev.unread) })
	if !ok {
		return "", op{}, false
	}
	return "bell|" + s.vkey, op{Op: "replace", ID: "bell", HTML: html}, true
}
