package console

import (
	"maps"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"
	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"

	"github.com/serambi/serambi/inbox"
	"github.com/serambi/serambi/templates"
)

// ImageProxy shows an email's remote images through Serambi, so the sender never learns that,
// when or where an agent read their mail (web/imageproxy).
type ImageProxy interface {
	http.Handler
	// URL is the proxy address for a remote image, "" for an address it will not fetch.
	URL(remote string) string
}

// showImages answers "Show images" on one email: the message's body again, with each blocked
// remote image pointed at the image proxy. Nothing is stored: the next render blocks them again.
func (c *Console) showImages(ctx echo.Context) error {
	if c.Images == nil {
		return echo.NewHTTPError(http.StatusNotFound, "remote images cannot be shown: no image proxy is configured")
	}
	p, err := c.page(ctx, "Inbox")
	if err != nil {
		return c.fail(ctx, err)
	}
	m, err := c.store.MessageByID(ctx.Request().Context(), ctx.Param("msg"))
	if err != nil {
		return c.fail(ctx, err)
	}
	if m.ConversationID != ctx.Param("id") {
		// The message is named through its conversation; another conversation's id is not a way in.
		return c.fail(ctx, inbox.ErrNotFound)
	}
	m.HTML = proxyImages(m.HTML, c.Images.URL)
	m.Meta = maps.Clone(m.Meta)
	if m.Meta == nil {
		m.Meta = map[string]string{}
	}
	m.Meta[templates.MetaImagesShown] = "1"
	return render(ctx, http.StatusOK, templates.MessageContent(p.Viewer, m))
}

// proxyImages gives each img its remote address back as src, through the proxy. The HTML is
// sanitised again when it is shown, like every email body.
func proxyImages(s string, proxy func(string) string) string {
	z := html.NewTokenizer(strings.NewReader(s))
	var b strings.Builder
	b.Grow(len(s) + 256)
	for {
		tt := z.Next()
		if tt == html.ErrorToken {
			return b.String()
		}
		if tt != html.StartTagToken && tt != html.SelfClosingTagToken {
			b.Write(z.Raw())
			continue
		}
		t := z.Token()
		if t.DataAtom != atom.Img {
			b.Write(z.Raw())
			continue
		}
		attrs := t.Attr[:0:0]
		for _, a := range t.Attr {
			if a.Key == "data-remote-src" {
				if u := proxy(a.Val); u != "" {
					attrs = append(attrs, html.Attribute{Key: "src", Val: u})
				}
				continue
			}
			attrs = append(attrs, a)
		}
		t.Attr = attrs
		b.WriteString(t.String())
	}
}
