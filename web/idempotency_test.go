package web

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/oklog/ulid/v2"

	"github.com/serambi/serambi/agents"
	"github.com/serambi/serambi/bus"
	"github.com/serambi/serambi/database/sqlite"
	"github.com/serambi/serambi/inbox"
)

// idemEnv is the API on a real SQLite file, with two conversations (two customers reachable by
// email) and two API keys.
type idemEnv struct {
	t     *testing.T
	e     *echo.Echo
	store *sqlite.Store
	x     *inbox.Inbox
	convs [2]string
	keys  [2]string // bearer secrets
}

func newIdemEnv(t *testing.T) *idemEnv {
	t.Helper()
	ctx := context.Background()
	log := slog.New(slog.DiscardHandler)
	dir := t.TempDir()
	st, err := sqlite.Open(ctx, filepath.Join(dir, "serambi.db"), log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	blobs, err := sqlite.NewBlobs(filepath.Join(dir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	x := inbox.New(st, bus.NewLocal(log, 0), inbox.NewNormalizer("ID"), time.Now, log)
	keys := agents.NewAPIKeys(st, time.Now)
	env := &idemEnv{t: t, store: st, x: x}
	for i, who := range []string{"siti@example.id", "budi@example.id"} {
		res, err := x.Ingest(ctx, inbox.Inbound{Channel: inbox.ChannelEmail, ExternalID: "<m" + who + ">",
			From: []inbox.Identity{{Kind: inbox.KindEmail, Value: who}}, Subject: "Pesanan", Text: "Pesanan saya belum sampai"})
		if err != nil {
			t.Fatal(err)
		}
		env.convs[i] = res.Message.ConversationID
		if _, env.keys[i], err = keys.Create(ctx, "shop backend "+who); err != nil {
			t.Fatal(err)
		}
	}
	env.e = New(Deps{Inbox: x, Blobs: blobs, Keys: keys, Log: log, MaxBodyBytes: 1 << 20,
		URLs: NewAttachmentURLs([]byte("k-0123456789abcdef0123456789abcdef"), "http://x", time.Now)})
	return env
}

// post sends POST /api/v1/conversations/{conv}/messages; keys are Idempotency-Key headers (none,
// one, or several).
func (env *idemEnv) post(conv, apiKey int, body string, keys ...string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, "/api/v1/conversations/"+env.convs[conv]+"/messages", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+env.keys[apiKey])
	req.Header.Set("Content-Type", "application/json")
	for _, k := range keys {
		req.Header.Add("Idempotency-Key", k)
	}
	rec := httptest.NewRecorder()
	env.e.ServeHTTP(rec, req)
	return rec
}

// written counts the messages the API wrote (replies and notes) in both conversations.
func (env *idemEnv) written() int {
	n := 0
	for _, conv := range env.convs {
		msgs, err := env.x.Messages(context.Background(), conv, inbox.Cursor{}, inbox.MaxPage)
		if err != nil {
			env.t.Fatal(err)
		}
		for _, m := range msgs {
			if strings.HasPrefix(m.AuthorID, "apikey:") {
				n++
			}
		}
	}
	return n
}

// call is one request of a scenario.
type call struct {
	conv, apiKey int
	body         string
	keys         []string
	wantStatus   int
	wantCode     string // the error code, for error answers
	// sameAs is the index of an earlier call whose answer this one must repeat byte for byte
	// (a replay), or -1.
	sameAs int
}

const (
	replyText  = `{"text":"Paket dikirim hari ini","channel":"email"}`
	replyOther = `{"text":"Paket dikirim besok","channel":"email"}`
	noteText   = `{"text":"cek gudang dulu","note":true}`
)

func TestIdempotentPostMessage(t *testing.T) {
	tests := []struct {
		name        string
		calls       []call
		wantWritten int // replies and notes stored
		wantOutbox  int // replies queued to send
	}{
		{"without a key every request is a new reply", []call{
			{body: replyText, wantStatus: 201, sameAs: -1},
			{body: replyText, wantStatus: 201, sameAs: -1},
		}, 2, 2},
		{"a repeated reply is stored and queued once", []call{
			{body: replyText, keys: []string{"retry-1"}, wantStatus: 201, sameAs: -1},
			{body: replyText, keys: []string{"retry-1"}, wantStatus: 200, sameAs: 0},
			{body: replyText, keys: []string{"retry-1"}, wantStatus: 200, sameAs: 0},
		}, 1, 1},
		{"a repeated reply that left the channel to the conversation", []call{
			{body: `{"text":"Halo"}`, keys: []string{"k"}, wantStatus: 201, sameAs: -1},
			{body: `{"text":"Halo"}`, keys: []string{"k"}, wantStatus: 200, sameAs: 0},
		}, 1, 1},
		{"a repeated note is stored once", []call{
			{body: noteText, keys: []string{"note-1"}, wantStatus: 201, sameAs: -1},
			{body: noteText, keys: []string{"note-1"}, wantStatus: 200, sameAs: 0},
		}, 1, 0},
		{"a reply with HTML only repeats", []call{
			{body: `{"html":"<p>Halo <b>Siti</b><script>x()</script></p>","channel":"email","subject":"Re: Pesanan"}`,
				keys: []string{"html-1"}, wantStatus: 201, sameAs: -1},
			{body: `{"html":"<p>Halo <b>Siti</b><script>x()</script></p>","channel":"email","subject":"Re: Pesanan"}`,
				keys: []string{"html-1"}, wantStatus: 200, sameAs: 0},
		}, 1, 1},
		{"different keys are different replies", []call{
			{body: replyText, keys: []string{"a"}, wantStatus: 201, sameAs: -1},
			{body: replyText, keys: []string{"b"}, wantStatus: 201, sameAs: -1},
		}, 2, 2},
		{"the same key on another conversation is another reply", []call{
			{conv: 0, body: replyText, keys: []string{"order-42"}, wantStatus: 201, sameAs: -1},
			{conv: 1, body: replyText, keys: []string{"order-42"}, wantStatus: 201, sameAs: -1},
			{conv: 1, body: replyText, keys: []string{"order-42"}, wantStatus: 200, sameAs: 1},
		}, 2, 2},
		{"the same key from another API key is another reply", []call{
			{apiKey: 0, body: replyText, keys: []string{"order-42"}, wantStatus: 201, sameAs: -1},
			{apiKey: 1, body: replyText, keys: []string{"order-42"}, wantStatus: 201, sameAs: -1},
		}, 2, 2},
		{"the key reused with other text", []call{
			{body: replyText, keys: []string{"k"}, wantStatus: 201, sameAs: -1},
			{body: replyOther, keys: []string{"k"}, wantStatus: 422, wantCode: "idempotency_key_reused", sameAs: -1},
		}, 1, 1},
		{"the key reused on another channel", []call{
			{body: replyText, keys: []string{"k"}, wantStatus: 201, sameAs: -1},
			{body: `{"text":"Paket dikirim hari ini","channel":"api"}`, keys: []string{"k"}, wantStatus: 422, wantCode: "idempotency_key_reused", sameAs: -1},
		}, 1, 1},
		{"the key of a reply reused for a note", []call{
			{body: `{"text":"cek gudang dulu"}`, keys: []string{"k"}, wantStatus: 201, sameAs: -1},
			{body: noteText, keys: []string{"k"}, wantStatus: 422, wantCode: "idempotency_key_reused", sameAs: -1},
		}, 1, 1},
		{"the key reused with another subject", []call{
			{body: `{"text":"Halo","channel":"email","subject":"Re: Pesanan"}`, keys: []string{"k"}, wantStatus: 201, sameAs: -1},
			{body: `{"text":"Halo","channel":"email","subject":"Re: Refund"}`, keys: []string{"k"}, wantStatus: 422, wantCode: "idempotency_key_reused", sameAs: -1},
		}, 1, 1},
		{"an empty key", []call{{body: replyText, keys: []string{""}, wantStatus: 400, wantCode: "bad_request", sameAs: -1}}, 0, 0},
		{"a key over 255 characters", []call{{body: replyText, keys: []string{strings.Repeat("k", 256)}, wantStatus: 400, wantCode: "bad_request", sameAs: -1}}, 0, 0},
		{"a key of 255 characters", []call{{body: replyText, keys: []string{strings.Repeat("k", 255)}, wantStatus: 201, sameAs: -1}}, 1, 1},
		{"a key that is not ASCII", []call{{body: replyText, keys: []string{"kunci-ñ"}, wantStatus: 400, wantCode: "bad_request", sameAs: -1}}, 0, 0},
		{"a key with a control character", []call{{body: replyText, keys: []string{"a\tb"}, wantStatus: 400, wantCode: "bad_request", sameAs: -1}}, 0, 0},
		{"two keys", []call{{body: replyText, keys: []string{"a", "b"}, wantStatus: 400, wantCode: "bad_request", sameAs: -1}}, 0, 0},
		{"a key does not excuse a bad request", []call{
			{body: `{"text":""}`, keys: []string{"k"}, wantStatus: 422, wantCode: "invalid", sameAs: -1},
			{body: replyText, keys: []string{"k"}, wantStatus: 201, sameAs: -1},
		}, 1, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := newIdemEnv(t)
			var answers []*httptest.ResponseRecorder
			for i, c := range tt.calls {
				rec := env.post(c.conv, c.apiKey, c.body, c.keys...)
				answers = append(answers, rec)
				if rec.Code != c.wantStatus {
					t.Fatalf("call %d: %d %s, want %d", i, rec.Code, rec.Body, c.wantStatus)
				}
				if replayed := rec.Header().Get("Idempotent-Replayed"); (replayed == "true") != (c.sameAs >= 0) {
					t.Errorf("call %d: Idempotent-Replayed: %q, want it only on a replay", i, replayed)
				}
				if c.wantCode != "" {
					var e errorBody
					if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Error.Code != c.wantCode {
						t.Errorf("call %d: %s, want error code %q", i, rec.Body, c.wantCode)
					}
				}
				if c.sameAs >= 0 && rec.Body.String() != answers[c.sameAs].Body.String() {
					t.Errorf("call %d repeats call %d but answered\n %s\nnot\n %s", i, c.sameAs, rec.Body, answers[c.sameAs].Body)
				}
			}
			ids := map[string]int{}
			for i, rec := range answers {
				if rec.Code != 201 {
					continue
				}
				var m struct{ ID string }
				if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil || m.ID == "" {
					t.Fatalf("call %d answered %s", i, rec.Body)
				}
				if j, ok := ids[m.ID]; ok {
					t.Errorf("calls %d and %d both created message %s", j, i, m.ID)
				}
				ids[m.ID] = i
			}
			if n := env.written(); n != tt.wantWritten {
				t.Errorf("%d replies and notes stored, want %d", n, tt.wantWritten)
			}
			depth, err := env.store.OutboxDepth(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if depth != tt.wantOutbox {
				t.Errorf("%d outbox jobs, want %d", depth, tt.wantOutbox)
			}
		})
	}
}

// TestIdempotentMessageID: the ids derived from keys are ids the inbox accepts (lower-case
// ULIDs), and differ with each of their inputs.
func TestIdempotentMessageID(t *testing.T) {
	base := idempotentMessageID("apikey:k1", "c1", "order-42")
	tests := []struct {
		name              string
		author, conv, key string
		wantSameAsBase    bool
	}{
		{"the same request", "apikey:k1", "c1", "order-42", true},
		{"another key", "apikey:k1", "c1", "order-43", false},
		{"another conversation", "apikey:k1", "c2", "order-42", false},
		{"another API key", "apikey:k2", "c1", "order-42", false},
		{"the parts shifted", "apikey:k1", "c1o", "rder-42", false},
		{"a long key", "apikey:k1", "c1", strings.Repeat("~", 255), false},
		{"a one-character key", "apikey:k1", "c1", " ", false},
	}
	for _, tt := range tests {
		id := idempotentMessageID(tt.author, tt.conv, tt.key)
		if (id == base) != tt.wantSameAsBase {
			t.Errorf("%s: id %s, base %s, want same=%v", tt.name, id, base, tt.wantSameAsBase)
		}
		if _, err := ulid.ParseStrict(id); err != nil || id != strings.ToLower(id) || len(id) != 26 {
			t.Errorf("%s: %q is not a lower-case ULID: %v", tt.name, id, err)
		}
	}
}

// TestSameStoredText: a retry is recognised by the text the inbox stored, which drops NUL bytes
// and cuts very long texts.
func TestSameStoredText(t *testing.T) {
	long := strings.Repeat("a", 300<<10)
	tests := []struct {
		name, stored, text string
		want               bool
	}{
		{"equal", "Halo", "Halo", true},
		{"NUL dropped", "Halo", "Ha\x00lo", true},
		{"cut", long[:256<<10] + "\n[…truncated]", long, true},
		{"different", "Halo", "Hallo", false},
		{"cut, but of another text", long[:256<<10] + "\n[…truncated]", "b" + long, false},
		{"a marker the sender wrote", "a\n[…truncated]", "a", false},
	}
	for _, tt := range tests {
		if got := sameStoredText(tt.stored, tt.text); got != tt.want {
			t.Errorf("%s: sameStoredText = %v, want %v", tt.name, got, tt.want)
		}
	}
}
