package widget

import (
	"bufio"
	"errors"
	"net"
	"net/http"
	"runtime"
	"strings"
	"syscall"

	"github.com/labstack/echo/v4"

	"github.com/serambi/serambi/inbox"
)

// Register adds the widget's routes:
//
//	GET  /widget.js      the embeddable script (CSS inside), cacheable
//	GET  /widget/ws      a visitor's WebSocket (?inbox=ID); the page's Origin must be allowed
//	POST /widget/upload  a visitor's file (?inbox=ID), answered with CORS for allowed origins
//	GET  /widget/demo    the demo shop page (when Config.Demo)
func (c *Connector) Register(e *echo.Echo) {
	if !c.cfg.Enabled() {
		return
	}
	e.GET("/widget.js", c.serveScript)
	e.GET("/widget/ws", c.serveSocket)
	e.POST("/widget/upload", c.upload)
	e.OPTIONS("/widget/upload", c.upload)
	if c.cfg.Demo {
		e.GET("/widget/demo", c.serveDemo)
	}
}

// clientIP is the visitor's address, for per-address limits.
func (c *Connector) clientIP(e echo.Context) string {
	if c.cfg.TrustProxy {
		return e.RealIP()
	}
	host, _, err := net.SplitHostPort(e.Request().RemoteAddr)
	if err != nil {
		return e.Request().RemoteAddr
	}
	return host
}

// settingsFor loads the widget inbox a request names and checks the page's origin against it.
// On failure it has answered already.
func (c *Connector) settingsFor(e echo.Context) (Settings, bool) {
	r := e.Request()
	id := r.URL.Query().Get("inbox")
	if !idPattern.MatchString(id) {
		_ = e.String(http.StatusBadRequest, "name the widget inbox: ?inbox=ID (data-serambi-inbox on the script tag)")
		return Settings{}, false
	}
	s, err := c.inboxSettings(r.Context(), id)
	if errors.Is(err, inbox.ErrNotFound) {
		_ = e.String(http.StatusNotFound, "unknown widget inbox "+id)
		return Settings{}, false
	}
	if err != nil {
		c.log.Error("widget settings not readable", "inbox", id, "err", err)
		_ = e.String(http.StatusServiceUnavailable, "the widget is not available right now")
		return Settings{}, false
	}
	if origin := r.Header.Get("Origin"); !s.originAllowed(origin, r.Host) {
		c.log.Info("widget request from an origin this inbox does not allow", "inbox", id, "origin", origin)
		_ = e.String(http.StatusForbidden, "this site ("+origin+") is not among the widget inbox's allowed origins")
		return Settings{}, false
	}
	return s, true
}

// corsFor is settingsFor for cross-origin fetches: an allowed origin gets the CORS headers.
func (c *Connector) corsFor(e echo.Context) (Settings, bool) {
	h := e.Response().Header()
	h.Add("Vary", "Origin")
	s, ok := c.settingsFor(e)
	if !ok {
		return s, false
	}
	if origin := e.Request().Header.Get("Origin"); origin != "" {
		h.Set("Access-Control-Allow-Origin", origin)
		h.Set("Access-Control-Allow-Methods", "POST, OPTIONS")
		h.Set("Access-Control-Max-Age", "600")
	}
	return s, true
}

// serveSocket upgrades a visitor's connection. Unknown inboxes (404), foreign origins (403) and
// addresses over their socket limit (429) are refused before the upgrade, so they cost nothing.
func (c *Connector) serveSocket(e echo.Context) error {
	s, ok := c.settingsFor(e)
	if !ok {
		return nil
	}
	sock := &socket{c: c, ip: c.clientIP(e), inbox: s.ID}
	switch err := c.hub.register(sock); {
	case errors.Is(err, errTooMany):
		return e.String(http.StatusTooManyRequests, err.Error())
	case err != nil:
		return e.String(http.StatusServiceUnavailable, err.Error())
	}
	hj := &hijacker{ResponseWriter: e.Response()}
	conn, err := c.upgrader.Upgrade(hj, e.Request(), nil)
	if err != nil {
		c.hub.unregister(sock)
		return nil // the upgrader answered
	}
	sock.conn = conn
	if sc, ok := conn.NetConn().(syscall.Conn); ok && hj.br != nil && runtime.GOOS != "windows" {
		if raw, err := sc.SyscallConn(); err == nil {
			sock.br, sock.raw = hj.br, raw
		}
	}
	// A fresh goroutine reads, and the handler's (whose stack grew through routing and
	// middleware) ends: an idle socket keeps only a small stack.
	go sock.run()
	return nil
}

// hijacker hands gorilla a small read buffer of ours when it takes the connection over (the
// Upgrader reads through the hijacked reader when its ReadBufferSize is 0), so that the socket
// can tell whether anything is buffered before it waits for the network.
type hijacker struct {
	http.ResponseWriter
	br *bufio.Reader
}

func (h *hijacker) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	hj, ok := h.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("the response cannot be hijacked")
	}
	conn, rw, err := hj.Hijack()
	if err != nil || rw.Reader.Buffered() > 0 {
		return conn, rw, err // gorilla refuses a handshake followed by early data
	}
	h.br = bufio.NewReaderSize(conn, 512)
	return conn, bufio.NewReadWriter(h.br, rw.Writer), nil
}

func (c *Connector) serveScript(e echo.Context) error {
	a := c.assets
	h := e.Response().Header()
	h.Set("Content-Type", "text/javascript; charset=utf-8")
	h.Set("Cache-Control", "public, max-age=300")
	h.Set("ETag", a.etag)
	h.Set("Vary", "Accept-Encoding")
	h.Set("X-Content-Type-Options", "nosniff")
	if e.Request().Header.Get("If-None-Match") == a.etag {
		return e.NoContent(http.StatusNotModified)
	}
	if strings.Contains(e.Request().Header.Get("Accept-Encoding"), "gzip") {
		h.Set("Content-Encoding", "gzip")
		return e.Blob(http.StatusOK, "text/javascript; charset=utf-8", a.scriptGz)
	}
	return e.Blob(http.StatusOK, "text/javascript; charset=utf-8", a.script)
}
