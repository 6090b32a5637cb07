package telegram

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	tgbotapi "github.com/go-telegram-bot-api/telegram-bot-api/v5"
)

// APIError is a Bot API answer with ok=false: {"ok":false,"error_code":403,"description":"...",
// "parameters":{"retry_after":3}}.
type APIError struct {
	Method      string
	Code        int
	Description string
	// RetryAfter is parameters.retry_after: how long Telegram wants us to wait (flood control).
	RetryAfter time.Duration
}

func (e *APIError) Error() string {
	return fmt.Sprintf("telegram %s: %d %s", e.Method, e.Code, e.Description)
}

// Transient reports whether trying again later may succeed: flood control, Telegram's own
// trouble. A 4xx other than 429 describes the request or the chat and will not change by itself.
func (e *APIError) Transient() bool { return e.Code == http.StatusTooManyRequests || e.Code >= 500 }

// botAPI talks to the Bot API. Method calls go through telegram-bot-api's BotAPI, which builds
// the form and multipart bodies and decodes {ok,result,error_code,description,parameters}.
// Two things it does not do are done here: its calls take no context, so each call gets a
// BotAPI value whose HTTP client carries the call's context (constructing it by hand also skips
// the getMe round trip NewBotAPI makes); and its file URL is a constant pointing at
// api.telegram.org, so file downloads are plain HTTP against APIBase.
type botAPI struct {
	base  string
	token string
	http  *http.Client
}

func newBotAPI(base string, token Secret, client *http.Client) *botAPI {
	return &botAPI{base: base, token: token.Reveal(), http: client}
}

// ctxDoer binds a context to the requests the library builds without one.
type ctxDoer struct {
	ctx context.Context
	c   *http.Client
}

func (d ctxDoer) Do(r *http.Request) (*http.Response, error) { return d.c.Do(r.WithContext(d.ctx)) }

func (a *botAPI) bot(ctx context.Context) *tgbotapi.BotAPI {
	b := &tgbotapi.BotAPI{Token: a.token, Client: ctxDoer{ctx, a.http}, Buffer: 100}
	// The library formats the endpoint with Sprintf(endpoint, token, method): a '%' in the base
	// (an escaped proxy path) must not be read as a verb.
	b.SetAPIEndpoint(strings.ReplaceAll(a.base, "%", "%%") + "/bot%s/%s")
	return b
}

// call runs one method with form parameters and returns its result.
func (a *botAPI) call(ctx context.Context, method string, params tgbotapi.Params) (json.RawMessage, error) {
	resp, err := a.bot(ctx).MakeRequest(method, params)
	return a.result(method, resp, err)
}

// request runs one of the library's configs (sendMessage, sendPhoto with an upload, ...).
func (a *botAPI) request(ctx context.Context, method string, c tgbotapi.Chattable) (json.RawMessage, error) {
	resp, err := a.bot(ctx).Request(c)
	return a.result(method, resp, err)
}

func (a *botAPI) result(method string, resp *tgbotapi.APIResponse, err error) (json.RawMessage, error) {
	var tgErr *tgbotapi.Error
	if errors.As(err, &tgErr) {
		return nil, &APIError{Method: method, Code: tgErr.Code, Description: tgErr.Message,
			RetryAfter: time.Duration(tgErr.RetryAfter) * time.Second}
	}
	if err != nil {
		return nil, a.redact(fmt.Errorf("telegram %s: %w", method, err))
	}
	if resp == nil || !resp.Ok {
		return nil, fmt.Errorf("telegram %s: answer without ok", method)
	}
	return resp.Result, nil
}

// redact takes the token out of an error: net/http puts the request URL, which holds the token,
// into its errors, and errors end up in logs and in a failed message's reason shown to agents.
func (a *botAPI) redact(err error) error {
	if err == nil || a.token == "" || !strings.Contains(err.Error(), a.token) {
		return err
	}
	return &redactedError{msg: strings.ReplaceAll(err.Error(), a.token, "<token>"), err: err}
}

type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// getUpdates long-polls for updates after offset; each comes back raw so that update types this
// code does not know still reach the decoder.
func (a *botAPI) getUpdates(ctx context.Context, offset int64, timeout time.Duration) ([]json.RawMessage, error) {
	params := tgbotapi.Params{"timeout": strconv.Itoa(int(timeout / time.Second))}
	if offset > 0 {
		params["offset"] = strconv.FormatInt(offset, 10)
	}
	res, err := a.call(ctx, "getUpdates", params)
	if err != nil {
		return nil, err
	}
	var updates []json.RawMessage
	if err := json.Unmarshal(res, &updates); err != nil {
		return nil, fmt.Errorf("telegram getUpdates: result is not a list of updates: %w", err)
	}
	return updates, nil
}

func (a *botAPI) getFile(ctx context.Context, fileID string) (tgbotapi.File, error) {
	res, err := a.call(ctx, "getFile", tgbotapi.Params{"file_id": fileID})
	if err != nil {
		return tgbotapi.File{}, err
	}
	var f tgbotapi.File
	if err := json.Unmarshal(res, &f); err != nil {
		return tgbotapi.File{}, fmt.Errorf("telegram getFile: %w", err)
	}
	return f, nil
}

// download opens https://<base>/file/bot<token>/<file_path>. The caller closes the body.
func (a *botAPI) download(ctx context.Context, filePath string) (io.ReadCloser, error) {
	u := a.base + "/file/bot" + a.token + "/" + (&url.URL{Path: filePath}).EscapedPath()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, a.redact(fmt.Errorf("telegram file download: %w", err))
	}
	resp, err := a.http.Do(req)
	if err != nil {
		return nil, a.redact(fmt.Errorf("telegram file download: %w", err))
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, &APIError{Method: "file download", Code: resp.StatusCode, Description: http.StatusText(resp.StatusCode)}
	}
	return resp.Body, nil
}

// setWebhook registers url with secret_token. It is built by hand because the library's
// WebhookConfig predates secret_token (Bot API 6.1).
func (a *botAPI) setWebhook(ctx context.Context, hookURL string, secret Secret) error {
	_, err := a.call(ctx, "setWebhook", tgbotapi.Params{
		"url": hookURL, "secret_token": secret.Reveal(), "drop_pending_updates": "false",
	})
	return err
}

func (a *botAPI) deleteWebhook(ctx context.Context) error {
	_, err := a.call(ctx, "deleteWebhook", tgbotapi.Params{"drop_pending_updates": "false"})
	return err
}

func (a *botAPI) getMe(ctx context.Context) (tgbotapi.User, error) {
	res, err := a.call(ctx, "getMe", nil)
	if err != nil {
		return tgbotapi.User{}, err
	}
	var u tgbotapi.User
	if err := json.Unmarshal(res, &u); err != nil {
		return tgbotapi.User{}, fmt.Errorf("telegram getMe: %w", err)
	}
	return u, nil
}
