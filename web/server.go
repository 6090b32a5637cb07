// Package web is Serambi's HTTP face: the REST API (/api/v1), signed attachment links, health
// and metrics endpoints. Handlers translate HTTP to calls on the inbox and back; they hold no
// domain logic, and errors.go alone decides which error becomes which status.
package web

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"github.com/microcosm-cc/bluemonday"

	"github.com/serambi/serambi/agents"
	"github.com/serambi/serambi/inbox"
)

// KeyVerifier checks an API key; *agents.APIKeys implements it.
type KeyVerifier interface {
	Verify(ctx context.Context, secret string) (agents.APIKey, error)
}

// HTTPMetrics records request latency and serves the metrics page; *metrics.Metrics implements it.
type HTTPMetrics interface {
	ObserveHTTP(method, route string, status int, d time.Duration)
	Handler() http.Handler
}

// Deps is what the web server is built from.
type Deps struct {
	Inbox *inbox.Inbox
	Blobs inbox.Blobs
	Keys  KeyVerifier
	// URLs signs and checks attachment links.
	URLs    *AttachmentURLs
	Metrics HTTPMetrics
	// Ready reports whether the store answers (and, between instances, the event bus); /readyz
	// calls it.
	Ready              func(ctx context.Context) error
	Log                *slog.Logger
	MaxBodyBytes       int64
	MaxAttachmentBytes int64
	// APIRoutes add more routes to the API-key-authenticated /api/v1 group (commerce ingestion).
	APIRoutes []func(g *echo.Group)
	// Notify tells agents about @mentions in notes and assignments made through the API, as
	// the console does; nil notifies nobody.
	Notify Notifier
}

// Notifier keeps agents' notifications (package notifications).
type Notifier interface {
	// Mentioned notifies the agents a stored note mentions (its Meta["mentions"]).
	Mentioned(ctx context.Context, note inbox.Message) error
	// Assigned notifies a conversation's new assignee; previous is the assignee before.
	Assigned(ctx context.Context, conv inbox.Conversation, previous, actorID string) error
	// Agents lists the agents whose @handles a note may name.
	Agents(ctx context.Context) ([]agents.Agent, error)
}

type server struct {
	Deps
	html *bluemonday.Policy
	// strip turns HTML into its text, for messages that come with HTML only.
	strip *bluemonday.Policy
}

// New builds the echo server with every route and middleware.
func New(d Deps) *echo.Echo {
	s := &server{Deps: d, html: bluemonday.UGCPolicy(), strip: bluemonday.StrictPolicy()}
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = s.handleError
	e.Use(middleware.RequestID(), s.observe, middleware.RecoverWithConfig(middleware.RecoverConfig{
		DisableErrorHandler: true, // observe hands the error to handleError, once
		LogErrorFunc: func(c echo.Context, err error, stack []byte) error {
			s.Log.ErrorContext(c.Request().Context(), "panic in handler", "err", err, "route", c.Path(), "stack", string(stack))
			return err
		},
	}))

	e.GET("/healthz", s.healthz)
	e.GET("/readyz", s.readyz)
	if d.Metrics != nil {
		e.GET("/metrics", echo.WrapHandler(d.Metrics.Handler()))
	}
	e.GET("/attachments/:sha256/:name", s.signedAttachment)

	api := e.Group("/api/v1", s.authenticate)
	body := limitBody(d.MaxBodyBytes)
	api.POST("/messages", s.ingest, body)
	api.GET("/conversations", s.listConversations)
	api.GET("/conversations/:id", s.getConversation)
	api.PATCH("/conversations/:id", s.patchConversation, body)
	api.GET("/conversations/:id/messages", s.listMessages)
	api.POST("/conversations/:id/messages", s.postMessage, body)
	api.GET("/customers/:id", s.getCustomer)
	api.POST("/customers/:id/merge", s.mergeCustomer, body)
	// Multipart framing adds a little to the file itself.
	api.POST("/attachments", s.uploadAttachment, limitBody(d.MaxAttachmentBytes+64<<10))
	api.GET("/attachments/:sha256", s.apiAttachment)
	for _, register := range d.APIRoutes {
		register(api)
	}
	api.RouteNotFound("/*", func(echo.Context) error { return echo.ErrNotFound })
	return e
}

// observe logs every request and records its latency. It hands errors to the error handler
// itself so that the status it logs is the one that was sent.
func (s *server) observe(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		if err := next(c); err != nil {
			c.Error(err)
		}
		req, res := c.Request(), c.Response()
		route := c.Path()
		if route == "" {
			route = "unmatched"
		}
		d := time.Since(start)
		if s.Metrics != nil {
			s.Metrics.ObserveHTTP(req.Method, route, res.Status, d)
		}
		level := slog.LevelInfo
		if res.Status >= 500 {
			level = slog.LevelError
		}
		// Only the path: query strings carry attachment signatures, and headers carry API keys.
		// Routes whose path itself holds a secret (the CTI webhook's :token) log the route alone.
		path := req.URL.Path
		if strings.Contains(route, ":token") {
			path = route
		}
		s.Log.LogAttrs(req.Context(), level, "http request",
			slog.String("method", req.Method), slog.String("route", route), slog.String("path", path),
			slog.Int("status", res.Status), slog.Duration("duration", d), slog.Int64("bytes", res.Size),
			slog.String("requestId", res.Header().Get(echo.HeaderXRequestID)), slog.String("remote", c.RealIP()))
		return nil
	}
}

// limitBody refuses a body over n bytes: at once when Content-Length says so, and while reading
// otherwise (the read fails with *http.MaxBytesError, which errors.go maps to 413).
func limitBody(n int64) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			req := c.Request()
			if req.ContentLength > n {
				return &http.MaxBytesError{Limit: n}
			}
			req.Body = http.MaxBytesReader(c.Response(), req.Body, n)
			return next(c)
		}
	}
}

func (s *server) healthz(c echo.Context) error {
	return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
}

func (s *server) readyz(c echo.Context) error {
	ctx, cancel := context.WithTimeout(c.Request().Context(), 3*time.Second)
	defer cancel()
	if s.Ready != nil {
		if err := s.Ready(ctx); err != nil {
			s.Log.WarnContext(ctx, "not ready", "err", err)
			// Which one failed is in the log, not in this unauthenticated answer.
			return &requestError{http.StatusServiceUnavailable, "not_ready", "the store or the event bus does not answer; the server log says which"}
		}
	}
	return c.JSON(http.StatusOK, map[string]string{"status": "ready"})
}
