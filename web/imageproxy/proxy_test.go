package imageproxy_test

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"testing"

	"github.com/serambi/serambi/web/imageproxy"
)

// remote is a sender's web server on loopback: the proxy under test is told it may reach this
// one address and nothing else, so every other loopback or internal address stays refused.
func remote(t *testing.T) (*httptest.Server, []byte) {
	t.Helper()
	var buf bytes.Buffer
	img := image.NewRGBA(image.Rect(0, 0, 2, 2))
	img.Set(0, 0, color.RGBA{R: 200, A: 255})
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	pic := buf.Bytes()
	mux := http.NewServeMux()
	mux.HandleFunc("/logo.png", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Cookie") != "" || r.Header.Get("Referer") != "" {
			http.Error(w, "the agent's cookies or referrer reached the sender", http.StatusTeapot)
			return
		}
		w.Header().Set("Content-Type", "text/plain") // a lying type: the bytes decide
		w.Write(pic)
	})
	mux.HandleFunc("/page.html", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "image/png")
		io.WriteString(w, "<html><script>alert(1)</script></html>")
	})
	mux.HandleFunc("/vector.svg", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "image/svg+xml")
		io.WriteString(w, `<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"></svg>`)
	})
	mux.HandleFunc("/huge.png", func(w http.ResponseWriter, r *http.Request) {
		w.Write(pic)
		w.Write(bytes.Repeat([]byte{0}, 4096)) // streamed, no Content-Length up front
	})
	mux.HandleFunc("/gone.png", func(w http.ResponseWriter, r *http.Request) { http.NotFound(w, r) })
	mux.HandleFunc("/hop.png", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/logo.png", http.StatusFound)
	})
	mux.HandleFunc("/inside.png", func(w http.ResponseWriter, r *http.Request) {
		// Redirect to another loopback address: internal, so refused at dial time.
		_, port, _ := strings.Cut(r.Host, ":")
		http.Redirect(w, r, "http://127.0.0.2:"+port+"/logo.png", http.StatusFound)
	})
	mux.HandleFunc("/metadata.png", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://169.254.169.254/latest/meta-data/", http.StatusFound)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv, pic
}

func only(srv *httptest.Server) func(netip.AddrPort) bool {
	want := netip.MustParseAddrPort(strings.TrimPrefix(srv.URL, "http://"))
	return func(ap netip.AddrPort) bool { return ap == want }
}

var secret = []byte("0123456789abcdef0123456789abcdef")

func get(t *testing.T, h http.Handler, target string) *httptest.ResponseRecorder {
	t.Helper()
	w := httptest.NewRecorder()
	r := httptest.NewRequest(http.MethodGet, target, nil)
	r.Header.Set("Cookie", "serambi_session=agent-secret")
	h.ServeHTTP(w, r)
	return w
}

func TestProxyServesOnlySignedImages(t *testing.T) {
	srv, pic := remote(t)
	p, err := imageproxy.New(secret, imageproxy.Options{Allow: only(srv), MaxBytes: int64(len(pic)) + 100})
	if err != nil {
		t.Fatal(err)
	}
	other, err := imageproxy.New([]byte("another-secret-of-some-length"), imageproxy.Options{Allow: only(srv)})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		target string
		status int
	}{
		{"a signed image is served", p.URL(srv.URL + "/logo.png"), http.StatusOK},
		{"a redirect to an allowed image is followed", p.URL(srv.URL + "/hop.png"), http.StatusOK},
		{"no signature", imageproxy.Path + "?u=" + url.QueryEscape(srv.URL+"/logo.png"), http.StatusForbidden},
		{"signed by another key", other.URL(srv.URL + "/logo.png"), http.StatusForbidden},
		{"signature of another address", strings.Replace(p.URL(srv.URL+"/logo.png"), "logo.png", "page.html", 1), http.StatusForbidden},
		{"no address", imageproxy.Path, http.StatusForbidden},
		{"HTML claiming to be PNG", p.URL(srv.URL + "/page.html"), http.StatusBadGateway},
		{"SVG", p.URL(srv.URL + "/vector.svg"), http.StatusBadGateway},
		{"over the size limit", p.URL(srv.URL + "/huge.png"), http.StatusBadGateway},
		{"remote 404", p.URL(srv.URL + "/gone.png"), http.StatusBadGateway},
		{"redirect to another internal address", p.URL(srv.URL + "/inside.png"), http.StatusBadGateway},
		{"redirect to cloud metadata", p.URL(srv.URL + "/metadata.png"), http.StatusBadGateway},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := get(t, p, tt.target)
			if w.Code != tt.status {
				t.Fatalf("GET %s = %d %q; want %d", tt.target, w.Code, w.Body.String(), tt.status)
			}
			if tt.status != http.StatusOK {
				return
			}
			if !bytes.Equal(w.Body.Bytes(), pic) {
				t.Fatalf("served %d bytes, not the remote image", w.Body.Len())
			}
			for k, v := range map[string]string{
				"Content-Type": "image/png", "X-Content-Type-Options": "nosniff",
				"Content-Security-Policy": "default-src 'none'; sandbox",
			} {
				if got := w.Header().Get(k); got != v {
					t.Errorf("%s = %q; want %q", k, got, v)
				}
			}
		})
	}
}

// With the default policy the proxy reaches nothing internal, whatever was signed.
func TestDefaultPolicyRefusesInternalAddresses(t *testing.T) {
	srv, _ := remote(t)
	p, err := imageproxy.New(secret, imageproxy.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if w := get(t, p, p.URL(srv.URL+"/logo.png")); w.Code != http.StatusBadGateway {
		t.Fatalf("loopback image = %d; want 502", w.Code)
	}
}

func TestPublic(t *testing.T) {
	tests := []struct {
		addr string
		want bool
	}{
		{"93.184.215.14:443", true},
		{"93.184.215.14:80", true},
		{"[2606:4700::1111]:443", true},
		{"93.184.215.14:22", false},
		{"127.0.0.1:80", false},
		{"10.1.2.3:443", false},
		{"172.16.0.1:443", false},
		{"192.168.1.1:80", false},
		{"169.254.169.254:80", false},
		{"100.64.0.1:80", false},
		{"0.0.0.0:80", false},
		{"224.0.0.1:80", false},
		{"255.255.255.255:80", false},
		{"[::1]:443", false},
		{"[::ffff:127.0.0.1]:443", false},
		{"[::ffff:10.0.0.1]:443", false},
		{"[fc00::1]:443", false},
		{"[fe80::1]:443", false},
		{"[64:ff9b::a00:1]:443", false},
		{"[::]:443", false},
	}
	for _, tt := range tests {
		if got := imageproxy.Public(netip.MustParseAddrPort(tt.addr)); got != tt.want {
			t.Errorf("Public(%s) = %v; want %v", tt.addr, got, tt.want)
		}
	}
}

func TestURLOnlySignsWebAddresses(t *testing.T) {
	p, err := imageproxy.New(secret, imageproxy.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"javascript:alert(1)", "file:///etc/passwd", "data:image/png;base64,AA", "//host/x.png", "http://user:pw@host/x.png", ""} {
		if u := p.URL(bad); u != "" {
			t.Errorf("URL(%q) = %q; want no proxy address", bad, u)
		}
	}
	if u := p.URL("https://cdn.example.com/a.png?x=1&y=2"); !strings.HasPrefix(u, imageproxy.Path+"?u=https%3A%2F%2Fcdn.example.com") {
		t.Errorf("URL = %q", u)
	}
	if _, err := imageproxy.New([]byte("short"), imageproxy.Options{}); err == nil {
		t.Error("a short secret was accepted")
	}
}
