package web

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/serambi/serambi/agents"
	"github.com/serambi/serambi/inbox"
)

func TestClassify(t *testing.T) {
	tests := []struct {
		err        error
		wantStatus int
		wantCode   string
	}{
		{fmt.Errorf("load conversation x: %w", inbox.ErrNotFound), 404, "not_found"},
		{fmt.Errorf("status %q: %w", "gone", inbox.ErrInvalid), 422, "invalid"},
		{fmt.Errorf("sender: %w", inbox.ErrNoIdentity), 422, "no_identity"},
		// ErrNoIdentity wrapping an ErrInvalid from the normalizer is still "no identity".
		{fmt.Errorf("sender: %w (%w)", inbox.ErrNoIdentity, fmt.Errorf("email: %w", inbox.ErrInvalid)), 422, "no_identity"},
		{fmt.Errorf("reply on email: %w", inbox.ErrNoChannel), 422, "channel_unavailable"},
		{fmt.Errorf("put: %w", inbox.ErrTooLarge), 413, "too_large"},
		{fmt.Errorf("read body: %w", &http.MaxBytesError{Limit: 10}), 413, "too_large"},
		{fmt.Errorf("update: %w", inbox.ErrConflict), 409, "conflict"},
		{&inbox.IdentityTakenError{Identity: inbox.Identity{Kind: inbox.KindEmail, Value: "a@b.id"}, OwnerID: "c1"}, 409, "conflict"},
		{agents.ErrInvalidKey, 401, "unauthorized"},
		{errUnauthorized, 401, "unauthorized"},
		{badRequest("nope"), 400, "bad_request"},
		{forbidden("link_expired", "old"), 403, "link_expired"},
		{echo.ErrNotFound, 404, "not_found"},
		{echo.ErrMethodNotAllowed, 405, "method_not_allowed"},
		{errors.New("database is locked"), 500, "internal"},
	}
	for _, tt := range tests {
		status, code, msg := classify(tt.err)
		if status != tt.wantStatus || code != tt.wantCode {
			t.Errorf("classify(%v) = %d %s, want %d %s", tt.err, status, code, tt.wantStatus, tt.wantCode)
		}
		if status == 500 && strings.Contains(msg, "locked") {
			t.Errorf("a 500 leaks the internal error: %q", msg)
		}
	}
}

func TestCursorRoundTrip(t *testing.T) {
	at := time.Date(2026, 11, 23, 10, 0, 0, 123456789, time.UTC)
	c, err := decodeCursor(encodeCursor(at, "01jdx"))
	if err != nil || !c.At.Equal(at) || c.ID != "01jdx" {
		t.Fatalf("round trip gave %+v, %v", c, err)
	}
	for _, bad := range []string{"???", "bm90IGEgY3Vyc29y", encodeCursor(at, "")} {
		if _, err := decodeCursor(bad); err == nil {
			t.Errorf("decodeCursor(%q) accepted a cursor it never gave out", bad)
		}
	}
}

func TestContentDisposition(t *testing.T) {
	tests := []struct{ kind, name, want string }{
		{"inline", "photo.png", `inline; filename="photo.png"; filename*=UTF-8''photo.png`},
		{"attachment", "ファイル 報告.pdf", `attachment; filename="____ __.pdf"; filename*=UTF-8''%E3%83%95%E3%82%A1%E3%82%A4%E3%83%AB%20%E5%A0%B1%E5%91%8A.pdf`},
		{"attachment", `a"b\c%.txt`, `attachment; filename="a_b_c_.txt"; filename*=UTF-8''a%22b%5Cc%25.txt`},
	}
	for _, tt := range tests {
		if got := contentDisposition(tt.kind, tt.name); got != tt.want {
			t.Errorf("contentDisposition(%q) =\n %s\nwant\n %s", tt.name, got, tt.want)
		}
	}
}

func TestCleanFileName(t *testing.T) {
	tests := []struct{ in, want string }{
		{"report.pdf", "report.pdf"},
		{`C:\Users\siti\Desktop\struk.jpg`, "struk.jpg"},
		{"../../etc/passwd", "passwd"},
		{"a\r\nb.txt", "ab.txt"},
		{"invoice\u202egpj.exe", "invoicegpj.exe"},
		{"  ", "attachment"},
		{"..", "attachment"},
		{"Ресурс.docx", "Ресурс.docx"},
		{strings.Repeat("я", 200) + ".pdf", strings.Repeat("я", 125) + ".pdf"},
	}
	for _, tt := range tests {
		got, err := cleanFileName(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("cleanFileName(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	if _, err := cleanFileName("bad\xff.txt"); !errors.Is(err, inbox.ErrInvalid) {
		t.Errorf("invalid UTF-8 name gave %v, want ErrInvalid", err)
	}
}

func TestInlineSafe(t *testing.T) {
	tests := []struct {
		ctype string
		want  bool
	}{
		{"image/png", true}, {"image/jpeg", true}, {"application/pdf", true}, {"audio/ogg", true}, {"video/mp4", true},
		{"image/svg+xml", false}, {"text/html", false}, {"text/html; charset=utf-8", false},
		{"application/javascript", false}, {"text/xml", false}, {"application/xhtml+xml", false},
		{"application/octet-stream", false}, {"text/plain", false}, {"", false},
	}
	for _, tt := range tests {
		if got := inlineSafe(tt.ctype); got != tt.want {
			t.Errorf("inlineSafe(%q) = %v, want %v", tt.ctype, got, tt.want)
		}
	}
}

func TestSignedURLs(t *testing.T) {
	now := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	clock := now
	u := NewAttachmentURLs([]byte("k-0123456789abcdef0123456789abcdef"), "https://help.example", func() time.Time { return clock })
	sha := strings.Repeat("ab", 32)
	a := inbox.Attachment{SHA256: sha, Name: "foto saya.png", ContentType: "image/png"}
	link, err := url.Parse(u.Sign(a, time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if want := "/attachments/" + sha + "/foto%20saya.png"; link.EscapedPath() != want {
		t.Errorf("path %s, want %s", link.EscapedPath(), want)
	}
	q := link.Query()
	tests := []struct {
		name                 string
		at                   time.Time
		sha, fname, typ, sig string
		wantCode             string
	}{
		{"genuine", now, sha, a.Name, "image/png", q.Get("sig"), ""},
		{"expired", now.Add(61 * time.Minute), sha, a.Name, "image/png", q.Get("sig"), "link_expired"},
		{"other file", now, strings.Repeat("cd", 32), a.Name, "image/png", q.Get("sig"), "bad_signature"},
		{"type changed to html", now, sha, a.Name, "text/html", q.Get("sig"), "bad_signature"},
		{"renamed", now, sha, "foto.exe", "image/png", q.Get("sig"), "bad_signature"},
		{"no signature", now, sha, a.Name, "image/png", "", "bad_signature"},
	}
	for _, tt := range tests {
		clock = tt.at
		err := u.check(tt.sha, tt.fname, tt.typ, q.Get("exp"), tt.sig)
		_, code, _ := classify(err)
		if tt.wantCode == "" && err != nil || tt.wantCode != "" && code != tt.wantCode {
			t.Errorf("%s: check = %v (%s), want %q", tt.name, err, code, tt.wantCode)
		}
	}
	// A later expiry needs a new signature: editing exp is forgery.
	clock = now
	if err := u.check(sha, a.Name, "image/png", fmt.Sprint(now.Add(48*time.Hour).Unix()), q.Get("sig")); err == nil {
		t.Error("a link with its expiry moved forward was accepted")
	}
}

func TestDecodeJSON(t *testing.T) {
	type target struct {
		A string `json:"a"`
	}
	tests := []struct {
		name, body string
		wantErr    string
	}{
		{"valid", `{"a":"x"}`, ""},
		{"unknown field", `{"a":"x","b":1}`, `unknown field "b"`},
		{"malformed", `{"a":`, "not valid JSON"},
		{"empty", ``, "empty"},
		{"wrong type", `{"a":5}`, `field "a" must be a JSON string`},
		{"trailing data", `{"a":"x"} {"a":"y"}`, "after the JSON value"},
		{"invalid utf-8", "{\"a\":\"\xff\"}", "UTF-8"},
	}
	for _, tt := range tests {
		e := echo.New()
		c := e.NewContext(httptest.NewRequest("POST", "/", strings.NewReader(tt.body)), httptest.NewRecorder())
		var v target
		err := decodeJSON(c, &v)
		switch {
		case tt.wantErr == "" && err != nil:
			t.Errorf("%s: %v", tt.name, err)
		case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
			t.Errorf("%s: error %v, want one saying %q", tt.name, err, tt.wantErr)
		case err != nil:
			if status, _, _ := classify(err); status != 400 {
				t.Errorf("%s: status %d, want 400", tt.name, status)
			}
		}
	}
}

// TestOpenAPIListsEveryRoute keeps docs/openapi.yaml in step with the routes.
func TestOpenAPIListsEveryRoute(t *testing.T) {
	spec, err := os.ReadFile("../docs/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	e := New(Deps{Log: slog.New(slog.DiscardHandler), URLs: NewAttachmentURLs([]byte("k"), "http://x", time.Now)})
	for _, r := range e.Routes() {
		if r.Method == echo.RouteNotFound || strings.HasSuffix(r.Path, "/*") {
			continue
		}
		p := regexp.MustCompile(`:(\w+)`).ReplaceAllString(r.Path, "{$1}")
		block := regexp.MustCompile(`(?m)^  ` + regexp.QuoteMeta(p) + `:\n((?:    .*\n|      .*\n)*)`).FindSubmatch(spec)
		if block == nil {
			t.Errorf("docs/openapi.yaml has no path %s", p)
			continue
		}
		if !regexp.MustCompile(`(?m)^    ` + strings.ToLower(r.Method) + `:`).Match(block[1]) {
			t.Errorf("docs/openapi.yaml has no %s for %s", r.Method, p)
		}
	}
}

func TestProbes(t *testing.T) {
	storeErr := errors.New("connection refused")
	tests := []struct {
		name       string
		path       string
		ready      error
		wantStatus int
		wantBody   string
	}{
		{"healthz", "/healthz", nil, 200, `"status":"ok"`},
		{"healthz does not depend on the store", "/healthz", storeErr, 200, `"status":"ok"`},
		{"readyz", "/readyz", nil, 200, `"status":"ready"`},
		{"readyz without a store", "/readyz", storeErr, 503, `"code":"not_ready"`},
	}
	for _, tt := range tests {
		e := New(Deps{Log: slog.New(slog.DiscardHandler), Ready: func(context.Context) error { return tt.ready }})
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, httptest.NewRequest("GET", tt.path, nil))
		if rec.Code != tt.wantStatus || !strings.Contains(rec.Body.String(), tt.wantBody) {
			t.Errorf("%s: %d %s, want %d with %s", tt.name, rec.Code, rec.Body, tt.wantStatus, tt.wantBody)
		}
		if strings.Contains(rec.Body.String(), "refused") {
			t.Errorf("%s: the store's error leaks to the caller: %s", tt.name, rec.Body)
		}
	}
}

// TestLogsAndPanics: a panic is a JSON 500 that leaks nothing, and the request log never holds
// the API key or a link's signature.
func TestLogsAndPanics(t *testing.T) {
	var logs strings.Builder
	e := New(Deps{Log: slog.New(slog.NewJSONHandler(&logs, nil)), Keys: agents.NewAPIKeys(nil, time.Now),
		URLs: NewAttachmentURLs([]byte("key"), "http://x", time.Now)})
	e.GET("/boom", func(echo.Context) error { panic("secret internals") })

	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, httptest.NewRequest("GET", "/boom", nil))
	if rec.Code != 500 || !strings.Contains(rec.Body.String(), `"code":"internal"`) || strings.Contains(rec.Body.String(), "secret internals") {
		t.Errorf("panic answered %d %s; want a JSON 500 without the panic value", rec.Code, rec.Body)
	}
	if !strings.Contains(logs.String(), "secret internals") {
		t.Error("the panic is not in the log")
	}

	req := httptest.NewRequest("GET", "/api/v1/conversations", nil)
	req.Header.Set("Authorization", "Bearer srb_hunter2hunter2")
	rec = httptest.NewRecorder()
	e.ServeHTTP(rec, req)
	rec2 := httptest.NewRecorder()
	e.ServeHTTP(rec2, httptest.NewRequest("GET", "/attachments/"+strings.Repeat("a", 64)+"/x.png?exp=1&sig=sigsigsig", nil))
	if rec.Code != 401 || rec2.Code != 403 {
		t.Fatalf("statuses %d %d, want 401 and 403", rec.Code, rec2.Code)
	}
	for _, secret := range []string{"hunter2", "sigsigsig"} {
		if strings.Contains(logs.String(), secret) {
			t.Errorf("the log holds %q:\n%s", secret, logs.String())
		}
	}
	if !strings.Contains(logs.String(), `"route":"/api/v1/conversations","path":"/api/v1/conversations","status":401`) {
		t.Errorf("the request log lacks the 401 line:\n%s", logs.String())
	}
}
