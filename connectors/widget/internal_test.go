package widget

import (
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/serambi/serambi/database/sqlite"
	"github.com/serambi/serambi/inbox"
)

func TestWidgetAssetIsSmall(t *testing.T) {
	a := mustAssets()
	zr, err := gzip.NewReader(bytes.NewReader(a.scriptGz))
	if err != nil {
		t.Fatal(err)
	}
	plain, err := io.ReadAll(zr)
	if err != nil || !bytes.Equal(plain, a.script) {
		t.Fatal("the gzipped script is not the script")
	}
	// Measured independently of how it is served: the budget is JS+CSS under 30 KB gzipped.
	var b bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&b, gzip.DefaultCompression)
	zw.Write(a.script)
	zw.Close()
	t.Logf("widget.js with CSS: %d bytes, %d gzipped", len(a.script), b.Len())
	if b.Len() >= 30<<10 {
		t.Fatalf("widget.js is %d bytes gzipped; the budget is 30 KB", b.Len())
	}
	if bytes.Contains(a.script, []byte(cssPlaceholder)) || !bytes.Contains(a.script, []byte(":host{all:initial}")) {
		t.Fatal("the CSS was not put into the script")
	}
}

func TestScriptAndDemoAreServed(t *testing.T) {
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "s.db"), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	c := New(Config{Demo: true, Default: Settings{ID: "shop", JWTSecret: "0123456789abcdef0123456789abcdef-secret"}}, Deps{State: st, Store: st})
	e := echo.New()
	c.Register(e)
	get := func(path string, h map[string]string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodGet, path, nil)
		for k, v := range h {
			req.Header.Set(k, v)
		}
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, req)
		return rec
	}
	js := get("/widget.js", map[string]string{"Accept-Encoding": "gzip, br"})
	if js.Code != 200 || js.Header().Get("Content-Encoding") != "gzip" || !strings.HasPrefix(js.Header().Get("Content-Type"), "text/javascript") {
		t.Fatalf("/widget.js = %d %v", js.Code, js.Header())
	}
	if again := get("/widget.js", map[string]string{"If-None-Match": js.Header().Get("ETag")}); again.Code != http.StatusNotModified {
		t.Fatalf("revalidation = %d; want 304", again.Code)
	}
	demo := get("/widget/demo?inbox=shop&token=%22%3E%3Cscript%3Ealert(1)%3C/script%3E", nil)
	body := demo.Body.String()
	if demo.Code != 200 || !strings.Contains(body, `<script src="/widget.js" data-serambi-inbox="shop"`) || !strings.Contains(body, "Rp ") {
		t.Fatalf("/widget/demo = %d\n%s", demo.Code, body)
	}
	if strings.Contains(body, "<script>alert(1)") {
		t.Fatal("the demo page reflects markup from its query")
	}
	tok, _ := SignIdentity(c.cfg.Default.JWTSecret, Claims{Name: "Siti Rahma", Email: "siti@example.id"})
	_ = tok // no exp: refused, so the page shows no name
	if strings.Contains(get("/widget/demo?inbox=shop&token="+tok, nil).Body.String(), "Halo, Siti") {
		t.Fatal("the demo page trusted a token without expiry")
	}
}

func TestLimiter(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	l := newLimiter(Rate{Count: 3, Per: 3 * time.Second}) // one token a second, bursts of 3
	steps := []struct {
		at   time.Duration
		key  string
		want bool
	}{
		{0, "a", true}, {0, "a", true}, {0, "a", true}, {0, "a", false},
		{0, "b", true}, // keys are independent
		{500 * time.Millisecond, "a", false},
		{time.Second, "a", true}, {time.Second, "a", false},
		{10 * time.Second, "a", true}, {10 * time.Second, "a", true}, {10 * time.Second, "a", true}, {10 * time.Second, "a", false},
	}
	for i, s := range steps {
		ok, wait := l.allow(s.key, t0.Add(s.at))
		if ok != s.want {
			t.Fatalf("step %d (%s at %s) = %v; want %v", i, s.key, s.at, ok, s.want)
		}
		if !ok && (wait <= 0 || wait > time.Second) {
			t.Fatalf("step %d: wait %s; want up to one token's time", i, wait)
		}
	}
	l.sweep(t0.Add(time.Hour))
	if len(l.items) != 0 {
		t.Fatalf("sweep kept %d full buckets", len(l.items))
	}
	if ok, _ := newLimiter(Rate{}).allow("x", t0); !ok {
		t.Fatal("an unlimited rate refused")
	}
}

func TestSeqOrdersLikeTheTimeline(t *testing.T) {
	t0 := time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)
	a := inbox.Message{ID: "01aaa", CreatedAt: t0}
	b := inbox.Message{ID: "01aab", CreatedAt: t0}
	c := inbox.Message{ID: "01a00", CreatedAt: t0.Add(time.Nanosecond)}
	old := inbox.Message{ID: "01zzz", CreatedAt: time.Date(2001, 9, 9, 1, 46, 40, 0, time.UTC)} // 10-digit seconds
	if !(seqOf(old) < seqOf(a) && seqOf(a) < seqOf(b) && seqOf(b) < seqOf(c)) {
		t.Fatalf("seqs out of order: %s %s %s %s", seqOf(old), seqOf(a), seqOf(b), seqOf(c))
	}
	cur, ok := parseSeq(seqOf(b))
	if !ok || !cur.At.Equal(t0) || cur.ID != "01aab" {
		t.Fatalf("parseSeq = %v %v", cur, ok)
	}
	for _, bad := range []string{"", "123", "abc.def", "1795561417077970372", "-795561417077970372.x", "0000000000000000000.x"} {
		if _, ok := parseSeq(bad); ok {
			t.Fatalf("parseSeq(%q) accepted", bad)
		}
	}
}

func TestVisible(t *testing.T) {
	tests := []struct {
		m    inbox.Message
		want bool
	}{
		{inbox.Message{Channel: inbox.ChannelWidget, Direction: inbox.DirectionIn}, true},
		{inbox.Message{Channel: inbox.ChannelWidget, Direction: inbox.DirectionOut, Delivery: inbox.DeliveryQueued}, true},
		{inbox.Message{Channel: inbox.ChannelWidget, Direction: inbox.DirectionOut, Delivery: inbox.DeliveryRead}, true},
		{inbox.Message{Channel: inbox.ChannelWidget, Direction: inbox.DirectionOut, Delivery: inbox.DeliveryFailed}, false},
		{inbox.Message{Channel: inbox.ChannelEmail, Direction: inbox.DirectionIn}, false},
		{inbox.Message{Channel: inbox.ChannelInternal, Direction: inbox.DirectionNote}, false},
		{inbox.Message{Channel: inbox.ChannelInternal, Direction: inbox.DirectionEvent}, false},
	}
	for _, tt := range tests {
		if got := visible(tt.m); got != tt.want {
			t.Errorf("visible(%s %s %s) = %v", tt.m.Channel, tt.m.Direction, tt.m.Delivery, got)
		}
	}
}

func TestIdentitiesOfAVisitor(t *testing.T) {
	anon := from("abc", nil, "")
	if len(anon) != 1 || anon[0] != (inbox.Identity{Kind: inbox.KindWidget, Value: "v:abc", Verified: true}) {
		t.Fatalf("anonymous = %+v", anon)
	}
	typed := from("abc", nil, "rina@example.id")
	if len(typed) != 2 || typed[1].Verified {
		t.Fatalf("typed email = %+v; want it unverified", typed)
	}
	v := &verified{ShopID: "cust-42", Email: "siti@example.id"}
	signed := from("abc", v, "siti@example.id")
	want := []inbox.Identity{
		{Kind: inbox.KindShop, Value: "cust-42", Verified: true},
		{Kind: inbox.KindEmail, Value: "siti@example.id", Verified: true},
		{Kind: inbox.KindWidget, Value: "s:cust-42", Verified: true},
		{Kind: inbox.KindWidget, Value: "v:abc"},
	}
	if len(signed) != len(want) {
		t.Fatalf("signed = %+v", signed)
	}
	for i := range want {
		if signed[i] != want[i] {
			t.Fatalf("signed[%d] = %+v; want %+v", i, signed[i], want[i])
		}
	}
	if from("abc", &verified{Email: "e@x.id"}, "")[1].Value != "e:e@x.id" {
		t.Fatal("an email-only signed identity is keyed by the email")
	}
}

func TestTokensAndClientIDs(t *testing.T) {
	tok := newToken()
	if !validToken(tok) || validToken(tok[1:]) || validToken(strings.Repeat("!", 32)) {
		t.Fatal("token validation")
	}
	if visitorID(tok) == visitorID(newToken()) || strings.Contains(visitorID(tok), tok) {
		t.Fatal("visitor ids must differ per token and not contain it")
	}
	for s, want := range map[string]bool{"abcdefgh": true, "a-b_c-12345": true, "short": false, "has space!": false, strings.Repeat("a", 65): false} {
		if validClientID(s) != want {
			t.Errorf("validClientID(%q) != %v", s, want)
		}
	}
}
