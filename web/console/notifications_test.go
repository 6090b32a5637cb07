package console_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/serambi/serambi/inbox"
	"github.com/serambi/serambi/notifications"
	"github.com/serambi/serambi/web/console"
)

// newNotifyEnv is the console with notifications on the env's SQLite store, and its agents:
// Dewi (admin, @dewi) and Budi (agent, @budi).
func newNotifyEnv(t *testing.T) (*env, *notifications.Service) {
	t.Helper()
	var svc *notifications.Service
	e := newEnvWith(t, func(e *env, d *console.Deps) {
		svc = notifications.New(e.store, e.inbox, e.bus, time.Now)
		d.Notifications = svc
	}).withAgents()
	return e, svc
}

func listOf(t *testing.T, svc *notifications.Service, agentID string) []notifications.Notification {
	t.Helper()
	list, err := svc.List(t.Context(), agentID, notifications.Cursor{}, notifications.MaxPage)
	if err != nil {
		t.Fatal(err)
	}
	return list
}

// bellCount is the number the page's bell shows: "" when it shows none, "-" when there is no bell.
func bellCount(page string) string {
	i := strings.Index(page, `id="bell"`)
	if i < 0 {
		return "-"
	}
	end := strings.Index(page[i:], "</a>")
	bell := page[i : i+end]
	m := regexpMust(`class="bell-count"[^>]*>([^<]*)<`).FindStringSubmatch(bell)
	if m == nil {
		return ""
	}
	return m[1]
}

func TestMentionNotifiesAnAgentWhoIsAway(t *testing.T) {
	e, svc := newNotifyEnv(t)
	res := e.ingest(inbox.ChannelWhatsApp, "wamid.1", whatsapp("+6281234567890"), "Siti Rahma", "apakah ukuran M ada?")
	conv := res.Conversation.ID
	budi := e.login("budi@toko.id")

	// Dewi has no console open: only the stored notification can tell her.
	note := budi.htmx("/conversations/"+conv+"/send", url.Values{"mode": {"note"}, "text": {"@dewi please check stock in BDG"}})
	if note.status != http.StatusOK {
		t.Fatalf("note: %d %s", note.status, trim(note.body))
	}
	list := listOf(t, svc, e.admin.ID)
	if len(list) != 1 {
		t.Fatalf("Dewi has %d notifications after one note mentioning her, want 1", len(list))
	}
	n := list[0]
	if n.Kind != notifications.KindMention || n.ActorID != e.agent.ID || n.ConversationID != conv || n.Excerpt != "@dewi please check stock in BDG" || n.Read() {
		t.Fatalf("notification %+v", n)
	}
	if got := listOf(t, svc, e.agent.ID); len(got) != 0 {
		t.Errorf("the author was notified of their own note: %+v", got)
	}

	// The same stored note processed again (a repeat of the notify step) notifies nobody twice.
	stored, err := e.inbox.Messages(t.Context(), conv, inbox.Cursor{}, 1)
	if err != nil {
		t.Fatal(err)
	}
	if again, err := svc.Mentioned(t.Context(), stored[0]); err != nil || len(again) != 0 {
		t.Fatalf("processing the note again: %d new, %v", len(again), err)
	}
	if got := listOf(t, svc, e.admin.ID); len(got) != 1 {
		t.Fatalf("Dewi has %d notifications after the note was processed twice, want 1", len(got))
	}

	// When Dewi comes back the bell says so on every page, and the list shows the note.
	dewi := e.login("dewi@toko.id")
	for _, path := range []string{"/", "/conversations/" + conv, "/settings", "/admin/agents"} {
		if got := bellCount(dewi.get(path, nil).body); got != "1" {
			t.Errorf("Dewi's bell on %s shows %q, want 1", path, got)
		}
	}
	if got := bellCount(budi.get("/", nil).body); got != "" {
		t.Errorf("Budi's bell shows %q, want no count", got)
	}
	page := dewi.get("/notifications", nil)
	if page.status != http.StatusOK || !strings.Contains(page.body, "Budi Santoso mentioned you on Siti Rahma") ||
		!strings.Contains(page.body, "@dewi please check stock in BDG") || !strings.Contains(page.body, `class="notif unread"`) {
		t.Fatalf("Dewi's notifications page: %d %s", page.status, trim(page.body))
	}
	if other := budi.get("/notifications", nil); strings.Contains(other.body, "check stock") || !strings.Contains(other.body, "Nothing here yet") {
		t.Errorf("Budi's notifications page shows Dewi's notification or no empty state: %s", trim(other.body))
	}

	// Opening it takes her to the conversation and marks it read.
	open := "/notifications/" + n.ID + "/open"
	if r := dewi.post(open, url.Values{}, nil); r.status != http.StatusForbidden {
		t.Errorf("opening without a CSRF token: status %d, want 403", r.status)
	}
	if r := budi.post(open, url.Values{"_csrf": {budi.csrf}}, nil); r.status != http.StatusNotFound {
		t.Errorf("Budi opening Dewi's notification: status %d, want 404", r.status)
	}
	if got := listOf(t, svc, e.admin.ID); got[0].Read() {
		t.Fatalf("refused requests marked the notification read")
	}
	r := dewi.post(open, url.Values{"_csrf": {dewi.csrf}}, nil)
	if r.status != http.StatusSeeOther || r.header.Get("Location") != "/conversations/"+conv {
		t.Fatalf("opening: %d to %q, want 303 to the conversation", r.status, r.header.Get("Location"))
	}
	if got := listOf(t, svc, e.admin.ID); !got[0].Read() {
		t.Errorf("opening the notification left it unread")
	}
	if got := bellCount(dewi.get("/", nil).body); got != "" {
		t.Errorf("after opening, Dewi's bell shows %q, want no count", got)
	}
	if page := dewi.get("/notifications", nil); strings.Contains(page.body, `class="notif unread"`) || !strings.Contains(page.body, `class="notif"`) {
		t.Errorf("the opened notification is still highlighted or gone: %s", trim(page.body))
	}
}

func TestMarkAllNotificationsRead(t *testing.T) {
	e, svc := newNotifyEnv(t)
	res := e.ingest(inbox.ChannelWhatsApp, "wamid.1", whatsapp("+6281234567890"), "Siti Rahma", "halo")
	budi, dewi := e.login("budi@toko.id"), e.login("dewi@toko.id")
	for _, text := range []string{"@dewi one", "@dewi two", "@budi for Budi"} {
		author := budi
		if strings.Contains(text, "@budi") {
			author = dewi
		}
		if r := author.htmx("/conversations/"+res.Conversation.ID+"/send", url.Values{"mode": {"note"}, "text": {text}}); r.status != http.StatusOK {
			t.Fatalf("note %q: %d", text, r.status)
		}
	}
	if got := bellCount(dewi.get("/notifications", nil).body); got != "2" {
		t.Fatalf("Dewi's bell shows %q, want 2", got)
	}
	if r := dewi.post("/notifications/read-all", url.Values{}, nil); r.status != http.StatusForbidden {
		t.Errorf("mark all read without a CSRF token: status %d, want 403", r.status)
	}
	if r := dewi.post("/notifications/read-all", url.Values{"_csrf": {budi.csrf}}, nil); r.status != http.StatusForbidden {
		t.Errorf("mark all read with another session's token: status %d, want 403", r.status)
	}
	if got := bellCount(dewi.get("/", nil).body); got != "2" {
		t.Fatalf("refused requests changed Dewi's bell to %q", got)
	}
	r := dewi.post("/notifications/read-all", url.Values{"_csrf": {dewi.csrf}}, nil)
	if r.status != http.StatusSeeOther || r.header.Get("Location") != "/notifications" {
		t.Fatalf("mark all read: %d to %q", r.status, r.header.Get("Location"))
	}
	if got := bellCount(dewi.get("/", nil).body); got != "" {
		t.Errorf("after mark all read Dewi's bell shows %q", got)
	}
	for _, n := range listOf(t, svc, e.admin.ID) {
		if !n.Read() {
			t.Errorf("notification %s is unread after mark all read", n.Excerpt)
		}
	}
	budiList := listOf(t, svc, e.agent.ID)
	if len(budiList) != 1 || budiList[0].Read() {
		t.Errorf("Dewi's mark all read touched Budi's notifications: %+v", budiList)
	}
	// htmx gets the next page as HX-Location rather than a redirect it would follow itself.
	if r := dewi.htmx("/notifications/read-all", url.Values{}); r.status != http.StatusOK || r.header.Get("HX-Location") != "/notifications" {
		t.Errorf("mark all read over htmx: %d, HX-Location %q", r.status, r.header.Get("HX-Location"))
	}
}

func TestAssignmentNotifiesTheAssignee(t *testing.T) {
	e, svc := newNotifyEnv(t)
	res := e.ingest(inbox.ChannelWhatsApp, "wamid.1", whatsapp("+6281234567890"), "Siti Rahma", "pesanan saya belum sampai")
	conv := res.Conversation.ID
	budi, dewi := e.login("budi@toko.id"), e.login("dewi@toko.id")
	assign := func(c *client, to string) {
		t.Helper()
		if r := c.htmx("/conversations/"+conv+"/assign", url.Values{"assignee": {to}}); r.status != http.StatusOK {
			t.Fatalf("assign to %s: %d %s", to, r.status, trim(r.body))
		}
	}
	count := func(agentID string) int {
		t.Helper()
		return len(listOf(t, svc, agentID))
	}

	assign(budi, "me") // taking it oneself notifies nobody
	if n := count(e.agent.ID); n != 0 {
		t.Fatalf("Budi was notified of taking the conversation himself (%d)", n)
	}
	assign(budi, e.admin.ID) // Budi hands it to Dewi
	list := listOf(t, svc, e.admin.ID)
	if len(list) != 1 || list[0].Kind != notifications.KindAssigned || list[0].ActorID != e.agent.ID || list[0].ConversationID != conv {
		t.Fatalf("Dewi's notifications after Budi assigned her: %+v", list)
	}
	assign(budi, e.admin.ID) // no change, no second notification
	if n := count(e.admin.ID); n != 1 {
		t.Errorf("assigning Dewi again gave her %d notifications, want 1", n)
	}
	page := dewi.get("/notifications", nil)
	if !strings.Contains(page.body, "Budi Santoso assigned you the conversation with Siti Rahma") ||
		!strings.Contains(page.body, "pesanan saya belum sampai") {
		t.Errorf("Dewi's notifications page: %s", trim(page.body))
	}

	// Bulk assignment notifies too.
	if r := dewi.htmx("/conversations/bulk", url.Values{"ids": {conv}, "action": {"assign:" + e.agent.ID}}); r.status != http.StatusOK {
		t.Fatalf("bulk assign: %d %s", r.status, trim(r.body))
	}
	budiList := listOf(t, svc, e.agent.ID)
	if len(budiList) != 1 || budiList[0].ActorID != e.admin.ID {
		t.Errorf("Budi's notifications after Dewi's bulk assignment: %+v", budiList)
	}
}

func TestConsoleWithoutNotifications(t *testing.T) {
	e := newEnv(t).withAgents()
	res := e.ingest(inbox.ChannelWhatsApp, "wamid.1", whatsapp("+6281234567890"), "Siti Rahma", "halo")
	budi := e.login("budi@toko.id")
	if got := bellCount(budi.get("/", nil).body); got != "-" {
		t.Errorf("without notifications the page shows a bell (%q)", got)
	}
	if r := budi.htmx("/conversations/"+res.Conversation.ID+"/send", url.Values{"mode": {"note"}, "text": {"@dewi hi"}}); r.status != http.StatusOK {
		t.Fatalf("note: %d", r.status)
	}
	if r := budi.get("/notifications", nil); r.status != http.StatusOK || !strings.Contains(r.body, "not available") {
		t.Errorf("notifications page without a service: %d %s", r.status, trim(r.body))
	}
	if r := budi.post("/notifications/x/open", url.Values{"_csrf": {budi.csrf}}, nil); r.status != http.StatusNotFound {
		t.Errorf("opening a notification without a service: %d, want 404", r.status)
	}
}

func TestNotificationsPaginate(t *testing.T) {
	e, svc := newNotifyEnv(t)
	res := e.ingest(inbox.ChannelWhatsApp, "wamid.1", whatsapp("+6281234567890"), "Siti Rahma", "halo")
	for i := range 32 {
		note, err := e.inbox.Note(t.Context(), inbox.NoteRequest{ConversationID: res.Conversation.ID, AgentID: e.agent.ID,
			Text: "ping " + string(rune('A'+i)), Mentions: []string{e.admin.ID}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := svc.Mentioned(t.Context(), note); err != nil {
			t.Fatal(err)
		}
	}
	dewi := e.login("dewi@toko.id")
	first := dewi.get("/notifications", nil)
	if n := strings.Count(first.body, `<li id="notif-`); n != 30 {
		t.Fatalf("first page lists %d, want 30", n)
	}
	if got := bellCount(first.body); got != "32" {
		t.Errorf("bell shows %q, want 32", got)
	}
	m := regexpMust(`href="/notifications\?after=([^"]+)"`).FindStringSubmatch(first.body)
	if m == nil {
		t.Fatalf("no link to older notifications")
	}
	second := dewi.get("/notifications?after="+m[1], nil)
	if n := strings.Count(second.body, `<li id="notif-`); n != 2 || !strings.Contains(second.body, "ping A") || !strings.Contains(second.body, "ping B") {
		t.Fatalf("second page: %d items: %s", n, trim(second.body))
	}
	if strings.Contains(second.body, "after=") {
		t.Errorf("the last page links to more")
	}
	if r := dewi.get("/notifications?after=bm90LWEtY3Vyc29y", nil); r.status != http.StatusUnprocessableEntity && r.status != http.StatusBadRequest {
		t.Errorf("a broken cursor: status %d", r.status)
	}
}

// bellIn returns the bell a frame replaces, if it does.
func bellIn(f frame) (string, bool) {
	for _, o := range f.Ops {
		if o.Op == "replace" && o.ID == "bell" {
			return o.HTML, true
		}
	}
	return "", false
}

func hasBell(f frame) bool { _, ok := bellIn(f); return ok }

// TestBellUpdatesLive: a connected agent's bell follows their notifications as they are
// created and read, and nobody else's bell moves.
func TestBellUpdatesLive(t *testing.T) {
	e, svc := newNotifyEnv(t)
	res := e.ingest(inbox.ChannelWhatsApp, "wamid.1", whatsapp("+6281234567890"), "Siti Rahma", "halo")
	conv := res.Conversation.ID
	budi, dewi := e.login("budi@toko.id"), e.login("dewi@toko.id")
	hub := e.console.Hub()
	wd, wb := dewi.socket(t), budi.socket(t)
	wd.view(hub.ID(), "", "view=all", hub.Seq())
	wd.next("Dewi caught up", func(f frame) bool { return len(f.Ops) == 0 && f.Seq == hub.Seq() })
	wb.view(hub.ID(), conv, "view=all", hub.Seq())
	wb.next("Budi caught up", func(f frame) bool { return len(f.Ops) == 0 && f.Seq == hub.Seq() })

	for i, want := range []string{"1", "2"} {
		if r := budi.htmx("/conversations/"+conv+"/send", url.Values{"mode": {"note"}, "text": {"@dewi look " + want}}); r.status != http.StatusOK {
			t.Fatalf("note %d: %d", i, r.status)
		}
		html, _ := bellIn(wd.next("Dewi's bell", hasBell))
		if bellCount(html) != want || !strings.Contains(html, "Notifications, "+want+" unread") {
			t.Fatalf("after %d mentions Dewi's pushed bell is:\n%s", i+1, html)
		}
	}
	seq := hub.Seq()

	// Budi's bell moves only for his own notification, which comes after all of Dewi's.
	if r := dewi.htmx("/conversations/"+conv+"/send", url.Values{"mode": {"note"}, "text": {"@budi done"}}); r.status != http.StatusOK {
		t.Fatalf("Dewi's note: %d", r.status)
	}
	f := wb.next("Budi's bell", hasBell)
	if html, _ := bellIn(f); f.Seq <= seq || bellCount(html) != "1" {
		t.Fatalf("Budi's first pushed bell (seq %d, Dewi's notifications up to %d) is:\n%s", f.Seq, seq, html)
	}

	// Reading takes the count down live, in Dewi's language.
	list := listOf(t, svc, e.admin.ID)
	if r := dewi.post("/notifications/"+list[0].ID+"/open", url.Values{"_csrf": {dewi.csrf}}, nil); r.status != http.StatusSeeOther {
		t.Fatalf("open: %d", r.status)
	}
	html, _ := bellIn(wd.next("Dewi's bell after reading one", hasBell))
	if bellCount(html) != "1" {
		t.Fatalf("after reading one of two, Dewi's pushed bell is:\n%s", html)
	}
	if r := dewi.post("/notifications/read-all", url.Values{"_csrf": {dewi.csrf}}, nil); r.status != http.StatusSeeOther {
		t.Fatalf("read all: %d", r.status)
	}
	html, _ = bellIn(wd.next("Dewi's bell after reading all", hasBell))
	if bellCount(html) != "" || !strings.Contains(html, `aria-label="Notifications"`) {
		t.Fatalf("after reading all, Dewi's pushed bell is:\n%s", html)
	}
}
