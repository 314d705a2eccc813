package web_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/steward-rmm/steward/internal/protocol"
	"github.com/steward-rmm/steward/internal/store"
)

// TestBrowserRunScript drives "Run script…" in headless Chromium: two
// agents checked in the agents list, an ad-hoc command with arguments run
// from the bulk bar, the job page it lands on, and a run's page showing
// the output the fake agent sends only after the page is open (through
// the run's event stream), as text, its colours stripped; then the job's
// progress once both finished. No CSP violation, no sideways scrolling.
func TestBrowserRunScript(t *testing.T) {
	t.Parallel()
	chromium := requireChromium(t)
	e := newSQLiteEnv(t)
	f := e.fixture("Acme Corp", "Head Office")
	var fleet []store.Agent
	for _, h := range []string{"db-01", "web-01", "web-02"} {
		fleet = append(fleet, e.enroll(f, linuxFacts(h)))
	}
	ag1, ag2 := e.connect(fleet[1], linuxFacts("web-01")), e.connect(fleet[2], linuxFacts("web-02"))
	u := e.user(store.RoleTechnician)

	hb := newHeadless(t, chromium, 1366, 900)
	step, eval, waitFor, waitForPage, noProblems, noScroll, shot := hb.step, hb.eval, hb.waitFor, hb.waitForPage, hb.noProblems, hb.noScroll, hb.shot
	box := func(a store.Agent) string { return `#agents-table input[name=id][value="` + a.ID + `"]` }

	step("sign in", chromedp.Navigate(e.srv.URL+"/agents"), chromedp.WaitVisible(chromedp.ID("email")),
		chromedp.SendKeys(chromedp.ID("email"), u.Email), chromedp.SendKeys(chromedp.ID("password"), testPassword),
		chromedp.Click(chromedp.CSS("form button[type=submit]")), chromedp.WaitVisible(chromedp.ID("agents-bulk")))
	step("check two agents", chromedp.Click(chromedp.CSS(box(fleet[1]))), chromedp.Click(chromedp.CSS(box(fleet[2]))))
	step("open Run script", chromedp.Click(chromedp.CSS("#bulk-run summary")), chromedp.WaitVisible(chromedp.ID("bulk-run-body")))
	step("write the command",
		chromedp.SetValue(chromedp.ID("bulk-run-language"), "bash"),
		chromedp.SendKeys(chromedp.ID("bulk-run-body"), `for a in "$@"; do echo "arg: $a"; done`),
		chromedp.SetValue(chromedp.ID("bulk-run-args"), "two words\n'quoted'; ls"),
		chromedp.SetValue(chromedp.ID("bulk-run-expires"), "4h"))
	noProblems("agents page with Run script open")
	noScroll("agents page with Run script open")
	eval(`window.confirm = function () { return true; }; ""`)
	step("run", chromedp.Click(chromedp.CSS("#bulk-run [data-bulk-submit]")))
	waitForPage("the job page", `!!document.getElementById("job-progress")`)
	jobID := strings.TrimPrefix(eval(`location.pathname`), "/jobs/")
	if got := strings.Join(strings.Fields(hb.text("#job-progress-text")), " "); got != "0 of 2 done" {
		t.Errorf("new job's progress %q", got)
	}

	c1, run := scriptCommand(t, ag1)
	if want := []string{"two words", "'quoted'; ls"}; strings.Join(run.Args, "|") != strings.Join(want, "|") {
		t.Errorf("the agent got args %q, want %q", run.Args, want)
	}
	c2, _ := scriptCommand(t, ag2)
	answerScript(t, ag2, c2, "arg: two words\narg: 'quoted'; ls\n", 0)

	// The run's page is open before the agent says anything.
	step("open the run", chromedp.Navigate(e.srv.URL+"/jobs/"+jobID+"/runs/"+fleet[1].ID), chromedp.WaitVisible(chromedp.ID("run-stdout")))
	if got := hb.text("#run-status"); got != "Queued" {
		t.Errorf("run status before it started %q, want Queued", got)
	}
	eval(`window.__samePage = true; ""`)
	now := time.Now().UTC()
	ag1.Send(t, protocol.TypeScriptStarted, "", protocol.ScriptStarted{CommandID: c1.CommandID, StartedAt: now})
	stdout := []byte("arg: two words\n\x1b[32marg: 'quoted'; ls\x1b[0m\n<b>not bold</b>\n")
	ag1.Send(t, protocol.TypeScriptOutput, "", protocol.ScriptOutput{CommandID: c1.CommandID, Stream: protocol.StreamStdout, Data: stdout})
	ag1.Sync(t)
	waitFor("the live output", `document.getElementById("run-stdout").textContent.indexOf("<b>not bold</b>") >= 0`)
	waitFor("the running status", `document.querySelector("#run-status .badge").textContent === "Running"`)
	ag1.Send(t, protocol.TypeScriptOutput, "", protocol.ScriptOutput{CommandID: c1.CommandID, Stream: protocol.StreamStderr, Offset: 0,
		Data: []byte("warning: nothing to do\n")})
	out, _ := json.Marshal(protocol.ScriptResult{Status: protocol.ScriptFailed, ExitCode: 2, StartedAt: now, FinishedAt: now.Add(2300 * time.Millisecond),
		Stdout: protocol.ScriptStream{Bytes: int64(len(stdout))}, Stderr: protocol.ScriptStream{Bytes: 23}})
	ag1.Send(t, protocol.TypeResult, "", protocol.Result{CommandID: c1.CommandID, Status: protocol.ResultOK, Output: out})
	ag1.Sync(t)
	waitFor("the end of the stream", `document.getElementById("run").hasAttribute("data-run-ended")`)
	if got := hb.text("#run-status"); got != "Failed" {
		t.Errorf("status after the result %q, want Failed", got)
	}
	if got := hb.text("#run-exit"); got != "2" {
		t.Errorf("exit code %q, want 2", got)
	}
	if got := hb.text("#run-stderr"); got != "warning: nothing to do" {
		t.Errorf("stderr %q", got)
	}
	if got := eval(`document.getElementById("run-stdout").textContent`); got != "arg: two words\narg: 'quoted'; ls\n<b>not bold</b>\n" {
		t.Errorf("stdout %q: want the text, colours stripped", got)
	}
	if got := eval(`String(document.querySelectorAll("#run-stdout *").length)`); got != "0" {
		t.Errorf("the output made %s elements, want none", got)
	}
	if got := eval(`String(window.__samePage === true)`); got != "true" {
		t.Error("the page reloaded: the output was not live")
	}
	noProblems("run page")
	noScroll("run page")
	shot("job-run")

	step("the job", chromedp.Navigate(e.srv.URL+"/jobs/"+jobID), chromedp.WaitVisible(chromedp.ID("runs")))
	if got := strings.Join(strings.Fields(hb.text("#job-progress-text")), " "); got != "2 of 2 done, 1 failed" {
		t.Errorf("progress %q, want 2 of 2 done, 1 failed", got)
	}
	noProblems("job page")
	noScroll("job page")
	shot("job")
}
