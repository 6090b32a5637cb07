package widget

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"path"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/serambi/serambi/inbox"
)

// Uploads are plain HTTP (multipart POST /widget/upload?inbox=ID with fields token and file):
// the file is stored in the attachment blobs and the answer carries a signature binding it to the
// visitor, which the next msg frame presents. So a visitor can attach only what they uploaded,
// and the socket never carries file bytes.

// uploadTypes are what a visitor may send, by the type sniffed from the bytes (the browser's
// claim is ignored): images a browser shows safely, PDFs and plain text. No HTML, SVG or scripts.
func uploadType(sniffed string) bool {
	switch sniffed {
	case "image/png", "image/jpeg", "image/gif", "image/webp", "application/pdf", "text/plain; charset=utf-8":
		return true
	}
	return false
}

type uploadAnswer struct {
	SHA  string `json:"sha"`
	Name string `json:"name"`
	Type string `json:"type"`
	Size int64  `json:"size"`
	Sig  string `json:"sig"`
}

func (c *Connector) uploadSig(visitor string, a attRef) string {
	m := hmac.New(sha256.New, c.key)
	fmt.Fprintf(m, "widget-upload\n%s\n%s\n%s\n%s\n%d", visitor, a.SHA, a.Name, a.Type, a.Size)
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// checkUpload reports whether a was uploaded by visitor (its signature matches, in constant time).
func (c *Connector) checkUpload(visitor string, a attRef) bool {
	return a.Sig != "" && hmac.Equal([]byte(c.uploadSig(visitor, a)), []byte(a.Sig))
}

type uploadError struct {
	Code string `json:"code"`
	Msg  string `json:"message"`
}

func (c *Connector) upload(e echo.Context) error {
	r, w := e.Request(), e.Response()
	settings, ok := c.corsFor(e)
	if !ok {
		return nil
	}
	if r.Method == http.MethodOptions {
		return e.NoContent(http.StatusNoContent)
	}
	fail := func(status int, code, msg string) error {
		return e.JSON(status, uploadError{Code: code, Msg: msg})
	}
	if !settings.Uploads {
		return fail(http.StatusForbidden, "uploads_off", "this chat does not take files")
	}
	r.Body = http.MaxBytesReader(w, r.Body, c.cfg.MaxUploadBytes+64<<10)
	mr, err := r.MultipartReader()
	if err != nil {
		return fail(http.StatusBadRequest, codeBadFrame, "send multipart/form-data with the fields token and file")
	}
	visitor := ""
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			return fail(http.StatusBadRequest, codeBadFrame, "no file field")
		}
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return fail(http.StatusRequestEntityTooLarge, "too_large", fmt.Sprintf("a file may be at most %d MB", c.cfg.MaxUploadBytes>>20))
		}
		if err != nil {
			return fail(http.StatusBadRequest, codeBadFrame, "malformed multipart body")
		}
		switch part.FormName() {
		case "token":
			b, _ := io.ReadAll(io.LimitReader(part, 64))
			if !validToken(string(b)) {
				return fail(http.StatusForbidden, "bad_token", "unknown visitor; reload the page")
			}
			visitor = visitorID(string(b))
		case "file":
			if visitor == "" {
				return fail(http.StatusBadRequest, codeBadFrame, "the token field must come before the file")
			}
			now := c.now()
			if ok, wait := c.visitorLim.allow(visitor, now); !ok {
				return fail(http.StatusTooManyRequests, codeRateLimited, "too many files; wait "+strconv.Itoa(int(wait.Seconds())+1)+" s")
			}
			if ok, wait := c.ipLim.allow(c.clientIP(e), now); !ok {
				return fail(http.StatusTooManyRequests, codeRateLimited, "too many files; wait "+strconv.Itoa(int(wait.Seconds())+1)+" s")
			}
			return c.storeUpload(e, visitor, part)
		}
	}
}

func (c *Connector) storeUpload(e echo.Context, visitor string, part io.Reader) error {
	name := cleanName(partName(part))
	head := make([]byte, 512)
	n, err := io.ReadFull(part, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return e.JSON(http.StatusBadRequest, uploadError{Code: codeBadFrame, Msg: "could not read the file"})
	}
	head = head[:n]
	if n == 0 {
		return e.JSON(http.StatusBadRequest, uploadError{Code: codeEmpty, Msg: "the file is empty"})
	}
	ctype := http.DetectContentType(head)
	// The sniffer calls SVG and XML plain text; markup is never taken as text.
	markup := strings.HasPrefix(ctype, "text/plain") && bytes.HasPrefix(bytes.TrimLeft(head, " \t\r\n\ufeff"), []byte("<"))
	if !uploadType(ctype) || markup {
		return e.JSON(http.StatusUnsupportedMediaType, uploadError{Code: "bad_type",
			Msg: "only images (PNG, JPEG, GIF, WebP), PDF and plain text files can be sent"})
	}
	sha, size, err := c.deps.Blobs.Put(e.Request().Context(), io.MultiReader(bytes.NewReader(head), part), c.cfg.MaxUploadBytes)
	var tooBig *http.MaxBytesError
	if errors.Is(err, inbox.ErrTooLarge) || errors.As(err, &tooBig) {
		return e.JSON(http.StatusRequestEntityTooLarge, uploadError{Code: "too_large", Msg: fmt.Sprintf("a file may be at most %d MB", c.cfg.MaxUploadBytes>>20)})
	}
	if err != nil {
		c.log.Error("widget upload not stored", "err", err)
		return e.JSON(http.StatusServiceUnavailable, uploadError{Code: codeRetry, Msg: "could not store the file now; try again"})
	}
	if name == "" {
		exts, _ := mime.ExtensionsByType(ctype)
		name = "file"
		if len(exts) > 0 {
			name += exts[0]
		}
	}
	a := attRef{SHA: sha, Name: name, Type: ctype, Size: size}
	return e.JSON(http.StatusOK, uploadAnswer{SHA: sha, Name: name, Type: ctype, Size: size, Sig: c.uploadSig(visitor, a)})
}

func partName(r io.Reader) string {
	if p, ok := r.(interface{ FileName() string }); ok {
		return p.FileName()
	}
	return ""
}

// cleanName keeps a file name displayable and harmless: its base name, no control characters,
// at most 120 characters.
func cleanName(n string) string {
	n = path.Base(strings.ReplaceAll(n, "\\", "/"))
	if n == "." || n == "/" || !utf8.ValidString(n) {
		return ""
	}
	n = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == '"' {
			return -1
		}
		return r
	}, n)
	if utf8.RuneCountInString(n) > 120 {
		n = string([]rune(n)[:120])
	}
	return strings.TrimSpace(n)
}
