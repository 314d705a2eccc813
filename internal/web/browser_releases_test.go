package web_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/steward-rmm/steward/internal/store"
)

// TestBrowserReleases drives the release pages in headless Chromium at
// 1440 px: a refused upload shows its error beside the field, a good one
// lands on the release page, halting asks first, and the agent's updates
// tab changes channel and offers an update, with no CSP violation and no
// horizontal scrolling.
func TestBrowserReleases(t *testing.T) {
	t.Parallel()
	chromium := requireChromium(t)
	e := newReleaseEnv(t)
	f := e.fixture("Acme Corp", "Head Office")
	target := e.enroll(f, linuxFacts("acme-ws-01"))
	u := e.user(store.RoleAdmin)

	dir := t.TempDir()
	data := []byte("steward agent 0.2.0 for the browser test\n")
	bin, sig, wrongSig := filepath.Join(dir, "steward-agent"), filepath.Join(dir, "steward-agent.sig"), filepath.Join(dir, "other.sig")
	for name, content := range map[string]string{
		bin: string(data), sig: signed(t, releaseKey, "0.2.0", data), wrongSig: signed(t, releaseKey, "0.2.0", []byte("another file")),
	} {
		if err := os.WriteFile(name, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}

	hb := newHeadless(t, chromium, 1440, 900)
	step, eval, waitFor, waitForPage, noProblems, noScroll, shot := hb.step, hb.eval, hb.waitFor, hb.waitForPage, hb.noProblems, hb.noScroll, hb.shot

	step("sign in", chromedp.Navigate(e.srv.URL+"/releases"), chromedp.WaitVisible(chromedp.ID("email")),
		chromedp.SendKeys(chromedp.ID("email"), u.Email), chromedp.SendKeys(chromedp.ID("password"), testPassword),
		chromedp.Click(chromedp.CSS("form button[type=submit]")), chromedp.WaitVisible(chromedp.ID("release-form")))
	noProblems("releases page")

	// A signature of another file: the error sits beside the file field.
	step("upload a mismatched signature",
		chromedp.SetUploadFiles(chromedp.ID("release-file"), []string{bin}),
		chromedp.SetUploadFiles(chromedp.ID("release-sig"), []string{wrongSig}),
		chromedp.Click(chromedp.CSS("#release-form button[type=submit]")))
	waitForPage("the error beside the file", `!!document.getElementById("release-file-error")`)
	if got := eval(`document.getElementById("release-file").getAttribute("aria-invalid")`); got != "true" {
		t.Errorf("file input aria-invalid %q, want true", got)
	}
	shot("release-upload-error")

	step("upload the release",
		chromedp.SetUploadFiles(chromedp.ID("release-file"), []string{bin}),
		chromedp.SetUploadFiles(chromedp.ID("release-sig"), []string{sig}),
		chromedp.Click(chromedp.CSS("#release-form button[type=submit]")))
	waitForPage("the release page", `!!document.querySelector(".release-actions")`)
	noProblems("release page")
	noScroll("release page")

	// Halting asks first: refusing the question changes nothing.
	eval(`window.confirm = function () { return false; }; ""`)
	step("halt, refused", chromedp.Click(chromedp.CSS(`form[action$="/halt"] button`)))
	if got := hb.text(".page-head .badge"); got != "active" {
		t.Errorf("after refusing the confirmation the release is %q, want active", got)
	}
	eval(`window.confirm = function () { return true; }; ""`)
	step("halt", chromedp.Click(chromedp.CSS(`form[action$="/halt"] button`)))
	waitForPage("the halted badge", `document.querySelector(".page-head .badge").textContent === "halted"`)
	shot("release")

	step("releases list", chromedp.Navigate(e.srv.URL+"/releases"), chromedp.WaitVisible(chromedp.CSS("table.releases")))
	noScroll("releases page")
	shot("releases")

	// The agent's updates tab, by keyboard: pick beta, save, update now.
	step("updates tab", chromedp.Navigate(e.srv.URL+"/agents/"+target.ID+"/updates"), chromedp.WaitVisible(chromedp.ID("channel-select")))
	step("choose stable by keyboard", chromedp.Focus(chromedp.ID("channel-select")), chromedp.SetValue(chromedp.ID("channel-select"), "stable"),
		chromedp.SendKeys(chromedp.CSS(`#update-channel button[type=submit]`), "\r"))
	waitForPage("the channel set here", `/Set here: stable/.test(document.getElementById("update-channel").textContent)`)
	step("resume the release", chromedp.Navigate(e.srv.URL+"/releases"), chromedp.WaitVisible(chromedp.CSS("table.releases")))
	eval(`window.confirm = function () { return true; }; ""`)
	step("open it", chromedp.Click(chromedp.CSS(`table.releases a`)))
	waitForPage("the release page", `!!document.querySelector("form[action$='/resume']")`)
	eval(`window.confirm = function () { return true; }; ""`)
	step("resume", chromedp.Click(chromedp.CSS(`form[action$="/resume"] button`)))
	waitForPage("the active badge", `document.querySelector(".page-head .badge").textContent === "active"`)
	step("updates tab again", chromedp.Navigate(e.srv.URL+"/agents/"+target.ID+"/updates"), chromedp.WaitVisible(chromedp.ID("agent-update")))
	eval(`window.confirm = function () { return true; }; ""`)
	step("update now", chromedp.Click(chromedp.CSS(`form[action$="/update"] button`)))
	waitForPage("the offer", `!!document.querySelector("table.agent-updates .step-offered")`)
	waitFor("the history row", `document.querySelectorAll("table.update-history tbody tr").length === 1`)
	noProblems("agent updates tab")
	noScroll("agent updates tab")
	shot("agent-updates")
}
