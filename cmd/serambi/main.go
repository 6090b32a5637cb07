// Command serambi is the whole of Serambi in one binary.
//
//	serambi [serve]                  run the server (the default)
//	serambi demo [flags]             run a seeded demo shop with simulated customers
//	serambi apikey create --name N   create a REST API key and print it once
//	serambi admin create --email E --name N --password P   create an admin account
//	serambi backup --to DIR          copy the SQLite database and attachments while running
//	serambi version                  print the version
//
// Configuration comes from SERAMBI_* environment variables: see docs/CONFIG.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/serambi/serambi/agents"
	"github.com/serambi/serambi/cmd/serambi/instance"
	"github.com/serambi/serambi/config"
	"github.com/serambi/serambi/database/sqlite"
)

// version is set at build time with -ldflags "-X main.version=v1.2.3".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "serambi:", err)
		var u usageError
		if errors.As(err, &u) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg + "\n" + usage }

const usage = `usage:
  serambi [serve]                      run the server (default)
  serambi demo [--dir ./demo-data] [--listen 127.0.0.1:8080] [--no-simulation] [--reset] [--interval 6s]
                                       run a demo shop: seeded data, demo logins, simulated customers
  serambi apikey create --name NAME    create a REST API key; the key is printed once
  serambi admin create --email E --name N --password P|-
                                       create an admin account (- reads the password from stdin)
  serambi backup --to DIR              copy the embedded database (one consistent snapshot) and the
                                       attachments into DIR while Serambi runs
  serambi version                      print the version
Configuration: SERAMBI_* environment variables (docs/CONFIG.md).`

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cmd := "serve"
	if len(args) > 0 {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "version", "--version", "-v":
		fmt.Fprintln(stdout, "serambi", buildVersion())
		return nil
	case "help", "--help", "-h":
		fmt.Fprintln(stdout, usage)
		return nil
	case "demo":
		// The demo makes its own configuration: the environment with its channels over it.
		return demoCommand(ctx, args, getenv, stdout, stderr)
	}
	cfg, err := config.Load(getenv)
	if err != nil {
		return fmt.Errorf("configuration:\n%w", err)
	}
	log := cfg.Logger(stderr)
	switch cmd {
	case "serve":
		if len(args) > 0 {
			return usageError{"serve takes no arguments"}
		}
		instance.TuneScheduler(getenv, cfg.MongoDBURI != "", log)
		return instance.Run(ctx, cfg, log)
	case "apikey":
		return apikey(ctx, cfg, log, args, stdout, stderr)
	case "admin":
		return admin(ctx, cfg, log, args, stdout)
	case "backup":
		return backup(ctx, cfg, args, stdout)
	}
	return usageError{fmt.Sprintf("unknown command %q", cmd)}
}

// apikey creates a key. Only the key goes to stdout, so a script can capture it; what it is goes
// to stderr.
func apikey(ctx context.Context, cfg config.Config, log *slog.Logger, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "create" {
		return usageError{"apikey needs a subcommand: create"}
	}
	fs := flag.NewFlagSet("apikey create", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	name := fs.String("name", "", "what the key is for")
	if err := fs.Parse(args[1:]); err != nil {
		return usageError{err.Error()}
	}
	if *name == "" || fs.NArg() > 0 {
		return usageError{"apikey create needs --name NAME and nothing else"}
	}
	storage, err := instance.OpenStorage(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer storage.Close(context.WithoutCancel(ctx))
	key, secret, err := agents.NewAPIKeys(storage.Store, time.Now).Create(ctx, *name)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, secret)
	fmt.Fprintf(stderr, "created API key %s (%q); it is shown only this once\n", key.ID, key.Name)
	return nil
}

// admin creates an admin account, for the first login or when every admin is locked out.
func admin(ctx context.Context, cfg config.Config, log *slog.Logger, args []string, stdout io.Writer) error {
	if len(args) == 0 || args[0] != "create" {
		return usageError{"admin needs a subcommand: create"}
	}
	storage, err := instance.OpenStorage(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer storage.Close(context.WithoutCancel(ctx))
	accounts, err := agents.New(storage.Store, agents.DefaultConfig(), time.Now, log)
	if err != nil {
		return err
	}
	return agents.AdminCreateCommand(ctx, accounts, args[1:], os.Stdin, stdout)
}

// backup copies the SQLite store and its attachments into a directory. The database file is new
// each time (a snapshot); the attachments folder may be reused, and then only new files are copied.
func backup(ctx context.Context, cfg config.Config, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("backup", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	to := fs.String("to", "", "directory to write serambi.db and attachments/ into")
	if err := fs.Parse(args); err != nil {
		return usageError{err.Error()}
	}
	if *to == "" || fs.NArg() > 0 {
		return usageError{"backup needs --to DIR and nothing else"}
	}
	if cfg.MongoDBURI != "" {
		return errors.New("backup copies the embedded SQLite store; with SERAMBI_MONGODB_URI use mongodump or your provider's snapshots (docs/OPERATIONS.md)")
	}
	if err := os.MkdirAll(*to, 0o700); err != nil {
		return fmt.Errorf("backup: create %s: %w", *to, err)
	}
	start := time.Now()
	dbCopy := filepath.Join(*to, "serambi.db")
	if err := sqlite.Backup(ctx, cfg.StorePath(), dbCopy); err != nil {
		return err
	}
	blobs, err := sqlite.NewBlobs(cfg.AttachmentsDir())
	if err != nil {
		return err
	}
	n, err := blobs.CopyTo(ctx, filepath.Join(*to, "attachments"))
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "backed up %s and %d new attachment files into %s in %s\n", cfg.StorePath(), n, *to, time.Since(start).Round(time.Millisecond))
	return nil
}

func buildVersion() string {
	if version != "dev" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return version
}
