package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/serambi/serambi/cmd/serambi/instance"
	"github.com/serambi/serambi/demo"
)

// demoCommand runs `serambi demo`: Serambi with a seeded shop, demo logins, every channel wired to
// a local stand-in, and simulated customers writing in, until ctx is done (Ctrl-C).
func demoCommand(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	dir := fs.String("dir", "./demo-data", "directory for the demo's store, mailbox and secrets")
	listen := fs.String("listen", "127.0.0.1:8080", "address of the console")
	noSim := fs.Bool("no-simulation", false, "do not simulate customers")
	reset := fs.Bool("reset", false, "delete the demo directory first and seed a fresh shop")
	interval := fs.Duration("interval", 6*time.Second, "average time between simulated events")
	if err := fs.Parse(args); err != nil {
		return usageError{err.Error()}
	}
	if fs.NArg() > 0 {
		return usageError{"demo takes only flags"}
	}
	if *interval < 100*time.Millisecond {
		return usageError{"--interval must be at least 100ms"}
	}
	fmt.Fprintln(stdout, "Starting the Serambi demo…")
	instance.TuneScheduler(getenv, false, slog.New(slog.DiscardHandler)) // the demo always runs on SQLite
	d, err := demo.Start(ctx, demo.Options{Dir: *dir, Listen: *listen, Simulate: !*noSim, Interval: *interval,
		Reset: *reset, Getenv: getenv, Stderr: stderr})
	if err != nil {
		return err
	}
	printBanner(stdout, d, !*noSim)
	var serveErr error
	select {
	case <-ctx.Done():
		fmt.Fprintln(stdout, "\nStopping the demo…")
	case serveErr = <-d.Instance.Err():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
	defer cancel()
	if err := d.Shutdown(sctx); err != nil {
		return err
	}
	return serveErr
}

func printBanner(w io.Writer, d *demo.Demo, simulating bool) {
	seeded := "the shop from the last run (--reset seeds a fresh one)"
	if d.Seeded {
		seeded = fmt.Sprintf("a fresh shop (seeded in %s)", d.SeedTook.Round(10*time.Millisecond))
	}
	fmt.Fprintf(w, "\nSerambi demo ready in %s with %s: %d products, %d customers, %d orders.\n\n",
		d.StartTook.Round(10*time.Millisecond), seeded, len(d.World.Products), len(d.World.Customers), len(d.World.OrderIDs))
	fmt.Fprintf(w, "  Console          %s/\n", d.BaseURL)
	fmt.Fprintf(w, "  Shop with chat   %s/widget/demo   (chat as a new visitor)\n", d.BaseURL)
	if link, name, ok := d.KnownVisitorLink(); ok {
		fmt.Fprintf(w, "  …as a customer   %s\n                   (signed in as %s: the chat joins their timeline)\n", link, name)
	}
	fmt.Fprintln(w, "\n  Logins (password)")
	for _, l := range demo.Logins() {
		fmt.Fprintf(w, "    %-6s %-24s %s   %s, extension %s\n", l.Role, l.Email, l.Password, l.Name, l.Extension)
	}
	if simulating {
		fmt.Fprintln(w, "\nSimulated customers write in every few seconds over email, chat, Telegram, WhatsApp and phone;")
		fmt.Fprintln(w, "carts change through signed Shopify webhooks, orders move on through the commerce API.\n(--no-simulation turns this off.)")
	}
	fmt.Fprintln(w, "Press Ctrl-C to stop.")
	fmt.Fprintln(w)
}
