package console_test

import (
	"context"
	"time"

	"github.com/serambi/serambi/inbox"
)

// demo is a small shop's morning: the data behind the screenshots and the browser tests.
type demo struct {
	siti     inbox.IngestResult // WhatsApp + email, notes, events, a failed reply, a merge suggestion
	sitiConv string
}

func (e *env) seedDemo() demo {
	e.t.Helper()
	ctx := context.Background()
	must := func(err error) {
		e.t.Helper()
		if err != nil {
			e.t.Fatal(err)
		}
	}
	in := func(ch inbox.Channel, ext, name, subject, text string, from ...inbox.Identity) inbox.IngestResult {
		e.t.Helper()
		r, err := e.inbox.Ingest(ctx, inbox.Inbound{Channel: ch, ExternalID: ext, Name: name, Subject: subject, Text: text, From: from})
		must(err)
		return r
	}
	// Someone who once wrote from another address: it becomes a "possibly the same" hint.
	in(inbox.ChannelEmail, "<old-1@mail>", "Siti R.", "Pertanyaan ukuran", "Apakah ada ukuran L?", email("siti.r@example.id"))
	in(inbox.ChannelEmail, "<inv-1@mail>", "Budi Hartono", "Invoice for October", "Could you send the invoice for order #0977 again? Our finance team needs it by Friday.", email("budi.h@example.co.id"))
	in(inbox.ChannelTelegram, "tg-1", "Ayu Lestari", "", "Apakah batik tulis ukuran M masih ada stok?", inbox.Identity{Kind: inbox.KindTelegram, Value: "51234567"})
	in(inbox.ChannelVoice, "call-1", "", "", "Missed call (00:00) — callback requested", inbox.Identity{Kind: inbox.KindPhone, Value: "+62215550123"})
	in(inbox.ChannelWidget, "w-1", "Rizky", "", "is size M in stock for the Parang motif?", inbox.Identity{Kind: inbox.KindWidget, Value: "visitor-77"})
	in(inbox.ChannelWhatsApp, "wamid.p1", "Putri Anggraini", "", "Kak, bisa kirim ke Bandung hari ini?", whatsapp("+6285711112222"))

	siti := in(inbox.ChannelWhatsApp, "wamid.s1", "Siti Rahma", "", "Halo kak, pesanan #1042 saya belum sampai. Sudah 5 hari.",
		whatsapp("+6281234567890"), inbox.Identity{Kind: inbox.KindEmail, Value: "siti.r@example.id"})
	out, err := e.inbox.Reply(ctx, inbox.ReplyRequest{ConversationID: siti.Conversation.ID, AgentID: e.agent.ID, AgentName: e.agent.Name,
		Channel: inbox.ChannelWhatsApp, Text: "Maaf kak, kami cek dulu ke kurirnya ya."})
	must(err)
	for _, st := range []inbox.Delivery{inbox.DeliverySent, inbox.DeliveryDelivered, inbox.DeliveryRead} {
		_, err := e.store.UpdateDelivery(ctx, out.ID, inbox.DeliveryUpdate{State: st, At: time.Now()})
		must(err)
	}
	me := e.agent.ID
	_, err = e.inbox.Update(ctx, siti.Conversation.ID, e.admin.ID, inbox.Change{AssigneeID: &me})
	must(err)
	in(inbox.ChannelEmail, "<s-2@mail>", "Siti Rahma", "Re: Order #1042 shipped",
		"Hi, the tracking number JNE 0123 4567 does not work on the JNE site.\n\nOn Mon, 23 Nov 2026 Toko Batik wrote:\n> Your order #1042 has shipped with JNE.\n> Tracking: JNE 0123 4567",
		email("siti@example.id"), inbox.Identity{Kind: inbox.KindWhatsApp, Value: "+6281234567890", Verified: true})
	fail, err := e.inbox.Reply(ctx, inbox.ReplyRequest{ConversationID: siti.Conversation.ID, AgentID: e.agent.ID, AgentName: e.agent.Name,
		Channel: inbox.ChannelEmail, Subject: "Re: Order #1042 shipped", Text: "Sorry Siti, here is the corrected tracking link."})
	must(err)
	_, err = e.store.UpdateDelivery(ctx, fail.ID, inbox.DeliveryUpdate{State: inbox.DeliveryFailed, Error: "550 5.1.1 mailbox temporarily unavailable", At: time.Now()})
	must(err)
	_, err = e.inbox.Note(ctx, inbox.NoteRequest{ConversationID: siti.Conversation.ID, AgentID: e.admin.ID, AgentName: e.admin.Name,
		Text: "@budi please check stock of Batik Tulis M in BDG before we promise a replacement.", Mentions: []string{e.agent.ID}})
	must(err)
	high := inbox.PriorityHigh
	tags := []string{"shipping", "vip"}
	_, err = e.inbox.Update(ctx, siti.Conversation.ID, e.agent.ID, inbox.Change{Priority: &high, Tags: &tags})
	must(err)
	in(inbox.ChannelWhatsApp, "wamid.s3", "Siti Rahma", "", "Ok kak, saya tunggu kabarnya ya. Terima kasih!", whatsapp("+6281234567890"))
	return demo{siti: siti, sitiConv: siti.Conversation.ID}
}
