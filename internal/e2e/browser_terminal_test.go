package e2e

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"
)

// TestTerminalInBrowser opens the terminal of a real agent from its page
// in headless Chromium, types a command and sees its output, then sees the
// page say so when the agent goes away. The screenshot goes where
// STEWARD_WEB_SCREENSHOTS says (docs/screenshots/terminal.png).
func TestTerminalInBrowser(t *testing.T) {
	chromium := chromiumPath(t)
	if runtime.GOOS != "linux" {
		t.Skip("the terminal browser test runs the Linux agent")
	}
	f, agentID := terminalFleet(t)

	browser, do := startChromium(t, chromium, 1280, 800)
	// A row of the terminal's screen that holds s.
	row := func(s string) chromedp.Search {
		return chromedp.Search(`//div[contains(@class,"xterm-rows")]/div[contains(., "` + s + `")]`)
	}

	do("sign in",
		chromedp.Navigate(f.srv.URL+"/login"),
		chromedp.WaitVisible(chromedp.ID("password")),
		chromedp.SendKeys(chromedp.ID("email"), "owner@example.com"),
		chromedp.SendKeys(chromedp.ID("password"), "correct-horse-battery"),
		chromedp.Click(chromedp.CSS(`form[action="/login"] button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`form[action="/logout"]`)),
	)
	do("open the terminal from the agent page",
		chromedp.Navigate(f.srv.URL+"/agents/"+agentID),
		chromedp.Click(chromedp.ID("agent-action-terminal")),
		chromedp.WaitVisible(chromedp.Search(`//*[@id="terminal-status"][.="Connected"]`)),
		chromedp.WaitReady(chromedp.CSS(".xterm-helper-textarea")),
	)
	// The output differs from the command typed, so only the shell's
	// answer matches. The page focuses the terminal once connected. The
	// text goes in as typed text (CDP's synthetic key events reach xterm
	// twice for some characters), Enter as a key.
	typeText := func(s string) chromedp.Action[chromedp.Void] {
		return func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
			_, err := cdp.Call(ctx, t, input.InsertText, input.InsertTextParams{Text: s})
			return chromedp.Void{}, err
		}
	}
	do("type a command at the prompt and see its output",
		// A prompt: root's ends in "#", a user's in "$".
		chromedp.WaitVisible(chromedp.Search(`//div[contains(@class,"xterm-rows")]/div[contains(., "#") or contains(., "$")]`)),
		typeText("echo HELLO-$((40+2)); stty size"),
		chromedp.KeyEvent("\r", func(p *input.DispatchKeyEventParams) { p.Text = "" }),
		chromedp.WaitVisible(row("HELLO-42")),
	)
	ctx, cancel := context.WithTimeout(browser, 30*time.Second)
	defer cancel()
	screen, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(".xterm-rows")))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(screen, "HELLO-42") {
		t.Errorf("terminal screen %q lacks the command's output", screen)
	}

	shotDir := screenshotDir(t)
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	if err := os.WriteFile(filepath.Join(shotDir, "terminal.png"), png, 0o644); err != nil {
		t.Fatal(err)
	}

	// The agent goes away: the page says the session ended and offers to
	// reconnect.
	f.agents[f.configs[0]].kill()
	do("see the session end",
		chromedp.WaitVisible(chromedp.ID("terminal-reconnect")),
		chromedp.WaitVisible(chromedp.Search(`//*[@id="terminal-message"][contains(., "agent")]`)),
	)
}

// startChromium starts headless Chromium for the test, with a window of
// the size given; it ends with the test. It returns the browser's context
// and do, which runs steps within 30 seconds and fails the test, naming
// what, when they fail.
func startChromium(t *testing.T, chromium string, width, height int) (context.Context, func(what string, steps ...chromedp.Action[chromedp.Void])) {
	t.Helper()
	alloc, cancelAlloc := chromedp.NewExecAllocator(t.Context(),
		chromedp.ExecPath(chromium), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("disable-quic", true),
		chromedp.WindowSize(width, height), chromedp.UserDataDir(t.TempDir()))
	browser, cancelBrowser := chromedp.NewContext(alloc)
	t.Cleanup(func() {
		cancelBrowser()
		cancelAlloc()
	})
	// Start the browser on the long-lived context; each step is bounded.
	if err := chromedp.Do(browser); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	do := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		ctx, cancel := context.WithTimeout(browser, 30*time.Second)
		defer cancel()
		if err := chromedp.Do(ctx, steps...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	return browser, do
}

// chromiumPath is Debian's Chromium; the test skips without it.
func chromiumPath(t *testing.T) string {
	t.Helper()
	chromium := "/usr/bin/chromium"
	if _, err := os.Stat(chromium); err != nil {
		t.Skipf("browser test skipped: %s not installed (apt-get install chromium)", chromium)
	}
	return chromium
}

// screenshotDir is where screenshots go. They are always taken (a page
// that cannot be captured fails the test) but kept only where
// STEWARD_WEB_SCREENSHOTS points, e.g. docs/screenshots, so a test run
// leaves the checkout unchanged.
func screenshotDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("STEWARD_WEB_SCREENSHOTS")
	if dir == "" {
		return t.TempDir()
	}
	if !filepath.IsAbs(dir) {
		dir = filepath.Join("..", "..", dir)
	}
	return dir
}
