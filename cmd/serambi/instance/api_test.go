package instance_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/serambi/serambi/inbox"
	"github.com/serambi/serambi/web"
)

// scenario is one request against a freshly started Serambi, and what must come back.
type scenario struct {
	name   string
	before func(e *env)
	method string
	path   string
	body   string // {vars} recorded by before are expanded
	// rawBody is sent as is, for bytes that are not valid text; stream sends it without a length.
	rawBody []byte
	stream  bool
	// headers override the defaults (valid API key, JSON); an empty value removes the header.
	headers    map[string]string
	wantStatus int
	// wantJSON lists fields the answer must have, with {vars} expanded.
	wantJSON string
	after    func(t *testing.T, e *env, r response)
}

func ingestOnce(prefix, externalID string) func(e *env) {
	return func(e *env) {
		e.ingest(prefix, externalID, `{"email":"siti@example.id","name":"Siti"}`, "Halo, pesanan saya belum sampai")
	}
}

func conversations(t *testing.T, e *env) []inbox.Conversation {
	t.Helper()
	cs, err := e.in.Inbox.Conversations(context.Background(), inbox.ConversationFilter{Limit: inbox.MaxPage})
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

func nothingStored(t *testing.T, e *env, _ response) {
	t.Helper()
	if n := len(conversations(t, e)); n != 0 {
		t.Errorf("%d conversations stored; want none", n)
	}
}

// timeline returns a conversation's entries, newest first, through the API.
func timeline(t *testing.T, e *env, conv string) []map[string]any {
	t.Helper()
	var out []map[string]any
	got := e.must(200, "GET", "/api/v1/conversations/"+conv+"/messages?limit=100", "")
	for _, it := range got["items"].([]any) {
		out = append(out, it.(map[string]any))
	}
	return out
}

func errorCode(code string) string { return fmt.Sprintf(`{"error":{"code":%q}}`, code) }

var bigText = strings.Repeat("x", maxBody)

func scenarios() []scenario {
	return []scenario{
		// The API channel: ingest.
		{name: "a new message is stored", method: "POST", path: "/api/v1/messages",
			body:       `{"externalId":"m1","from":{"email":"Siti@Example.ID","name":"Siti"},"text":"Halo","subject":"Pesanan","sentAt":"2026-11-23T08:00:00+07:00"}`,
			wantStatus: 201, wantJSON: `{"duplicate":false}`,
			after: func(t *testing.T, e *env, r response) {
				got := r.json(t)
				for _, k := range []string{"messageId", "customerId", "conversationId"} {
					if s, _ := got[k].(string); s == "" {
						t.Errorf("%s is empty", k)
					}
				}
				msgs := timeline(t, e, got["conversationId"].(string))
				if d := subset(msgs[0], map[string]any{"direction": "in", "channel": "api", "text": "Halo", "subject": "Pesanan",
					"externalId": "m1", "sentAt": "2026-11-23T01:00:00Z"}, "message"); d != nil {
					t.Error(d)
				}
				c := e.must(200, "GET", "/api/v1/customers/"+got["customerId"].(string), "")
				if d := subset(c, map[string]any{"name": "Siti", "identities": []any{map[string]any{"kind": "email", "value": "siti@example.id", "verified": true}}}, "customer"); d != nil {
					t.Error(d)
				}
			}},
		{name: "a repeat delivery is a duplicate with the same ids", before: ingestOnce("first", "m1"),
			method: "POST", path: "/api/v1/messages", body: `{"externalId":"m1","from":{"email":"siti@example.id"},"text":"Halo again"}`,
			wantStatus: 200, wantJSON: `{"duplicate":true,"messageId":"{first.message}","customerId":"{first.customer}","conversationId":"{first.conversation}"}`,
			after: func(t *testing.T, e *env, r response) {
				if n := len(timeline(t, e, e.vars["first.conversation"])); n != 1 {
					t.Errorf("timeline has %d entries; want the one message", n)
				}
			}},
		{name: "every identity given is linked, the first is primary", method: "POST", path: "/api/v1/messages",
			body:       `{"externalId":"m2","from":{"phone":"0812-3456-7890","shopCustomerId":"C-77","telegram":"12345"},"text":"Halo"}`,
			wantStatus: 201,
			after: func(t *testing.T, e *env, r response) {
				c := e.must(200, "GET", "/api/v1/customers/"+r.json(t)["customerId"].(string), "")
				if d := subset(c, map[string]any{"identities": []any{
					map[string]any{"kind": "phone", "value": "+6281234567890", "verified": true},
					map[string]any{"kind": "shop", "value": "C-77", "verified": true},
					map[string]any{"kind": "telegram", "value": "12345", "verified": true},
				}}, "customer"); d != nil {
					t.Error(d)
				}
			}},
		{name: "HTML is sanitised and gives the text when none is sent", method: "POST", path: "/api/v1/messages",
			body:       `{"externalId":"h1","from":{"email":"a@example.id"},"html":"<p onclick=\"x()\">Hi <b>there</b></p><script>alert(1)</script><a href=\"javascript:alert(2)\">link</a>"}`,
			wantStatus: 201,
			after: func(t *testing.T, e *env, r response) {
				m := timeline(t, e, r.json(t)["conversationId"].(string))[0]
				html := m["html"].(string)
				for _, bad := range []string{"<script", "onclick", "javascript:"} {
					if strings.Contains(html, bad) {
						t.Errorf("stored html %q still has %s", html, bad)
					}
				}
				if !strings.Contains(html, "<b>there</b>") || m["text"] != "Hi therelink" {
					t.Errorf("html %q text %q; want the safe markup kept and the text derived", html, m["text"])
				}
			}},
		{name: "no identity is 422", method: "POST", path: "/api/v1/messages",
			body: `{"externalId":"m3","from":{"name":"Budi"},"text":"Halo"}`, wantStatus: 422, wantJSON: errorCode("no_identity"), after: nothingStored},
		{name: "an unusable primary identity is 422", method: "POST", path: "/api/v1/messages",
			body: `{"externalId":"m3","from":{"email":"not an address"},"text":"Halo"}`, wantStatus: 422, wantJSON: errorCode("no_identity"), after: nothingStored},
		{name: "a missing externalId is 422", method: "POST", path: "/api/v1/messages",
			body: `{"from":{"email":"a@example.id"},"text":"Halo"}`, wantStatus: 422, wantJSON: errorCode("invalid"), after: nothingStored},
		{name: "an unknown field is 400", method: "POST", path: "/api/v1/messages",
			body:       `{"externalId":"m4","from":{"email":"a@example.id"},"text":"Halo","priority":"high"}`,
			wantStatus: 400, wantJSON: errorCode("bad_request"), after: nothingStored},
		{name: "an unknown field inside from is 400", method: "POST", path: "/api/v1/messages",
			body: `{"externalId":"m4","from":{"mail":"a@example.id"},"text":"Halo"}`, wantStatus: 400, after: nothingStored},
		{name: "malformed JSON is 400", method: "POST", path: "/api/v1/messages",
			body: `{"externalId":"m5","from":{"email":"a@example.id"`, wantStatus: 400, wantJSON: errorCode("bad_request"), after: nothingStored},
		{name: "invalid UTF-8 is 400", method: "POST", path: "/api/v1/messages",
			rawBody:    []byte("{\"externalId\":\"m6\",\"from\":{\"email\":\"a@example.id\"},\"text\":\"caf\xe9\"}"),
			wantStatus: 400, wantJSON: errorCode("bad_request"), after: nothingStored},
		{name: "a body over the limit is 413", method: "POST", path: "/api/v1/messages",
			body:       `{"externalId":"m7","from":{"email":"a@example.id"},"text":"` + bigText + `"}`,
			wantStatus: 413, wantJSON: errorCode("too_large"), after: nothingStored},
		{name: "a streamed body over the limit is 413", method: "POST", path: "/api/v1/messages", stream: true,
			rawBody:    []byte(`{"externalId":"m8","from":{"email":"a@example.id"},"text":"` + bigText + `"}`),
			wantStatus: 413, wantJSON: errorCode("too_large"), after: nothingStored},

		// Authentication.
		{name: "no key is 401", method: "POST", path: "/api/v1/messages", headers: map[string]string{"Authorization": ""},
			body: `{"externalId":"a1","from":{"email":"a@example.id"},"text":"x"}`, wantStatus: 401, wantJSON: errorCode("unauthorized"),
			after: func(t *testing.T, e *env, r response) {
				if !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer") {
					t.Errorf("WWW-Authenticate %q; want Bearer", r.header.Get("WWW-Authenticate"))
				}
				nothingStored(t, e, r)
			}},
		{name: "a forged key is 401", method: "POST", path: "/api/v1/messages",
			headers: map[string]string{"Authorization": "Bearer srb_" + strings.Repeat("A", 43)},
			body:    `{"externalId":"a2","from":{"email":"a@example.id"},"text":"x"}`, wantStatus: 401, after: nothingStored},
		{name: "a revoked key is 401", method: "GET", path: "/api/v1/conversations",
			headers: map[string]string{"Authorization": "Bearer {revoked}"}, wantStatus: 401, wantJSON: errorCode("unauthorized")},
		{name: "basic auth is 401", method: "GET", path: "/api/v1/conversations",
			headers: map[string]string{"Authorization": "Basic dXNlcjpwYXNz"}, wantStatus: 401},
		{name: "attachments need a key", before: func(e *env) { e.upload("sha", []byte("x"), "") },
			method: "GET", path: "/api/v1/attachments/{sha}", headers: map[string]string{"Authorization": ""}, wantStatus: 401},

		// Unknown ids.
		{name: "unknown conversation is 404", method: "GET", path: "/api/v1/conversations/nope", wantStatus: 404, wantJSON: errorCode("not_found")},
		{name: "messages of an unknown conversation is 404", method: "GET", path: "/api/v1/conversations/nope/messages", wantStatus: 404},
		{name: "reply to an unknown conversation is 404", method: "POST", path: "/api/v1/conversations/nope/messages", body: `{"text":"x"}`, wantStatus: 404},
		{name: "patch of an unknown conversation is 404", method: "PATCH", path: "/api/v1/conversations/nope", body: `{"status":"resolved"}`, wantStatus: 404},
		{name: "unknown customer is 404", method: "GET", path: "/api/v1/customers/nope", wantStatus: 404, wantJSON: errorCode("not_found")},
		{name: "unknown route is a JSON 404", method: "GET", path: "/api/v1/nothing-here", wantStatus: 404, wantJSON: errorCode("not_found")},
		{name: "unknown attachment is 404", method: "GET", path: "/api/v1/attachments/" + strings.Repeat("0", 64), wantStatus: 404},

		// Lists.
		{name: "a bad cursor is 400", method: "GET", path: "/api/v1/conversations?cursor=not-ours", wantStatus: 400},
		{name: "a bad limit is 400", method: "GET", path: "/api/v1/conversations?limit=1000", wantStatus: 400},
		{name: "a bad status filter is 400", method: "GET", path: "/api/v1/conversations?status=closed", wantStatus: 400},
		{name: "the status filter applies", before: func(e *env) {
			e.ingest("a", "f1", `{"email":"a@example.id"}`, "one")
			e.ingest("b", "f2", `{"email":"b@example.id"}`, "two")
			e.must(200, "PATCH", "/api/v1/conversations/{a.conversation}", `{"status":"resolved"}`)
		}, method: "GET", path: "/api/v1/conversations?status=resolved", wantStatus: 200,
			wantJSON: `{"items":[{"id":"{a.conversation}","status":"resolved"}]}`},
		{name: "the assignee filter applies", before: func(e *env) {
			e.ingest("a", "f1", `{"email":"a@example.id"}`, "one")
			e.ingest("b", "f2", `{"email":"b@example.id"}`, "two")
			e.must(200, "PATCH", "/api/v1/conversations/{a.conversation}", `{"assigneeId":"agent-7"}`)
		}, method: "GET", path: "/api/v1/conversations?assignee=none", wantStatus: 200,
			wantJSON: `{"items":[{"id":"{b.conversation}","assigneeId":""}]}`},

		// Replies and notes.
		{name: "a reply leaves on the last channel", before: ingestOnce("c", "r1"),
			method: "POST", path: "/api/v1/conversations/{c.conversation}/messages", body: `{"text":"Sudah kami kirim"}`,
			wantStatus: 201, wantJSON: `{"direction":"out","channel":"api","delivery":"queued","text":"Sudah kami kirim","conversationId":"{c.conversation}"}`},
		{name: "a reply on a channel the customer lacks is 422", before: ingestOnce("c", "r2"),
			method: "POST", path: "/api/v1/conversations/{c.conversation}/messages", body: `{"text":"x","channel":"telegram"}`,
			wantStatus: 422, wantJSON: errorCode("channel_unavailable")},
		{name: "a reply on an unknown channel is 422", before: ingestOnce("c", "r3"),
			method: "POST", path: "/api/v1/conversations/{c.conversation}/messages", body: `{"text":"x","channel":"fax"}`,
			wantStatus: 422, wantJSON: errorCode("invalid")},
		{name: "an empty reply is 422", before: ingestOnce("c", "r4"),
			method: "POST", path: "/api/v1/conversations/{c.conversation}/messages", body: `{"text":"  "}`, wantStatus: 422},
		{name: "a note stays inside", before: ingestOnce("c", "n1"),
			method: "POST", path: "/api/v1/conversations/{c.conversation}/messages", body: `{"text":"cek resi dulu","note":true}`,
			wantStatus: 201, wantJSON: `{"direction":"note","channel":"internal","text":"cek resi dulu","delivery":""}`,
			after: func(t *testing.T, e *env, r response) {
				time.Sleep(300 * time.Millisecond) // give a wrongly queued note the chance to leave
				if n := len(e.receiver.deliveries()); n != 0 {
					t.Errorf("the callback got %d deliveries for a note", n)
				}
			}},

		// Changes.
		{name: "patch records each change in the timeline", before: ingestOnce("c", "p1"),
			method: "PATCH", path: "/api/v1/conversations/{c.conversation}",
			body:       `{"status":"resolved","assigneeId":"agent-1","tags":["VIP"," billing "],"priority":"high"}`,
			wantStatus: 200, wantJSON: `{"id":"{c.conversation}","status":"resolved","assigneeId":"agent-1","tags":["billing","vip"],"priority":"high"}`,
			after: func(t *testing.T, e *env, r response) {
				var kinds []string
				for _, m := range timeline(t, e, e.vars["c.conversation"]) {
					if m["direction"] == "event" {
						ev := m["event"].(map[string]any)
						kinds = append(kinds, ev["kind"].(string))
						if !strings.HasPrefix(fmt.Sprint(ev["actorId"]), "apikey:") {
							t.Errorf("event %v has actor %v; want the API key", ev["kind"], ev["actorId"])
						}
					}
				}
				slices.Sort(kinds)
				if want := []string{"assigned", "priority_changed", "status_changed", "tagged"}; !slices.Equal(kinds, want) {
					t.Errorf("events %v, want %v", kinds, want)
				}
				got := e.must(200, "GET", "/api/v1/conversations/{c.conversation}", "")
				if got["status"] != "resolved" {
					t.Errorf("GET after PATCH: status %v", got["status"])
				}
			}},
		{name: "an unknown status is 422", before: ingestOnce("c", "p2"), method: "PATCH", path: "/api/v1/conversations/{c.conversation}",
			body: `{"status":"closed"}`, wantStatus: 422, wantJSON: errorCode("invalid")},
		{name: "snoozing needs a future time", before: ingestOnce("c", "p3"), method: "PATCH", path: "/api/v1/conversations/{c.conversation}",
			body: `{"status":"snoozed","snoozedUntil":"2001-01-01T00:00:00Z"}`, wantStatus: 422},
		{name: "snoozing until tomorrow", before: ingestOnce("c", "p4"), method: "PATCH", path: "/api/v1/conversations/{c.conversation}",
			body: `{"status":"snoozed","snoozedUntil":"` + time.Now().Add(24*time.Hour).UTC().Format(time.RFC3339) + `"}`, wantStatus: 200,
			wantJSON: `{"status":"snoozed"}`},
		{name: "an unknown patch field is 400", before: ingestOnce("c", "p5"), method: "PATCH", path: "/api/v1/conversations/{c.conversation}",
			body: `{"state":"resolved"}`, wantStatus: 400},

		// Customers.
		{name: "merge moves the other customer in, and its id then reads the survivor", before: func(e *env) {
			e.ingest("a", "g1", `{"email":"siti@example.id","name":"Siti"}`, "from email")
			e.ingest("b", "g2", `{"phone":"+6281234567890"}`, "from phone")
		}, method: "POST", path: "/api/v1/customers/{a.customer}/merge", body: `{"otherId":"{b.customer}"}`,
			wantStatus: 200, wantJSON: `{"id":"{a.customer}","name":"Siti"}`,
			after: func(t *testing.T, e *env, r response) {
				keys := map[string]bool{}
				for _, id := range r.json(t)["identities"].([]any) {
					m := id.(map[string]any)
					keys[m["kind"].(string)+":"+m["value"].(string)] = true
				}
				if !keys["email:siti@example.id"] || !keys["phone:+6281234567890"] {
					t.Errorf("survivor identities %v; want both", keys)
				}
				got := e.must(200, "GET", "/api/v1/customers/{b.customer}", "")
				if got["id"] != e.vars["a.customer"] {
					t.Errorf("GET merged-away customer gave %v, want the survivor %s", got["id"], e.vars["a.customer"])
				}
				var texts []string
				for _, m := range timeline(t, e, e.vars["a.conversation"]) {
					texts = append(texts, fmt.Sprint(m["text"]))
				}
				if !slices.Contains(texts, "from email") || !slices.Contains(texts, "from phone") {
					t.Errorf("survivor timeline %q lacks a message", texts)
				}
			}},
		{name: "merging a customer into itself is 422", before: ingestOnce("a", "g3"), method: "POST",
			path: "/api/v1/customers/{a.customer}/merge", body: `{"otherId":"{a.customer}"}`, wantStatus: 422},
		{name: "merging without otherId is 422", before: ingestOnce("a", "g4"), method: "POST",
			path: "/api/v1/customers/{a.customer}/merge", body: `{}`, wantStatus: 422},

		// Attachments.
		{name: "upload returns the hash, size, name and type", method: "POST", path: "/api/v1/attachments?name=struk.png",
			rawBody: []byte("\x89PNG\r\n\x1a\nfake"), headers: map[string]string{"Content-Type": "image/png"},
			wantStatus: 201, wantJSON: `{"sha256":"` + sha("\x89PNG\r\n\x1a\nfake") + `","size":12,"name":"struk.png","contentType":"image/png"}`},
		{name: "an upload over the limit is 413", method: "POST", path: "/api/v1/attachments?name=big.bin",
			rawBody: bytes.Repeat([]byte("z"), maxAttachment+1), headers: map[string]string{"Content-Type": "application/octet-stream"},
			wantStatus: 413, wantJSON: errorCode("too_large")},
		{name: "a streamed upload over the limit is 413", method: "POST", path: "/api/v1/attachments?name=big.bin", stream: true,
			rawBody: bytes.Repeat([]byte("z"), maxAttachment+1), headers: map[string]string{"Content-Type": "application/octet-stream"},
			wantStatus: 413},
		{name: "HTML is served as a download", before: func(e *env) { e.upload("sha", []byte("<script>alert(1)</script>"), "") },
			method: "GET", path: "/api/v1/attachments/{sha}?name=page.html&type=text/html", wantStatus: 200,
			after: servedAs("text/html", "attachment", "page.html", "<script>alert(1)</script>")},
		{name: "SVG is served as a download", before: func(e *env) { e.upload("sha", []byte(`<svg onload="alert(1)"/>`), "") },
			method: "GET", path: "/api/v1/attachments/{sha}?name=logo.svg", wantStatus: 200,
			after: servedAs("image/svg+xml", "attachment", "logo.svg", `<svg onload="alert(1)"/>`)},
		{name: "an unknown type is served as a download", before: func(e *env) { e.upload("sha", []byte("MZ..."), "") },
			method: "GET", path: "/api/v1/attachments/{sha}?name=setup", wantStatus: 200,
			after: servedAs("application/octet-stream", "attachment", "setup", "MZ...")},
		{name: "a PNG is shown inline", before: func(e *env) { e.upload("sha", []byte("png-bytes"), "") },
			method: "GET", path: "/api/v1/attachments/{sha}?name=foto.png&type=image/png", wantStatus: 200,
			after: servedAs("image/png", "inline", "foto.png", "png-bytes")},
		{name: "a non-Latin name survives", before: func(e *env) { e.upload("sha", []byte("%PDF-1.4"), "") },
			method: "GET", path: "/api/v1/attachments/{sha}?name=" + url.QueryEscape("Счёт 請求書.pdf"), wantStatus: 200,
			after: servedAs("application/pdf", "inline", "Счёт 請求書.pdf", "%PDF-1.4")},
		{name: "a multipart upload", method: "POST", path: "/api/v1/attachments",
			rawBody: multipartBody("file", "Résumé.txt", "text/plain", "hello"), headers: map[string]string{"Content-Type": multipartType},
			wantStatus: 201, wantJSON: `{"sha256":"` + sha("hello") + `","size":5,"name":"Résumé.txt","contentType":"text/plain"}`},
		{name: "a message with an attachment gives a signed link that works without a key", before: func(e *env) {
			e.upload("sha", []byte("<svg/>"), "")
			e.must(201, "POST", "/api/v1/messages", `{"externalId":"at1","from":{"email":"a@example.id"},"text":"lihat",
				"attachments":[{"sha256":"{sha}","name":"gambar.svg","contentType":"image/svg+xml"}]}`)
		}, method: "GET", path: "/api/v1/conversations?limit=1", wantStatus: 200,
			after: func(t *testing.T, e *env, r response) {
				conv := r.json(t)["items"].([]any)[0].(map[string]any)["id"].(string)
				atts := timeline(t, e, conv)[0]["attachments"].([]any)
				a := atts[0].(map[string]any)
				if d := subset(a, map[string]any{"sha256": e.vars["sha"], "name": "gambar.svg", "contentType": "image/svg+xml", "size": 6}, "attachment"); d != nil {
					t.Error(d)
				}
				link := a["url"].(string)
				if !strings.HasPrefix(link, "http://127.0.0.1:") {
					t.Fatalf("link %q; want it under SERAMBI_BASE_URL", link)
				}
				r = e.do("GET", strings.TrimPrefix(link, e.in.URL()), nil, map[string]string{"Authorization": ""})
				servedAs("image/svg+xml", "attachment", "gambar.svg", "<svg/>")(t, e, r)
				u, _ := url.Parse(link)
				q := u.Query()
				q.Set("type", "text/html")
				u.RawQuery = q.Encode()
				if r := e.do("GET", strings.TrimPrefix(u.String(), e.in.URL()), nil, nil); r.status != 403 {
					t.Errorf("a link with its type changed: %d, want 403", r.status)
				}
			}},
		{name: "a reference to an attachment never uploaded is 422", method: "POST", path: "/api/v1/messages",
			body:       `{"externalId":"at2","from":{"email":"a@example.id"},"text":"x","attachments":[{"sha256":"` + strings.Repeat("1", 64) + `","name":"a.png","contentType":"image/png"}]}`,
			wantStatus: 422, after: nothingStored},
		{name: "an expired signed link is 403", before: func(e *env) {
			e.upload("sha", []byte("png"), "")
			past := web.NewAttachmentURLs([]byte(secretKey), e.in.URL(), func() time.Time { return time.Now().Add(-2 * time.Hour) })
			link := past.Sign(inbox.Attachment{SHA256: e.vars["sha"], Name: "a.png", ContentType: "image/png"}, time.Hour)
			e.vars["link"] = strings.TrimPrefix(link, e.in.URL())
		}, method: "GET", path: "{link}", wantStatus: 403, wantJSON: errorCode("link_expired")},
		{name: "a forged signed link is 403", before: func(e *env) { e.upload("sha", []byte("png"), "") },
			method: "GET", path: "/attachments/{sha}/a.png?type=image/png&exp=9999999999&sig=AAAA", wantStatus: 403, wantJSON: errorCode("bad_signature")},
		{name: "a link signed with another key is 403", before: func(e *env) {
			e.upload("sha", []byte("png"), "")
			other := web.NewAttachmentURLs([]byte("another-key-0123456789abcdef01234"), e.in.URL(), time.Now)
			e.vars["link"] = strings.TrimPrefix(other.Sign(inbox.Attachment{SHA256: e.vars["sha"], Name: "a.png"}, time.Hour), e.in.URL())
		}, method: "GET", path: "{link}", wantStatus: 403},

		// Operations.
		{name: "healthz", method: "GET", path: "/healthz", headers: map[string]string{"Authorization": ""}, wantStatus: 200, wantJSON: `{"status":"ok"}`},
		{name: "readyz", method: "GET", path: "/readyz", headers: map[string]string{"Authorization": ""}, wantStatus: 200, wantJSON: `{"status":"ready"}`},
		{name: "metrics count ingests, duplicates, the outbox and HTTP latency", before: func(e *env) {
			ingestOnce("a", "x1")(e)
			e.must(200, "POST", "/api/v1/messages", `{"externalId":"x1","from":{"email":"siti@example.id"},"text":"again"}`)
		}, method: "GET", path: "/metrics", headers: map[string]string{"Authorization": ""}, wantStatus: 200,
			after: func(t *testing.T, e *env, r response) {
				for _, want := range []string{
					`serambi_messages_ingested_total{channel="api",duplicate="false"} 1`,
					`serambi_messages_ingested_total{channel="api",duplicate="true"} 1`,
					`serambi_http_request_duration_seconds_count{method="POST",route="/api/v1/messages",status="201"} 1`,
					`serambi_http_request_duration_seconds_count{method="POST",route="/api/v1/messages",status="200"} 1`,
					"serambi_outbox_depth 0",
				} {
					if !strings.Contains(string(r.body), want) {
						t.Errorf("/metrics lacks %q", want)
					}
				}
			}},
	}
}

func sha(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

const multipartType = "multipart/form-data; boundary=serambi-test-boundary"

func multipartBody(field, name, ctype, content string) []byte {
	var b bytes.Buffer
	w := multipart.NewWriter(&b)
	_ = w.SetBoundary("serambi-test-boundary")
	_ = w.WriteField("note", "ignored")
	h := make(map[string][]string)
	h["Content-Disposition"] = []string{fmt.Sprintf(`form-data; name=%q; filename=%q`, field, name)}
	h["Content-Type"] = []string{ctype}
	p, _ := w.CreatePart(h)
	_, _ = p.Write([]byte(content))
	_ = w.Close()
	return b.Bytes()
}

// servedAs checks how an attachment is served: type, disposition with the name, nosniff, bytes.
func servedAs(ctype, disposition, name, body string) func(t *testing.T, e *env, r response) {
	return func(t *testing.T, e *env, r response) {
		t.Helper()
		if r.status != 200 {
			t.Fatalf("status %d: %s", r.status, r.body)
		}
		if got := r.header.Get("Content-Type"); !strings.HasPrefix(got, ctype) {
			t.Errorf("Content-Type %q, want %q", got, ctype)
		}
		cd := r.header.Get("Content-Disposition")
		if !strings.HasPrefix(cd, disposition+";") {
			t.Errorf("Content-Disposition %q, want %s", cd, disposition)
		}
		if !strings.Contains(cd, "filename*=UTF-8''"+encodeRFC5987(name)) {
			t.Errorf("Content-Disposition %q does not carry the name %q", cd, name)
		}
		if r.header.Get("X-Content-Type-Options") != "nosniff" {
			t.Error("X-Content-Type-Options is not nosniff")
		}
		if string(r.body) != body {
			t.Errorf("body %q, want %q", r.body, body)
		}
	}
}

// encodeRFC5987 is the expected filename* value, computed independently of the server's code:
// every byte outside the unreserved set is percent-encoded.
func encodeRFC5987(s string) string {
	var b strings.Builder
	for _, c := range []byte(s) {
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$&+-.^_`|~", c) >= 0 {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

func TestAPI(t *testing.T) {
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			for _, sc := range scenarios() {
				t.Run(sc.name, func(t *testing.T) {
					e := startEnv(t, backend)
					if sc.before != nil {
						sc.before(e)
					}
					var body io.Reader
					switch {
					case sc.rawBody != nil && sc.stream:
						body = io.MultiReader(bytes.NewReader(sc.rawBody)) // no length: sent chunked
					case sc.rawBody != nil:
						body = bytes.NewReader(sc.rawBody)
					case sc.body != "":
						body = strings.NewReader(e.expand(sc.body))
					}
					headers := map[string]string{}
					for k, v := range sc.headers {
						headers[k] = e.expand(v)
					}
					r := e.do(sc.method, sc.path, body, headers)
					if r.status != sc.wantStatus {
						t.Fatalf("%s %s = %d, want %d: %s", sc.method, e.expand(sc.path), r.status, sc.wantStatus, r.body)
					}
					if r.status >= 400 && r.header.Get("Content-Type") != "" && !strings.HasPrefix(r.header.Get("Content-Type"), "application/json") {
						t.Errorf("error answer has Content-Type %q; want JSON", r.header.Get("Content-Type"))
					}
					if sc.wantJSON != "" {
						var want any
						if err := json.Unmarshal([]byte(e.expand(sc.wantJSON)), &want); err != nil {
							t.Fatalf("bad wantJSON: %v", err)
						}
						var got any
						if err := json.Unmarshal(r.body, &got); err != nil {
							t.Fatalf("answer is not JSON: %s", r.body)
						}
						for _, d := range subset(got, want, "answer") {
							t.Error(d)
						}
					}
					if sc.after != nil {
						sc.after(t, e, r)
					}
				})
			}
		})
	}
}
