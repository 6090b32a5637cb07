package web

import (
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/serambi/serambi/agents"
	"github.com/serambi/serambi/inbox"
)

// requestError is a problem with the request itself (its shape, its credentials), as opposed to
// a domain rule, which the inbox reports with its own sentinels.
type requestError struct {
	status  int
	code    string
	message string
}

func (e *requestError) Error() string { return e.message }

func badRequest(msg string) error { return &requestError{http.StatusBadRequest, "bad_request", msg} }

func forbidden(code, msg string) error { return &requestError{http.StatusForbidden, code, msg} }

var errUnauthorized = &requestError{http.StatusUnauthorized, "unauthorized",
	"a valid API key is required: send Authorization: Bearer <key>"}

// errorBody is the one shape of every error answer.
type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code      string `json:"code"`
	Message   string `json:"message"`
	RequestID string `json:"requestId,omitempty"`
}

// classify is THE place that turns an error into a status code and a stable error code. The order
// matters where one error matches several sentinels (a taken identity is also a conflict).
func classify(err error) (status int, code, message string) {
	var re *requestError
	var he *echo.HTTPError
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &re):
		return re.status, re.code, re.message
	case errors.As(err, &tooBig), errors.Is(err, inbox.ErrTooLarge):
		return http.StatusRequestEntityTooLarge, "too_large", "the request body or attachment is over the configured limit"
	case errors.Is(err, agents.ErrInvalidKey):
		return http.StatusUnauthorized, "unauthorized", errUnauthorized.message
	case errors.Is(err, inbox.ErrNoIdentity):
		return http.StatusUnprocessableEntity, "no_identity", err.Error()
	case errors.Is(err, inbox.ErrNoChannel):
		return http.StatusUnprocessableEntity, "channel_unavailable", err.Error()
	case errors.Is(err, inbox.ErrNotFound):
		return http.StatusNotFound, "not_found", err.Error()
	case errors.Is(err, inbox.ErrConflict):
		return http.StatusConflict, "conflict", err.Error()
	case errors.Is(err, inbox.ErrInvalid):
		// Well-formed JSON that breaks a rule of the domain (an unknown status, an empty reply).
		return http.StatusUnprocessableEntity, "invalid", err.Error()
	case errors.As(err, &he):
		return he.Code, httpCode(he.Code), http.StatusText(he.Code)
	}
	// Anything else is ours: the details go to the log, never to the caller.
	return http.StatusInternalServerError, "internal", "internal error"
}

func httpCode(status int) string {
	switch status {
	case http.StatusNotFound:
		return "not_found"
	case http.StatusMethodNotAllowed:
		return "method_not_allowed"
	case http.StatusRequestEntityTooLarge:
		return "too_large"
	case http.StatusUnauthorized:
		return "unauthorized"
	case http.StatusServiceUnavailable:
		return "unavailable"
	}
	if status >= 500 {
		return "internal"
	}
	return "bad_request"
}

// handleError is echo's HTTPErrorHandler: every error answer goes out through it.
func (s *server) handleError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	status, code, msg := classify(err)
	rid := c.Response().Header().Get(echo.HeaderXRequestID)
	if status >= 500 {
		s.Log.ErrorContext(c.Request().Context(), "request failed", "err", err, "route", c.Path(), "requestId", rid)
	}
	if status == http.StatusUnauthorized {
		c.Response().Header().Set(echo.HeaderWWWAuthenticate, `Bearer realm="serambi"`)
	}
	body := errorBody{Error: errorDetail{Code: code, Message: msg, RequestID: rid}}
	if c.Request().Method == http.MethodHead {
		_ = c.NoContent(status)
		return
	}
	_ = c.JSON(status, body)
}
