package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

func TestSecretNeverShowsItsValue(t *testing.T) {
	const value = "123456:AAH-very-secret"
	s := Secret(value)
	var logged bytes.Buffer
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("config", "token", s)
	js, _ := json.Marshal(struct{ Token Secret }{s})
	for name, out := range map[string]string{
		"%v": fmt.Sprintf("%v", s), "%s": fmt.Sprintf("%s", s), "%+v": fmt.Sprintf("%+v", struct{ T Secret }{s}),
		"%#v": fmt.Sprintf("%#v", s), "slog": logged.String(), "json": string(js),
	} {
		if strings.Contains(out, value) || !strings.Contains(out, "[redacted]") {
			t.Errorf("%s shows %q; want [redacted] and never the value", name, out)
		}
	}
	if s.Reveal() != value {
		t.Errorf("Reveal() = %q, want the value", s.Reveal())
	}
	if Secret("").String() != "" {
		t.Error("an unset secret should print empty, so that admins see it is unset")
	}
}
