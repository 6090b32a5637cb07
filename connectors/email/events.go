package email

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/serambi/serambi/inbox"
)

// recordAuto turns a bounce, an automatic reply or a read receipt into what it means for the
// mail it is about: an event on that mail's conversation, the mail marked failed or read, an
// address marked unreachable. It never produces a message to answer, so nothing can loop. Mail
// about nothing we know is skipped (it stays in the mailbox).
func (c *Connector) recordAuto(ctx context.Context, raw []byte, p *Parsed) error {
	id := p.MessageID
	if id == "" {
		id = "sha256:" + sha256Hex(raw)
	}
	var done struct{}
	if ok, err := getJSON(ctx, c.deps.State, autoKey(id), &done); err != nil || ok {
		return err // recorded before (a re-sync): the rest of the work is done too
	}
	var about []string
	switch {
	case p.Auto == AutoBounce && p.Bounce != nil && p.Bounce.OriginalMessageID != "":
		about = append(about, p.Bounce.OriginalMessageID)
	case p.Auto == AutoReceipt && p.ReceiptFor != "":
		about = append(about, p.ReceiptFor)
	}
	about = append(about, p.InReplyTo...)
	for i := len(p.References) - 1; i >= 0; i-- {
		about = append(about, p.References[i])
	}
	var orig *inbox.Message
	for _, ref := range about {
		m, err := c.deps.Store.MessageByExternalID(ctx, inbox.ChannelEmail, ref)
		if errors.Is(err, inbox.ErrNotFound) {
			continue
		}
		if err != nil {
			return fmt.Errorf("look up %s: %w", ref, err)
		}
		orig = &m
		break
	}

	conversationID := ""
	if orig != nil {
		conversationID = orig.ConversationID
	} else {
		// Not about a mail we know: an out-of-office from a known customer still belongs on their
		// timeline; a bounce for a known customer's address too.
		who := []string{p.From.Addr}
		if p.Bounce != nil {
			who = p.Bounce.Recipients
		}
		if p.Auto == AutoReceipt {
			who = nil
		}
		for _, addr := range who {
			cid, err := c.deps.Store.CustomerIDByIdentity(ctx, inbox.KindEmail, addr)
			if errors.Is(err, inbox.ErrNotFound) {
				continue
			}
			if err != nil {
				return fmt.Errorf("look up %s: %w", addr, err)
			}
			conv, err := c.deps.Store.ConversationByCustomer(ctx, cid)
			if errors.Is(err, inbox.ErrNotFound) {
				continue
			}
			if err != nil {
				return fmt.Errorf("conversation of %s: %w", cid, err)
			}
			conversationID = conv.ID
			break
		}
	}
	if conversationID == "" {
		c.skip("automatic mail about nothing we know skipped", "kind", p.Auto, "reason", p.AutoReason,
			"from", p.From.Addr, "subject", p.Subject)
		return putJSON(ctx, c.deps.State, autoKey(id), struct{}{})
	}

	switch p.Auto {
	case AutoReceipt:
		if orig != nil && orig.Direction == inbox.DirectionOut && orig.ExternalID != "" {
			if err := c.deps.Inbox.RecordDelivery(ctx, inbox.ChannelEmail, orig.ExternalID,
				inbox.DeliveryUpdate{State: inbox.DeliveryRead, At: c.now()}); err != nil && !errors.Is(err, inbox.ErrNotFound) {
				return err
			}
		}
	case AutoBounce:
		if err := c.recordBounce(ctx, p, orig, conversationID, "auto:"+id); err != nil {
			return err
		}
	case AutoReply:
		data := map[string]string{
			"text":    "Automatic reply from " + p.From.Addr + ": " + p.Subject,
			"from":    p.From.Addr,
			"subject": p.Subject,
			"body":    truncate(p.Text, 2000),
			"reason":  p.AutoReason,
		}
		if orig != nil {
			data["messageId"] = orig.ID
		}
		if _, _, err := c.deps.Inbox.AddChannelEvent(ctx, conversationID, inbox.ChannelEmail, "auto:"+id, inbox.Event{Kind: EventAutoReply, Data: data}); err != nil {
			return fmt.Errorf("record auto-reply: %w", err)
		}
	}
	c.setStatus(func(s *Status) { s.Events++ })
	return putJSON(ctx, c.deps.State, autoKey(id), struct{}{})
}

func (c *Connector) recordBounce(ctx context.Context, p *Parsed, orig *inbox.Message, conversationID, eventKey string) error {
	b := p.Bounce
	if b == nil {
		b = &Bounce{}
	}
	rcpt := strings.Join(b.Recipients, ", ")
	text := "Delivery failed"
	if !b.Permanent {
		text = "Delivery delayed"
	}
	if rcpt != "" {
		text += " to " + rcpt
	}
	if b.Status != "" {
		text += " (" + b.Status + ")"
	}
	if b.Diagnostic != "" {
		text += ": " + b.Diagnostic
	}
	data := map[string]string{"text": truncate(text, 1000), "recipients": rcpt, "status": b.Status,
		"diagnostic": truncate(b.Diagnostic, 1000), "from": p.From.Addr}
	if b.Permanent {
		data["permanent"] = "true"
	}
	if orig != nil {
		data["messageId"] = orig.ID
	}
	if _, _, err := c.deps.Inbox.AddChannelEvent(ctx, conversationID, inbox.ChannelEmail, eventKey, inbox.Event{Kind: EventBounce, Data: data}); err != nil {
		return fmt.Errorf("record bounce: %w", err)
	}
	if !b.Permanent || orig == nil || orig.Direction != inbox.DirectionOut {
		return nil
	}
	// Only a bounce of a mail we sent marks anything: a forged bounce about mail we never sent
	// must not make a customer unreachable.
	if orig.ExternalID != "" {
		err := c.deps.Inbox.RecordDelivery(ctx, inbox.ChannelEmail, orig.ExternalID,
			inbox.DeliveryUpdate{State: inbox.DeliveryFailed, Error: truncate(text, 500), At: c.now()})
		if err != nil && !errors.Is(err, inbox.ErrNotFound) {
			return fmt.Errorf("mark %s failed: %w", orig.ID, err)
		}
	}
	cust, err := c.deps.Store.CustomerByID(ctx, orig.CustomerID)
	if err != nil {
		return fmt.Errorf("load customer %s: %w", orig.CustomerID, err)
	}
	for _, r := range b.Recipients {
		for _, id := range cust.Identities {
			if id.Kind == inbox.KindEmail && id.Value == r && !id.Unreachable {
				if err := c.deps.Inbox.SetUnreachable(ctx, cust.ID, inbox.KindEmail, r, true); err != nil {
					return fmt.Errorf("mark %s unreachable: %w", r, err)
				}
			}
		}
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !isRuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

func isRuneStart(b byte) bool { return b&0xC0 != 0x80 }

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}
