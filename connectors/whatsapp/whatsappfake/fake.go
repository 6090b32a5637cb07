// Package whatsappfake is a local stand-in for Meta's WhatsApp Cloud API, for tests. It serves
// the Graph API paths as documented — GET /{version}/{media-id} answering {"url","mime_type",
// "sha256","file_size","id","messaging_product"}, the media URL itself (bearer token required),
// POST /{version}/{phone-number-id}/messages answering {"messaging_product","contacts",
// "messages":[{"id":"wamid..."}]}, POST /{version}/{phone-number-id}/media — and answers errors
// with Graph's body {"error":{"message","type","code","error_subcode","error_data","fbtrace_id"}}.
// It also signs and delivers webhooks the way Meta does.
package whatsappfake

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// Version is the Graph API version the fake serves.
const Version = "v20.0"

// Sent is one message the business sent.
type Sent struct {
	To      string
	Type    string
	WAMID   string
	Text    string // text body or media caption
	Caption string
	// Media is the uploaded file a media message referred to.
	MediaID, FileName, MimeType string
	// Link is the URL a media message referred to instead (Meta downloads it later).
	Link string
	// PreviewURL is a text message's preview_url.
	PreviewURL bool
	Data       []byte
	Template   string
	Language   string
	Params     []string
	Body       map[string]any
}

// Media is a media object customers sent, served by id.
type Media struct {
	ID, MimeType string
	Data         []byte
	// Size overrides len(Data) as the reported file_size.
	Size int
}

// GraphError is a scripted failure.
type GraphError struct {
	Status  int
	Code    int
	Subcode int
	Type    string
	Message string
	Details string
	// RetryAfter, when set, is sent as the Retry-After header.
	RetryAfter int
}

// Server is the fake Graph API for one access token and phone number id.
type Server struct {
	Token, PhoneNumberID string
	srv                  *httptest.Server

	mu       sync.Mutex
	media    map[string]Media
	uploads  map[string]Media
	sent     []Sent
	fails    map[string][]GraphError
	calls    map[string]int
	seq      int
	hooks    map[string]func(*http.Request)
	sawToken []string
}

// New starts a fake; it stops when the test ends.
func New(t testing.TB, token, phoneNumberID string) *Server {
	s := &Server{Token: token, PhoneNumberID: phoneNumberID, media: map[string]Media{}, uploads: map[string]Media{},
		fails: map[string][]GraphError{}, calls: map[string]int{}, hooks: map[string]func(*http.Request){}}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.srv.Close)
	return s
}

// URL is the Graph base to configure, version included.
func (s *Server) URL() string { return s.srv.URL + "/" + Version }

// AddMedia makes a media object available by id.
func (s *Server) AddMedia(m Media) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if m.Size == 0 {
		m.Size = len(m.Data)
	}
	s.media[m.ID] = m
}

// Fail makes the next n calls of endpoint ("messages", "media-upload", "media-info",
// "media-download") fail with e.
func (s *Server) Fail(endpoint string, n int, e GraphError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.fails[endpoint] = append(s.fails[endpoint], e)
	}
}

// Hook runs fn before endpoint is answered (e.g. to wait on the request's context).
func (s *Server) Hook(endpoint string, fn func(*http.Request)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hooks[endpoint] = fn
}

// Sent returns what was sent, in order.
func (s *Server) Sent() []Sent {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Sent(nil), s.sent...)
}

// Calls counts calls of endpoint, failed ones included.
func (s *Server) Calls(endpoint string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[endpoint]
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/download/") {
		s.serveDownload(w, r)
		return
	}
	rest, ok := strings.CutPrefix(r.URL.Path, "/"+Version+"/")
	if !ok {
		graphFail(w, GraphError{Status: 400, Code: 2500, Type: "OAuthException", Message: "Unknown path components: " + r.URL.Path})
		return
	}
	if !s.authorized(r) {
		graphFail(w, GraphError{Status: 401, Code: 190, Type: "OAuthException", Message: "Invalid OAuth access token - Cannot parse access token"})
		return
	}
	parts := strings.Split(rest, "/")
	switch {
	case len(parts) == 2 && parts[0] == s.PhoneNumberID && parts[1] == "messages" && r.Method == http.MethodPost:
		s.endpoint(w, r, "messages", s.messages)
	case len(parts) == 2 && parts[0] == s.PhoneNumberID && parts[1] == "media" && r.Method == http.MethodPost:
		s.endpoint(w, r, "media-upload", s.upload)
	case len(parts) == 1 && r.Method == http.MethodGet:
		s.endpoint(w, r, "media-info", func(w http.ResponseWriter, r *http.Request) { s.mediaInfo(w, parts[0]) })
	default:
		graphFail(w, GraphError{Status: 400, Code: 100, Type: "GraphMethodException",
			Message: fmt.Sprintf("Unsupported %s request. Object with ID '%s' does not exist, cannot be loaded due to missing permissions, or does not support this operation.", r.Method, parts[0]),
			Subcode: 33})
	}
}

func (s *Server) authorized(r *http.Request) bool {
	got := r.Header.Get("Authorization")
	s.mu.Lock()
	s.sawToken = append(s.sawToken, got)
	s.mu.Unlock()
	return got == "Bearer "+s.Token
}

func (s *Server) endpoint(w http.ResponseWriter, r *http.Request, name string, h http.HandlerFunc) {
	s.mu.Lock()
	s.calls[name]++
	hook := s.hooks[name]
	var f *GraphError
	if q := s.fails[name]; len(q) > 0 {
		f = &q[0]
		s.fails[name] = q[1:]
	}
	s.mu.Unlock()
	if hook != nil {
		hook(r)
	}
	if f != nil {
		graphFail(w, *f)
		return
	}
	h(w, r)
}

func (s *Server) mediaInfo(w http.ResponseWriter, id string) {
	s.mu.Lock()
	m, ok := s.media[id]
	s.mu.Unlock()
	if !ok {
		graphFail(w, GraphError{Status: 400, Code: 100, Subcode: 33, Type: "GraphMethodException",
			Message: "Unsupported get request. Object with ID '" + id + "' does not exist, cannot be loaded due to missing permissions, or does not support this operation."})
		return
	}
	sum := sha256.Sum256(m.Data)
	writeJSON(w, http.StatusOK, map[string]any{
		"messaging_product": "whatsapp", "url": s.srv.URL + "/download/" + id + "?ext=1&hash=x",
		"mime_type": m.MimeType, "sha256": base64.StdEncoding.EncodeToString(sum[:]), "file_size": m.Size, "id": id,
	})
}

// serveDownload is the media URL (lookaside.fbsbx.com in production): it wants the bearer token too.
func (s *Server) serveDownload(w http.ResponseWriter, r *http.Request) {
	if !s.authorized(r) {
		graphFail(w, GraphError{Status: 401, Code: 190, Type: "OAuthException", Message: "Invalid OAuth access token - Cannot parse access token"})
		return
	}
	id := strings.TrimPrefix(r.URL.Path, "/download/")
	s.endpoint(w, r, "media-download", func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		m, ok := s.media[id]
		s.mu.Unlock()
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", m.MimeType)
		_, _ = w.Write(m.Data)
	})
}

func (s *Server) upload(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseMultipartForm(128 << 20); err != nil {
		graphFail(w, GraphError{Status: 400, Code: 100, Type: "OAuthException", Message: "(#100) Invalid parameter"})
		return
	}
	if r.FormValue("messaging_product") != "whatsapp" {
		graphFail(w, GraphError{Status: 400, Code: 100, Type: "OAuthException", Message: "(#100) The parameter messaging_product is required."})
		return
	}
	f, fh, err := r.FormFile("file")
	if err != nil {
		graphFail(w, GraphError{Status: 400, Code: 100, Type: "OAuthException", Message: "(#100) The parameter file is required."})
		return
	}
	data, _ := io.ReadAll(f)
	f.Close()
	s.mu.Lock()
	s.seq++
	id := strconv.Itoa(900000 + s.seq)
	s.uploads[id] = Media{ID: id, MimeType: firstNonEmpty(r.FormValue("type"), fh.Header.Get("Content-Type")), Data: data, Size: len(data)}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"id": id})
}

func (s *Server) messages(w http.ResponseWriter, r *http.Request) {
	var body map[string]any
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		graphFail(w, GraphError{Status: 400, Code: 100, Type: "OAuthException", Message: "(#100) Invalid parameter"})
		return
	}
	str := func(m map[string]any, k string) string { v, _ := m[k].(string); return v }
	obj := func(m map[string]any, k string) map[string]any { v, _ := m[k].(map[string]any); return v }
	invalid := func(msg string) {
		graphFail(w, GraphError{Status: 400, Code: 100, Type: "OAuthException", Message: "(#100) " + msg})
	}
	if str(body, "messaging_product") != "whatsapp" {
		invalid("The parameter messaging_product is required.")
		return
	}
	to := str(body, "to")
	if to == "" || strings.TrimLeft(to, "+0123456789") != "" {
		invalid("The parameter to is required.")
		return
	}
	sent := Sent{To: to, Type: str(body, "type"), Body: body}
	switch sent.Type {
	case "text":
		t := obj(body, "text")
		sent.Text = str(t, "body")
		sent.PreviewURL, _ = t["preview_url"].(bool)
		if sent.Text == "" {
			invalid("The parameter text['body'] is required.")
			return
		}
		if len([]rune(sent.Text)) > 4096 {
			invalid("Param text['body'] must be at most 4096 characters long.")
			return
		}
	case "image", "video", "audio", "document", "sticker":
		m := obj(body, sent.Type)
		id, link := str(m, "id"), str(m, "link")
		if id == "" && link == "" {
			invalid("Either the parameter " + sent.Type + "['id'] or " + sent.Type + "['link'] is required.")
			return
		}
		sent.MediaID, sent.Caption, sent.FileName, sent.Link = id, str(m, "caption"), str(m, "filename"), link
		sent.Text = sent.Caption
		if link != "" {
			// Meta takes links over http(s) only, and fetches them when it delivers the message:
			// a link it cannot fetch fails later, in a status webhook, not here.
			if u, err := url.Parse(link); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				invalid("Param " + sent.Type + "['link'] is not a valid URI.")
				return
			}
		}
		if len([]rune(sent.Caption)) > 1024 {
			invalid("Param " + sent.Type + "['caption'] must be at most 1024 characters long.")
			return
		}
		if id != "" {
			s.mu.Lock()
			up, ok := s.uploads[id]
			s.mu.Unlock()
			if !ok {
				graphFail(w, GraphError{Status: 400, Code: 131053, Type: "OAuthException", Message: "(#131053) Media upload error", Details: "Unknown media id " + id})
				return
			}
			sent.Data, sent.MimeType = up.Data, up.MimeType
		}
	case "template":
		t := obj(body, "template")
		sent.Template, sent.Language = str(t, "name"), str(obj(t, "language"), "code")
		if sent.Template == "" || sent.Language == "" {
			invalid("The parameter template['name'] and template['language']['code'] are required.")
			return
		}
		comps, _ := t["components"].([]any)
		for _, c := range comps {
			cm, _ := c.(map[string]any)
			ps, _ := cm["parameters"].([]any)
			for _, p := range ps {
				pm, _ := p.(map[string]any)
				sent.Params = append(sent.Params, str(pm, "text"))
			}
		}
	default:
		graphFail(w, GraphError{Status: 400, Code: 131051, Type: "OAuthException", Message: "(#131051) Unsupported message type"})
		return
	}
	s.mu.Lock()
	s.seq++
	sent.WAMID = "wamid.FAKE" + base64.RawURLEncoding.EncodeToString([]byte(fmt.Sprintf("%s-%d", to, s.seq)))
	s.sent = append(s.sent, sent)
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{
		"messaging_product": "whatsapp",
		"contacts":          []map[string]any{{"input": to, "wa_id": strings.TrimPrefix(to, "+")}},
		"messages":          []map[string]any{{"id": sent.WAMID}},
	})
}

func graphFail(w http.ResponseWriter, e GraphError) {
	if e.Type == "" {
		e.Type = "OAuthException"
	}
	body := map[string]any{"message": e.Message, "type": e.Type, "code": e.Code, "fbtrace_id": "AbCdEfGhIjKlMnOp"}
	if e.Subcode != 0 {
		body["error_subcode"] = e.Subcode
	}
	if e.Details != "" {
		body["error_data"] = map[string]any{"messaging_product": "whatsapp", "details": e.Details}
	}
	if e.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(e.RetryAfter))
	}
	writeJSON(w, e.Status, map[string]any{"error": body})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// Sign returns the X-Hub-Signature-256 header Meta puts on body: "sha256=" and the hex
// HMAC-SHA256 of the raw bytes keyed with the app secret.
func Sign(appSecret string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(appSecret))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// Deliver posts a webhook body as Meta does, signed with appSecret unless signature is given.
func Deliver(ctx context.Context, client *http.Client, hookURL, appSecret string, body []byte, signature ...string) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, hookURL, bytes.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Content-Type", "application/json")
	sig := Sign(appSecret, body)
	if len(signature) > 0 {
		sig = signature[0]
	}
	if sig != "" {
		req.Header.Set("X-Hub-Signature-256", sig)
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), nil
}

// Envelope wraps a "messages" change value in the webhook envelope for WhatsApp Business
// Account wabaID.
func Envelope(wabaID string, value any) []byte {
	b, err := json.Marshal(map[string]any{
		"object": "whatsapp_business_account",
		"entry":  []any{map[string]any{"id": wabaID, "changes": []any{map[string]any{"field": "messages", "value": value}}}},
	})
	if err != nil {
		panic(err)
	}
	return b
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}
