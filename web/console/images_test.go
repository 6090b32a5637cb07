package console_test

import (
	"bytes"
	"context"
	"html"
	"image"
	"image/png"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"

	mail "github.com/serambi/serambi/connectors/email"
	"github.com/serambi/serambi/inbox"
	"github.com/serambi/serambi/web/console"
	"github.com/serambi/serambi/web/imageproxy"
)

var proxiedSrcRE = regexp.MustCompile(`src="(/img\?[^"]+)"`)

// An email's remote image (a tracking pixel, say) loads nothing until an agent asks, and then
// loads through Serambi: the sender's server sees Serambi, never the agent.
func TestRemoteImagesLoadOnlyThroughTheProxyWhenAsked(t *testing.T) {
	var hits atomic.Int32
	var pic bytes.Buffer
	if err := png.Encode(&pic, image.NewGray(image.Rect(0, 0, 1, 1))); err != nil {
		t.Fatal(err)
	}
	sender := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if r.Header.Get("Cookie") != "" {
			t.Errorf("the agent's cookies reached the sender: %q", r.Header.Get("Cookie"))
		}
		w.Write(pic.Bytes())
	}))
	defer sender.Close()
	senderAddr := netip.MustParseAddrPort(strings.TrimPrefix(sender.URL, "http://"))

	e := newEnvWith(t, func(_ *env, d *console.Deps) {
		p, err := imageproxy.New([]byte("a test secret that is long enough"), imageproxy.Options{
			Allow: func(ap netip.AddrPort) bool { return ap == senderAddr }})
		if err != nil {
			t.Fatal(err)
		}
		d.Images = p
	}).withAgents()

	raw := "From: Rina <rina@example.id>\r\nTo: support@toko.example\r\nSubject: Promo\r\n" +
		"Message-ID: <promo-1@example.id>\r\nMIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n" +
		`<p>Lihat katalog kami</p><img src="` + sender.URL + `/pixel.png?rcpt=agent%40toko.example" alt="katalog">`
	parsed, err := mail.NewParser().Parse([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	if parsed.RemoteImages != 1 {
		t.Fatalf("parser blocked %d remote images; want 1", parsed.RemoteImages)
	}
	res, err := e.inbox.Ingest(context.Background(), inbox.Inbound{Channel: inbox.ChannelEmail, ExternalID: parsed.MessageID,
		From: []inbox.Identity{email("rina@example.id")}, Subject: parsed.Subject, Text: parsed.Text, HTML: parsed.HTML,
		Meta: map[string]string{"email.remoteImages": "1"}})
	if err != nil {
		t.Fatal(err)
	}
	conv, msg := res.Conversation.ID, res.Message.ID
	agent := e.login("budi@toko.id")

	page := agent.get("/conversations/"+conv, nil)
	if page.status != http.StatusOK || !strings.Contains(page.body, "Show images") {
		t.Fatalf("conversation page (%d) offers no \"Show images\"", page.status)
	}
	if strings.Contains(page.body, sender.URL) || hits.Load() != 0 {
		t.Fatalf("the remote address is in the page or was fetched (%d hits) before anyone asked", hits.Load())
	}

	shown := agent.get("/conversations/"+conv+"/messages/"+msg+"/images", map[string]string{"HX-Request": "true"})
	if shown.status != http.StatusOK {
		t.Fatalf("show images: %d %s", shown.status, shown.body)
	}
	if strings.Contains(shown.body, "Show images") || strings.Contains(shown.body, `src="`+sender.URL) {
		t.Fatalf("after asking, the image must load through the proxy only: %s", shown.body)
	}
	m := proxiedSrcRE.FindStringSubmatch(shown.body)
	if m == nil {
		t.Fatalf("no proxied image in %s", shown.body)
	}
	proxied := html.UnescapeString(m[1])
	if hits.Load() != 0 {
		t.Fatal("showing the message fetched the image; only the browser's request through the proxy may")
	}

	if r := e.anon().get(proxied, nil); r.status == http.StatusOK {
		t.Fatal("the proxy served someone who is not signed in: it would be an open proxy")
	}
	img := agent.get(proxied, nil)
	if img.status != http.StatusOK || img.header.Get("Content-Type") != "image/png" || img.body != pic.String() {
		t.Fatalf("proxied image: %d %s (%d bytes)", img.status, img.header.Get("Content-Type"), len(img.body))
	}
	if hits.Load() != 1 {
		t.Fatalf("sender saw %d fetches; want 1", hits.Load())
	}
	if r := agent.get(strings.Replace(proxied, "pixel.png", "other.png", 1), nil); r.status != http.StatusForbidden {
		t.Fatalf("an address Serambi did not sign: %d; want 403", r.status)
	}

	other := e.ingest(inbox.ChannelWhatsApp, "wamid.1", whatsapp("+6281234567890"), "Budi", "halo")
	if r := agent.get("/conversations/"+other.Conversation.ID+"/messages/"+msg+"/images", nil); r.status != http.StatusNotFound {
		t.Fatalf("a message asked for through another conversation: %d; want 404", r.status)
	}
}
