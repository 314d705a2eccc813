package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestDashboardInBrowser follows the README in real headless Chromium: the
// one-time setup link, a client, a site and a token made in the
// dashboard, the Linux install command the dashboard shows run as a real
// shell command against this server, and the agent turning online on the
// agents page without a reload. Screenshots go where STEWARD_WEB_SCREENSHOTS says.
func TestDashboardInBrowser(t *testing.T) {
	chromium := chromiumPath(t)
	srv := startServer(t, "")
	// Serve this build's agent as the Linux download, as make agents would.
	agentDir := filepath.Join(srv.dataDir, "agents")
	os.MkdirAll(agentDir, 0o755)
	agentBin, err := os.ReadFile(bin(t, "steward-agent"))
	if err != nil {
		t.Fatal(err)
	}
	for _, arch := range []string{"amd64", "arm64"} {
		os.WriteFile(filepath.Join(agentDir, "steward-agent-linux-"+arch), agentBin, 0o755)
	}

	browser, do := startChromium(t, chromium, 1440, 900)
	text := func(sel string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(browser, 30*time.Second)
		defer cancel()
		s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("read %s: %v", sel, err)
		}
		return s
	}
	shotDir := screenshotDir(t)
	shot := func(name string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(browser, 30*time.Second)
		defer cancel()
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		if err := os.WriteFile(filepath.Join(shotDir, name), png, 0o644); err != nil {
			t.Fatalf("save screenshot %s: %v", name, err)
		}
	}

	const email, password = "owner@example.com", "a-long-owner-password"
	do("create the owner through the setup link",
		chromedp.Navigate(srv.setupURL()),
		chromedp.WaitVisible(chromedp.ID("email")),
		chromedp.SendKeys(chromedp.ID("email"), email),
		chromedp.SendKeys(chromedp.ID("password"), password),
		chromedp.SendKeys(chromedp.ID("confirm"), password),
		chromedp.Click(chromedp.CSS(`form[action="/setup"] button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`form[action="/logout"]`)),
	)
	// The setup link is spent: it answers 404 now.
	if resp, err := httpGet(srv.setupURL()); err != nil || resp != 404 {
		t.Errorf("setup link after use = %d, %v; want 404", resp, err)
	}

	do("sign out and sign in with the new account",
		chromedp.Click(chromedp.CSS(`form[action="/logout"] button`)),
		chromedp.WaitVisible(chromedp.ID("password")),
		chromedp.SendKeys(chromedp.ID("email"), email),
		chromedp.SendKeys(chromedp.ID("password"), password),
		chromedp.Click(chromedp.CSS(`form[action="/login"] button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`form[action="/logout"]`)),
	)

	do("create a client and a site in the dashboard",
		chromedp.Navigate(srv.URL+"/clients"),
		chromedp.WaitVisible(chromedp.ID("client-name")),
		chromedp.SendKeys(chromedp.ID("client-name"), "Acme Dental"),
		chromedp.Click(chromedp.CSS(`form[action="/clients"] button[type=submit]`)),
		chromedp.WaitVisible(chromedp.ID("site-name")),
		chromedp.SendKeys(chromedp.ID("site-name"), "Main Office"),
		chromedp.Click(chromedp.CSS(`form[action$="/sites"] button[type=submit]`)),
		chromedp.WaitVisible(chromedp.ID("max_uses")),
		chromedp.SetValue(chromedp.ID("max_uses"), "1"),
		chromedp.Click(chromedp.CSS(`form[action$="/tokens"] button[type=submit]`)),
		chromedp.WaitVisible(chromedp.ID("cmd-linux")),
	)
	shot("install.png")
	command := text("#cmd-linux")
	token := text("#token-secret")
	if !strings.Contains(command, token) || !strings.Contains(command, srv.URL) {
		t.Fatalf("Linux install command %q lacks the token %q or the server URL", command, token)
	}

	// Run the command as shown, in a scratch directory, with three test
	// adjustments: no sudo (the test may have none), a config path inside
	// the test's directory instead of /etc, and --no-service (no service
	// manager runs here; the test runs the agent itself).
	work := t.TempDir()
	config := filepath.Join(work, "agent.json")
	shell := strings.ReplaceAll(command, "S=sudo", "S=")
	install, n := regexp.MustCompile(`\$S \./steward-agent install`).ReplaceAllString(shell, "./steward-agent install --no-service --config "+config), 0
	if install != shell {
		n = 1
	}
	// The token reaches install on standard input, never as an argument
	// (which every local user could read with ps).
	if n == 0 || !strings.HasSuffix(strings.TrimSpace(command), "--token -") || !strings.Contains(command, `printf '%s\n' `+token+" | ") {
		t.Fatalf("install command %q does not end by installing the agent with the token on its standard input", command)
	}
	run := " --config " + config
	cmd := exec.Command("bash", "-c", strings.TrimSpace(install))
	cmd.Dir = work
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("install command failed: %v\n%s", err, out)
	}

	do("see the enrolled agent offline",
		chromedp.Navigate(srv.URL+"/agents"),
		chromedp.WaitVisible(chromedp.CSS(`#agents-table td.host a`)),
	)
	if strings.Contains(text("#agents-table tbody"), "Online") {
		t.Fatalf("agent shown online before it runs")
	}
	agent := exec.Command(filepath.Join(work, "steward-agent"), strings.Fields("run"+run)...)
	agent.Env = agentEnv(t, config)
	agent.Dir = work
	agentLog := &logBuffer{}
	agent.Stdout, agent.Stderr = agentLog, agentLog
	if err := agent.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		agent.Process.Kill()
		agent.Wait()
		if t.Failed() {
			t.Logf("agent log:\n%s", agentLog.String())
		}
	})
	do("see the agent turn online without a reload",
		chromedp.WaitVisible(chromedp.CSS(`#agents-table td.status .dot.on`)),
	)
	host, _ := os.Hostname()
	if got := text("#agents-table td.host"); got != host {
		t.Errorf("agents page hostname = %q, want %q", got, host)
	}
	shot("agents.png")

	do("open the agent page",
		chromedp.Click(chromedp.CSS(`#agents-table td.host a`)),
		chromedp.WaitVisible(chromedp.ID("agent-id")),
	)
	page := text("main")
	for _, want := range []string{host, "Online", "Acme Dental", "Main Office"} {
		if !strings.Contains(page, want) {
			t.Errorf("agent page lacks %q", want)
		}
	}
	shot("agent.png")

	do("read the audit log",
		chromedp.Navigate(srv.URL+"/audit"),
		chromedp.WaitVisible(chromedp.CSS("table")),
	)
	audit := text("main")
	for _, want := range []string{"client.create", "site.create", "enrollment_token.create", "agent.enroll", email} {
		if !strings.Contains(audit, want) {
			t.Errorf("audit page lacks %q", want)
		}
	}
	// The audit log fits a 1440 px window.
	if w, err := chromedp.Run(browser, chromedp.Evaluate[int](`document.documentElement.scrollWidth`)); err != nil || w > 1440 {
		t.Errorf("audit page %d px wide (%v), want at most 1440", w, err)
	}
	shot("audit.png")
}
