package widget_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/serambi/serambi/connectors/widget"
	"github.com/serambi/serambi/inbox"
)

// copies returns the email copies of a widget reply in the timeline.
func (e *env) copies(conv, replyID string) []inbox.Message {
	var out []inbox.Message
	for _, m := range e.timeline(conv) {
		if m.Channel == inbox.ChannelEmail && m.Direction == inbox.DirectionOut && m.Meta[widget.MetaCopyOf] == replyID {
			out = append(out, m)
		}
	}
	return out
}

func (e *env) presenceWritten(conv string) bool {
	_, err := e.store.GetState(context.Background(), "widget/presence/"+conv)
	return err == nil
}

func TestRepliesToAVisitorWhoLeftAreEmailed(t *testing.T) {
	e := newEnv(t, withDeps(func(d *widget.Deps) { d.EmailFallback = nil }), func(e *env) {
		e.deps.EmailFallback = e.inbox
		e.cfg.OfflineAfter = 5 * time.Minute
	})
	ctx := context.Background()
	c := e.connect(nil)
	c.send(map[string]any{"t": "msg", "cid": cid(1), "text": "Ada yang bisa bantu?", "profile": map[string]any{"email": "rina@example.id"}})
	ack := c.waitFor("ack", func(f frame) bool { return f.T == "ack" })
	conv := e.message(ack.Msg.ID).ConversationID

	// While the visitor is on the site, a reply is only pushed.
	online := e.reply(conv, "Halo Rina!")
	c.agentMsg("Halo Rina!")
	eventually(t, "sent", func() bool { return e.message(online.ID).Delivery == inbox.DeliverySent })
	if n := len(e.copies(conv, online.ID)); n != 0 {
		t.Fatalf("a reply to a visitor on the site was emailed (%d copies)", n)
	}

	// She leaves. A reply written a moment later waits for her to come back...
	c.ws.Close()
	eventually(t, "presence recorded", func() bool { return e.conn.Sockets() == 0 && e.presenceWritten(conv) })
	away := e.reply(conv, "Stoknya ada, mau kami kirim hari ini?")
	eventually(t, "the reply waits in the outbox", func() bool {
		jobs, _ := e.store.OutboxDepth(ctx)
		return jobs == 1 && e.message(away.ID).Delivery == inbox.DeliveryQueued
	})
	time.Sleep(100 * time.Millisecond)
	if n := len(e.copies(conv, away.ID)); n != 0 {
		t.Fatal("emailed before the visitor had been gone for OfflineAfter")
	}
	// ...and she would see it if she came back now (it is in the timeline, queued).
	back := e.connect(map[string]any{"token": c.token}).waitFor("history", func(f frame) bool { return f.T == "history" })
	if last := back.Msgs[len(back.Msgs)-1]; last.ID != away.ID {
		t.Fatalf("history on return = %+v; want the waiting reply last", back.Msgs)
	}
	e.restart(nil) // she closes the tab again (and the server restarts: nothing is lost)

	// Once she has been gone long enough, the outbox tries again and the reply is emailed.
	e.clock.advance(6 * time.Minute)
	eventually(t, "the email copy is queued", func() bool { return len(e.copies(conv, away.ID)) == 1 })
	eventually(t, "the widget reply is sent", func() bool { return e.message(away.ID).Delivery == inbox.DeliverySent })
	cp := e.copies(conv, away.ID)[0]
	if cp.Text != away.Text || cp.AuthorName != "Dewi" || cp.AuthorID != "agent-dewi" {
		t.Fatalf("email copy = %+v", cp)
	}

	// A repeated send (the outbox retrying after a crash) does not email twice.
	cust, err := e.inbox.Customer(ctx, cp.CustomerID)
	if err != nil {
		t.Fatal(err)
	}
	cv, _ := e.inbox.Conversation(ctx, conv)
	if _, err := e.conn.Send(ctx, inbox.Outbound{Message: e.message(away.ID), Customer: cust, Conversation: cv, Attempt: 9}); err != nil {
		t.Fatal(err)
	}
	if n := len(e.copies(conv, away.ID)); n != 1 {
		t.Fatalf("%d email copies after a repeated send", n)
	}
}

func TestVisitorWithoutEmailIsNotMadeToWait(t *testing.T) {
	e := newEnv(t, func(e *env) { e.deps.EmailFallback = e.inbox })
	c := e.connect(nil)
	ack := c.say(cid(1), "Halo")
	conv := e.message(ack.Msg.ID).ConversationID
	c.ws.Close()
	eventually(t, "socket gone", func() bool { return e.conn.Sockets() == 0 })
	r := e.reply(conv, "Halo juga")
	eventually(t, "sent at once", func() bool { return e.message(r.ID).Delivery == inbox.DeliverySent })
	if n := len(e.copies(conv, r.ID)); n != 0 {
		t.Fatal("emailed a visitor who left no address")
	}
}

func TestSendWaitsWhileTheVisitorMayComeBack(t *testing.T) {
	e := newEnv(t, withManualOutbox(), func(e *env) { e.deps.EmailFallback = e.inbox; e.cfg.OfflineAfter = 5 * time.Minute })
	ctx := context.Background()
	c := e.connect(nil)
	c.send(map[string]any{"t": "email", "cid": cid(1), "email": "rina@example.id"})
	ack := c.waitFor("ack", func(f frame) bool { return f.T == "ack" })
	conv := e.message(ack.Msg.ID).ConversationID
	c.ws.Close()
	eventually(t, "presence recorded", func() bool { return e.conn.Sockets() == 0 && e.presenceWritten(conv) })
	r := e.reply(conv, "Halo")
	cust, _ := e.inbox.Customer(ctx, r.CustomerID)
	cv, _ := e.inbox.Conversation(ctx, conv)
	_, err := e.conn.Send(ctx, inbox.Outbound{Message: r, Customer: cust, Conversation: cv, Attempt: 1})
	var retry *inbox.RetryAfterError
	if !errors.As(err, &retry) || retry.After <= 4*time.Minute || retry.After > 5*time.Minute {
		t.Fatalf("Send right after the visitor left = %v; want to retry in about 5 minutes", err)
	}
	// However often the visitor comes and goes, a reply waits a bounded number of times.
	if _, err := e.conn.Send(ctx, inbox.Outbound{Message: r, Customer: cust, Conversation: cv, Attempt: 4}); err != nil {
		t.Fatalf("Send on attempt 4 = %v; want it to email instead of waiting again", err)
	}
	if n := len(e.copies(conv, r.ID)); n != 1 {
		t.Fatalf("%d copies", n)
	}
}
