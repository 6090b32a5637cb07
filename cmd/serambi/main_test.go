package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/serambi/serambi/agents"
	"github.com/serambi/serambi/cmd/serambi/instance"
	"github.com/serambi/serambi/config"
)

func TestRun(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		env        map[string]string
		wantErr    string
		wantUsage  bool
		wantStdout string
	}{
		{name: "version", args: []string{"version"}, wantStdout: "serambi dev"},
		{name: "help", args: []string{"help"}, wantStdout: "apikey create --name NAME"},
		{name: "unknown command", args: []string{"frobnicate"}, wantErr: `unknown command "frobnicate"`, wantUsage: true},
		{name: "serve with arguments", args: []string{"serve", "now"}, wantErr: "serve takes no arguments", wantUsage: true},
		{name: "bad configuration names the variable", args: []string{"serve"}, env: map[string]string{"SERAMBI_LOG_FORMAT": "xml"}, wantErr: "SERAMBI_LOG_FORMAT"},
		{name: "apikey without a subcommand", args: []string{"apikey"}, wantErr: "apikey needs a subcommand", wantUsage: true},
		{name: "apikey create without a name", args: []string{"apikey", "create"}, wantErr: "--name NAME", wantUsage: true},
		{name: "apikey create with a stray argument", args: []string{"apikey", "create", "--name", "x", "y"}, wantErr: "--name NAME", wantUsage: true},
		{name: "apikey create with an unknown flag", args: []string{"apikey", "create", "--nama", "x"}, wantErr: "nama", wantUsage: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout bytes.Buffer
			err := run(context.Background(), tt.args, func(k string) string { return tt.env[k] }, &stdout, io.Discard)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("run: %v", err)
				}
			} else if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("run error %v, want one saying %q", err, tt.wantErr)
			}
			var u usageError
			if errors.As(err, &u) != tt.wantUsage {
				t.Errorf("usage error: %v, want %v", !tt.wantUsage, tt.wantUsage)
			}
			if !strings.Contains(stdout.String(), tt.wantStdout) {
				t.Errorf("stdout %q, want it to contain %q", stdout.String(), tt.wantStdout)
			}
		})
	}
}

func TestAPIKeyCreatePrintsAWorkingKeyOnce(t *testing.T) {
	env := map[string]string{"SERAMBI_DATA_DIR": t.TempDir()}
	getenv := func(k string) string { return env[k] }
	var stdout, stderr bytes.Buffer
	if err := run(context.Background(), []string{"apikey", "create", "--name", "shop"}, getenv, &stdout, &stderr); err != nil {
		t.Fatalf("apikey create: %v\n%s", err, stderr.String())
	}
	key := strings.TrimSpace(stdout.String())
	if strings.Count(stdout.String(), "\n") != 1 || !strings.HasPrefix(key, agents.KeyPrefix) {
		t.Fatalf("stdout %q; want the key alone on one line", stdout.String())
	}
	if strings.Contains(stderr.String(), key) {
		t.Error("the key is repeated on stderr")
	}
	cfg, _ := config.Load(getenv)
	st, err := instance.OpenStorage(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close(context.Background())
	got, err := agents.NewAPIKeys(st.Store, time.Now).Verify(context.Background(), key)
	if err != nil || got.Name != "shop" {
		t.Errorf("Verify(printed key) = %+v, %v", got, err)
	}
}
