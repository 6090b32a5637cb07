package demo

import (
	"crypto/subtle"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// TelegramAPI stands in for https://api.telegram.org in the demo: Serambi's Telegram connector
// calls it exactly as it calls Telegram (POST /bot<token>/<method> with form, multipart or JSON
// parameters; answers {"ok":true,"result":...} or {"ok":false,"error_code":N,"description":...}).
// Customers' messages do not come from here: the simulator posts them to Serambi's webhook, as
// Telegram does in webhook mode.
type TelegramAPI struct {
	token string
	srv   *http.Server
	ln    net.Listener

	mu      sync.Mutex
	nextMsg int
	hookURL string
	sent    []TelegramSent
	notify  func(TelegramSent)
}

// TelegramSent is one message the bot sent.
type TelegramSent struct {
	Method    string // sendMessage, sendPhoto, sendDocument
	ChatID    int64
	MessageID int
	// Text is the text or caption as the user reads it (MarkdownV2 escapes removed).
	Text string
	// Photo is the photo's URL or file id when it was not uploaded.
	Photo       string
	ReplyMarkup string
	At          time.Time
}

// StartTelegram serves the stand-in on a free loopback port for the bot token.
func StartTelegram(token string) (*TelegramAPI, error) {
	t := &TelegramAPI{token: token, nextMsg: int(time.Now().Unix() % 1_000_000)}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	t.ln = ln
	t.srv = &http.Server{Handler: http.HandlerFunc(t.serve), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = t.srv.Serve(ln) }()
	return t, nil
}

// URL is the API base to configure (SERAMBI_TELEGRAM_API_URL).
func (t *TelegramAPI) URL() string { return "http://" + t.ln.Addr().String() }

// Close stops the stand-in.
func (t *TelegramAPI) Close() error { return t.srv.Close() }

// Sent lists what the bot sent, oldest first.
func (t *TelegramAPI) Sent() []TelegramSent {
	t.mu.Lock()
	defer t.mu.Unlock()
	return slices.Clone(t.sent)
}

// OnSend calls fn for every message the bot sends from now on.
func (t *TelegramAPI) OnSend(fn func(TelegramSent)) {
	t.mu.Lock()
	t.notify = fn
	t.mu.Unlock()
}

// Webhook is the URL setWebhook registered.
func (t *TelegramAPI) Webhook() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.hookURL
}

func (t *TelegramAPI) serve(w http.ResponseWriter, r *http.Request) {
	rest, ok := strings.CutPrefix(r.URL.Path, "/bot")
	if !ok {
		tgFail(w, http.StatusNotFound, "Not Found")
		return
	}
	token, method, ok := strings.Cut(rest, "/")
	if !ok || subtle.ConstantTimeCompare([]byte(token), []byte(t.token)) != 1 {
		tgFail(w, http.StatusUnauthorized, "Unauthorized")
		return
	}
	p, err := tgParams(r)
	if err != nil {
		tgFail(w, http.StatusBadRequest, "Bad Request: "+err.Error())
		return
	}
	switch strings.ToLower(method) {
	case "getme":
		id, _, _ := strings.Cut(t.token, ":")
		n, _ := strconv.ParseInt(id, 10, 64)
		tgOK(w, map[string]any{"id": n, "is_bot": true, "first_name": "Serambi Demo Shop", "username": "serambi_demo_bot",
			"can_join_groups": false, "can_read_all_group_messages": false, "supports_inline_queries": false})
	case "setwebhook":
		u, err := url.Parse(p.Get("url"))
		if p.Get("url") != "" && (err != nil || u.Scheme != "https") {
			tgFail(w, http.StatusBadRequest, "Bad Request: bad webhook: An HTTPS URL must be provided for webhook")
			return
		}
		t.mu.Lock()
		t.hookURL = p.Get("url")
		t.mu.Unlock()
		tgOK(w, true)
	case "deletewebhook":
		t.mu.Lock()
		t.hookURL = ""
		t.mu.Unlock()
		tgOK(w, true)
	case "getwebhookinfo":
		t.mu.Lock()
		hook := t.hookURL
		t.mu.Unlock()
		tgOK(w, map[string]any{"url": hook, "has_custom_certificate": false, "pending_update_count": 0})
	case "getupdates":
		// Webhook mode: Telegram refuses getUpdates while a webhook is set.
		tgFail(w, http.StatusConflict, "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first")
	case "sendmessage", "sendphoto", "senddocument":
		t.send(w, method, p)
	case "getfile":
		tgFail(w, http.StatusBadRequest, "Bad Request: invalid file_id")
	default:
		tgFail(w, http.StatusNotFound, "Not Found: method not found")
	}
}

func (t *TelegramAPI) send(w http.ResponseWriter, method string, p url.Values) {
	chatID, err := strconv.ParseInt(p.Get("chat_id"), 10, 64)
	if err != nil {
		tgFail(w, http.StatusBadRequest, "Bad Request: chat not found")
		return
	}
	s := TelegramSent{Method: method, ChatID: chatID, ReplyMarkup: p.Get("reply_markup"), At: time.Now()}
	raw := p.Get("text")
	if method != "sendMessage" {
		raw = p.Get("caption")
		s.Photo = p.Get("photo")
	}
	s.Text = raw
	if p.Get("parse_mode") == "MarkdownV2" {
		s.Text = unescapeMarkdownV2(raw)
	}
	if method == "sendMessage" && strings.TrimSpace(s.Text) == "" {
		tgFail(w, http.StatusBadRequest, "Bad Request: message text is empty")
		return
	}
	t.mu.Lock()
	t.nextMsg++
	s.MessageID = t.nextMsg
	t.sent = append(t.sent, s)
	notify := t.notify
	t.mu.Unlock()
	if notify != nil {
		go notify(s)
	}
	res := map[string]any{"message_id": s.MessageID, "date": s.At.Unix(), "chat": map[string]any{"id": chatID, "type": "private"},
		"from": map[string]any{"id": 1, "is_bot": true, "first_name": "Serambi Demo Shop"}}
	if method == "sendMessage" {
		res["text"] = s.Text
	} else if s.Text != "" {
		res["caption"] = s.Text
	}
	tgOK(w, res)
}

// unescapeMarkdownV2 turns MarkdownV2 back into what the user sees; entities (bold, links) keep
// their text and lose their markers, which is all the demo needs.
func unescapeMarkdownV2(s string) string {
	var b strings.Builder
	esc := false
	for _, r := range s {
		switch {
		case esc:
			b.WriteRune(r)
			esc = false
		case r == '\\':
			esc = true
		case strings.ContainsRune("*_~`|", r):
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// tgParams reads parameters the ways the Bot API takes them: query string, form, JSON, multipart.
func tgParams(r *http.Request) (url.Values, error) {
	p := r.URL.Query()
	ct := r.Header.Get("Content-Type")
	switch {
	case strings.HasPrefix(ct, "multipart/form-data"):
		if err := r.ParseMultipartForm(64 << 20); err != nil {
			return nil, err
		}
		for k, vs := range r.MultipartForm.Value {
			p[k] = vs
		}
		for k, fhs := range r.MultipartForm.File {
			if p.Get(k) == "" && len(fhs) > 0 {
				p.Set(k, fhs[0].Filename) // an upload: its name is all the demo keeps
			}
		}
	case strings.HasPrefix(ct, "application/json"):
		var m map[string]any
		if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&m); err != nil {
			return nil, err
		}
		for k, v := range m {
			if s, ok := v.(string); ok {
				p.Set(k, s)
			} else {
				b, _ := json.Marshal(v)
				p.Set(k, string(b))
			}
		}
	case r.Method == http.MethodPost:
		if err := r.ParseForm(); err != nil {
			return nil, err
		}
		for k, vs := range r.PostForm {
			p[k] = vs
		}
	}
	return p, nil
}

func tgOK(w http.ResponseWriter, result any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"ok": true, "result": result})
}

func tgFail(w http.ResponseWriter, code int, description string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]any{"ok": false, "error_code": code, "description": description})
}
