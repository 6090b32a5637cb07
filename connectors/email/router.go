package email

import (
	"context"
	"errors"

	"github.com/serambi/serambi/inbox"
)

// Router is the one inbox.Sender of ChannelEmail when several mailboxes are configured: a reply
// leaves through the mailbox the answered mail came in by (Meta "email.mailbox"), else through
// the first mailbox.
type Router struct {
	conns []*Connector
}

// NewRouter routes between conns; the first is the default. It needs at least one.
func NewRouter(conns ...*Connector) *Router { return &Router{conns: conns} }

// Send implements inbox.Sender.
func (r *Router) Send(ctx context.Context, out inbox.Outbound) (string, error) {
	c, err := r.route(ctx, out)
	if err != nil {
		return "", err
	}
	return c.Send(ctx, out)
}

func (r *Router) route(ctx context.Context, out inbox.Outbound) (*Connector, error) {
	if len(r.conns) == 0 {
		return nil, inbox.Permanent(errors.New("no email mailbox is configured"))
	}
	if len(r.conns) == 1 {
		return r.conns[0], nil
	}
	parent, err := r.conns[0].parentOf(ctx, out)
	if err != nil {
		return nil, err
	}
	if parent != nil {
		id := parent.Meta["email.mailbox"]
		if parent.Direction == inbox.DirectionOut {
			id = r.conns[0].sentMailbox(ctx, parent.ExternalID)
		}
		for _, c := range r.conns {
			if c.mb.ID == id {
				return c, nil
			}
		}
	}
	return r.conns[0], nil
}
