package whatsapp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"net/url"
	"slices"
	"strconv"
	"time"
)

// GraphError is a Graph API error answer: {"error":{"message","type","code","error_subcode",
// "error_data":{"details"},"fbtrace_id"}}.
type GraphError struct {
	Status    int // HTTP status
	Message   string
	Type      string
	Code      int
	Subcode   int
	Details   string
	FBTraceID string
	// RetryAfter is the Retry-After header, when Meta sent one.
	RetryAfter time.Duration
}

func (e *GraphError) Error() string {
	s := fmt.Sprintf("whatsapp: %s (code %d", firstNonEmpty(e.Message, http.StatusText(e.Status)), e.Code)
	if e.Subcode != 0 {
		s += fmt.Sprintf(", subcode %d", e.Subcode)
	}
	s += ")"
	if e.Details != "" {
		s += ": " + e.Details
	}
	return s
}

// Error codes with a meaning for retries (https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes).
const (
	CodeReEngagement = 131047 // more than 24 hours since the customer last wrote
)

// rateLimitCodes are throttling: the same request succeeds later.
var rateLimitCodes = []int{4, 80007, 130429, 131048, 131056}

// laterCodes are Meta's own trouble or a setup an admin can fix (token, permissions): worth
// retrying with backoff rather than failing the message at once.
var laterCodes = []int{0, 1, 2, 3, 10, 190, 131000, 131016, 133004}

// RateLimited reports whether the error is throttling.
func (e *GraphError) RateLimited() bool {
	return e.Status == http.StatusTooManyRequests || slices.Contains(rateLimitCodes, e.Code)
}

// Transient reports whether retrying the same request later may succeed.
func (e *GraphError) Transient() bool {
	return e.RateLimited() || e.Status >= 500 || slices.Contains(laterCodes, e.Code) || (e.Code >= 200 && e.Code <= 299)
}

// graph calls the Graph API with the bearer token.
type graph struct {
	base  string
	token string
	http  *http.Client
}

func (g *graph) do(ctx context.Context, method, target, contentType string, body io.Reader) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, target, body)
	if err != nil {
		return nil, fmt.Errorf("whatsapp %s: %w", method, err)
	}
	req.Header.Set("Authorization", "Bearer "+g.token)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := g.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("whatsapp %s %s: %w", method, req.URL.Path, err)
	}
	if resp.StatusCode >= 300 {
		defer resp.Body.Close()
		return nil, graphError(resp)
	}
	return resp, nil
}

// doJSON runs a call whose answer is JSON and decodes it into out.
func (g *graph) doJSON(ctx context.Context, method, path, contentType string, body io.Reader, out any) error {
	resp, err := g.do(ctx, method, g.base+path, contentType, body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(out); err != nil {
		return fmt.Errorf("whatsapp %s %s: answer is not the documented JSON: %w", method, path, err)
	}
	return nil
}

func graphError(resp *http.Response) error {
	var body struct {
		Error struct {
			Message   string `json:"message"`
			Type      string `json:"type"`
			Code      int    `json:"code"`
			Subcode   int    `json:"error_subcode"`
			FBTraceID string `json:"fbtrace_id"`
			ErrorData struct {
				Details string `json:"details"`
			} `json:"error_data"`
		} `json:"error"`
	}
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	_ = json.Unmarshal(raw, &body)
	e := &GraphError{Status: resp.StatusCode, Message: body.Error.Message, Type: body.Error.Type, Code: body.Error.Code,
		Subcode: body.Error.Subcode, Details: body.Error.ErrorData.Details, FBTraceID: body.Error.FBTraceID}
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
		e.RetryAfter = time.Duration(s) * time.Second
	}
	return e
}

// mediaInfo is GET /{media-id}.
type mediaInfo struct {
	URL      string  `json:"url"`
	MimeType string  `json:"mime_type"`
	SHA256   string  `json:"sha256"`
	FileSize flexInt `json:"file_size"`
	ID       string  `json:"id"`
}

func (g *graph) mediaInfo(ctx context.Context, id string) (mediaInfo, error) {
	var mi mediaInfo
	err := g.doJSON(ctx, http.MethodGet, "/"+url.PathEscape(id), "", nil, &mi)
	return mi, err
}

// download opens a media URL from mediaInfo; it needs the bearer token too.
func (g *graph) download(ctx context.Context, mediaURL string) (io.ReadCloser, error) {
	resp, err := g.do(ctx, http.MethodGet, mediaURL, "", nil)
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}

// upload stores a file with Meta (POST /{phone-number-id}/media) and returns its media id. The
// body is streamed: a document may be 100 MB.
func (g *graph) upload(ctx context.Context, phoneID, name, contentType string, r io.Reader) (string, error) {
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		h := textproto.MIMEHeader{}
		h.Set("Content-Disposition", fmt.Sprintf(`form-data; name="file"; filename=%q`, name))
		h.Set("Content-Type", contentType)
		err := mw.WriteField("messaging_product", "whatsapp")
		if err == nil {
			err = mw.WriteField("type", contentType)
		}
		var part io.Writer
		if err == nil {
			part, err = mw.CreatePart(h)
		}
		if err == nil {
			_, err = io.Copy(part, r)
		}
		if err == nil {
			err = mw.Close()
		}
		pw.CloseWithError(err)
	}()
	defer pr.Close() // unblocks the writer if the request ends early
	var res struct {
		ID string `json:"id"`
	}
	if err := g.doJSON(ctx, http.MethodPost, "/"+url.PathEscape(phoneID)+"/media", mw.FormDataContentType(), pr, &res); err != nil {
		return "", err
	}
	if res.ID == "" {
		return "", errors.New("whatsapp media upload: no id in the answer")
	}
	return res.ID, nil
}

// sendMessage posts one message (POST /{phone-number-id}/messages) and returns its wamid.
func (g *graph) sendMessage(ctx context.Context, phoneID string, msg map[string]any) (string, error) {
	msg["messaging_product"] = "whatsapp"
	msg["recipient_type"] = "individual"
	body, err := json.Marshal(msg)
	if err != nil {
		return "", err
	}
	var res struct {
		Messages []struct {
			ID string `json:"id"`
		} `json:"messages"`
	}
	if err := g.doJSON(ctx, http.MethodPost, "/"+url.PathEscape(phoneID)+"/messages", "application/json", bytes.NewReader(body), &res); err != nil {
		return "", err
	}
	if len(res.Messages) == 0 || res.Messages[0].ID == "" {
		return "", errors.New("whatsapp send: no message id in the answer")
	}
	return res.Messages[0].ID, nil
}
