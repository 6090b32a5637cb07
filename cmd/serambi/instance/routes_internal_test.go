package instance

import (
	"context"
	"log/slog"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/serambi/serambi/config"
)

// Every /api/v1 route of a running Serambi, the ones parts register beside the web package's
// own (commerce ingestion) included, is in docs/openapi.yaml with its method. Parameter names
// may differ between the router and the document ({id} and {sku}), so they are compared as
// placeholders.
func TestOpenAPIListsEveryRouteOfTheRunningServer(t *testing.T) {
	vars := map[string]string{"SERAMBI_LISTEN": "127.0.0.1:0", "SERAMBI_DATA_DIR": t.TempDir(), "SERAMBI_LOG_LEVEL": "error"}
	cfg, err := config.Load(func(k string) string { return vars[k] })
	if err != nil {
		t.Fatal(err)
	}
	in, err := Start(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = in.Shutdown(ctx)
	})
	spec, err := os.ReadFile("../../../docs/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	param := regexp.MustCompile(`\{\w+\}`)
	documented := map[string]string{} // path with {} placeholders → the block of its methods
	blocks := regexp.MustCompile(`(?m)^  (/\S*):\n((?:    .*\n|      .*\n|\s*\n)*)`).FindAllSubmatch(spec, -1)
	for _, b := range blocks {
		documented[param.ReplaceAllString(string(b[1]), "{}")] = string(b[2])
	}
	e := in.http.Handler.(*echo.Echo)
	checked := 0
	for _, r := range e.Routes() {
		if !strings.HasPrefix(r.Path, "/api/v1/") || r.Method == echo.RouteNotFound || strings.HasSuffix(r.Path, "/*") {
			continue
		}
		p := regexp.MustCompile(`:\w+`).ReplaceAllString(r.Path, "{}")
		block, ok := documented[p]
		if !ok {
			t.Errorf("docs/openapi.yaml has no path like %s", r.Path)
			continue
		}
		if !regexp.MustCompile(`(?m)^    ` + strings.ToLower(r.Method) + `:`).MatchString(block) {
			t.Errorf("docs/openapi.yaml has no %s for %s", r.Method, r.Path)
		}
		checked++
	}
	if checked < 12 {
		t.Fatalf("checked %d /api/v1 routes; the server registers more, so the walk is broken", checked)
	}
}
