package demo

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/serambi/serambi/commerce"
	"github.com/serambi/serambi/demo/shop"
	"github.com/serambi/serambi/inbox"
)

// startDemo runs a demo on a free port in dir, without the background simulation (tests drive the
// simulator themselves); it stops when the test ends.
func startDemo(t *testing.T, dir string) *Demo {
	t.Helper()
	d, err := Start(context.Background(), Options{Dir: dir, Listen: "127.0.0.1:0", Stderr: testWriter{t}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := d.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	t.Logf("demo started in %s (seeded: %v, seeding took %s): %d customers, %d products, %d orders, %d carts",
		d.StartTook, d.Seeded, d.SeedTook, len(d.World.Customers), len(d.World.Products), len(d.World.OrderIDs), len(d.World.CartIDs))
	return d
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// eventually polls cond for up to 20 seconds.
func eventually(t *testing.T, what string, cond func() (bool, error)) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	var last error
	for time.Now().Before(deadline) {
		ok, err := cond()
		if ok {
			return
		}
		last = err
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s (last error: %v)", what, last)
}

// customerWith finds a seeded customer the simulator can reach on ch.
func customerWith(t *testing.T, s *Simulator, ch inbox.Channel) int {
	t.Helper()
	for i, c := range s.cfg.World.Customers {
		if hasChannel(c, ch) && (ch == inbox.ChannelVoice && c.Phone != "" || s.canWrite(c, ch)) {
			return i
		}
	}
	t.Fatalf("the seeded world has no customer on %s", ch)
	return 0
}

// messageWith waits until customer's conversation holds a message on ch with text, and returns it.
func messageWith(t *testing.T, d *Demo, customerID string, ch inbox.Channel, text string) inbox.Message {
	t.Helper()
	ctx := context.Background()
	var found inbox.Message
	eventually(t, fmt.Sprintf("%q on %s in customer %s's conversation", text, ch, customerID), func() (bool, error) {
		conv, err := d.Instance.Inbox.ConversationOfCustomer(ctx, customerID)
		if err != nil {
			return false, err
		}
		msgs, err := d.Instance.Inbox.Messages(ctx, conv.ID, inbox.Cursor{}, 30)
		if err != nil {
			return false, err
		}
		for _, m := range msgs {
			if m.Channel == ch && strings.Contains(m.Text, text) {
				found = m
				return true, nil
			}
		}
		return false, nil
	})
	return found
}

// Every channel's real path puts a simulated customer's message into that seeded customer's own
// conversation: the simulator speaks each provider's wire format well enough that Serambi knows
// who wrote.
func TestSimulatedCustomersWriteOverEveryChannelPath(t *testing.T) {
	d := startDemo(t, t.TempDir())
	ctx := context.Background()
	sim := d.Simulator(200*time.Millisecond, 7)
	for _, ch := range []inbox.Channel{inbox.ChannelWhatsApp, inbox.ChannelTelegram, inbox.ChannelWidget, inbox.ChannelEmail} {
		t.Run(string(ch), func(t *testing.T) {
			i := customerWith(t, sim, ch)
			want, err := d.CustomerID(ctx, i)
			if err != nil {
				t.Fatalf("seeded customer %s is not in the store: %v", sim.cfg.World.Customers[i].Name, err)
			}
			text := fmt.Sprintf("demo test %s %d", ch, time.Now().UnixNano())
			if err := sim.Write(ctx, i, ch, text); err != nil {
				t.Fatal(err)
			}
			m := messageWith(t, d, want, ch, text)
			if m.CustomerID != want || m.Direction != inbox.DirectionIn {
				t.Fatalf("message stored for customer %s direction %s; want the seeded customer %s, inbound", m.CustomerID, m.Direction, want)
			}
		})
	}
	t.Run("voice", func(t *testing.T) {
		i := customerWith(t, sim, inbox.ChannelVoice)
		want, err := d.CustomerID(ctx, i)
		if err != nil {
			t.Fatal(err)
		}
		id, err := sim.Call(ctx, i, CallMissed)
		if err != nil {
			t.Fatal(err)
		}
		eventually(t, "the missed call in the caller's timeline", func() (bool, error) {
			m, err := d.Instance.Inbox.Store().MessageByExternalID(ctx, inbox.ChannelVoice, "cti:"+id)
			if err != nil {
				return false, err
			}
			if m.CustomerID != want {
				t.Fatalf("call recorded for customer %s, want the seeded caller %s", m.CustomerID, want)
			}
			msgs, err := d.Instance.Inbox.Messages(ctx, m.ConversationID, inbox.Cursor{}, 20)
			if err != nil {
				return false, err
			}
			for _, x := range msgs {
				if x.Event != nil && x.Event.Data["callId"] == "cti:"+id && x.Event.Data["state"] == "missed" {
					return true, nil
				}
			}
			return false, errors.New("no missed-call entry yet")
		})
	})
	t.Run("shop webhooks", func(t *testing.T) {
		st := d.Instance.Storage().Commerce
		what, err := sim.MoveOrder(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if what == "" {
			t.Fatal("no seeded order could move on: the world has no open numeric (Shopify) orders")
		}
		t.Log(what)
		what, err = sim.ChangeCart(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if what == "" {
			t.Fatal("no seeded cart could change")
		}
		t.Log(what)
		// The cart that changed is the one most recently touched by the shop.
		var newest commerce.Cart
		for _, id := range d.World.CartIDs {
			c, err := st.CartByID(ctx, id)
			if err == nil && c.ShopUpdatedAt.After(newest.ShopUpdatedAt) {
				newest = c
			}
		}
		if time.Since(newest.ShopUpdatedAt) > time.Minute || newest.Source != commerce.SourceShopify {
			t.Fatalf("no cart was updated by the Shopify webhook just now: newest %s at %s from %s", newest.ID, newest.ShopUpdatedAt, newest.Source)
		}
		if newest.CustomerID == "" {
			t.Errorf("cart %s lost its customer when Shopify (which names none) updated it", newest.ID)
		}
	})
}

// An agent's reply reaches the customer through the provider's stand-in, and the customer
// answers in the same conversation.
func TestCustomersAnswerAgentsReplies(t *testing.T) {
	d := startDemo(t, t.TempDir())
	ctx := context.Background()
	sim := d.Simulator(100*time.Millisecond, 11)
	sim.answerRate = 1
	sim.listen()
	i := customerWith(t, sim, inbox.ChannelTelegram)
	custID, err := d.CustomerID(ctx, i)
	if err != nil {
		t.Fatal(err)
	}
	if err := sim.Write(ctx, i, inbox.ChannelTelegram, "pesanan saya di mana ya kak?"); err != nil {
		t.Fatal(err)
	}
	messageWith(t, d, custID, inbox.ChannelTelegram, "pesanan saya di mana")
	conv, err := d.Instance.Inbox.ConversationOfCustomer(ctx, custID)
	if err != nil {
		t.Fatal(err)
	}
	agent, err := d.Instance.Agents.Store().AgentByEmail(ctx, AgentLogin().Email)
	if err != nil {
		t.Fatal(err)
	}
	reply, err := d.Instance.Inbox.Reply(ctx, inbox.ReplyRequest{ConversationID: conv.ID, AgentID: agent.ID, AgentName: agent.Name,
		Channel: inbox.ChannelTelegram, Text: "Sudah dikirim kak, resi JNE menyusul."})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "the Telegram stand-in to receive the reply", func() (bool, error) {
		for _, s := range d.Telegram.Sent() {
			if s.ChatID == sim.cfg.World.Customers[i].TelegramID && strings.Contains(s.Text, "resi JNE menyusul") {
				return true, nil
			}
		}
		return false, nil
	})
	eventually(t, "the reply marked sent", func() (bool, error) {
		m, err := d.Instance.Inbox.Store().MessageByID(ctx, reply.ID)
		return m.Delivery == inbox.DeliverySent, err
	})
	var answered string
	eventually(t, "the customer's answer", func() (bool, error) {
		what, err := sim.Step(ctx)
		if err != nil {
			return false, err
		}
		answered = what
		return strings.Contains(what, "answered on telegram"), nil
	})
	t.Log(answered)
	msgs, err := d.Instance.Inbox.Messages(ctx, conv.ID, inbox.Cursor{}, 5)
	if err != nil {
		t.Fatal(err)
	}
	if msgs[0].Direction != inbox.DirectionIn || msgs[0].Channel != inbox.ChannelTelegram || msgs[0].CreatedAt.Before(reply.CreatedAt) {
		t.Fatalf("newest message is %s on %s: %q; want the customer's answer on Telegram", msgs[0].Direction, msgs[0].Channel, msgs[0].Text)
	}
}

// A second start on the same directory serves the same shop: nothing is seeded again, the logins
// still work, and the mailbox (kept on disk) still takes new mail that Serambi imports.
func TestRestartKeepsTheShopAndDoesNotReseed(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	first := startDemo(t, dir)
	if !first.Seeded {
		t.Fatal("the first start did not seed")
	}
	sim := first.Simulator(100*time.Millisecond, 3)
	i := customerWith(t, sim, inbox.ChannelEmail)
	custID, err := first.CustomerID(ctx, i)
	if err != nil {
		t.Fatal(err)
	}
	if err := sim.Write(ctx, i, inbox.ChannelEmail, "mail before the restart"); err != nil {
		t.Fatal(err)
	}
	messageWith(t, first, custID, inbox.ChannelEmail, "mail before the restart")
	countBefore, err := first.Instance.Inbox.Store().CountConversations(ctx, inbox.ConversationFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if err := first.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}

	second := startDemo(t, dir)
	if second.Seeded {
		t.Fatal("the second start seeded again")
	}
	countAfter, err := second.Instance.Inbox.Store().CountConversations(ctx, inbox.ConversationFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if countAfter != countBefore {
		t.Fatalf("%d conversations after the restart, %d before", countAfter, countBefore)
	}
	if len(second.World.Customers) != len(first.World.Customers) || second.World.Customers[i].Email != first.World.Customers[i].Email {
		t.Fatal("the restarted demo simulates a different world than the one it seeded")
	}
	if again, err := second.CustomerID(ctx, i); err != nil || again != custID {
		t.Fatalf("customer %d is %q after the restart (%v), was %s", i, again, err, custID)
	}
	if _, _, _, err := second.Instance.Agents.Login(ctx, AgentLogin().Email, AgentLogin().Password, "127.0.0.1", "test"); err != nil {
		t.Fatalf("demo agent cannot log in after the restart: %v", err)
	}
	sim2 := second.Simulator(100*time.Millisecond, 4)
	if err := sim2.Write(ctx, i, inbox.ChannelEmail, "mail after the restart"); err != nil {
		t.Fatal(err)
	}
	messageWith(t, second, custID, inbox.ChannelEmail, "mail after the restart")
	if n := len(mustGlob(t, filepath.Join(dir, "mailbox", "*.eml"))); n != 2 {
		t.Errorf("the demo mailbox keeps %d mails on disk, want 2", n)
	}
}

func mustGlob(t *testing.T, pattern string) []string {
	t.Helper()
	m, err := filepath.Glob(pattern)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// The demo never takes over a real install's data directory.
func TestRefusesADirectoryWithSomeoneElsesStore(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "serambi.db"), []byte("not ours"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Start(context.Background(), Options{Dir: dir, Listen: "127.0.0.1:0", Reset: true})
	if err == nil || !strings.Contains(err.Error(), "did not make") {
		t.Fatalf("Start on a foreign data dir: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "serambi.db")); err != nil {
		t.Fatalf("the foreign store is gone: %v", err)
	}
}

// The demo's settings reach every connector through the variables a real install uses, over
// the process environment, which keeps its say on logging.
func TestEnvironmentOverlay(t *testing.T) {
	d := startDemo(t, t.TempDir())
	env := d.Env(func(k string) string {
		return map[string]string{"SERAMBI_LOG_LEVEL": "debug", "SERAMBI_TELEGRAM_TOKEN": "1:not-the-demo", "SERAMBI_MONGODB_URI": "mongodb://prod"}[k]
	}, "/tmp/x", "127.0.0.1:0")
	tests := []struct{ key, want string }{
		{"SERAMBI_LOG_LEVEL", "debug"},
		{"SERAMBI_LOG_FORMAT", "text"},
		{"SERAMBI_TELEGRAM_TOKEN", d.Secrets.TelegramToken},
		{"SERAMBI_MONGODB_URI", ""},
		{"SERAMBI_DATA_DIR", "/tmp/x"},
		{"SERAMBI_EMAIL_IMAP_TLS", "none"},
		{"SERAMBI_TELEGRAM_MODE", "webhook"},
		{"SERAMBI_VOICE_CTI_TOKEN", d.Secrets.CTIToken},
	}
	for _, tc := range tests {
		if got := env(tc.key); got != tc.want {
			t.Errorf("%s = %q, want %q", tc.key, got, tc.want)
		}
	}
	if got := d.Telegram.Webhook(); !strings.HasPrefix(got, "https://") {
		t.Errorf("the Telegram connector registered webhook %q", got)
	}
	if _, err := os.Stat(filepath.Join(t.TempDir(), "x")); !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	// The product images are served.
	if len(d.World.Products) > 0 {
		sku := d.World.Products[0].SKU
		if _, ok := shop.ProductImageSVG(sku); ok {
			resp, err := d.Simulator(time.Second, 1).client.Get(d.Instance.URL() + "/demo/img/" + sku + ".svg")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "image/svg+xml" {
				t.Errorf("product image: %s %s", resp.Status, resp.Header.Get("Content-Type"))
			}
		}
	}
}
