package console

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"mime"
	"net/http"
	"path"

	"github.com/labstack/echo/v4"

	"github.com/serambi/serambi/templates"
)

// The console's assets are embedded in the binary. htmx.min.js is htmx.org 2.0.11 from npm, as
// published; console.js and console.css are Serambi's own.
//
//go:embed static
var staticFS embed.FS

type asset struct {
	body  []byte
	ctype string
	hash  string
}

type assets struct {
	files map[string]asset
	urls  templates.Assets
}

// loadAssets reads the embedded files and names each URL after its content hash, so browsers
// can cache them for a year and still get a new version the moment it changes.
func loadAssets() (*assets, error) {
	a := &assets{files: map[string]asset{}, urls: templates.Assets{}}
	entries, err := fs.ReadDir(staticFS, "static")
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		b, err := staticFS.ReadFile("static/" + e.Name())
		if err != nil {
			return nil, err
		}
		sum := sha256.Sum256(b)
		h := hex.EncodeToString(sum[:6])
		ctype := mime.TypeByExtension(path.Ext(e.Name()))
		if ctype == "" {
			ctype = "application/octet-stream"
		}
		a.files[e.Name()] = asset{body: b, ctype: ctype, hash: h}
		a.urls[e.Name()] = "/static/" + e.Name() + "?v=" + h
	}
	return a, nil
}

func (c *Console) static(ctx echo.Context) error {
	f, ok := c.assets.files[ctx.Param("name")]
	if !ok {
		return ctx.String(http.StatusNotFound, "not found")
	}
	h := ctx.Response().Header()
	if ctx.QueryParam("v") == f.hash {
		h.Set(echo.HeaderCacheControl, "public, max-age=31536000, immutable")
	} else {
		h.Set(echo.HeaderCacheControl, "no-cache")
	}
	h.Set("ETag", `"`+f.hash+`"`)
	if ctx.Request().Header.Get("If-None-Match") == `"`+f.hash+`"` {
		return ctx.NoContent(http.StatusNotModified)
	}
	return ctx.Blob(http.StatusOK, f.ctype, f.body)
}
