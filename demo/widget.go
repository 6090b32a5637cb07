package demo

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/gorilla/websocket"

	"github.com/serambi/serambi/connectors/widget"
	"github.com/serambi/serambi/inbox"
)

// widgetVisitor is a simulated customer with the shop's page open: one WebSocket to
// /widget/ws, speaking the widget's frame protocol (docs/WIDGET.md) as widget.js does. A known
// customer is identified the way a shop identifies its logged-in customers, with a signed token;
// the socket stays open a while, so the customer sees agents' replies and may answer them.
type widgetVisitor struct {
	conn    *websocket.Conn
	wmu     sync.Mutex
	token   string
	acks    chan ackOrError
	closed  chan struct{}
	lastUse time.Time
}

type ackOrError struct {
	cid string
	err error
}

// widgetIdle is how long a visitor's page stays open after their last message.
const widgetIdle = 3 * time.Minute

// IdentityToken signs what a shop's backend puts on its pages for a logged-in customer (HS256
// with the widget inbox's secret, see connectors/widget/identity.go).
func IdentityToken(secret, shopID, email, name string, valid time.Duration) (string, error) {
	return widget.SignIdentity(widget.Secret(secret), widget.Claims{Email: email, Name: name,
		RegisteredClaims: jwt.RegisteredClaims{Subject: shopID, ExpiresAt: jwt.NewNumericDate(time.Now().Add(valid))}})
}

// validVisitorToken reports whether s looks like a visitor token the widget mints.
func validVisitorToken(s string) bool {
	if len(s) != 32 {
		return false
	}
	_, err := base64.RawURLEncoding.DecodeString(s)
	return err == nil
}

func (s *Simulator) widgetMessage(ctx context.Context, i int, text string) error {
	v, err := s.widgetOf(ctx, i)
	if err != nil {
		return err
	}
	cid := strings.TrimRight(base64.RawURLEncoding.EncodeToString([]byte(randomHex(8))), "=")
	if err := v.write(map[string]any{"t": "msg", "cid": cid, "text": text}); err != nil {
		s.dropWidget(i, v)
		return fmt.Errorf("widget send: %w", err)
	}
	timeout := time.NewTimer(15 * time.Second)
	defer timeout.Stop()
	for {
		select {
		case a := <-v.acks:
			if a.err != nil {
				return a.err
			}
			if a.cid == cid {
				return nil
			}
		case <-v.closed:
			s.dropWidget(i, v)
			return errors.New("widget socket closed before the message was acknowledged")
		case <-timeout.C:
			return errors.New("widget message not acknowledged")
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// widgetOf returns customer i's open page, opening it when needed.
func (s *Simulator) widgetOf(ctx context.Context, i int) (*widgetVisitor, error) {
	s.mu.Lock()
	v := s.widgets[i]
	s.mu.Unlock()
	if v != nil {
		select {
		case <-v.closed:
		default:
			v.lastUse = time.Now()
			return v, nil
		}
	}
	c := s.cfg.World.Customers[i]
	hello := map[string]any{"t": "hello", "inbox": s.cfg.Secrets.WidgetInbox, "lang": c.Locale, "page": s.cfg.BaseURL + "/widget/demo"}
	if v != nil && v.token != "" {
		hello["token"] = v.token // the same browser: its localStorage kept the token
	} else if validVisitorToken(c.WidgetToken) {
		hello["token"] = c.WidgetToken // the browser of an anonymous visitor the shop seeded
	}
	// A customer the shop knows (signed widget identity "s:<ShopID>") is signed in by the shop's
	// page; an anonymous visitor is only their token.
	if c.ShopID != "" && !strings.HasPrefix(c.WidgetVisitor, "v:") {
		jwtTok, err := IdentityToken(s.cfg.Secrets.WidgetJWT, c.ShopID, c.Email, c.Name, time.Hour)
		if err != nil {
			return nil, err
		}
		hello["jwt"] = jwtTok
	}
	u, err := url.Parse(s.cfg.BaseURL)
	if err != nil {
		return nil, err
	}
	u.Scheme = map[string]string{"https": "wss"}[u.Scheme]
	if u.Scheme == "" {
		u.Scheme = "ws"
	}
	u.Path, u.RawQuery = "/widget/ws", url.Values{"inbox": {s.cfg.Secrets.WidgetInbox}}.Encode()
	h := http.Header{"Origin": {s.cfg.BaseURL}}
	d := websocket.Dialer{HandshakeTimeout: 10 * time.Second}
	conn, resp, err := d.DialContext(ctx, u.String(), h)
	if err != nil {
		if resp != nil {
			return nil, fmt.Errorf("widget socket: %s: %w", resp.Status, err)
		}
		return nil, fmt.Errorf("widget socket: %w", err)
	}
	nv := &widgetVisitor{conn: conn, acks: make(chan ackOrError, 8), closed: make(chan struct{}), lastUse: time.Now()}
	if err := nv.write(hello); err != nil {
		conn.Close()
		return nil, err
	}
	// The welcome names the visitor's token; a refused identity comes as an error frame first.
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	for nv.token == "" {
		var f map[string]json.RawMessage
		if err := conn.ReadJSON(&f); err != nil {
			conn.Close()
			return nil, fmt.Errorf("widget hello: %w", err)
		}
		switch str(f["t"]) {
		case "welcome":
			nv.token = str(f["token"])
		case "error":
			conn.Close()
			return nil, fmt.Errorf("widget hello refused: %s: %s", str(f["code"]), str(f["message"]))
		}
	}
	_ = conn.SetReadDeadline(time.Time{})
	s.mu.Lock()
	s.widgets[i] = nv
	ctxRun := s.ctx
	s.mu.Unlock()
	if ctxRun == nil {
		ctxRun = ctx
	}
	go s.readWidget(ctxRun, i, nv)
	return nv, nil
}

func (v *widgetVisitor) write(frame any) error {
	v.wmu.Lock()
	defer v.wmu.Unlock()
	_ = v.conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
	return v.conn.WriteJSON(frame)
}

// readWidget reads what the server pushes: acknowledgements for the sender, agents' replies
// (which the customer may answer), and keeps the socket alive with pings until the page has been
// idle for widgetIdle.
func (s *Simulator) readWidget(ctx context.Context, i int, v *widgetVisitor) {
	defer close(v.closed)
	defer v.conn.Close()
	frames := make(chan map[string]json.RawMessage)
	go func() {
		defer close(frames)
		for {
			var f map[string]json.RawMessage
			if err := v.conn.ReadJSON(&f); err != nil {
				return
			}
			frames <- f
		}
	}()
	ping := time.NewTicker(25 * time.Second)
	defer ping.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ping.C:
			if time.Since(v.lastUse) > widgetIdle {
				return // the customer left the page
			}
			_ = v.write(map[string]any{"t": "ping"})
		case f, ok := <-frames:
			if !ok {
				return
			}
			switch str(f["t"]) {
			case "ack":
				select {
				case v.acks <- ackOrError{cid: str(f["cid"])}:
				default:
				}
			case "error":
				select {
				case v.acks <- ackOrError{err: fmt.Errorf("widget refused the message: %s: %s", str(f["code"]), str(f["message"]))}:
				default:
				}
			case "msg":
				if str(f["from"]) == "agent" {
					s.expect(answer{customer: i, channel: inbox.ChannelWidget})
				}
			}
		}
	}
}

func (s *Simulator) dropWidget(i int, v *widgetVisitor) {
	s.mu.Lock()
	if s.widgets[i] == v {
		delete(s.widgets, i)
	}
	s.mu.Unlock()
	_ = v.conn.Close()
}

func (s *Simulator) closeWidgets() {
	s.mu.Lock()
	ws := s.widgets
	s.widgets = map[int]*widgetVisitor{}
	s.mu.Unlock()
	for _, v := range ws {
		_ = v.conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseGoingAway, "page closed"), time.Now().Add(time.Second))
		_ = v.conn.Close()
	}
}

func str(raw json.RawMessage) string {
	var s string
	_ = json.Unmarshal(raw, &s)
	return s
}
