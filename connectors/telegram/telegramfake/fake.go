// Package telegramfake is a local stand-in for the Telegram Bot API, for tests: it serves
// https://core.telegram.org/bots/api as documented — POST/GET /bot<token>/<method> with form,
// multipart or JSON parameters, answers {"ok":true,"result":...} or {"ok":false,"error_code":N,
// "description":"...","parameters":{"retry_after":N}} with the matching HTTP status, file
// downloads under /file/bot<token>/<file_path> — and lets a test queue updates, register files,
// script failures and see what was sent.
//
// sendPhoto takes the photo as an upload, a file_id or an HTTP URL, as documented. Telegram
// fetches a URL itself; the fake fetches only URLs on this machine (a test's own server) and
// treats every other host as unreachable, answering as Telegram does for those: 400 "Bad Request:
// wrong file identifier/HTTP URL specified". reply_markup is parsed as the documented JSON
// (InlineKeyboardMarkup) and its URL buttons are checked and recorded.
package telegramfake

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// MaxDownload is the public Bot API's getFile limit.
const MaxDownload = 20 << 20

// Sent is one message the bot sent.
type Sent struct {
	Method    string // sendMessage, sendPhoto, sendDocument
	ChatID    int64
	MessageID int
	// Text is what the user sees: the text or caption with MarkdownV2 escapes resolved.
	Text      string
	RawText   string // as the bot sent it
	ParseMode string
	FileName  string
	File      []byte
	// PhotoURL is the HTTP URL a photo was sent by (the fake fetched File from it).
	PhotoURL string
	// Buttons is the inline keyboard of reply_markup, row by row.
	Buttons [][]Button
}

// Button is one inline keyboard button (InlineKeyboardButton).
type Button struct {
	Text         string `json:"text"`
	URL          string `json:"url,omitempty"`
	CallbackData string `json:"callback_data,omitempty"`
}

// File is a file the fake serves through getFile.
type File struct {
	ID, UniqueID string
	Data         []byte
	// Size overrides len(Data) as the reported size (an oversized file needs no bytes).
	Size int
}

type failure struct {
	code       int
	desc       string
	retryAfter int
}

// Server is the fake Bot API for one bot token.
type Server struct {
	Token string
	srv   *httptest.Server

	mu       sync.Mutex
	changed  chan struct{} // closed and replaced whenever updates are added
	updates  []json.RawMessage
	ids      []int64
	nextID   int64
	confirm  int64 // updates below this id were confirmed by an offset and are forgotten
	files    map[string]File
	paths    map[string]string // file_path -> file_id
	fails    map[string][]failure
	blocked  map[int64]bool
	hooks    map[string]func(*http.Request)
	sent     []Sent
	calls    map[string]int
	offsets  []int64
	nextMsg  int
	hookURL  string
	hookSec  string
	requests []string
}

// New starts a fake for token; it stops when the test ends.
func New(t testing.TB, token string) *Server {
	s := &Server{Token: token, changed: make(chan struct{}), nextID: 100000, files: map[string]File{},
		paths: map[string]string{}, fails: map[string][]failure{}, blocked: map[int64]bool{},
		hooks: map[string]func(*http.Request){}, calls: map[string]int{}, nextMsg: 1000}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.srv.Close)
	return s
}

// URL is the API base to configure (the part before /bot<token>).
func (s *Server) URL() string { return s.srv.URL }

// Push queues an update. When it has no update_id, the next one is assigned; it returns the id.
func (s *Server) Push(update []byte) int64 {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(update, &m); err != nil {
		panic("telegramfake: Push needs a JSON object: " + err.Error())
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var id int64
	if raw, ok := m["update_id"]; ok {
		if err := json.Unmarshal(raw, &id); err != nil {
			panic("telegramfake: update_id: " + err.Error())
		}
	} else {
		id = s.nextID
		m["update_id"] = json.RawMessage(strconv.FormatInt(id, 10))
		update, _ = json.Marshal(m)
	}
	s.nextID = max(s.nextID, id+1)
	s.updates = append(s.updates, update)
	s.ids = append(s.ids, id)
	close(s.changed)
	s.changed = make(chan struct{})
	return id
}

// PushMessage queues {"update_id":N, kind: message} (kind "message", "edited_message", ...).
func (s *Server) PushMessage(kind string, message any) int64 {
	b, err := json.Marshal(map[string]any{kind: message})
	if err != nil {
		panic(err)
	}
	return s.Push(b)
}

// AddFile makes a file available to getFile and download.
func (s *Server) AddFile(f File) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f.Size == 0 {
		f.Size = len(f.Data)
	}
	s.files[f.ID] = f
	path := "documents/file_" + strconv.Itoa(len(s.paths)) + "_" + url.PathEscape(f.UniqueID)
	s.paths[path] = f.ID
}

// Fail makes the next n calls of method fail with code and description; retryAfter, when not
// zero, goes into parameters.retry_after as Telegram's flood control does.
func (s *Server) Fail(method string, n, code int, description string, retryAfter int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.fails[method] = append(s.fails[method], failure{code, description, retryAfter})
	}
}

// Block makes sends to chat fail with 403 "Forbidden: bot was blocked by the user".
func (s *Server) Block(chatID int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.blocked[chatID] = true
}

// Hook runs fn (with the request, e.g. to wait on its context) before method is answered.
func (s *Server) Hook(method string, fn func(*http.Request)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hooks[method] = fn
}

// Sent returns what the bot sent, in order.
func (s *Server) Sent() []Sent {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Sent(nil), s.sent...)
}

// Calls counts the calls of method, failed ones included.
func (s *Server) Calls(method string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[method]
}

// Offsets lists the offset of every getUpdates call.
func (s *Server) Offsets() []int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]int64(nil), s.offsets...)
}

// Pending counts updates not yet confirmed by an offset.
func (s *Server) Pending() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.updates)
}

// Webhook returns what setWebhook set.
func (s *Server) Webhook() (url, secret string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hookURL, s.hookSec
}

// Requests lists every request path seen, for checks that a secret never appears elsewhere.
func (s *Server) Requests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.requests...)
}

// Deliver posts an update to a webhook as Telegram does: JSON body, the secret in
// X-Telegram-Bot-Api-Secret-Token when one is set.
func Deliver(ctx context.Context, client *http.Client, hookURL, secret string, update []byte) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, hookURL, bytes.NewReader(update))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Content-Type", "application/json")
	if secret != "" {
		req.Header.Set("X-Telegram-Bot-Api-Secret-Token", secret)
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), nil
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.requests = append(s.requests, r.URL.Path)
	s.mu.Unlock()
	if rest, ok := strings.CutPrefix(r.URL.Path, "/file/bot"); ok {
		s.serveFile(w, r, rest)
		return
	}
	rest, ok := strings.CutPrefix(r.URL.Path, "/bot")
	if !ok {
		fail(w, http.StatusNotFound, "Not Found", 0)
		return
	}
	token, method, ok := strings.Cut(rest, "/")
	if !ok || token != s.Token {
		fail(w, http.StatusUnauthorized, "Unauthorized", 0)
		return
	}
	params, files, err := parseParams(r)
	if err != nil {
		fail(w, http.StatusBadRequest, "Bad Request: "+err.Error(), 0)
		return
	}
	method = canonical(method)
	s.mu.Lock()
	s.calls[method]++
	hook := s.hooks[method]
	var f *failure
	if q := s.fails[method]; len(q) > 0 {
		f = &q[0]
		s.fails[method] = q[1:]
	}
	s.mu.Unlock()
	if hook != nil {
		hook(r)
	}
	if f != nil {
		fail(w, f.code, f.desc, f.retryAfter)
		return
	}
	switch method {
	case "getMe":
		id, _, _ := strings.Cut(s.Token, ":")
		n, _ := strconv.ParseInt(id, 10, 64)
		ok200(w, map[string]any{"id": n, "is_bot": true, "first_name": "Serambi Test", "username": "serambi_test_bot"})
	case "getUpdates":
		s.getUpdates(w, r, params)
	case "setWebhook":
		s.mu.Lock()
		s.hookURL, s.hookSec = params.Get("url"), params.Get("secret_token")
		s.mu.Unlock()
		ok200(w, true)
	case "deleteWebhook":
		s.mu.Lock()
		s.hookURL, s.hookSec = "", ""
		s.mu.Unlock()
		ok200(w, true)
	case "getFile":
		s.getFile(w, params)
	case "sendMessage", "sendPhoto", "sendDocument":
		s.send(w, r, method, params, files)
	default:
		fail(w, http.StatusNotFound, "Not Found", 0)
	}
}

// canonical maps method names to their documented spelling (Telegram matches them case-insensitively).
func canonical(m string) string {
	for _, k := range []string{"getMe", "getUpdates", "setWebhook", "deleteWebhook", "getFile", "sendMessage", "sendPhoto", "sendDocument"} {
		if strings.EqualFold(m, k) {
			return k
		}
	}
	return m
}

func (s *Server) getUpdates(w http.ResponseWriter, r *http.Request, p url.Values) {
	offset, _ := strconv.ParseInt(p.Get("offset"), 10, 64)
	timeout, _ := strconv.Atoi(p.Get("timeout"))
	limit, _ := strconv.Atoi(p.Get("limit"))
	if limit <= 0 || limit > 100 {
		limit = 100
	}
	deadline := time.Now().Add(time.Duration(min(max(timeout, 0), 50)) * time.Second)
	s.mu.Lock()
	if s.hookURL != "" {
		s.mu.Unlock()
		fail(w, http.StatusConflict, "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first", 0)
		return
	}
	s.offsets = append(s.offsets, offset)
	s.mu.Unlock()
	for {
		s.mu.Lock()
		if offset > 0 {
			// "An update is considered confirmed as soon as getUpdates is called with an
			// offset higher than its update_id": confirmed updates are forgotten.
			s.confirm = max(s.confirm, offset)
			keep := 0
			for i, id := range s.ids {
				if id >= s.confirm {
					s.ids[keep], s.updates[keep] = id, s.updates[i]
					keep++
				}
			}
			s.ids, s.updates = s.ids[:keep], s.updates[:keep]
		}
		var out []json.RawMessage
		for i, id := range s.ids {
			if id >= offset && len(out) < limit {
				out = append(out, s.updates[i])
			}
		}
		changed := s.changed
		s.mu.Unlock()
		if len(out) > 0 || !time.Now().Before(deadline) {
			if out == nil {
				out = []json.RawMessage{}
			}
			ok200(w, out)
			return
		}
		select {
		case <-changed:
		case <-time.After(time.Until(deadline)):
		case <-r.Context().Done():
			return
		}
	}
}

func (s *Server) getFile(w http.ResponseWriter, p url.Values) {
	id := p.Get("file_id")
	s.mu.Lock()
	f, ok := s.files[id]
	path := ""
	for pth, fid := range s.paths {
		if fid == id {
			path = pth
		}
	}
	s.mu.Unlock()
	switch {
	case !ok:
		fail(w, http.StatusBadRequest, "Bad Request: invalid file_id", 0)
	case f.Size > MaxDownload:
		fail(w, http.StatusBadRequest, "Bad Request: file is too big", 0)
	default:
		ok200(w, map[string]any{"file_id": f.ID, "file_unique_id": f.UniqueID, "file_size": f.Size, "file_path": path})
	}
}

func (s *Server) serveFile(w http.ResponseWriter, _ *http.Request, rest string) {
	token, path, ok := strings.Cut(rest, "/")
	if !ok || token != s.Token {
		http.NotFound(w, nil)
		return
	}
	s.mu.Lock()
	f, ok := s.files[s.paths[path]]
	s.mu.Unlock()
	if !ok {
		http.NotFound(w, nil)
		return
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(f.Data)))
	_, _ = w.Write(f.Data)
}

// parseMarkup reads reply_markup as an InlineKeyboardMarkup; desc is Telegram's complaint.
func parseMarkup(raw string) (rows [][]Button, desc string) {
	var m struct {
		InlineKeyboard [][]Button `json:"inline_keyboard"`
	}
	if err := json.Unmarshal([]byte(raw), &m); err != nil || m.InlineKeyboard == nil {
		return nil, "can't parse reply keyboard markup JSON object"
	}
	for _, row := range m.InlineKeyboard {
		for _, b := range row {
			switch {
			case b.Text == "":
				return nil, "text buttons are unallowed in the inline keyboard"
			case b.URL == "" && b.CallbackData == "":
				return nil, "can't parse inline keyboard button: Field \"url\" or \"callback_data\" must be specified"
			case b.URL != "":
				u, err := url.Parse(b.URL)
				if err != nil || (u.Scheme != "http" && u.Scheme != "https" && u.Scheme != "tg") || (u.Scheme != "tg" && u.Host == "") {
					return nil, "BUTTON_URL_INVALID"
				}
			}
		}
	}
	return m.InlineKeyboard, ""
}

// fileByReference resolves a photo or document sent by reference: a file_id the fake knows, or an
// HTTP URL, which Telegram downloads itself (the fake only from this machine).
func (s *Server) fileByReference(r *http.Request, ref string) (upload, string) {
	const unusable = "wrong file identifier/HTTP URL specified"
	u, err := url.Parse(ref)
	if err != nil || u.Scheme != "http" && u.Scheme != "https" {
		s.mu.Lock()
		f, ok := s.files[ref]
		s.mu.Unlock()
		if !ok {
			return upload{}, unusable
		}
		return upload{name: f.UniqueID, data: f.Data}, ""
	}
	if h := u.Hostname(); h != "127.0.0.1" && h != "localhost" && h != "::1" {
		return upload{}, unusable
	}
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, ref, nil)
	if err != nil {
		return upload{}, unusable
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return upload{}, unusable
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return upload{}, unusable
	}
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), "image/") {
		return upload{}, "wrong type of the web page content"
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, 5<<20+1))
	if err != nil || len(data) > 5<<20 { // the Bot API's limit for photos by URL
		return upload{}, "failed to get HTTP URL content"
	}
	return upload{name: path.Base(u.Path), data: data}, ""
}

func (s *Server) send(w http.ResponseWriter, r *http.Request, method string, p url.Values, files map[string]upload) {
	chatID, err := strconv.ParseInt(p.Get("chat_id"), 10, 64)
	if err != nil {
		fail(w, http.StatusBadRequest, "Bad Request: chat not found", 0)
		return
	}
	s.mu.Lock()
	blocked := s.blocked[chatID]
	s.mu.Unlock()
	if blocked {
		fail(w, http.StatusForbidden, "Forbidden: bot was blocked by the user", 0)
		return
	}
	sent := Sent{Method: method, ChatID: chatID, ParseMode: p.Get("parse_mode")}
	if raw := p.Get("reply_markup"); raw != "" {
		buttons, desc := parseMarkup(raw)
		if desc != "" {
			fail(w, http.StatusBadRequest, "Bad Request: "+desc, 0)
			return
		}
		sent.Buttons = buttons
	}
	switch method {
	case "sendMessage":
		sent.RawText = p.Get("text")
	default:
		sent.RawText = p.Get("caption")
		field := map[string]string{"sendPhoto": "photo", "sendDocument": "document"}[method]
		up, ok := files[field]
		switch {
		case ok:
			sent.FileName, sent.File = up.name, up.data
		case p.Get(field) != "":
			f, desc := s.fileByReference(r, p.Get(field))
			if desc != "" {
				fail(w, http.StatusBadRequest, "Bad Request: "+desc, 0)
				return
			}
			sent.FileName, sent.File = f.name, f.data
			if strings.HasPrefix(p.Get(field), "http") {
				sent.PhotoURL = p.Get(field)
			}
		default:
			fail(w, http.StatusBadRequest, "Bad Request: there is no "+field+" in the request", 0)
			return
		}
	}
	text := sent.RawText
	if sent.ParseMode == "MarkdownV2" {
		var err error
		if text, err = ParseMarkdownV2(sent.RawText); err != nil {
			fail(w, http.StatusBadRequest, "Bad Request: can't parse entities: "+err.Error(), 0)
			return
		}
	}
	limit := 4096
	if method != "sendMessage" {
		limit = 1024
	}
	switch n := utf16Len(text); {
	case method == "sendMessage" && n == 0:
		fail(w, http.StatusBadRequest, "Bad Request: message text is empty", 0)
		return
	case n > limit && method == "sendMessage":
		fail(w, http.StatusBadRequest, "Bad Request: message is too long", 0)
		return
	case n > limit:
		fail(w, http.StatusBadRequest, "Bad Request: message caption is too long", 0)
		return
	}
	sent.Text = text
	s.mu.Lock()
	s.nextMsg++
	sent.MessageID = s.nextMsg
	s.sent = append(s.sent, sent)
	s.mu.Unlock()
	result := map[string]any{"message_id": sent.MessageID, "date": time.Now().Unix(),
		"chat": map[string]any{"id": chatID, "type": "private"}}
	if method == "sendMessage" {
		result["text"] = text
	} else if text != "" {
		result["caption"] = text
	}
	ok200(w, result)
}

type upload struct {
	name string
	data []byte
}

// parseParams reads parameters the four ways the Bot API takes them: query string,
// application/x-www-form-urlencoded, application/json and multipart/form-data.
func parseParams(r *http.Request) (url.Values, map[string]upload, error) {
	p := r.URL.Query()
	files := map[string]upload{}
	ct := r.Header.Get("Content-Type")
	switch {
	case strings.HasPrefix(ct, "multipart/form-data"):
		if err := r.ParseMultipartForm(64 << 20); err != nil {
			return nil, nil, err
		}
		for k, vs := range r.MultipartForm.Value {
			p[k] = vs
		}
		for k, fhs := range r.MultipartForm.File {
			fh := fhs[0]
			f, err := fh.Open()
			if err != nil {
				return nil, nil, err
			}
			b, err := io.ReadAll(f)
			f.Close()
			if err != nil {
				return nil, nil, err
			}
			files[k] = upload{fh.Filename, b}
		}
	case strings.HasPrefix(ct, "application/json"):
		var m map[string]any
		if err := json.NewDecoder(r.Body).Decode(&m); err != nil {
			return nil, nil, err
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
			return nil, nil, err
		}
		for k, vs := range r.PostForm {
			p[k] = vs
		}
	}
	return p, files, nil
}

func ok200(w http.ResponseWriter, result any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"ok": true, "result": result})
}

func fail(w http.ResponseWriter, code int, description string, retryAfter int) {
	body := map[string]any{"ok": false, "error_code": code, "description": description}
	if retryAfter > 0 {
		body["parameters"] = map[string]any{"retry_after": retryAfter}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(body)
}

func utf16Len(s string) int {
	n := 0
	for _, r := range s {
		if r >= 0x10000 {
			n += 2
		} else {
			n++
		}
	}
	return n
}

// String is for failure messages.
func (s Sent) String() string {
	return fmt.Sprintf("%s to %d: %q (file %q, %d bytes)", s.Method, s.ChatID, s.Text, s.FileName, len(s.File))
}
