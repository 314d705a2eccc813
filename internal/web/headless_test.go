package web_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// headless is a headless Chromium with the problem recorder installed in
// every page, and the few actions the browser tests take.
type headless struct {
	t     *testing.T
	ctx   context.Context
	shots string // EnvScreenshots: where shot saves, or "" for nowhere
}

// requireChromium returns the browser to drive, skipping the test in
// -short mode or when none is installed.
func requireChromium(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("browser test skipped in -short mode")
	}
	chromium := chromiumPath()
	if chromium == "" {
		t.Skip("browser test skipped: no chromium, chromium-browser or google-chrome in PATH")
	}
	return chromium
}

// newHeadless starts Chromium; the test's cleanup stops it.
func newHeadless(t *testing.T, chromium string, width, height int) *headless {
	t.Helper()
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chromium), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.WindowSize(width, height), chromedp.UserDataDir(t.TempDir()))
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil { // starts the browser
		t.Fatalf("start chromium: %v", err)
	}
	if _, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: problemRecorder}); err != nil {
		t.Fatal(err)
	}
	shots := os.Getenv(EnvScreenshots)
	if shots != "" && !filepath.IsAbs(shots) {
		shots = filepath.Join("..", "..", shots) // relative to the repository root
	}
	return &headless{t: t, ctx: ctx, shots: shots}
}

// step runs actions, failing the test after 20 s.
func (b *headless) step(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	sctx, scancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer scancel()
	if err := chromedp.Do(sctx, actions...); err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
}

// eval evaluates a JavaScript expression that yields a string.
func (b *headless) eval(expr string) string {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](expr))
	if err != nil {
		b.t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// text is the text content of the first element matching a CSS selector.
func (b *headless) text(selector string) string {
	b.t.Helper()
	sel, _ := json.Marshal(selector)
	return b.eval(`(function () { var el = document.querySelector(` + string(sel) + `); return el ? el.textContent.trim() : "(no " + ` + string(sel) + ` + ")"; })()`)
}

// waitFor polls a JavaScript predicate for up to 10 s.
func (b *headless) waitFor(what, predicate string) {
	b.t.Helper()
	sctx, scancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer scancel()
	if _, err := chromedp.Run(sctx, chromedp.Poll[bool](predicate, chromedp.WithPollingInterval(50*time.Millisecond))); err != nil {
		b.t.Fatalf("waiting for %s (%s): %v", what, predicate, err)
	}
}

// waitForPage is waitFor across a page load, which ends the polling
// script's context: it retries until the new page satisfies predicate.
func (b *headless) waitForPage(what, predicate string) {
	b.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ok, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool](`document.readyState === "complete" && (`+predicate+`)`))
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("waiting for %s (%s): last result %v, %v", what, predicate, ok, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// noScroll fails the test if the page scrolls sideways at the window's width.
func (b *headless) noScroll(where string) {
	b.t.Helper()
	if got := b.eval(`String(document.documentElement.scrollWidth <= window.innerWidth)`); got != "true" {
		b.t.Errorf("%s scrolls sideways at %s px", where, b.eval(`String(window.innerWidth)`))
	}
}

// noProblems fails the test if the page reported a CSP violation or an error.
func (b *headless) noProblems(where string) {
	b.t.Helper()
	if p := b.eval(`JSON.stringify(window.__problems || [])`); p != "[]" {
		b.t.Errorf("%s: browser reported %s", where, p)
	}
}

// shot saves a screenshot of the viewport as name.png when screenshots
// are asked for.
func (b *headless) shot(name string) {
	b.t.Helper()
	if b.shots == "" {
		return
	}
	buf, err := chromedp.Run(b.ctx, chromedp.CaptureScreenshot())
	if err != nil {
		b.t.Fatalf("screenshot: %v", err)
	}
	if err := os.WriteFile(filepath.Join(b.shots, name+".png"), buf, 0o644); err != nil {
		b.t.Fatal(err)
	}
}
