package console_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/serambi/serambi/agents"
	"github.com/serambi/serambi/inbox"
	"github.com/serambi/serambi/notifications"
	"github.com/serambi/serambi/web/console"
)

// The benchmarks report server time (request in, last byte out, measured around the echo handler
// with no network in between) and p50/p99 over their iterations. They assert nothing about time.

func reportPercentiles(b *testing.B, d []time.Duration) {
	if len(d) == 0 {
		return
	}
	slices.Sort(d)
	at := func(p float64) float64 { return float64(d[int(p*float64(len(d)-1))].Microseconds()) / 1000 }
	b.ReportMetric(at(0.50), "p50-ms")
	b.ReportMetric(at(0.99), "p99-ms")
}

func sessionCookie(b *testing.B, c *client) string {
	u, _ := url.Parse(c.e.srv.URL)
	for _, ck := range c.http.Jar.Cookies(u) {
		if ck.Name == "serambi_session" {
			return ck.Name + "=" + ck.Value
		}
	}
	b.Fatal("no session cookie")
	return ""
}

func serverTime(b *testing.B, e *env, cookie, path string, htmx bool) {
	b.Helper()
	req := httptest.NewRequest(http.MethodGet, path, nil)
	req.Header.Set("Cookie", cookie)
	if htmx {
		req.Header.Set("HX-Request", "true")
		req.Header.Set("HX-Target", "work")
	}
	rec := httptest.NewRecorder()
	e.handler.ServeHTTP(rec, req)
	if rec.Code != 200 {
		b.Fatalf("%s: %d %s", path, rec.Code, rec.Body.String())
	}
	durations := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		rec := httptest.NewRecorder()
		start := time.Now()
		e.handler.ServeHTTP(rec, req)
		durations = append(durations, time.Since(start))
	}
	b.StopTimer()
	reportPercentiles(b, durations)
	b.ReportMetric(float64(rec.Body.Len())/1024, "KiB/page")
}

// BenchmarkConversationPage: a conversation with 2,000 messages in its timeline, first page of 50.
func BenchmarkConversationPage(b *testing.B) {
	e := newEnvWith(b, withNotifications).withAgents()
	ctx := context.Background()
	var conv string
	for i := 0; i < 2000; i++ {
		ch, from := inbox.ChannelWhatsApp, whatsapp("+6281234567890")
		if i%3 == 1 {
			ch, from = inbox.ChannelEmail, email("siti@example.id")
		}
		res, err := e.inbox.Ingest(ctx, inbox.Inbound{Channel: ch, ExternalID: fmt.Sprintf("m-%d", i), Name: "Siti Rahma",
			From:    []inbox.Identity{from, {Kind: inbox.KindWhatsApp, Value: "+6281234567890", Verified: true}},
			Subject: "Re: Order #1042", Text: fmt.Sprintf("Message %d: pesanan saya belum sampai, mohon dicek ya kak.\nTerima kasih.", i)})
		if err != nil {
			b.Fatal(err)
		}
		conv = res.Conversation.ID
		if i%10 == 5 {
			if _, err := e.inbox.Note(ctx, inbox.NoteRequest{ConversationID: conv, AgentID: e.admin.ID, AgentName: e.admin.Name, Text: "@budi cek stok"}); err != nil {
				b.Fatal(err)
			}
		}
	}
	waitIdle(b, e)
	cookie := sessionCookie(b, e.login("budi@toko.id"))
	b.Run("full page", func(b *testing.B) { serverTime(b, e, cookie, "/conversations/"+conv+"?view=all", false) })
	b.Run("htmx fragment", func(b *testing.B) { serverTime(b, e, cookie, "/conversations/"+conv, true) })
}

// BenchmarkInboxList: the list of 50 newest conversations out of many. SERAMBI_BENCH_CONVERSATIONS
// sets how many (default 10,000; the target is measured at 100,000).
func BenchmarkInboxList(b *testing.B) {
	n := 10_000
	if v, err := strconv.Atoi(os.Getenv("SERAMBI_BENCH_CONVERSATIONS")); err == nil && v > 0 {
		n = v
	}
	e := newEnvWith(b, withNotifications).withAgents()
	ctx := context.Background()
	start := time.Now()
	var wg sync.WaitGroup
	work := make(chan int)
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				from := whatsapp(fmt.Sprintf("+628%010d", i))
				if _, err := e.inbox.Ingest(ctx, inbox.Inbound{Channel: inbox.ChannelWhatsApp, ExternalID: fmt.Sprintf("w-%d", i),
					Name: fmt.Sprintf("Customer %d", i), From: []inbox.Identity{from}, Text: "Halo kak, apakah barang ini masih ada?"}); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	for i := 0; i < n; i++ {
		work <- i
	}
	close(work)
	wg.Wait()
	b.Logf("seeded %d conversations in %s", n, time.Since(start).Round(time.Millisecond))
	waitIdle(b, e)
	cookie := sessionCookie(b, e.login("budi@toko.id"))
	b.Run("list fragment", func(b *testing.B) { serverTime(b, e, cookie, "/list?view=all", true) })
	b.Run("full page", func(b *testing.B) { serverTime(b, e, cookie, "/?view=all", false) })
}

// BenchmarkFanout: 200 console sockets (4 agents, two languages) show the inbox list and 100 of
// them the conversation; each iteration ingests a message and waits until every socket has the
// rendered fragment. Latency is from Ingest returning (committed and published) to arrival.
func BenchmarkFanout(b *testing.B) {
	const sockets = 200
	e := newEnv(b, func(o *console.Options, _ *agents.Config) { o.SendBuffer = 1024 }).withAgents()
	res := e.ingest(inbox.ChannelWhatsApp, "wamid.f0", whatsapp("+6281234567890"), "Siti Rahma", "halo")
	conv := res.Conversation.ID
	ctx := context.Background()
	var clients []*client
	for i := 0; i < 4; i++ {
		email := fmt.Sprintf("agent%d@toko.id", i)
		if _, err := e.agents.Create(ctx, agents.NewAgent{Email: email, Name: fmt.Sprintf("Agent %d", i), Password: password,
			Role: agents.RoleAgent, Locale: []string{"en", "id"}[i%2]}); err != nil {
			b.Fatal(err)
		}
		clients = append(clients, e.login(email))
	}
	hub := e.console.Hub()
	type arrival struct {
		id string
		at time.Time
	}
	arrivals := make(chan arrival, sockets*4)
	var conns []*websocket.Conn
	for i := 0; i < sockets; i++ {
		w := clients[i%4].socket(b)
		view := ""
		if i%2 == 0 {
			view = conv
		}
		w.view(hub.ID(), view, "view=all", hub.Seq())
		conns = append(conns, w.conn)
		go func(c *websocket.Conn) {
			for {
				_, msg, err := c.ReadMessage()
				if err != nil {
					return
				}
				if i := bytes.Index(msg, []byte(`"id":"msg-`)); i >= 0 {
					arrivals <- arrival{string(msg[i+10 : i+10+26]), time.Now()}
				} else if i := bytes.Index(msg, []byte(`"op":"row"`)); i >= 0 && bytes.Contains(msg, []byte("wamid")) {
					_ = i
				}
			}
		}(w.conn)
	}
	eventually(b, "all sockets registered", func() bool { return hub.Sockets() == sockets })
	time.Sleep(200 * time.Millisecond) // let the subscribe replies drain
	var lat []time.Duration
	var ingest []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		r, err := e.inbox.Ingest(ctx, inbox.Inbound{Channel: inbox.ChannelWhatsApp, ExternalID: fmt.Sprintf("wamid.b%d", i),
			From: []inbox.Identity{whatsapp("+6281234567890")}, Text: fmt.Sprintf("pesan %d", i)})
		if err != nil {
			b.Fatal(err)
		}
		committed := time.Now()
		ingest = append(ingest, committed.Sub(t0))
		want := sockets / 2 // the sockets that show the conversation get the message fragment
		got := 0
		timeout := time.After(10 * time.Second)
		for got < want {
			select {
			case a := <-arrivals:
				if a.id == r.Message.ID {
					got++
					lat = append(lat, a.at.Sub(committed))
				}
			case <-timeout:
				b.Fatalf("iteration %d: %d of %d sockets got the message", i, got, want)
			}
		}
	}
	b.StopTimer()
	reportPercentiles(b, lat)
	slices.Sort(ingest)
	b.ReportMetric(float64(ingest[len(ingest)/2].Microseconds())/1000, "ingest-p50-ms")
	for _, c := range conns {
		c.Close()
	}
}

// waitIdle waits until the hub has handled the events of the seeding, so they do not run
// beside the timed requests.
func waitIdle(b *testing.B, e *env) {
	last := e.console.Hub().Seq()
	for {
		time.Sleep(300 * time.Millisecond)
		now := e.console.Hub().Seq()
		if now == last {
			return
		}
		last = now
	}
}

// withNotifications turns the bell on, as in production: every page then also counts the
// agent's unread notifications.
func withNotifications(e *env, d *console.Deps) {
	d.Notifications = notifications.New(e.store, e.inbox, e.bus, time.Now)
}
