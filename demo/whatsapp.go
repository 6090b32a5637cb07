package demo

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/serambi/serambi/connectors/whatsapp"
)

// WhatsAppAPI stands in for the Graph API of the WhatsApp Cloud API in the demo: Serambi's
// connector sends with POST /{version}/{phone-number-id}/messages (and uploads media with
// .../media) and gets the documented answers. Like Meta, it then reports what happened to each
// message with signed status webhooks (sent, delivered, sometimes read) to Serambi's
// /webhooks/whatsapp, so agents see the ticks move.
type WhatsAppAPI struct {
	version, token, phoneID, appSecret string
	srv                                *http.Server
	ln                                 net.Listener
	log                                *slog.Logger
	client                             *http.Client
	ctx                                context.Context
	stop                               context.CancelFunc

	mu      sync.Mutex
	webhook string
	sent    []WhatsAppSent
	notify  func(WhatsAppSent)
	media   int
}

// WhatsAppSent is one message Serambi sent.
type WhatsAppSent struct {
	WAMID string
	To    string
	Type  string // text, image, document, template, ...
	// Text is the text body, or the caption of media, or the template's name.
	Text string
	// Link is the media's link when it was sent by URL.
	Link string
	Body json.RawMessage
	At   time.Time
}

// StartWhatsApp serves the stand-in on a free loopback port. version is the Graph API version in
// the path ("v20.0").
func StartWhatsApp(version, token, phoneID, appSecret string, log *slog.Logger) (*WhatsAppAPI, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	ctx, stop := context.WithCancel(context.Background())
	a := &WhatsAppAPI{version: version, token: token, phoneID: phoneID, appSecret: appSecret, ln: ln, log: log,
		client: &http.Client{Timeout: 10 * time.Second}, ctx: ctx, stop: stop}
	a.srv = &http.Server{Handler: http.HandlerFunc(a.serve), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = a.srv.Serve(ln) }()
	return a, nil
}

// URL is the Graph base with its version (SERAMBI_WHATSAPP_GRAPH_URL).
func (a *WhatsAppAPI) URL() string { return "http://" + a.ln.Addr().String() + "/" + a.version }

// SetWebhook names where status webhooks go (Serambi's /webhooks/whatsapp).
func (a *WhatsAppAPI) SetWebhook(u string) {
	a.mu.Lock()
	a.webhook = u
	a.mu.Unlock()
}

// Close stops the stand-in and the status reports still pending.
func (a *WhatsAppAPI) Close() error {
	a.stop()
	return a.srv.Close()
}

// Sent lists what Serambi sent, oldest first.
func (a *WhatsAppAPI) Sent() []WhatsAppSent {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.sent)
}

// OnSend calls fn for every message sent from now on.
func (a *WhatsAppAPI) OnSend(fn func(WhatsAppSent)) {
	a.mu.Lock()
	a.notify = fn
	a.mu.Unlock()
}

func (a *WhatsAppAPI) serve(w http.ResponseWriter, r *http.Request) {
	auth, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || subtle.ConstantTimeCompare([]byte(auth), []byte(a.token)) != 1 {
		graphFail(w, http.StatusUnauthorized, 190, "Invalid OAuth access token - Cannot parse access token")
		return
	}
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	if len(parts) != 3 || parts[0] != a.version || r.Method != http.MethodPost {
		graphFail(w, http.StatusBadRequest, 100, "Unsupported request - method type: "+strings.ToLower(r.Method))
		return
	}
	if parts[1] != a.phoneID {
		graphFail(w, http.StatusBadRequest, 100, "Unsupported post request. Object with ID '"+parts[1]+"' does not exist")
		return
	}
	switch parts[2] {
	case "messages":
		a.message(w, r)
	case "media":
		if err := r.ParseMultipartForm(100 << 20); err != nil || r.FormValue("messaging_product") != "whatsapp" {
			graphFail(w, http.StatusBadRequest, 100, "Invalid parameter")
			return
		}
		a.mu.Lock()
		a.media++
		id := strconv.Itoa(900000 + a.media)
		a.mu.Unlock()
		writeJSON(w, map[string]string{"id": id})
	default:
		graphFail(w, http.StatusBadRequest, 100, "Unknown path components: /"+parts[2])
	}
}

func (a *WhatsAppAPI) message(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	var m map[string]json.RawMessage
	if err != nil || json.Unmarshal(body, &m) != nil {
		graphFail(w, http.StatusBadRequest, 100, "Invalid parameter")
		return
	}
	var product, to, typ string
	_ = json.Unmarshal(m["messaging_product"], &product)
	_ = json.Unmarshal(m["to"], &to)
	_ = json.Unmarshal(m["type"], &typ)
	if typ == "" {
		typ = "text"
	}
	if product != "whatsapp" || to == "" {
		graphFail(w, http.StatusBadRequest, 100, "The parameter messaging_product is required")
		return
	}
	s := WhatsAppSent{WAMID: "wamid.demo." + randomHex(12), To: to, Type: typ, Body: body, At: time.Now()}
	var obj struct {
		Body, Caption, Link, Name string
	}
	_ = json.Unmarshal(m[typ], &obj)
	s.Text, s.Link = firstNonEmpty(obj.Body, obj.Caption, obj.Name), obj.Link
	if typ == "text" && strings.TrimSpace(obj.Body) == "" {
		graphFail(w, http.StatusBadRequest, 100, "The parameter text['body'] is required")
		return
	}
	if typ == "interactive" {
		s.Text = interactiveText(m[typ])
	}
	a.mu.Lock()
	a.sent = append(a.sent, s)
	notify := a.notify
	a.mu.Unlock()
	writeJSON(w, map[string]any{"messaging_product": "whatsapp",
		"contacts": []map[string]string{{"input": to, "wa_id": strings.TrimPrefix(to, "+")}},
		"messages": []map[string]string{{"id": s.WAMID}}})
	if notify != nil {
		go notify(s)
	}
	go a.report(s)
}

// interactiveText reads the body of an interactive message (a card with a button).
func interactiveText(raw json.RawMessage) string {
	var in struct {
		Body struct {
			Text string `json:"text"`
		} `json:"body"`
	}
	_ = json.Unmarshal(raw, &in)
	return in.Body.Text
}

// report sends the status webhooks Meta sends for a delivered message. The first waits a moment:
// Serambi records the message's wamid only once the send has returned.
func (a *WhatsAppAPI) report(s WhatsAppSent) {
	steps := []struct {
		status string
		after  time.Duration
	}{{"sent", 700 * time.Millisecond}, {"delivered", 800 * time.Millisecond}}
	if s.At.UnixNano()%2 == 0 {
		steps = append(steps, struct {
			status string
			after  time.Duration
		}{"read", 4 * time.Second})
	}
	for _, st := range steps {
		select {
		case <-a.ctx.Done():
			return
		case <-time.After(st.after):
		}
		a.status(s, st.status)
	}
}

func (a *WhatsAppAPI) status(s WhatsAppSent, status string) {
	a.mu.Lock()
	hook := a.webhook
	a.mu.Unlock()
	if hook == "" {
		return
	}
	env := map[string]any{"object": "whatsapp_business_account", "entry": []any{map[string]any{
		"id": "102290129340398", "changes": []any{map[string]any{"field": "messages", "value": map[string]any{
			"messaging_product": "whatsapp",
			"metadata":          map[string]string{"display_phone_number": "15550783881", "phone_number_id": a.phoneID},
			"statuses": []any{map[string]any{"id": s.WAMID, "status": status, "timestamp": strconv.FormatInt(time.Now().Unix(), 10),
				"recipient_id": strings.TrimPrefix(s.To, "+"),
				"conversation": map[string]any{"id": "demo-conversation", "origin": map[string]string{"type": "service"}},
				"pricing":      map[string]any{"billable": true, "pricing_model": "CBP", "category": "service"}}},
		}}},
	}}}
	if err := postWhatsApp(a.ctx, a.client, hook, a.appSecret, env); err != nil {
		a.log.Debug("demo WhatsApp status webhook failed", "status", status, "err", err)
	}
}

// postWhatsApp posts a webhook body signed as Meta signs it (X-Hub-Signature-256).
func postWhatsApp(ctx context.Context, client *http.Client, hook, appSecret string, env any) error {
	body, err := json.Marshal(env)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, hook, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(whatsapp.SignatureHeader, whatsapp.Sign(whatsapp.Secret(appSecret), body))
	return doExpect(client, req, http.StatusOK)
}

func graphFail(w http.ResponseWriter, status, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"message": msg, "type": "OAuthException",
		"code": code, "fbtrace_id": "Demo" + randomHex(6)}})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func firstNonEmpty(s ...string) string {
	for _, x := range s {
		if strings.TrimSpace(x) != "" {
			return x
		}
	}
	return ""
}
