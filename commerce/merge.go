package commerce

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"time"
)

// Shops deliver webhooks at least once and in no guaranteed order: an "updated" can overtake the
// "create", a retry can arrive a day late. So every record carries a version, (ShopUpdatedAt,
// Digest): the shop's own last-modified time, and a hash of what the shop said. A version replaces
// the stored one only when it is newer: a later time, or the same time and a greater digest (two
// different payloads stamped in the same second still settle on the same winner, whichever
// arrives first). Applying the same version twice, or an older one, changes nothing: ingest is
// idempotent and never regresses.
//
// An order's History is kept apart from that rule: it is the union of the status steps every
// version showed, so a late "paid, unfulfilled" still adds its step to the history of an order
// that is already delivered, without making it current again. The union does not depend on the
// order of arrival, so every store ends with the same record whatever the delivery order.

// maxHistory bounds an order's history; the oldest steps beyond it are dropped.
const maxHistory = 100

// newer reports whether version (t, d) is newer than (curT, curD).
func newer(t time.Time, d string, curT time.Time, curD string) bool {
	if c := t.Compare(curT); c != 0 {
		return c > 0
	}
	return d > curD
}

// digestOf hashes the JSON of v (a record with Serambi's own fields cleared).
func digestOf(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("commerce: digest of a record that does not marshal: %v", err)) // plain data; cannot happen
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:12])
}

// sameJSON reports whether two records would be stored the same.
func sameJSON(a, b any) bool {
	x, err1 := json.Marshal(a)
	y, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && bytes.Equal(x, y)
}

// productDigest is the digest of what the shop said about p.
func productDigest(p Product) string {
	p.Digest, p.UpdatedAt = "", time.Time{}
	return digestOf(p)
}

func cartDigest(c Cart) string {
	c.Digest, c.UpdatedAt, c.CustomerID = "", time.Time{}, ""
	c.Status, c.AbandonedAt, c.ConvertedAt, c.OrderID = "", time.Time{}, time.Time{}, ""
	return digestOf(c)
}

func orderDigest(o Order) string {
	o.Digest, o.UpdatedAt, o.CreatedAt, o.CustomerID, o.History = "", time.Time{}, time.Time{}, "", nil
	return digestOf(o)
}

func loyaltyDigest(l Loyalty) string {
	l.Digest, l.UpdatedAt, l.CustomerID = "", time.Time{}, ""
	return digestOf(l)
}

// MergeProduct is the update function for a product version in.
func MergeProduct(in Product) func(cur Product, found bool) (Product, error) {
	return func(cur Product, found bool) (Product, error) {
		if found && !newer(in.ShopUpdatedAt, in.Digest, cur.ShopUpdatedAt, cur.Digest) {
			return cur, ErrUnchanged
		}
		return in, nil
	}
}

// MergeCart is the update function for a cart version in. A newer version replaces the cart and
// opens an abandoned one again (the customer came back to it); a converted cart stays converted.
// An older version can still link a cart that has no customer yet.
func MergeCart(in Cart) func(cur Cart, found bool) (Cart, error) {
	return func(cur Cart, found bool) (Cart, error) {
		if !found {
			in.Status = CartOpen
			return in, nil
		}
		if !newer(in.ShopUpdatedAt, in.Digest, cur.ShopUpdatedAt, cur.Digest) {
			if cur.CustomerID == "" && in.CustomerID != "" {
				cur.CustomerID, cur.UpdatedAt = in.CustomerID, in.UpdatedAt
				return cur, nil
			}
			return cur, ErrUnchanged
		}
		out := in
		out.Status = CartOpen
		if out.CustomerID == "" {
			out.CustomerID = cur.CustomerID
		}
		if cur.Status == CartConverted {
			out.Status, out.ConvertedAt, out.OrderID = CartConverted, cur.ConvertedAt, cur.OrderID
		}
		return out, nil
	}
}

// ConvertCart is the update function that marks a cart as having become order orderID.
func ConvertCart(orderID, customerID string, at time.Time) func(cur Cart, found bool) (Cart, error) {
	return func(cur Cart, found bool) (Cart, error) {
		if !found {
			return cur, ErrUnchanged // the shop never told us about this cart; nothing to mark
		}
		if cur.Status == CartConverted && cur.OrderID == orderID && (cur.CustomerID != "" || customerID == "") {
			return cur, ErrUnchanged
		}
		cur.Status, cur.OrderID, cur.AbandonedAt = CartConverted, orderID, time.Time{}
		if cur.ConvertedAt.IsZero() {
			cur.ConvertedAt = at
		}
		if cur.CustomerID == "" {
			cur.CustomerID = customerID
		}
		cur.UpdatedAt = at
		return cur, nil
	}
}

// MergeOrder is the update function for an order version in: the newer version's fields, the
// union of both histories, the first customer link kept unless the newer version names one.
func MergeOrder(in Order) func(cur Order, found bool) (Order, error) {
	return func(cur Order, found bool) (Order, error) {
		if !found {
			in.History = mergeHistory(nil, in.History)
			return in, nil
		}
		var out Order
		if newer(in.ShopUpdatedAt, in.Digest, cur.ShopUpdatedAt, cur.Digest) {
			out = in
			out.CreatedAt = cur.CreatedAt
			if out.CustomerID == "" {
				out.CustomerID = cur.CustomerID
			}
		} else {
			out = cur
			if out.CustomerID == "" {
				out.CustomerID = in.CustomerID
			}
		}
		out.History = mergeHistory(cur.History, in.History)
		out.UpdatedAt = cur.UpdatedAt
		if sameJSON(out, cur) {
			return cur, ErrUnchanged
		}
		out.UpdatedAt = in.UpdatedAt
		return out, nil
	}
}

// MergeLoyalty is the update function for a loyalty version in.
func MergeLoyalty(in Loyalty) func(cur Loyalty, found bool) (Loyalty, error) {
	return func(cur Loyalty, found bool) (Loyalty, error) {
		if found && !newer(in.ShopUpdatedAt, in.Digest, cur.ShopUpdatedAt, cur.Digest) {
			if cur.CustomerID == "" && in.CustomerID != "" {
				cur.CustomerID, cur.UpdatedAt = in.CustomerID, in.UpdatedAt
				return cur, nil
			}
			return cur, ErrUnchanged
		}
		if found && in.CustomerID == "" {
			in.CustomerID = cur.CustomerID
		}
		return in, nil
	}
}

func compareEvents(a, b StatusEvent) int {
	return cmp.Or(a.At.Compare(b.At), cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Status, b.Status))
}

// mergeHistory is the sorted union of two histories, without duplicates, the newest maxHistory.
func mergeHistory(a, b []StatusEvent) []StatusEvent {
	out := make([]StatusEvent, 0, len(a)+len(b))
	out = append(out, a...)
	out = append(out, b...)
	for i := range out {
		out[i].At = out[i].At.UTC()
	}
	slices.SortFunc(out, compareEvents)
	out = slices.CompactFunc(out, func(x, y StatusEvent) bool { return compareEvents(x, y) == 0 })
	if len(out) > maxHistory {
		out = out[len(out)-maxHistory:]
	}
	return out
}

// Timeline is the order's history as an agent reads it, oldest first: each step that changed
// something. A status repeated by later versions (every "orders/updated" restates the payment
// status) shows once, at the time it was first seen.
func (o Order) Timeline() []StatusEvent {
	last := map[EventKind]string{}
	var out []StatusEvent
	for _, e := range o.History {
		if s, ok := last[e.Kind]; ok && s == e.Status {
			continue
		}
		last[e.Kind] = e.Status
		out = append(out, e)
	}
	return out
}

// PairDelta is a change to the co-purchase count of (SKU, Other).
type PairDelta struct {
	SKU, Other string
	Delta      int64
}

// BasketDelta is how the co-purchase counts move when an order's basket changes from old to new
// (either may be empty): +1 for each ordered pair of SKUs only the new basket has, -1 for each only
// the old one had. Both directions of a pair are listed, so a store can look up "bought with X"
// by X alone. The order is deterministic.
func BasketDelta(old, new []string) []PairDelta {
	pairs := func(b []string) map[[2]string]bool {
		m := map[[2]string]bool{}
		for _, a := range b {
			for _, c := range b {
				if a != c {
					m[[2]string{a, c}] = true
				}
			}
		}
		return m
	}
	po, pn := pairs(old), pairs(new)
	var out []PairDelta
	for p := range pn {
		if !po[p] {
			out = append(out, PairDelta{SKU: p[0], Other: p[1], Delta: 1})
		}
	}
	for p := range po {
		if !pn[p] {
			out = append(out, PairDelta{SKU: p[0], Other: p[1], Delta: -1})
		}
	}
	slices.SortFunc(out, func(a, b PairDelta) int {
		return cmp.Or(cmp.Compare(a.SKU, b.SKU), cmp.Compare(a.Other, b.Other))
	})
	return out
}
