package widget_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/serambi/serambi/connectors/widget"
	"github.com/serambi/serambi/database/sqlite"
	"github.com/serambi/serambi/inbox"
)

func openStore(t *testing.T) *sqlite.Store {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "s.db"), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func TestSettingsStore(t *testing.T) {
	ctx := context.Background()
	st := widget.NewSettingsStore(openStore(t), nil)
	if _, err := st.Get(ctx, "shop"); !errors.Is(err, inbox.ErrNotFound) {
		t.Fatalf("Get of a missing inbox = %v; want ErrNotFound", err)
	}
	if list, err := st.List(ctx); err != nil || len(list) != 0 {
		t.Fatalf("List of nothing = %v, %v", list, err)
	}
	a := widget.Settings{ID: "shop", Name: "Toko Sekar", Color: "#9A3412", AllowedOrigins: []string{"https://shop.example"},
		JWTSecret: jwtSecret, Source: widget.SourceConsole,
		PreChat: widget.PreChat{Enabled: true, AskEmail: true, Fields: []widget.Field{{Key: "order", LabelEN: "Order", LabelID: "Pesanan"}}}}
	if err := st.Put(ctx, a); err != nil {
		t.Fatal(err)
	}
	if err := st.Put(ctx, widget.Settings{ID: "blog", Source: widget.SourceConsole}); err != nil {
		t.Fatal(err)
	}
	got, err := st.Get(ctx, "shop")
	if err != nil {
		t.Fatal(err)
	}
	if got.JWTSecret.Reveal() != jwtSecret.Reveal() || got.Color != "#9a3412" || got.Position != "right" || got.PreChat.Fields[0].LabelID != "Pesanan" {
		t.Fatalf("stored settings = %+v", got)
	}
	// The settings' own JSON (what the console would render or log) never carries the secret.
	raw, _ := json.Marshal(got)
	if strings.Contains(string(raw), jwtSecret.Reveal()) || !strings.Contains(string(raw), `"jwtSecret":"[redacted]"`) {
		t.Fatalf("settings JSON = %s; want the secret redacted", raw)
	}
	if s := fmt.Sprintf("%v %+v %#v", got, got, got); strings.Contains(s, jwtSecret.Reveal()) {
		t.Fatal("the secret prints")
	}
	list, err := st.List(ctx)
	if err != nil || len(list) != 2 || list[0].ID != "shop" || list[1].ID != "blog" {
		t.Fatalf("List = %+v, %v; want shop then blog", list, err)
	}
	if err := st.Put(ctx, a); err != nil { // a second save does not list it twice
		t.Fatal(err)
	}
	if err := st.Delete(ctx, "blog"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Get(ctx, "blog"); !errors.Is(err, inbox.ErrNotFound) {
		t.Fatalf("Get after Delete = %v", err)
	}
	if list, _ := st.List(ctx); len(list) != 1 {
		t.Fatalf("List after Delete = %+v", list)
	}
	bad := a
	bad.Color = "red"
	if err := st.Put(ctx, bad); !errors.Is(err, inbox.ErrInvalid) {
		t.Fatalf("Put of invalid settings = %v; want ErrInvalid", err)
	}
}

func TestSeedFollowsTheEnvironmentUntilTheConsoleSaves(t *testing.T) {
	ctx := context.Background()
	st := widget.NewSettingsStore(openStore(t), func() time.Time { return time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC) })
	env := widget.Settings{ID: "default", Name: "Env Name", Source: widget.SourceEnv}
	if err := st.Seed(ctx, env); err != nil {
		t.Fatal(err)
	}
	env.Name = "Env Name 2"
	if err := st.Seed(ctx, env); err != nil {
		t.Fatal(err)
	}
	if got, _ := st.Get(ctx, "default"); got.Name != "Env Name 2" {
		t.Fatalf("after a second seed name = %q; want the environment's latest", got.Name)
	}
	edited, _ := st.Get(ctx, "default")
	edited.Name, edited.Source = "Console Name", widget.SourceConsole
	if err := st.Put(ctx, edited); err != nil {
		t.Fatal(err)
	}
	env.Name = "Env Name 3"
	if err := st.Seed(ctx, env); err != nil {
		t.Fatal(err)
	}
	if got, _ := st.Get(ctx, "default"); got.Name != "Console Name" {
		t.Fatalf("after the console saved, seeding changed the name to %q", got.Name)
	}
}

func TestSettingsValidation(t *testing.T) {
	valid := widget.Settings{ID: "shop", Source: widget.SourceConsole}.WithDefaults()
	tests := []struct {
		name   string
		change func(*widget.Settings)
		want   string // part of the error; "" means valid
	}{
		{"defaults", func(*widget.Settings) {}, ""},
		{"left and Indonesian", func(s *widget.Settings) { s.Position, s.Language = "left", "id" }, ""},
		{"origins", func(s *widget.Settings) {
			s.AllowedOrigins = []string{"https://shop.example", "http://localhost:3000", "*"}
		}, ""},
		{"id with capitals", func(s *widget.Settings) { s.ID = "Shop" }, "id"},
		{"id with a slash", func(s *widget.Settings) { s.ID = "a/b" }, "id"},
		{"colour name", func(s *widget.Settings) { s.Color = "teal" }, "color"},
		{"position", func(s *widget.Settings) { s.Position = "top" }, "position"},
		{"language", func(s *widget.Settings) { s.Language = "fr" }, "language"},
		{"origin with a path", func(s *widget.Settings) { s.AllowedOrigins = []string{"https://shop.example/toko"} }, "origin"},
		{"origin without scheme", func(s *widget.Settings) { s.AllowedOrigins = []string{"shop.example"} }, "origin"},
		{"short JWT secret", func(s *widget.Settings) { s.JWTSecret = "short" }, "at least 32 bytes"},
		{"long greeting", func(s *widget.Settings) { s.GreetingID = strings.Repeat("a", 501) }, "greeting"},
		{"duplicate field", func(s *widget.Settings) {
			s.PreChat.Fields = []widget.Field{{Key: "a", LabelEN: "A"}, {Key: "a", LabelEN: "B"}}
		}, "unique"},
		{"field without label", func(s *widget.Settings) { s.PreChat.Fields = []widget.Field{{Key: "a"}} }, "label"},
		{"unknown source", func(s *widget.Settings) { s.Source = "api" }, "source"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := valid
			s.AllowedOrigins = nil
			s.PreChat.Fields = nil
			tt.change(&s)
			err := s.Validate()
			if tt.want == "" && err != nil {
				t.Fatalf("Validate = %v; want valid", err)
			}
			if tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
				t.Fatalf("Validate = %v; want an error about %q", err, tt.want)
			}
		})
	}
}
