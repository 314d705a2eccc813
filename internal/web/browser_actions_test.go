package web_test

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/steward-rmm/steward/internal/protocol"
	"github.com/steward-rmm/steward/internal/servertest"
	"github.com/steward-rmm/steward/internal/store"
)

// TestBrowserProcesses drives the actions tab in headless Chromium: "List
// processes" on a fake agent that answers only once the page waits for it
// (the page updates itself, no reload), the table sorted by memory, then
// "End" on the test's sleeper after a confirmation, and its result. No CSP
// violation, no sideways scrolling.
func TestBrowserProcesses(t *testing.T) {
	t.Parallel()
	chromium := requireChromium(t)
	e := newSQLiteEnv(t)
	f := e.fixture("Acme Corp", "Head Office")
	a := e.enroll(f, linuxFacts("web-01"))
	ag := e.connect(a, linuxFacts("web-01"))
	fake := servertest.NewFakeActions()
	answer := func(want string) {
		t.Helper()
		cmd := ag.Command(t)
		if cmd.Name != want {
			t.Fatalf("the agent got %s, want %s", cmd.Name, want)
		}
		res, _ := fake.Answer(cmd)
		ag.Send(t, protocol.TypeResult, "", res)
	}
	u := e.user(store.RoleTechnician)

	hb := newHeadless(t, chromium, 1366, 900)
	step, eval, waitFor, waitForPage, noProblems, noScroll, shot := hb.step, hb.eval, hb.waitFor, hb.waitForPage, hb.noProblems, hb.noScroll, hb.shot

	step("sign in", chromedp.Navigate(e.srv.URL+"/agents/"+a.ID+"/actions"), chromedp.WaitVisible(chromedp.ID("email")),
		chromedp.SendKeys(chromedp.ID("email"), u.Email), chromedp.SendKeys(chromedp.ID("password"), testPassword),
		chromedp.Click(chromedp.CSS("form button[type=submit]")), chromedp.WaitVisible(chromedp.ID("action-processes")))
	noProblems("actions tab")
	noScroll("actions tab")
	shot("agent-actions")

	step("list processes", chromedp.Click(chromedp.ID("action-processes")))
	waitForPage("the waiting page", `!!document.getElementById("action-result")`)
	if got := hb.text("#action-status"); got != "Waiting for the agent…" {
		t.Errorf("status before the answer %q", got)
	}
	eval(`window.__samePage = true; ""`)
	answer(protocol.CommandProcesses)
	waitFor("the process table", `!!document.getElementById("processes")`)
	if got := eval(`String(window.__samePage === true)`); got != "true" {
		t.Error("the page reloaded to show the answer")
	}
	rows := func() string {
		return eval(`[...document.querySelectorAll("#processes tbody tr")].map(r => r.cells[1].textContent).join(",")`)
	}
	if got := rows(); got != "worker,systemd,sshd,sleep" {
		t.Errorf("processes by CPU: %s", got)
	}
	step("sort by memory", chromedp.Click(chromedp.CSS(`#processes th a[href$="sort=memory"]`)))
	waitForPage("sorted by memory", `!!document.querySelector('#processes th[aria-sort="descending"] a[href$="sort=memory"]')`)
	noProblems("process list")
	noScroll("process list")
	shot("agent-processes")

	// The question is kept in sessionStorage: the answer is read on the next page.
	eval(`window.confirm = function (m) { sessionStorage.setItem("asked", m); return true; }; ""`)
	step("end the sleeper", chromedp.Click(chromedp.CSS(`#processes button[data-end-pid="4242"]`)))
	waitForPage("the end's page", `!!document.getElementById("action-result") && !document.getElementById("processes")`)
	if got := eval(`sessionStorage.getItem("asked") || ""`); got != "End sleep (PID 4242) on web-01?" {
		t.Errorf("confirmation asked %q", got)
	}
	answer(protocol.CommandProcessEnd)
	waitFor("the result", `(document.getElementById("action-status") || {}).textContent === "Ended 1 process: sleep (PID 4242)."`)
	noProblems("process ended")
	if got := hb.text("#action-result-title"); !strings.Contains(got, "process_end pid 4242 (sleep)") {
		t.Errorf("result title %q", got)
	}

	// The bulk bar reboots the checked agent at a time typed in the
	// reader's time zone; the list then says "reboot pending".
	step("agents", chromedp.Navigate(e.srv.URL+"/agents"), chromedp.WaitVisible(chromedp.ID("agents-bulk")))
	step("check the agent", chromedp.Click(chromedp.CSS(`#agents-table input[name=id][value="`+a.ID+`"]`)))
	step("open Reboot / shut down", chromedp.Click(chromedp.CSS("#bulk-power summary")), chromedp.WaitVisible(chromedp.ID("bulk-at")))
	at := time.Now().Add(3 * time.Hour).Truncate(time.Minute)
	step("reboot at a time", chromedp.Click(chromedp.ID("bulk-when-at")),
		chromedp.SetValue(chromedp.ID("bulk-at"), at.Local().Format("2006-01-02T15:04")),
		chromedp.SendKeys(chromedp.ID("bulk-message"), "Monthly patches"))
	noProblems("agents page with Reboot open")
	noScroll("agents page with Reboot open")
	shot("agents-bulk-power")
	eval(`window.confirm = function () { return true; }; ""`)
	step("send", chromedp.Click(chromedp.CSS("#bulk-power [data-bulk-submit]")))
	waitForPage("the summary", `!!document.getElementById("bulk-summary")`)
	if got, want := strings.Join(strings.Fields(hb.text("#bulk-summary")), " "), "Sent to 1 agent."; got != want {
		t.Errorf("summary %q, want %q", got, want)
	}
	cmd := ag.Command(t)
	req, err := protocol.DecodePowerRequest(cmd.Args, time.Now())
	if err != nil || req.Action != protocol.PowerReboot || !req.At.Equal(at) || req.Message != "Monthly patches" || req.By != u.Email {
		t.Errorf("the agent got %+v (%v), want a reboot at %v by %s", req, err, at, u.Email)
	}
	res, _ := fake.Answer(cmd)
	ag.Send(t, protocol.TypeResult, "", res)
	servertest.Eventually(t, "the answer stored", func() bool {
		c, err := e.db.Command(t.Context(), cmd.CommandID)
		return err == nil && c.State == store.CommandDone
	})
	step("agents again", chromedp.Navigate(e.srv.URL+"/agents"), chromedp.WaitVisible(chromedp.ID("agents-table")))
	if got := hb.text("#agents-table .power-pending"); got != "reboot pending" {
		t.Errorf("agents list badge %q, want reboot pending", got)
	}
	noProblems("agents page with a reboot pending")
}
