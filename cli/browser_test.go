package cli

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"
)

// chromium is Debian's browser, which scripts/test.sh installs.
const chromium = "/usr/bin/chromium"

// browser is the one headless chromium of the test binary, started by the
// first test that needs it and stopped by TestMain.
var browser struct {
	once   sync.Once
	ctx    context.Context
	cancel context.CancelFunc
	dir    string
	err    error
}

func startBrowser() {
	if _, err := os.Stat(chromium); err != nil {
		browser.err = fmt.Errorf("%s not found: scripts/test.sh installs it (apt-get install chromium): %w", chromium, err)
		return
	}
	if browser.dir, browser.err = os.MkdirTemp("", "troupe-chromium-"); browser.err != nil {
		return
	}
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chromium), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true), chromedp.UserDataDir(browser.dir), chromedp.WindowSize(1280, 800))
	ctx, cancel := chromedp.NewContext(alloc)
	browser.ctx = ctx
	browser.cancel = func() { cancel(); cancelAlloc() }
	browser.err = chromedp.Do(ctx) // starts the browser
}

// stopBrowser stops the browser if a test started it.
func stopBrowser() {
	if browser.cancel != nil {
		browser.cancel()
		_ = os.RemoveAll(browser.dir)
	}
}

// newTab opens a tab of the shared browser, closed at the end of the test;
// private gives it cookies of its own (a browser context of its own).
func newTab(t *testing.T, private bool) context.Context {
	t.Helper()
	browser.once.Do(startBrowser)
	require.NoError(t, browser.err, "start headless chromium")
	var opts []chromedp.ContextOption
	if private {
		opts = append(opts, chromedp.WithNewBrowserContext())
	}
	ctx, cancel := chromedp.NewContext(browser.ctx, opts...)
	t.Cleanup(cancel)
	require.NoError(t, chromedp.Do(ctx))
	ctx, cancelTimeout := context.WithTimeout(ctx, 3*time.Minute)
	t.Cleanup(cancelTimeout)
	return ctx
}

// artifacts is where the browser tests save their screenshots:
// $TROUPE_TEST_ARTIFACTS, else a folder under the test's temp dir.
func artifacts(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("TROUPE_TEST_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join(t.TempDir(), "artifacts")
	}
	require.NoError(t, os.MkdirAll(dir, 0o755))
	t.Logf("screenshots in %s", dir)
	return dir
}

// screenshot saves the whole page of the tab as dir/name.png, width px wide.
func screenshot(t *testing.T, ctx context.Context, dir, name string, width int64) {
	t.Helper()
	require.NoError(t, chromedp.Do(ctx, chromedp.EmulateViewport(width, 800)))
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644))
}

// text returns the text of the first element matching sel, once visible.
func text(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	require.NoError(t, err, "text of %s", sel)
	return strings.TrimSpace(s)
}

// waitText waits until the first element matching sel holds want.
func waitText(t *testing.T, ctx context.Context, sel, want string) {
	t.Helper()
	js := fmt.Sprintf(`(document.querySelector(%q)?.textContent ?? "").includes(%q)`, sel, want)
	_, err := chromedp.Run(ctx, chromedp.Poll[bool](js, chromedp.WithPollingTimeout(time.Minute), chromedp.WithPollingInterval(100*time.Millisecond)))
	require.NoError(t, err, "%s never showed %q", sel, want)
}

// waitLive waits until the page's live stream (htmx's SSE extension) is
// open: the server has subscribed by then.
func waitLive(t *testing.T, ctx context.Context) {
	t.Helper()
	js := `document.querySelector("[sse-connect]")?.["htmx-internal-data"]?.sseEventSource?.readyState === 1`
	_, err := chromedp.Run(ctx, chromedp.Poll[bool](js, chromedp.WithPollingTimeout(30*time.Second), chromedp.WithPollingInterval(50*time.Millisecond)))
	require.NoError(t, err, "the page's live stream never opened")
}
