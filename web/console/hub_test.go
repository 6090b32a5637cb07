package console_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/serambi/serambi/agents"
	"github.com/serambi/serambi/inbox"
	"github.com/serambi/serambi/web/console"
)

// wsClient is a console tab's socket, speaking the protocol console.js speaks.
type wsClient struct {
	t    testing.TB
	conn *websocket.Conn
	seq  uint64
}

type frame struct {
	Seq uint64 `json:"seq"`
	Ops []struct {
		Op     string          `json:"op"`
		ID     string          `json:"id"`
		Conv   string          `json:"conv"`
		Sort   string          `json:"sort"`
		HTML   string          `json:"html"`
		Agent  string          `json:"agent"`
		State  string          `json:"state"`
		Values json.RawMessage `json:"values"`
	} `json:"ops"`
}

func (c *client) socket(t testing.TB) *wsClient {
	t.Helper()
	u, _ := url.Parse(c.e.srv.URL)
	h := http.Header{"Origin": {c.e.srv.URL}}
	for _, ck := range c.http.Jar.Cookies(u) {
		h.Add("Cookie", ck.Name+"="+ck.Value)
	}
	conn, res, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(c.e.srv.URL, "http")+"/ws", h)
	if err != nil {
		status := 0
		if res != nil {
			status = res.StatusCode
		}
		t.Fatalf("dial: %v (status %d)", err, status)
	}
	t.Cleanup(func() { conn.Close() })
	return &wsClient{t: t, conn: conn}
}

func (w *wsClient) view(hub, conv, list string, since uint64) {
	w.t.Helper()
	if err := w.conn.WriteJSON(map[string]any{"t": "view", "hub": hub, "conv": conv, "list": list, "since": since}); err != nil {
		w.t.Fatal(err)
	}
}

// next reads frames until match accepts one.
func (w *wsClient) next(what string, match func(frame) bool) frame {
	w.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		_ = w.conn.SetReadDeadline(deadline)
		_, b, err := w.conn.ReadMessage()
		if err != nil {
			w.t.Fatalf("waiting for %s: %v", what, err)
		}
		var f frame
		if err := json.Unmarshal(b, &f); err != nil {
			w.t.Fatalf("frame %s: %v", b, err)
		}
		if f.Seq > w.seq {
			w.seq = f.Seq
		}
		if match(f) {
			return f
		}
	}
}

func hasOp(op, id string) func(frame) bool {
	return func(f frame) bool {
		for _, o := range f.Ops {
			if o.Op == op && (id == "" || o.ID == id) {
				return true
			}
		}
		return false
	}
}

func opHTML(f frame, op string) string {
	for _, o := range f.Ops {
		if o.Op == op {
			return o.HTML
		}
	}
	return ""
}

func TestSocketRefusesOtherOrigins(t *testing.T) {
	e := newEnv(t).withAgents()
	c := e.login("budi@toko.id")
	u, _ := url.Parse(e.srv.URL)
	h := http.Header{"Origin": {"https://evil.example"}}
	for _, ck := range c.http.Jar.Cookies(u) {
		h.Add("Cookie", ck.Name+"="+ck.Value)
	}
	_, res, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(e.srv.URL, "http")+"/ws", h)
	if err == nil || res == nil || res.StatusCode != http.StatusForbidden {
		t.Fatalf("a socket from another origin: err %v, response %v; want 403", err, res)
	}
}

func TestSocketPushesRenderedFragments(t *testing.T) {
	e := newEnv(t).withAgents()
	first := e.ingest(inbox.ChannelWhatsApp, "wamid.1", whatsapp("+6281234567890"), "Siti Rahma", "halo")
	c := e.login("budi@toko.id")
	hub := e.console.Hub()
	w := c.socket(t)
	w.view(hub.ID(), first.Conversation.ID, "view=all", hub.Seq())
	w.next("caught up", func(f frame) bool { return len(f.Ops) == 0 && f.Seq == hub.Seq() })

	second := e.ingest(inbox.ChannelWhatsApp, "wamid.2", whatsapp("+6281234567890"), "Siti Rahma", "<b>kapan</b> dikirim?")
	// Matched by id and text: the hub may still be delivering the first message's events, which
	// the socket gets too when they land after it subscribed.
	msg := w.next("the new message", hasOp("msg", "msg-"+second.Message.ID))
	html := opHTML(msg, "msg")
	if !strings.Contains(html, "&lt;b&gt;kapan&lt;/b&gt; dikirim?") || !strings.Contains(html, `class="item dir-in"`) {
		t.Fatalf("pushed message fragment:\n%s", html)
	}
	row := w.next("the list row with the new message", func(f frame) bool {
		return hasOp("row", "row-"+first.Conversation.ID)(f) && strings.Contains(opHTML(f, "row"), "dikirim?")
	})
	if !strings.Contains(opHTML(row, "row"), "Siti Rahma") {
		t.Fatalf("pushed row:\n%s", opHTML(row, "row"))
	}

	// Assigning to someone else takes it out of a "mine" list and updates the open header.
	w.view(hub.ID(), first.Conversation.ID, "view=mine", w.seq)
	w.next("caught up", func(f frame) bool { return len(f.Ops) == 0 && f.Seq > 0 })
	admin := e.admin.ID
	if _, err := e.inbox.Update(t.Context(), first.Conversation.ID, e.admin.ID, inbox.Change{AssigneeID: &admin}); err != nil {
		t.Fatal(err)
	}
	f := w.next("the header and the row leaving", hasOp("unrow", "row-"+first.Conversation.ID))
	if !hasOp("replace", "conv-head-"+first.Conversation.ID)(f) {
		t.Fatalf("no header update in %+v", f)
	}
}

// TestSocketCatchesUp is the protocol behind gap-free live updates: a socket that reconnects
// with the last sequence it saw gets every event it missed, in order; one that missed more than
// the ring holds, or comes from another hub, is told to reload.
func TestSocketCatchesUp(t *testing.T) {
	e := newEnv(t, func(o *console.Options, _ *agents.Config) { o.RingSize = 16 }).withAgents()
	res := e.ingest(inbox.ChannelWhatsApp, "wamid.0", whatsapp("+6281234567890"), "Siti Rahma", "pesan 0")
	conv := res.Conversation.ID
	c := e.login("budi@toko.id")
	hub := e.console.Hub()
	w := c.socket(t)
	w.view(hub.ID(), conv, "view=all", hub.Seq())
	w.next("caught up", func(f frame) bool { return len(f.Ops) == 0 && f.Seq == hub.Seq() })
	last := w.seq
	w.conn.Close()

	for i := 1; i <= 3; i++ {
		e.ingest(inbox.ChannelWhatsApp, fmt.Sprintf("wamid.%d", i), whatsapp("+6281234567890"), "Siti Rahma", fmt.Sprintf("pesan %d", i))
	}
	eventually(t, "the hub to see six more events", func() bool { return hub.Seq() >= last+6 })

	w2 := c.socket(t)
	w2.view(hub.ID(), conv, "view=all", last)
	var got []string
	var seqs []uint64
	w2.next("every missed message", func(f frame) bool {
		for _, o := range f.Ops {
			if o.Op == "msg" {
				got = append(got, o.HTML)
				seqs = append(seqs, f.Seq)
			}
		}
		return len(f.Ops) == 0 && f.Seq == hub.Seq()
	})
	if len(got) != 3 {
		t.Fatalf("replayed %d messages, want 3", len(got))
	}
	for i, h := range got {
		if !strings.Contains(h, fmt.Sprintf("pesan %d", i+1)) {
			t.Errorf("replayed message %d is %q", i, h)
		}
		if seqs[i] <= last || (i > 0 && seqs[i] <= seqs[i-1]) {
			t.Errorf("replayed sequences %v are not increasing after %d", seqs, last)
		}
	}

	// Too far behind: more events than the ring holds.
	w2.conn.Close()
	behind := hub.Seq()
	for i := 4; i <= 15; i++ {
		e.ingest(inbox.ChannelWhatsApp, fmt.Sprintf("wamid.%d", i), whatsapp("+6281234567890"), "Siti Rahma", fmt.Sprintf("pesan %d", i))
	}
	eventually(t, "the ring to wrap", func() bool { return hub.Seq() > behind+16 })
	w3 := c.socket(t)
	w3.view(hub.ID(), conv, "view=all", behind)
	w3.next("a reload", hasOp("reload", ""))

	// Another hub's numbers mean nothing here.
	w4 := c.socket(t)
	w4.view("some-other-hub", conv, "view=all", hub.Seq())
	w4.next("a reload", hasOp("reload", ""))
}

func TestSocketPresenceTypingAndMentions(t *testing.T) {
	e := newEnv(t).withAgents()
	res := e.ingest(inbox.ChannelWhatsApp, "wamid.1", whatsapp("+6281234567890"), "Siti Rahma", "halo")
	conv := res.Conversation.ID
	hub := e.console.Hub()
	budi := e.login("budi@toko.id").socket(t)
	budi.view(hub.ID(), conv, "view=all", hub.Seq())
	budi.next("caught up", func(f frame) bool { return len(f.Ops) == 0 })
	dewiClient := e.login("dewi@toko.id")
	dewi := dewiClient.socket(t)
	budi.next("Dewi online", func(f frame) bool {
		return hasOp("presence", "")(f) && f.Ops[0].Agent == e.admin.ID && f.Ops[0].State == "online"
	})
	dewi.view(hub.ID(), conv, "", hub.Seq())
	f := budi.next("Dewi viewing", hasOp("replace", "collab-"+conv))
	if h := opHTML(f, "replace"); !strings.Contains(h, "Dewi Lestari is viewing") {
		t.Fatalf("collaborators: %s", h)
	}
	if err := dewi.conn.WriteJSON(map[string]string{"t": "typing", "conv": conv}); err != nil {
		t.Fatal(err)
	}
	f = budi.next("Dewi typing", func(f frame) bool { return strings.Contains(opHTML(f, "replace"), "Dewi Lestari is typing") })
	_ = f
	if err := dewi.conn.WriteJSON(map[string]string{"t": "away"}); err != nil {
		t.Fatal(err)
	}
	budi.next("Dewi away", func(f frame) bool { return hasOp("presence", "")(f) && f.Ops[0].State == "away" })

	// Dewi mentions Budi in a note: Budi gets a toast, Dewi does not.
	r := dewiClient.htmx("/conversations/"+conv+"/send", url.Values{"mode": {"note"}, "text": {"@budi tolong cek"}})
	if r.status != 200 {
		t.Fatalf("note: %d %s", r.status, r.body)
	}
	toast := budi.next("the mention toast", hasOp("toast", ""))
	if h := opHTML(toast, "toast"); !strings.Contains(h, "Dewi Lestari mentioned you on Siti Rahma") {
		t.Fatalf("toast: %s", h)
	}
	dewi.conn.Close()
	budi.next("Dewi offline", func(f frame) bool { return hasOp("presence", "")(f) && f.Ops[0].State == "offline" })
}

func TestSocketCountsFollowChanges(t *testing.T) {
	e := newEnv(t).withAgents()
	hub := e.console.Hub()
	w := e.login("budi@toko.id").socket(t)
	w.view(hub.ID(), "", "view=all", hub.Seq())
	w.next("caught up", func(f frame) bool { return len(f.Ops) == 0 })
	e.ingest(inbox.ChannelWhatsApp, "wamid.1", whatsapp("+6281234567890"), "Siti Rahma", "halo")
	f := w.next("counts", hasOp("counts", ""))
	var v map[string]int
	_ = json.Unmarshal(f.Ops[0].Values, &v)
	if v["all"] != 1 || v["unassigned"] != 1 || v["mine"] != 0 {
		t.Fatalf("counts %v; want all 1, unassigned 1, mine 0", v)
	}
}

// A socket is authenticated when it opens; when its session ends elsewhere (sign-out on another
// tab, a password change) the hub closes it too.
func TestSocketClosesWhenItsSessionEnds(t *testing.T) {
	e := newEnv(t).withAgents()
	c := e.login("budi@toko.id")
	w := c.socket(t)
	hub := e.console.Hub()
	w.view(hub.ID(), "", "view=all", hub.Seq())
	w.next("caught up", func(f frame) bool { return len(f.Ops) == 0 })
	if err := e.agents.SetPassword(t.Context(), e.agent.ID, "a brand new password"); err != nil {
		t.Fatal(err)
	}
	_ = w.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		if _, _, err := w.conn.ReadMessage(); err != nil {
			if ne, ok := err.(interface{ Timeout() bool }); ok && ne.Timeout() {
				t.Fatal("the socket stayed open after its session ended")
			}
			return
		}
	}
}
