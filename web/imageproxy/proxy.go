// Package imageproxy shows an email's remote images to an agent without the sender learning
// anything about the agent.
//
// Incoming mail keeps remote image addresses out of src (connectors/email moves them to
// data-remote-src), so nothing loads by itself. When an agent asks to see a message's images, the
// console points each one at this proxy instead of at the sender's server: the sender sees
// Serambi's server fetch the picture, never the agent's address, browser, cookies or the time
// they read it. The proxy only fetches addresses Serambi itself signed (an HMAC over the address),
// so it cannot be used to fetch arbitrary URLs, and it refuses to connect to loopback, private,
// link-local and other internal addresses, checked on the address actually dialled so a DNS
// answer that changes between lookup and connect (rebinding) gets nowhere either.
package imageproxy

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Path is where the proxy is served; URL builds addresses under it.
const Path = "/img"

// Options tune the proxy; zero values take the defaults.
type Options struct {
	// MaxBytes is the largest image served (default 5 MiB); a bigger one is refused.
	MaxBytes int64
	// Timeout bounds one fetch, redirects included (default 10 s).
	Timeout time.Duration
	// Allow decides which addresses the proxy may connect to. The default, Public, refuses every
	// internal address; tests that serve images from loopback pass their own.
	Allow func(netip.AddrPort) bool
	// Log is where refused and failed fetches are reported (default: discarded).
	Log *slog.Logger
}

// Proxy fetches signed remote image addresses. It is an http.Handler for GET Path?u=…&s=….
type Proxy struct {
	key    []byte
	client *http.Client
	max    int64
	log    *slog.Logger
}

// New returns a proxy whose signatures are keyed by secret. The key is derived, so the same
// secret can sign other things (attachment URLs, sessions) without one signature being valid
// for the other.
func New(secret []byte, o Options) (*Proxy, error) {
	if len(secret) < 16 {
		return nil, errors.New("imageproxy: the secret must be at least 16 bytes")
	}
	if o.MaxBytes <= 0 {
		o.MaxBytes = 5 << 20
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	if o.Allow == nil {
		o.Allow = Public
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte("serambi image proxy v1"))
	allow := o.Allow
	dialer := &net.Dialer{
		Timeout: o.Timeout,
		// Control runs after name resolution, on the address about to be connected: the one
		// place where the check cannot be raced by DNS.
		Control: func(network, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil {
				return fmt.Errorf("%w: %s", errRefused, address)
			}
			if !allow(netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())) {
				return fmt.Errorf("%w: %s", errRefused, address)
			}
			return nil
		},
	}
	transport := &http.Transport{
		Proxy:                 nil, // an environment proxy would dial for us, past the check
		DialContext:           dialer.DialContext,
		TLSHandshakeTimeout:   o.Timeout,
		ResponseHeaderTimeout: o.Timeout,
		MaxIdleConns:          32,
		IdleConnTimeout:       90 * time.Second,
	}
	client := &http.Client{
		Transport: transport,
		Timeout:   o.Timeout,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= 3 {
				return errors.New("too many redirects")
			}
			if !fetchable(req.URL) {
				return fmt.Errorf("%w: redirect to %s", errRefused, req.URL.Redacted())
			}
			// The client would tell the next host where we came from; the sender's first URL
			// may carry the recipient's address.
			req.Header.Del("Referer")
			return nil
		},
	}
	return &Proxy{key: mac.Sum(nil), client: client, max: o.MaxBytes, log: o.Log}, nil
}

// errRefused marks an address the proxy will not fetch.
var errRefused = errors.New("address refused")

// Public allows globally routable unicast addresses on the web's ports and nothing else: not
// loopback, private (RFC 1918, fc00::/7), link-local (incl. cloud metadata at 169.254.169.254),
// shared (100.64/10), multicast, unspecified or reserved ranges.
func Public(ap netip.AddrPort) bool {
	if p := ap.Port(); p != 80 && p != 443 {
		return false
	}
	a := ap.Addr().Unmap()
	if !a.IsValid() || !a.IsGlobalUnicast() || a.IsPrivate() || a.IsLoopback() || a.IsLinkLocalUnicast() {
		return false
	}
	for _, p := range reserved {
		if p.Contains(a) {
			return false
		}
	}
	return true
}

// reserved are ranges IsGlobalUnicast lets through that no public image lives in.
var reserved = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("192.0.0.0/24"),
	netip.MustParsePrefix("192.0.2.0/24"),
	netip.MustParsePrefix("198.18.0.0/15"),
	netip.MustParsePrefix("198.51.100.0/24"),
	netip.MustParsePrefix("203.0.113.0/24"),
	netip.MustParsePrefix("240.0.0.0/4"),
	netip.MustParsePrefix("64:ff9b::/96"), // NAT64 reaches IPv4 space, including private ranges
	netip.MustParsePrefix("2001:db8::/32"),
}

// fetchable reports whether u is an address the proxy may ask for at all (the dialler then
// checks where it really goes).
func fetchable(u *url.URL) bool {
	return (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" && u.User == nil
}

// URL returns the proxy address that shows remote, or "" when remote is not an http(s) URL.
func (p *Proxy) URL(remote string) string {
	u, err := url.Parse(remote)
	if err != nil || !fetchable(u) {
		return ""
	}
	return Path + "?u=" + url.QueryEscape(remote) + "&s=" + p.sign(remote)
}

func (p *Proxy) sign(remote string) string {
	mac := hmac.New(sha256.New, p.key)
	mac.Write([]byte(remote))
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// images are the types served; SVG is not (it can carry script), nor anything the browser
// would render as a document.
var images = map[string]bool{"image/png": true, "image/jpeg": true, "image/gif": true, "image/webp": true}

// ServeHTTP answers GET Path?u=…&s=…: 403 for a missing or wrong signature, 502 when the image
// cannot be fetched or is not one, otherwise the image with headers that keep it an image.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	remote, sig := r.URL.Query().Get("u"), r.URL.Query().Get("s")
	if remote == "" || !hmac.Equal([]byte(sig), []byte(p.sign(remote))) {
		http.Error(w, "this image address was not signed by Serambi", http.StatusForbidden)
		return
	}
	body, ctype, err := p.fetch(r.Context(), remote)
	if err != nil {
		// The address is the sender's, not a secret; the reason helps an admin see why.
		p.log.Info("remote image not shown", "url", redact(remote), "err", err)
		http.Error(w, "the image could not be loaded", http.StatusBadGateway)
		return
	}
	h := w.Header()
	h.Set("Content-Type", ctype)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'none'; sandbox")
	h.Set("Cache-Control", "private, max-age=86400")
	h.Set("Referrer-Policy", "no-referrer")
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		_, _ = w.Write(body)
	}
}

// fetch gets the image: status 200, at most max bytes, and content that really is one of images
// (by its first bytes, whatever the sender's Content-Type says).
func (p *Proxy) fetch(ctx context.Context, remote string) ([]byte, string, error) {
	u, err := url.Parse(remote)
	if err != nil || !fetchable(u) {
		return nil, "", fmt.Errorf("%w: not an http(s) address", errRefused)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, "", err
	}
	// Nothing of the agent goes along: no cookies, no referrer, a neutral agent string.
	req.Header.Set("User-Agent", "Serambi-ImageProxy/1")
	req.Header.Set("Accept", "image/png,image/jpeg,image/gif,image/webp")
	resp, err := p.client.Do(req)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, "", fmt.Errorf("remote answered %s", resp.Status)
	}
	if resp.ContentLength > p.max {
		return nil, "", fmt.Errorf("image of %d bytes is over the %d-byte limit", resp.ContentLength, p.max)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, p.max+1))
	if err != nil {
		return nil, "", fmt.Errorf("read image: %w", err)
	}
	if int64(len(body)) > p.max {
		return nil, "", fmt.Errorf("image is over the %d-byte limit", p.max)
	}
	ctype := http.DetectContentType(body)
	if !images[ctype] {
		return nil, "", fmt.Errorf("content is %s, not an image served here", ctype)
	}
	return body, ctype, nil
}

// redact keeps a logged address to scheme, host and path: query strings of tracking pixels
// often carry the recipient's address.
func redact(remote string) string {
	u, err := url.Parse(remote)
	if err != nil {
		return "(unparseable)"
	}
	return strings.TrimSuffix(u.Scheme+"://"+u.Host+u.EscapedPath(), "://")
}
