package commerce

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/serambi/serambi/inbox"
)

var (
	// ErrForbidden: the agent may not do this (cancel and refund need the permission, see CanAct).
	ErrForbidden = errors.New("forbidden")
	// ErrNoAdapter: no adapter is configured to carry this action to the order's shop.
	ErrNoAdapter = errors.New("no shop adapter configured for this action")
)

// RejectedError is a shop refusing an action for a reason of its own (Shopify's 422: the order is
// already fulfilled, the refund exceeds what was paid). Message is the shop's words.
type RejectedError struct {
	Status  int
	Message string
}

func (e *RejectedError) Error() string { return "the shop refused: " + e.Message }

// Is makes errors.Is(err, inbox.ErrInvalid) match: the request breaks a rule of the shop.
func (e *RejectedError) Is(target error) bool { return target == inbox.ErrInvalid }

// Actor is the agent asking for an action.
type Actor struct {
	ID, Name string
	Admin    bool
	// Teams are the ids and names of the agent's teams.
	Teams []string
}

// CanAct reports whether the agent may cancel and refund orders: admins may, and members of a
// team named (by id or name) in Config.ActionTeams. Anyone may send cards.
func (s *Service) CanAct(a Actor) bool {
	if a.Admin {
		return true
	}
	for _, t := range a.Teams {
		if slices.ContainsFunc(s.cfg.ActionTeams, func(allowed string) bool { return strings.EqualFold(allowed, t) }) {
			return true
		}
	}
	return false
}

// CanCancel and CanRefund say whether an action is offered for the order at all: an adapter for
// its shop is configured and the order is in a state the action applies to.
func (s *Service) CanCancel(o Order) bool {
	_, ok := s.actions[o.Source]
	return ok && !o.Cancelled && o.Fulfillment != FulfillmentFulfilled && o.Fulfillment != FulfillmentDelivered &&
		o.Fulfillment != FulfillmentPickedUp
}

func (s *Service) CanRefund(o Order) bool {
	_, ok := s.actions[o.Source]
	return ok && o.Refunded < o.Total && (o.Payment == PaymentPaid || o.Payment == PaymentPartiallyRefunded || o.Payment == PaymentPartiallyPaid)
}

// ShopActions carries an agent's decision to the shop an order came from.
type ShopActions interface {
	Cancel(ctx context.Context, o Order, r CancelRequest) (ActionResult, error)
	Refund(ctx context.Context, o Order, r RefundRequest) (ActionResult, error)
}

// CancelRequest asks the shop to cancel an order.
type CancelRequest struct {
	// Reason is one of customer, inventory, fraud, declined, other (Shopify's reasons).
	Reason string
	// Refund also refunds what was paid; Restock puts the items back in stock.
	Refund, Restock bool
	// Notify emails the customer from the shop.
	Notify bool
	Note   string
	Actor  Actor
}

// RefundItem refunds quantity units of one line item.
type RefundItem struct {
	LineItemID string `json:"lineItemId"`
	SKU        string `json:"sku,omitempty"`
	Quantity   int64  `json:"quantity"`
}

// RefundRequest asks the shop for a refund: everything (Full), or some items.
type RefundRequest struct {
	Full    bool
	Items   []RefundItem
	Restock bool
	Notify  bool
	Note    string
	Actor   Actor
}

// ActionResult is what the shop did.
type ActionResult struct {
	// Amount refunded (minor units of Currency), when the action refunded.
	Amount   int64
	Currency string
	// Reference is the shop's id for what it did (a refund id).
	Reference string
}

var cancelReasons = []string{"customer", "inventory", "fraud", "declined", "other"}

// orderLocks keeps two actions on one order from running at once: a double click must not
// refund twice while the first refund is still on its way to the shop.
type orderLocks struct {
	mu   sync.Mutex
	busy map[string]bool
}

func (l *orderLocks) lock(id string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.busy == nil {
		l.busy = map[string]bool{}
	}
	if l.busy[id] {
		return false
	}
	l.busy[id] = true
	return true
}

func (l *orderLocks) unlock(id string) {
	l.mu.Lock()
	delete(l.busy, id)
	l.mu.Unlock()
}

// prepareAction loads the order and checks who asks and that the order is still what the agent
// confirmed (version is the Digest shown in the confirmation dialog; "" skips the check).
func (s *Service) prepareAction(ctx context.Context, a Actor, orderID, version string) (Order, ShopActions, error) {
	if !s.CanAct(a) {
		return Order{}, nil, fmt.Errorf("agent %s may not cancel or refund orders (admins and members of %s may): %w",
			a.ID, strings.Join(s.cfg.ActionTeams, ", "), ErrForbidden)
	}
	o, err := s.store.OrderByID(ctx, orderID)
	if err != nil {
		return Order{}, nil, fmt.Errorf("load order %s: %w", orderID, err)
	}
	if version != "" && version != o.Digest {
		return Order{}, nil, fmt.Errorf("order %s changed since it was shown; look at it again: %w", o.Number, inbox.ErrConflict)
	}
	ad, ok := s.actions[o.Source]
	if !ok {
		return Order{}, nil, fmt.Errorf("order %s came from %s: %w", o.Number, o.Source, ErrNoAdapter)
	}
	return o, ad, nil
}

// Cancel asks the order's shop to cancel it and records the outcome in the customer's timeline.
func (s *Service) Cancel(ctx context.Context, a Actor, orderID, version string, r CancelRequest) (ActionResult, error) {
	if r.Reason == "" {
		r.Reason = "customer"
	}
	if !slices.Contains(cancelReasons, r.Reason) {
		return ActionResult{}, invalid("reason %q must be one of %s", r.Reason, strings.Join(cancelReasons, ", "))
	}
	o, ad, err := s.prepareAction(ctx, a, orderID, version)
	if err != nil {
		return ActionResult{}, err
	}
	if o.Cancelled {
		return ActionResult{}, invalid("order %s is cancelled already", o.Number)
	}
	if !s.locks.lock(o.ID) {
		return ActionResult{}, fmt.Errorf("another action on order %s is in progress: %w", o.Number, inbox.ErrConflict)
	}
	defer s.locks.unlock(o.ID)
	r.Actor = a
	res, err := ad.Cancel(ctx, o, r)
	s.record(ctx, a, o, "cancel", res, err)
	return res, err
}

// Refund asks the order's shop for a refund and records the outcome in the customer's timeline.
func (s *Service) Refund(ctx context.Context, a Actor, orderID, version string, r RefundRequest) (ActionResult, error) {
	o, ad, err := s.prepareAction(ctx, a, orderID, version)
	if err != nil {
		return ActionResult{}, err
	}
	if !r.Full {
		if len(r.Items) == 0 {
			return ActionResult{}, invalid("a partial refund names at least one item and quantity")
		}
		for i, it := range r.Items {
			li, ok := o.Item(it.LineItemID)
			if !ok {
				return ActionResult{}, invalid("item %d: order %s has no line item %q", i, o.Number, it.LineItemID)
			}
			if it.Quantity < 1 || it.Quantity > li.Quantity {
				return ActionResult{}, invalid("item %q: quantity must be from 1 to %d", li.Name, li.Quantity)
			}
			r.Items[i].SKU = li.SKU
		}
	}
	if !s.locks.lock(o.ID) {
		return ActionResult{}, fmt.Errorf("another action on order %s is in progress: %w", o.Number, inbox.ErrConflict)
	}
	defer s.locks.unlock(o.ID)
	r.Actor = a
	res, err := ad.Refund(ctx, o, r)
	s.record(ctx, a, o, "refund", res, err)
	return res, err
}

// EventCommerce is the timeline event kind of an agent's action on an order.
const EventCommerce inbox.EventKind = "commerce_action"

// record writes the outcome of an action into the customer's timeline. Failing to record does not
// hide the outcome from the agent (it is returned), so it only logs.
func (s *Service) record(ctx context.Context, a Actor, o Order, action string, res ActionResult, actErr error) {
	if s.timeline == nil || o.CustomerID == "" {
		return
	}
	conv, err := s.timeline.ConversationOfCustomer(ctx, o.CustomerID)
	if err != nil {
		s.log.Warn("no conversation to record an order action in", "order", o.ID, "customer", o.CustomerID, "err", err)
		return
	}
	data := map[string]string{"order": o.ID, "number": o.Number, "action": action, "result": "ok"}
	var text string
	switch {
	case actErr != nil:
		data["result"], data["error"] = "failed", actErr.Error()
		text = fmt.Sprintf("%s could not %s order %s: %v", a.Name, action, o.Number, actErr)
	case action == "cancel":
		text = fmt.Sprintf("%s cancelled order %s in the shop", a.Name, o.Number)
	default:
		data["amount"], data["currency"], data["refund"] = strconv.FormatInt(res.Amount, 10), res.Currency, res.Reference
		text = fmt.Sprintf("%s refunded %s of order %s in the shop", a.Name, customerMoney("en", res.Amount, res.Currency), o.Number)
	}
	data["text"] = text
	if _, err := s.timeline.AddEvent(ctx, conv.ID, inbox.Event{Kind: EventCommerce, ActorID: a.ID, Data: data}); err != nil {
		s.log.Warn("could not record an order action in the timeline", "order", o.ID, "err", err)
	}
}
