// Package browsertest drives Debian's chromium headless (through chromedp) for the browser
// tests of the console, the widget and the demo: one browser per test, tabs in browser contexts
// of their own, and waiting on conditions in the page.
package browsertest

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Chromium is where Debian installs the browser (scripts/test-deps).
const Chromium = "/usr/bin/chromium"

// Browser is one chromium process for one test.
type Browser struct {
	t    testing.TB
	root context.Context
}

// New starts chromium for t, with flags added to the common ones (e.g. the language). Without
// chromium the test is skipped, or fails when SERAMBI_REQUIRE_PEERS=1 (CI), so that a machine
// missing the browser cannot pass the browser tests by skipping them.
func New(t testing.TB, flags ...chromedp.ExecAllocatorOption) *Browser {
	t.Helper()
	if _, err := os.Stat(Chromium); err != nil {
		if os.Getenv("SERAMBI_REQUIRE_PEERS") == "1" {
			t.Fatal("chromium is not installed, and SERAMBI_REQUIRE_PEERS=1 (scripts/test-deps installs it): ", err)
		}
		t.Skip("chromium is not installed (scripts/test-deps installs it): ", err)
	}
	opts := append([]chromedp.ExecAllocatorOption{
		chromedp.ExecPath(Chromium),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-features", "Translate,MediaRouter"),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1440, 900),
	}, flags...)
	alloc, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	// The first context starts the browser; tabs get browser contexts of their own from it.
	root, cancelRoot := chromedp.NewContext(alloc)
	t.Cleanup(cancelRoot)
	if err := chromedp.Do(root); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return &Browser{t: t, root: root}
}

// Tab opens a tab in a browser context of its own: its own cookies and storage, as another
// person's computer.
func (b *Browser) Tab() context.Context {
	b.t.Helper()
	ctx, cancel := chromedp.NewContext(b.root, chromedp.WithNewBrowserContext())
	b.t.Cleanup(cancel)
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1440, 900)); err != nil {
		b.t.Fatal(err)
	}
	return ctx
}

// Do runs steps in the tab, failing the test on an error or after 20 seconds.
func Do(t testing.TB, ctx context.Context, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(c, steps...); err != nil {
		t.Fatal(err)
	}
}

// Until polls a JavaScript condition in the page for up to 20 seconds. Errors (the page
// navigating, an element not there yet, an exception) count as "not yet"; on time-out the test
// fails with the page's text.
func Until(t testing.TB, ctx context.Context, what, js string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	var lastErr error
	for time.Now().Before(deadline) {
		c, cancel := context.WithTimeout(ctx, 2*time.Second)
		ok, err := chromedp.Run(c, chromedp.Evaluate[bool]("(() => { try { return !!("+js+") } catch (e) { return false } })()"))
		cancel()
		if err == nil && ok {
			return
		}
		lastErr = err
		time.Sleep(50 * time.Millisecond)
	}
	body, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText.slice(0, 2000) : ""`))
	t.Fatalf("waiting for %s (%s): last error %v\npage text:\n%s", what, js, lastErr, body)
}

// Eval evaluates js in the page and returns its value, failing the test on an error.
func Eval[T any](t testing.TB, ctx context.Context, js string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js))
	if err != nil {
		t.Fatalf("%s: %v", js, err)
	}
	return v
}
