package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
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
		{name: "backup without a directory", args: []string{"backup"}, wantErr: "--to DIR", wantUsage: true},
		{name: "backup of a MongoDB store points at mongodump", args: []string{"backup", "--to", "x"},
			env: map[string]string{"SERAMBI_MONGODB_URI": "mongodb://127.0.0.1:1"}, wantErr: "mongodump"},
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

// A backup is a database that opens on its own with what was stored, plus the attachments; a
// second backup into the same folder copies only new attachments.
func TestBackupCommand(t *testing.T) {
	ctx := context.Background()
	data := t.TempDir()
	env := map[string]string{"SERAMBI_DATA_DIR": data}
	getenv := func(k string) string { return env[k] }
	if err := run(ctx, []string{"apikey", "create", "--name", "shop"}, getenv, io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	cfg, _ := config.Load(getenv)
	st, err := instance.OpenStorage(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	sha, _, err := st.Blobs.Put(ctx, strings.NewReader("invoice"), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	st.Close(ctx) // a running server may hold it open too; Backup uses its own connection

	to := filepath.Join(t.TempDir(), "monday")
	var out bytes.Buffer
	if err := run(ctx, []string{"backup", "--to", to}, getenv, &out, io.Discard); err != nil {
		t.Fatalf("backup: %v", err)
	}
	if !strings.Contains(out.String(), "1 new attachment files") {
		t.Errorf("backup said %q", out.String())
	}
	if err := run(ctx, []string{"backup", "--to", to}, getenv, io.Discard, io.Discard); err == nil || !strings.Contains(err.Error(), "exists") {
		t.Errorf("a second backup over the first database: %v; want a refusal", err)
	}

	restored, err := instance.OpenStorage(ctx, config.Config{DataDir: to}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer restored.Close(ctx)
	keys, err := agents.NewAPIKeys(restored.Store, time.Now).List(ctx)
	if err != nil || len(keys) != 1 || keys[0].Name != "shop" {
		t.Errorf("the backup holds keys %+v (%v); want the one created", keys, err)
	}
	f, err := restored.Blobs.Open(ctx, sha)
	if err != nil {
		t.Fatalf("the attachment is not in the backup: %v", err)
	}
	b, _ := io.ReadAll(f)
	f.Close()
	if string(b) != "invoice" {
		t.Errorf("attachment reads %q", b)
	}
}
