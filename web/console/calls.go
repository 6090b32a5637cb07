package console

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"strings"

	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"

	"github.com/serambi/serambi/agents"
	"github.com/serambi/serambi/connectors/voice"
	"github.com/serambi/serambi/inbox"
	"github.com/serambi/serambi/templates"
)

// Calls is what the screen-pop needs from the call center.
type Calls interface {
	// Call returns the call with id; inbox.ErrNotFound when there is none.
	Call(ctx context.Context, id string) (voice.CallView, error)
	// ActiveCalls lists the calls not over yet, so a console opened while a call rings shows it.
	ActiveCalls(ctx context.Context) ([]voice.CallView, error)
}

// Recordings opens a call's recording with whatever credentials the provider needs.
type Recordings interface {
	OpenRecording(ctx context.Context, callID string) (voice.Recording, error)
}

// CallSummary is the optional compact commerce summary (cart, last orders) of a screen-pop. The
// commerce panel implements it when it can; the screen-pop leaves its slot empty otherwise.
type CallSummary interface {
	CallSummary(ctx context.Context, customerID string, v templates.Viewer) (templ.Component, error)
}

// recentInPop is how many of the customer's latest messages a screen-pop shows.
const recentInPop = 3

// callPopup reads what a ringing call's screen-pop shows. Only the text of messages, notes
// excepted, is previewed: an agent picking up should see what the customer said and was told.
func (c *Console) callPopup(ctx context.Context, call voice.CallView) templates.CallPopup {
	p := templates.CallPopup{CallID: call.ID, CallerName: call.CustomerName, Number: call.CustomerNumber, Queue: call.Queue,
		ConversationID: call.ConversationID, StartedAt: call.StartedAt}
	if p.Number == "" {
		p.Number = call.From
	}
	if call.ConversationID == "" {
		return p
	}
	msgs, err := c.Inbox.Messages(ctx, call.ConversationID, inbox.Cursor{}, 20)
	if err != nil {
		c.Log.Warn("screen-pop could not read the conversation", "call", call.ID, "conversation", call.ConversationID, "err", err)
	}
	for _, m := range msgs { // newest first
		if len(p.Recent) == recentInPop {
			break
		}
		if (m.Direction == inbox.DirectionIn || m.Direction == inbox.DirectionOut) && m.Channel != inbox.ChannelVoice && (m.Text != "" || len(m.Attachments) > 0) {
			p.Recent = append(p.Recent, m)
		}
	}
	slices.Reverse(p.Recent)
	return p
}

// callCommerce is the commerce summary of a screen-pop, rendered for viewer v; nil without one.
func (c *Console) callCommerce(ctx context.Context, customerID string, v templates.Viewer) templ.Component {
	s, ok := c.Commerce.(CallSummary)
	if !ok || customerID == "" {
		return nil
	}
	comp, err := s.CallSummary(ctx, customerID, v)
	if err != nil {
		c.Log.Warn("screen-pop commerce summary failed", "customer", customerID, "err", err)
		return nil
	}
	return comp
}

// callTargets lists the agents a ringing call is for: those whose extension (or name, which the
// generic CTI reports as "user") the call rings. Empty means everyone: when no agent's extension
// matches, showing the call to all beats showing it to nobody.
func callTargets(call voice.CallView, dir *templates.Directory) map[string]bool {
	if len(call.Ringing) == 0 || dir == nil {
		return nil
	}
	var out map[string]bool
	for _, a := range dir.Agents {
		if a.Disabled {
			continue
		}
		if (a.Extension != "" && slices.Contains(call.Ringing, a.Extension)) || slices.Contains(call.Ringing, a.Name) {
			if out == nil {
				out = map[string]bool{}
			}
			out[a.ID] = true
		}
	}
	return out
}

// ringingFor lists the screen-pops a console opened now shows.
func (c *Console) ringingFor(ctx context.Context, a agents.Agent, v templates.Viewer) []templates.CallPopup {
	if c.Calls == nil {
		return nil
	}
	calls, err := c.Calls.ActiveCalls(ctx)
	if err != nil {
		c.Log.Warn("could not list active calls for the screen-pop", "err", err)
		return nil
	}
	var out []templates.CallPopup
	for _, call := range calls {
		if call.State != voice.StateRinging || call.Direction != voice.DirectionIn {
			continue
		}
		if t := callTargets(call, v.Dir); t != nil && !t[a.ID] {
			continue
		}
		p := c.callPopup(ctx, call)
		p.Commerce = c.callCommerce(ctx, call.CustomerID, v)
		out = append(out, p)
	}
	return out
}

// recording streams a call's recording to a signed-in agent. The provider's URL is never shown
// to the browser: it may need credentials, and the page's CSP only plays media from here.
func (c *Console) recording(ctx echo.Context) error {
	if c.Recordings == nil {
		return c.fail(ctx, fmt.Errorf("no call center is configured: %w", inbox.ErrNotFound))
	}
	r := ctx.Request()
	rec, err := c.Recordings.OpenRecording(r.Context(), ctx.Param("id"))
	switch {
	case errors.Is(err, voice.ErrNoRecording):
		return c.fail(ctx, fmt.Errorf("%w: %w", err, inbox.ErrNotFound))
	case errors.Is(err, inbox.ErrNotFound):
		return c.fail(ctx, err)
	case err != nil:
		c.Log.Warn("could not fetch a call recording", "call", ctx.Param("id"), "err", err)
		return c.failStatus(ctx, http.StatusBadGateway, c.localizer(ctx).F("RecordingUnavailable", map[string]any{"Detail": err.Error()}))
	}
	defer rec.Body.Close()
	h := ctx.Response().Header()
	ctype := "application/octet-stream"
	if mt, _, err := mime.ParseMediaType(rec.ContentType); err == nil && strings.HasPrefix(mt, "audio/") {
		ctype = mt
	}
	h.Set(echo.HeaderContentType, ctype)
	h.Set("Content-Security-Policy", "default-src 'none'; sandbox")
	h.Set(echo.HeaderCacheControl, "private, no-store")
	if rec.Size >= 0 {
		h.Set(echo.HeaderContentLength, fmt.Sprint(rec.Size))
	}
	ctx.Response().WriteHeader(http.StatusOK)
	_, err = io.Copy(ctx.Response(), rec.Body)
	return err
}
