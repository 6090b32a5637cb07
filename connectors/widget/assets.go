package widget

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"html/template"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"
)

//go:embed assets/widget.js assets/widget.css assets/demo.html
var files embed.FS

// assets is the served script (the CSS is put inside it, so one request brings the whole widget)
// and the demo page, built once at start.
type assets struct {
	script, scriptGz []byte
	etag             string
	demo             *template.Template
}

const cssPlaceholder = `"__SERAMBI_CSS__"`

func mustAssets() *assets {
	js, err := files.ReadFile("assets/widget.js")
	if err != nil {
		panic(err) // embedded at build time: cannot be missing
	}
	css, err := files.ReadFile("assets/widget.css")
	if err != nil {
		panic(err)
	}
	cssJSON, _ := json.Marshal(string(css))
	script := bytes.Replace(js, []byte(cssPlaceholder), cssJSON, 1)
	var gz bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&gz, gzip.BestCompression)
	_, _ = zw.Write(script)
	_ = zw.Close()
	sum := sha256.Sum256(script)
	demo := template.Must(template.ParseFS(files, "assets/demo.html"))
	return &assets{script: script, scriptGz: gz.Bytes(), etag: `"` + hex.EncodeToString(sum[:8]) + `"`, demo: demo}
}

type product struct {
	Name, Desc, Price, Was, Tag, Pattern string
}

func demoProducts() []product {
	return []product{
		{"Kemeja Batik Parang Rusak", "Katun primisima, lengan panjang · M, L, XL", "Rp 389.000", "Rp 450.000", "Terlaris", "p1"},
		{"Kain Batik Tulis Kawung", "Kain 2,25 m, pewarna alami", "Rp 1.250.000", "", "Tulis", "p2"},
		{"Dress Mega Mendung", "Rayon premium, motif Cirebon", "Rp 425.000", "", "Baru", "p3"},
		{"Selendang Sutra Truntum", "Sutra ATBM, 180 × 50 cm", "Rp 675.000", "", "", "p4"},
		{"Blouse Sidomukti", "Katun halus, potongan longgar", "Rp 299.000", "Rp 349.000", "Diskon", "p5"},
		{"Tas Tenun Lurik", "Tenun ATBM Klaten, tali kulit", "Rp 245.000", "", "", "p6"},
		{"Kemeja Truntum Cap", "Batik cap, lengan pendek · S–XXL", "Rp 275.000", "", "", "p7"},
		{"Masker Kain Batik (isi 3)", "Tiga lapis, bisa dicuci", "Rp 45.000", "", "Hemat", "p8"},
	}
}

// serveDemo renders the demo shop. ?inbox= picks the widget inbox, ?token= puts a signed
// identity on the page the way a shop's backend would for a logged-in customer, ?lang= forces
// the widget's language.
func (c *Connector) serveDemo(e echo.Context) error {
	q := e.Request().URL.Query()
	data := struct {
		Inbox, Token, Lang, Script, Name string
		Identified                       bool
		Products                         []product
	}{Inbox: c.cfg.Default.ID, Script: "/widget.js", Products: demoProducts()}
	if id := q.Get("inbox"); idPattern.MatchString(id) {
		data.Inbox = id
	}
	if l := q.Get("lang"); l == "en" || l == "id" {
		data.Lang = l
	}
	if tok := q.Get("token"); tok != "" && len(tok) <= maxJWTLen {
		data.Token = tok
		if s, err := c.inboxSettings(e.Request().Context(), data.Inbox); err == nil {
			if v, err := verifyJWT(tok, s.JWTSecret, c.now()); err == nil {
				data.Identified, data.Name = true, firstNonEmpty(v.Name, v.Email, v.ShopID)
			}
		}
	}
	var b strings.Builder
	if err := c.assets.demo.Execute(&b, data); err != nil {
		return err
	}
	e.Response().Header().Set("Cache-Control", "no-store")
	return e.HTML(http.StatusOK, b.String())
}

func firstNonEmpty(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}
