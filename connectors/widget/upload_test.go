package widget_test

import (
	"bytes"
	"context"
	"encoding/json"
	"image"
	"image/color"
	"image/png"
	"io"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"

	"github.com/serambi/serambi/connectors/widget"
)

func pngBytes(t *testing.T) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 4, 4))
	img.Set(1, 1, color.RGBA{R: 200, A: 255})
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

type uploadResult struct {
	status int
	header http.Header
	body   map[string]any
}

// upload posts a multipart form whose parts are written in the given order.
func (e *env) upload(t *testing.T, origin string, parts [][2]string, fileName string) uploadResult {
	t.Helper()
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	for _, p := range parts {
		if p[0] == "file" {
			w, err := mw.CreateFormFile("file", fileName)
			if err != nil {
				t.Fatal(err)
			}
			io.WriteString(w, p[1])
			continue
		}
		mw.WriteField(p[0], p[1])
	}
	mw.Close()
	req, _ := http.NewRequest(http.MethodPost, "http://"+e.addr+"/widget/upload?inbox=shop", &b)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out := uploadResult{status: resp.StatusCode, header: resp.Header, body: map[string]any{}}
	raw, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(raw, &out.body)
	return out
}

func TestUploadsAttachToMessages(t *testing.T) {
	e := newEnv(t, withConfig(func(c *widget.Config) { c.MaxUploadBytes = 4 << 10 }))
	c := e.connect(nil)
	img := string(pngBytes(t))

	up := e.upload(t, shopOrigin, [][2]string{{"token", c.token}, {"file", img}}, `..\..\foto "ukuran".png`)
	if up.status != http.StatusOK || up.body["type"] != "image/png" || up.body["name"] != `foto ukuran.png` || up.body["sig"] == "" {
		t.Fatalf("upload = %d %v", up.status, up.body)
	}
	if got := up.header.Get("Access-Control-Allow-Origin"); got != shopOrigin {
		t.Fatalf("CORS header = %q; the shop's page must be able to read the answer", got)
	}
	c.send(map[string]any{"t": "msg", "cid": cid(1), "text": "Ini fotonya", "att": []any{up.body}})
	ack := c.ackOrError(cid(1))
	if ack.T != "ack" || len(ack.Msg.Att) != 1 || ack.Msg.Att[0].URL == "" || ack.Msg.Att[0].Type != "image/png" {
		t.Fatalf("answer = %+v", ack)
	}
	m := e.message(ack.Msg.ID)
	if len(m.Attachments) != 1 || m.Attachments[0].SHA256 != up.body["sha"] || m.Attachments[0].Size != int64(len(img)) {
		t.Fatalf("stored attachments = %+v", m.Attachments)
	}
	rc, err := e.blobs.Open(context.Background(), m.Attachments[0].SHA256)
	if err != nil {
		t.Fatal(err)
	}
	stored, _ := io.ReadAll(rc)
	rc.Close()
	if string(stored) != img {
		t.Fatal("stored bytes differ from the upload")
	}

	// Another visitor cannot attach it: the receipt is bound to the uploader.
	other := e.connect(nil)
	other.send(map[string]any{"t": "msg", "cid": cid(2), "text": "punya orang", "att": []any{up.body}})
	if f := other.ackOrError(cid(2)); f.Code != "bad_attachment" {
		t.Fatalf("someone else's upload attached: %+v", f)
	}
	// Nor can the uploader change what the receipt says.
	changed := map[string]any{}
	for k, v := range up.body {
		changed[k] = v
	}
	changed["type"] = "text/html"
	c.send(map[string]any{"t": "msg", "cid": cid(3), "text": "x", "att": []any{changed}})
	if f := c.ackOrError(cid(3)); f.Code != "bad_attachment" {
		t.Fatalf("a receipt with a changed type was accepted: %+v", f)
	}

	tests := []struct {
		name   string
		origin string
		parts  [][2]string
		want   int
		code   string
	}{
		{"HTML is refused whatever its name", shopOrigin, [][2]string{{"token", c.token}, {"file", "<html><script>alert(1)</script></html>"}}, http.StatusUnsupportedMediaType, "bad_type"},
		{"SVG is refused", shopOrigin, [][2]string{{"token", c.token}, {"file", `<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>`}}, http.StatusUnsupportedMediaType, "bad_type"},
		{"too large", shopOrigin, [][2]string{{"token", c.token}, {"file", "%PDF-1.4\n" + strings.Repeat("x", 5<<10)}}, http.StatusRequestEntityTooLarge, "too_large"},
		{"empty", shopOrigin, [][2]string{{"token", c.token}, {"file", ""}}, http.StatusBadRequest, "empty"},
		{"no token", shopOrigin, [][2]string{{"file", img}}, http.StatusBadRequest, "bad_frame"},
		{"made-up token", shopOrigin, [][2]string{{"token", "abc"}, {"file", img}}, http.StatusForbidden, "bad_token"},
		{"another site", "https://evil.example", [][2]string{{"token", c.token}, {"file", img}}, http.StatusForbidden, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := e.upload(t, tt.origin, tt.parts, "x.png")
			if got.status != tt.want || (tt.code != "" && got.body["code"] != tt.code) {
				t.Fatalf("upload = %d %v; want %d %s", got.status, got.body, tt.want, tt.code)
			}
		})
	}
	// Plain text and PDF are fine.
	if got := e.upload(t, shopOrigin, [][2]string{{"token", c.token}, {"file", "Nomor pesanan 1042\n"}}, "catatan.txt"); got.status != http.StatusOK {
		t.Fatalf("text upload = %d %v", got.status, got.body)
	}

	// The browser's preflight (if it sends one) is answered for allowed origins only.
	req, _ := http.NewRequest(http.MethodOptions, "http://"+e.addr+"/widget/upload?inbox=shop", nil)
	req.Header.Set("Origin", shopOrigin)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent || resp.Header.Get("Access-Control-Allow-Origin") != shopOrigin {
		t.Fatalf("preflight = %d %v", resp.StatusCode, resp.Header)
	}
}

func TestUploadsCanBeTurnedOff(t *testing.T) {
	e := newEnv(t)
	if err := e.conn.Settings().Put(context.Background(), widget.Settings{ID: "shop", AllowedOrigins: []string{shopOrigin},
		Source: widget.SourceConsole, Uploads: false}); err != nil {
		t.Fatal(err)
	}
	c := e.connect(nil)
	if w := c.waitFor("welcome", func(f frame) bool { return f.T == "welcome" }); w.Settings.Uploads {
		t.Fatal("welcome offers uploads that are off")
	}
	if got := e.upload(t, shopOrigin, [][2]string{{"token", c.token}, {"file", string(pngBytes(t))}}, "a.png"); got.status != http.StatusForbidden {
		t.Fatalf("upload with uploads off = %d", got.status)
	}
}
