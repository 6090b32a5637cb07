package web

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/serambi/serambi/inbox"
)

// AttachmentURLs makes and checks links to attachments that work without an API key until they
// expire, for <img> tags in the console and for callback receivers.
type AttachmentURLs struct {
	key  []byte
	base string
	now  func() time.Time
}

// NewAttachmentURLs returns a signer with key, making links under baseURL.
func NewAttachmentURLs(key []byte, baseURL string, now func() time.Time) *AttachmentURLs {
	return &AttachmentURLs{key: key, base: strings.TrimRight(baseURL, "/"), now: now}
}

// Sign returns a link to a that works for ttl.
func (u *AttachmentURLs) Sign(a inbox.Attachment, ttl time.Duration) string {
	exp := strconv.FormatInt(u.now().Add(ttl).Unix(), 10)
	q := url.Values{"exp": {exp}, "sig": {u.mac(a.SHA256, a.Name, a.ContentType, exp)}}
	if a.ContentType != "" {
		q.Set("type", a.ContentType)
	}
	name := a.Name
	if name == "" {
		name = "attachment"
	}
	return u.base + "/attachments/" + a.SHA256 + "/" + url.PathEscape(name) + "?" + q.Encode()
}

// The type is signed with the rest, because it decides how a browser treats the bytes.
func (u *AttachmentURLs) mac(sha, name, ctype, exp string) string {
	m := hmac.New(sha256.New, u.key)
	fmt.Fprintf(m, "attachment\n%s\n%s\n%s\n%s", sha, name, ctype, exp)
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func (u *AttachmentURLs) check(sha, name, ctype, exp, sig string) error {
	if !hmac.Equal([]byte(u.mac(sha, name, ctype, exp)), []byte(sig)) {
		return forbidden("bad_signature", "this attachment link is not valid")
	}
	e, err := strconv.ParseInt(exp, 10, 64)
	if err != nil || u.now().Unix() > e {
		return forbidden("link_expired", "this attachment link has expired; reload the page for a new one")
	}
	return nil
}

// signedAttachment serves GET /attachments/{sha256}/{name}?type=&exp=&sig=.
func (s *server) signedAttachment(c echo.Context) error {
	// The name is read from the escaped path, because echo hands path parameters over escaped or
	// not depending on what else the path holds.
	rest := strings.TrimPrefix(c.Request().URL.EscapedPath(), "/attachments/")
	sha, rawName, _ := strings.Cut(rest, "/")
	name, err := url.PathUnescape(rawName)
	if err != nil {
		return badRequest("attachment name is not a valid path segment")
	}
	q := c.QueryParams()
	if err := s.URLs.check(sha, name, q.Get("type"), q.Get("exp"), q.Get("sig")); err != nil {
		return err
	}
	return s.serveAttachment(c, sha, name, q.Get("type"))
}

// apiAttachment serves GET /api/v1/attachments/{sha256}?name=&type= to API key holders.
func (s *server) apiAttachment(c echo.Context) error {
	name := c.QueryParam("name")
	if name != "" {
		var err error
		if name, err = cleanFileName(name); err != nil {
			return badRequest(err.Error())
		}
	}
	return s.serveAttachment(c, c.Param("sha256"), name, c.QueryParam("type"))
}

// inlineSafe lists the only types a browser may show in place: they cannot run script. Anything
// else (HTML, SVG, XML, JavaScript, unknown) is a download, so that an attachment a customer sent
// can never execute in Serambi's origin.
func inlineSafe(ctype string) bool {
	mt, _, _ := mime.ParseMediaType(ctype)
	switch mt {
	case "image/png", "image/jpeg", "image/gif", "image/webp", "image/avif", "image/bmp", "application/pdf":
		return true
	}
	return strings.HasPrefix(mt, "audio/") || strings.HasPrefix(mt, "video/")
}

func (s *server) serveAttachment(c echo.Context, sha, name, ctype string) error {
	if !validSHA(sha) {
		return badRequest("an attachment is named by the 64 lower-case hex digits of its SHA-256")
	}
	ctype, err := contentType(ctype, name)
	if err != nil {
		return badRequest(err.Error())
	}
	rc, err := s.Blobs.Open(c.Request().Context(), sha)
	if err != nil {
		return fmt.Errorf("attachment %s: %w", sha, err)
	}
	defer rc.Close()
	h := c.Response().Header()
	disposition := "attachment"
	if inlineSafe(ctype) {
		disposition = "inline"
	}
	if name == "" {
		name = sha
	}
	h.Set(echo.HeaderContentType, ctype)
	h.Set(echo.HeaderContentDisposition, contentDisposition(disposition, name))
	h.Set(echo.HeaderXContentTypeOptions, "nosniff")
	h.Set("Content-Security-Policy", "default-src 'none'; img-src 'self'; media-src 'self'; style-src 'unsafe-inline'; sandbox")
	// The bytes behind a SHA-256 never change.
	h.Set("Cache-Control", "private, max-age=31536000, immutable")
	h.Set("ETag", `"`+sha+`"`)
	if rs, ok := rc.(io.ReadSeeker); ok {
		// Range requests let audio and video players seek.
		http.ServeContent(c.Response(), c.Request(), "", time.Time{}, rs)
		return nil
	}
	c.Response().WriteHeader(http.StatusOK)
	_, err = io.Copy(c.Response(), rc)
	return err
}

// contentDisposition follows RFC 6266: an ASCII fallback for old clients and the real name,
// whatever its script, in filename*.
func contentDisposition(kind, name string) string {
	fallback := strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e || r == '"' || r == '\\' || r == '%' {
			return '_'
		}
		return r
	}, name)
	return fmt.Sprintf(`%s; filename="%s"; filename*=UTF-8''%s`, kind, fallback, rfc5987(name))
}

// rfc5987 percent-encodes everything but RFC 5987's attr-char.
func rfc5987(s string) string {
	var b strings.Builder
	for _, c := range []byte(s) {
		if c < 0x80 && (c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$&+-.^_`|~", c) >= 0) {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

type uploadResponse struct {
	SHA256      string `json:"sha256"`
	Size        int64  `json:"size"`
	Name        string `json:"name"`
	ContentType string `json:"contentType"`
}

// uploadAttachment stores POST /api/v1/attachments: the raw body (name in ?name= or
// Content-Disposition, type in Content-Type), or the first file of a multipart form.
func (s *server) uploadAttachment(c echo.Context) error {
	req := c.Request()
	ctx := req.Context()
	var body io.Reader = req.Body
	name, ctype := req.URL.Query().Get("name"), req.Header.Get(echo.HeaderContentType)
	if mt, _, _ := mime.ParseMediaType(ctype); mt == "multipart/form-data" {
		mr, err := req.MultipartReader()
		if err != nil {
			return badRequest("multipart body: " + err.Error())
		}
		for {
			part, err := mr.NextPart()
			if errors.Is(err, io.EOF) {
				return badRequest("the multipart form has no file part")
			}
			if err != nil {
				return fmt.Errorf("read multipart body: %w", asRequestError(err))
			}
			if part.FileName() != "" || part.FormName() == "file" {
				body, name, ctype = part, part.FileName(), part.Header.Get(echo.HeaderContentType)
				break
			}
		}
	} else if name == "" {
		if _, params, err := mime.ParseMediaType(req.Header.Get(echo.HeaderContentDisposition)); err == nil {
			name = params["filename"]
		}
	}
	if name == "" {
		name = "attachment"
	}
	name, err := cleanFileName(name)
	if err != nil {
		return badRequest(err.Error())
	}
	if ctype, err = contentType(ctype, name); err != nil {
		return badRequest(err.Error())
	}
	sha, size, err := s.Blobs.Put(ctx, body, s.MaxAttachmentBytes)
	if err != nil {
		return fmt.Errorf("store attachment: %w", err)
	}
	return c.JSON(http.StatusCreated, uploadResponse{SHA256: sha, Size: size, Name: name, ContentType: ctype})
}

// asRequestError keeps a body-size error recognisable and turns other framing errors into 400s.
func asRequestError(err error) error {
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return err
	}
	return badRequest("multipart body: " + err.Error())
}

// blobSize checks that an attachment was uploaded and measures it.
func (s *server) blobSize(ctx context.Context, sha string) (int64, error) {
	rc, err := s.Blobs.Open(ctx, sha)
	if err != nil {
		return 0, err
	}
	defer rc.Close()
	if sk, ok := rc.(io.Seeker); ok {
		if n, err := sk.Seek(0, io.SeekEnd); err == nil {
			return n, nil
		}
	}
	return io.Copy(io.Discard, rc)
}

func validSHA(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// cleanFileName keeps the last element of a path a client may send ("C:\Users\x\a.pdf") and
// drops control and format characters (a right-to-left override makes "gpj.exe" read as
// "exe.jpg"), so a name is safe in headers, logs and the console.
func cleanFileName(name string) (string, error) {
	if !utf8.ValidString(name) {
		return "", fmt.Errorf("file name is not valid UTF-8: %w", inbox.ErrInvalid)
	}
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}
	name = strings.TrimSpace(strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || r == unicode.ReplacementChar {
			return -1
		}
		return r
	}, name))
	if name == "" || name == "." || name == ".." {
		name = "attachment"
	}
	if len(name) > 255 {
		ext := path.Ext(name)
		if len(ext) > 16 {
			ext = ""
		}
		cut := 255 - len(ext)
		for cut > 0 && !utf8.RuneStart(name[cut]) {
			cut--
		}
		name = name[:cut] + ext
	}
	return name, nil
}

// contentType validates a client's media type, or guesses one from the name's extension.
func contentType(ctype, name string) (string, error) {
	if strings.TrimSpace(ctype) == "" {
		if t := mime.TypeByExtension(strings.ToLower(path.Ext(name))); t != "" {
			return t, nil
		}
		return "application/octet-stream", nil
	}
	mt, params, err := mime.ParseMediaType(ctype)
	if err != nil || !strings.Contains(mt, "/") {
		return "", fmt.Errorf("content type %q is not a media type such as image/png: %w", ctype, inbox.ErrInvalid)
	}
	return mime.FormatMediaType(mt, params), nil
}
