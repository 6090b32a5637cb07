package web

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/serambi/serambi/agents"
	"github.com/serambi/serambi/inbox"
)

const ctxKey = "serambi.apikey"

// authenticate lets a request through only with a valid bearer API key.
func (s *server) authenticate(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		h := c.Request().Header.Get(echo.HeaderAuthorization)
		scheme, secret, ok := strings.Cut(h, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(secret) == "" {
			return errUnauthorized
		}
		key, err := s.Keys.Verify(c.Request().Context(), strings.TrimSpace(secret))
		if err != nil {
			return err // ErrInvalidKey is 401; a store failure is 500, not a reason to lock people out
		}
		c.Set(ctxKey, key)
		return next(c)
	}
}

// actor names the API key in timeline events and audit entries.
func actor(c echo.Context) (id, name string) {
	k, _ := c.Get(ctxKey).(agents.APIKey)
	return "apikey:" + k.ID, k.Name
}

// decodeJSON reads a request body strictly: Serambi's own API refuses unknown fields, invalid
// UTF-8 and trailing data, so that a client's mistake shows at once instead of being half-applied.
func decodeJSON(c echo.Context, v any) error {
	body, err := io.ReadAll(c.Request().Body)
	if err != nil {
		return fmt.Errorf("read request body: %w", err)
	}
	if !utf8.Valid(body) {
		return badRequest("request body is not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return badRequest(describeJSONError(err))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return badRequest("request body has data after the JSON value")
	}
	return nil
}

func describeJSONError(err error) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.Is(err, io.EOF):
		return "request body is empty; want a JSON object"
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "request body is not valid JSON: it ends too early"
	case errors.As(err, &syn):
		return fmt.Sprintf("request body is not valid JSON (at byte %d): %v", syn.Offset, err)
	case errors.As(err, &typ):
		return fmt.Sprintf("field %q must be a JSON %s", typ.Field, typ.Type.Kind())
	case strings.HasPrefix(err.Error(), "json: unknown field"):
		return strings.TrimPrefix(err.Error(), "json: ") + " (this API accepts only the documented fields)"
	}
	return "request body could not be read as JSON: " + err.Error()
}

// Cursors are opaque to clients: base64url of "time id". They carry the position of the last item
// seen, so a page never repeats or skips an item however many arrive meanwhile.
func encodeCursor(at time.Time, id string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(at.UTC().Format(time.RFC3339Nano) + " " + id))
}

func decodeCursor(s string) (inbox.Cursor, error) {
	if s == "" {
		return inbox.Cursor{}, nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err == nil {
		if ts, id, ok := strings.Cut(string(raw), " "); ok && id != "" {
			if at, err := time.Parse(time.RFC3339Nano, ts); err == nil {
				return inbox.Cursor{At: at, ID: id}, nil
			}
		}
	}
	return inbox.Cursor{}, badRequest("cursor is not one this API gave out; pass nextCursor as it came")
}

const defaultLimit, maxLimit = 50, 100

func parseLimit(s string) (int, error) {
	if s == "" {
		return defaultLimit, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > maxLimit {
		return 0, badRequest(fmt.Sprintf("limit must be a whole number from 1 to %d", maxLimit))
	}
	return n, nil
}

// page is the shape of every list answer.
type page[T any] struct {
	Items      []T    `json:"items"`
	NextCursor string `json:"nextCursor,omitempty"`
}
