package api_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/serambi/serambi/connectors/api"
	"github.com/serambi/serambi/inbox"
)

const secret = "callback-secret-0123456789"

// receiver is a callback endpoint as a shop would write it: it checks the signature over the raw
// body before it believes anything in it.
type receiver struct {
	mu       sync.Mutex
	got      []api.Callback
	headers  []http.Header
	status   int
	header   map[string]string
	badSigns int
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	defer r.mu.Unlock()
	if !api.Verify([]byte(secret), body, req.Header.Get(api.SignatureHeader)) {
		r.badSigns++
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	var cb api.Callback
	if err := json.Unmarshal(body, &cb); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	r.got = append(r.got, cb)
	r.headers = append(r.headers, req.Header.Clone())
	for k, v := range r.header {
		w.Header().Set(k, v)
	}
	w.WriteHeader(r.status)
}

func outbound() inbox.Outbound {
	return inbox.Outbound{
		Message: inbox.Message{ID: "m1", ConversationID: "c1", CustomerID: "u1", Direction: inbox.DirectionOut,
			Channel: inbox.ChannelAPI, Text: "Pesanan Anda sudah dikirim", Delivery: inbox.DeliveryQueued,
			Attachments: []inbox.Attachment{{SHA256: "ab12", Name: "resi.pdf", ContentType: "application/pdf", Size: 3}}},
		Customer: inbox.Customer{ID: "u1", Name: "Siti", Identities: []inbox.Identity{{Kind: inbox.KindEmail, Value: "siti@example.id", Verified: true}}},
		Attempt:  2,
	}
}

var now = time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)

func TestSendOutcomes(t *testing.T) {
	tests := []struct {
		name          string
		status        int
		header        map[string]string
		wantErr       bool
		wantPermanent bool
		wantAfter     time.Duration
	}{
		{name: "200 is sent", status: 200},
		{name: "204 is sent", status: 204},
		{name: "500 is retried", status: 500, wantErr: true},
		{name: "503 with Retry-After seconds waits that long", status: 503, header: map[string]string{"Retry-After": "120"}, wantErr: true, wantAfter: 2 * time.Minute},
		{name: "429 with an HTTP date", status: 429, header: map[string]string{"Retry-After": now.Add(90 * time.Second).Format(http.TimeFormat)}, wantErr: true, wantAfter: 90 * time.Second},
		{name: "408 is retried", status: 408, wantErr: true},
		{name: "Retry-After of a year is capped at a day", status: 503, header: map[string]string{"Retry-After": "31536000"}, wantErr: true, wantAfter: 24 * time.Hour},
		{name: "400 is permanent", status: 400, wantErr: true, wantPermanent: true},
		{name: "404 is permanent", status: 404, wantErr: true, wantPermanent: true},
		{name: "a redirect is not followed and is permanent", status: 302, header: map[string]string{"Location": "/elsewhere"}, wantErr: true, wantPermanent: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rcv := &receiver{status: tt.status, header: tt.header}
			srv := httptest.NewServer(rcv)
			defer srv.Close()
			s := api.New(api.Options{URL: srv.URL, Secret: secret, Now: func() time.Time { return now },
				AttachmentURL: func(a inbox.Attachment) string {
					return "https://serambi.example/attachments/" + a.SHA256 + "/" + a.Name
				}})
			_, err := s.Send(context.Background(), outbound())
			if rcv.badSigns != 0 {
				t.Fatalf("receiver saw %d bad signatures", rcv.badSigns)
			}
			if len(rcv.got) != 1 {
				t.Fatalf("receiver got %d requests, want 1", len(rcv.got))
			}
			if (err != nil) != tt.wantErr {
				t.Fatalf("Send error %v, want error: %v", err, tt.wantErr)
			}
			var perm *inbox.PermanentError
			if errors.As(err, &perm) != tt.wantPermanent {
				t.Errorf("error %v permanent=%v, want %v", err, !tt.wantPermanent, tt.wantPermanent)
			}
			var ra *inbox.RetryAfterError
			if tt.wantAfter > 0 {
				if !errors.As(err, &ra) || ra.After != tt.wantAfter {
					t.Errorf("error %v; want retry after %s", err, tt.wantAfter)
				}
			} else if errors.As(err, &ra) {
				t.Errorf("error %v has a retry-after, want none", err)
			}
		})
	}
}

func TestCallbackBody(t *testing.T) {
	rcv := &receiver{status: 200}
	srv := httptest.NewServer(rcv)
	defer srv.Close()
	s := api.New(api.Options{URL: srv.URL, Secret: secret, Now: func() time.Time { return now },
		AttachmentURL: func(a inbox.Attachment) string { return "https://serambi.example/a/" + a.SHA256 }})
	if _, err := s.Send(context.Background(), outbound()); err != nil {
		t.Fatal(err)
	}
	cb, h := rcv.got[0], rcv.headers[0]
	checks := []struct {
		name      string
		got, want any
	}{
		{"event", cb.Event, "message.created"},
		{"timestamp in body", cb.Timestamp, now.Unix()},
		{"timestamp header", h.Get(api.TimestampHeader), strconv.FormatInt(now.Unix(), 10)},
		{"delivery id is the message id", h.Get(api.DeliveryHeader), "m1"},
		{"content type", h.Get("Content-Type"), "application/json"},
		{"attempt", cb.Attempt, 2},
		{"message text", cb.Message.Text, "Pesanan Anda sudah dikirim"},
		{"conversation", cb.Message.ConversationID, "c1"},
		{"customer", cb.Customer.ID, "u1"},
		{"customer email", cb.Customer.Identities[0].Value, "siti@example.id"},
		{"attachment url", cb.Message.Attachments[0].URL, "https://serambi.example/a/ab12"},
		{"attachment name", cb.Message.Attachments[0].Name, "resi.pdf"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
}

func TestWrongSecretIsRefusedByTheReceiver(t *testing.T) {
	rcv := &receiver{status: 200}
	srv := httptest.NewServer(rcv)
	defer srv.Close()
	s := api.New(api.Options{URL: srv.URL, Secret: "another-secret-entirely"})
	_, err := s.Send(context.Background(), outbound())
	var perm *inbox.PermanentError
	if rcv.badSigns != 1 || !errors.As(err, &perm) {
		t.Fatalf("bad signatures %d, error %v; want the receiver to refuse it with 401 and the send to fail permanently", rcv.badSigns, err)
	}
}

func TestNetworkErrorIsRetried(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close() // nothing listens there any more
	_, err := api.New(api.Options{URL: url, Secret: secret}).Send(context.Background(), outbound())
	var perm *inbox.PermanentError
	if err == nil || errors.As(err, &perm) {
		t.Fatalf("error %v; want a retryable error", err)
	}
}

func TestVerify(t *testing.T) {
	body := []byte(`{"event":"message.created"}`)
	good := api.Sign([]byte(secret), body)
	tests := []struct {
		name string
		body []byte
		sig  string
		want bool
	}{
		{"genuine", body, good, true},
		{"body changed", []byte(`{"event":"message.created "}`), good, false},
		{"missing", body, "", false},
		{"without prefix", body, good[len("sha256="):], false},
		{"upper-case hex", body, "sha256=" + string(toUpper(good[len("sha256="):])), false},
	}
	for _, tt := range tests {
		if got := api.Verify([]byte(secret), tt.body, tt.sig); got != tt.want {
			t.Errorf("%s: Verify = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func toUpper(s string) []byte {
	b := []byte(s)
	for i, c := range b {
		if c >= 'a' && c <= 'f' {
			b[i] = c - 32
		}
	}
	return b
}
