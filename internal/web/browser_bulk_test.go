package web_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/steward-rmm/steward/internal/store"
)

// TestBrowserBulkUpdate drives the agents list's bulk bar in headless
// Chromium at 1366 px: two agents of a seeded fleet checked, kept checked
// through a live refresh, "select all N matching" offered once the page is
// all checked, and "Update now" answering with the summary (one offered,
// one skipped with its reason); no CSP
// violation and no sideways scrolling.
func TestBrowserBulkUpdate(t *testing.T) {
	t.Parallel()
	chromium := requireChromium(t)
	e := newReleaseEnv(t)
	f := e.fixture("Acme Corp", "Head Office")
	var fleet []store.Agent
	for i := range 61 {
		facts := linuxFacts(fmt.Sprintf("ws-%02d", i))
		if i == 4 {
			// No release for its platform: the summary says why it is skipped.
			facts.OS, facts.OSName = "windows", "Windows 11 Pro"
		}
		fleet = append(fleet, e.enroll(f, facts))
	}
	admin := e.signedIn(store.RoleAdmin)
	data := []byte("steward agent 0.2.0 for the bulk test\n")
	relID := publish(t, admin, "0.2.0", data)
	if res := admin.postFile("/releases/"+relID+"/rollback", "", "statement", "a.rollback", signedRollback(t, releaseKey, "0.2.0", data)); res.status != http.StatusSeeOther {
		t.Fatalf("store the rollback instruction: status %d", res.status)
	}
	u := e.user(store.RoleAdmin)

	hb := newHeadless(t, chromium, 1366, 768)
	step, eval, waitFor, waitForPage, noProblems, noScroll, shot := hb.step, hb.eval, hb.waitFor, hb.waitForPage, hb.noProblems, hb.noScroll, hb.shot
	box := func(a store.Agent) string { return `#agents-table input[name=id][value="` + a.ID + `"]` }
	count := func() string { return strings.TrimSpace(hb.text("[data-bulk-count]")) }

	step("sign in", chromedp.Navigate(e.srv.URL+"/agents"), chromedp.WaitVisible(chromedp.ID("email")),
		chromedp.SendKeys(chromedp.ID("email"), u.Email), chromedp.SendKeys(chromedp.ID("password"), testPassword),
		chromedp.Click(chromedp.CSS("form button[type=submit]")), chromedp.WaitVisible(chromedp.ID("agents-bulk")))
	waitFor("the event stream", `window.__sseOpen === true`)
	if got := count(); got != "Select agents in the table to act on them." {
		t.Errorf("bar with nothing selected says %q", got)
	}
	if got := eval(`String(document.querySelector("[data-bulk-submit]").disabled)`); got != "true" {
		t.Errorf("Update now enabled with nothing selected (disabled=%s)", got)
	}

	// Check two rows; a live refresh (an agent comes online) keeps them.
	step("check two agents", chromedp.Click(chromedp.CSS(box(fleet[1]))), chromedp.Click(chromedp.CSS(box(fleet[2]))))
	if got := count(); got != "2 agents selected." {
		t.Errorf("after checking two rows the bar says %q", got)
	}
	eval(`document.getElementById("agents-table").__old = true; ""`)
	e.connect(fleet[0], linuxFacts(fleet[0].Hostname))
	waitFor("the live refresh", `!document.getElementById("agents-table").__old`)
	checked := `[...document.querySelectorAll("#agents-table input[name=id]:checked")].map(b => b.value).join(",")`
	waitFor("the two rows checked again", checked+` === "`+fleet[1].ID+","+fleet[2].ID+`"`)
	if got := count(); got != "2 agents selected." {
		t.Errorf("after a live refresh the bar says %q", got)
	}

	// Every row of the page: the bar offers every agent the filter matches.
	step("check the page", chromedp.Click(chromedp.CSS("[data-bulk-page]")))
	waitFor("the all-matching offer", `!document.querySelector("[data-bulk-all-matching]").hidden`)
	if got := hb.text("[data-bulk-all-matching]"); got != "Select all 61 matching agents" {
		t.Errorf("all-matching button says %q", got)
	}
	step("select all matching", chromedp.Click(chromedp.CSS("[data-bulk-all-matching]")))
	if got := count(); got != "All 61 matching agents selected." {
		t.Errorf("after choosing all matching the bar says %q", got)
	}
	step("clear", chromedp.Click(chromedp.CSS("[data-bulk-clear]")))
	if got := eval(`String(document.querySelectorAll("#agents-table input[name=id]:checked").length)`); got != "0" {
		t.Errorf("after clearing %s rows are checked", got)
	}
	noProblems("agents page with the bulk bar")

	// Two agents, update now over 30 minutes: the summary says what was
	// done, and why the Windows one was left out.
	step("check two agents again", chromedp.Click(chromedp.CSS(box(fleet[3]))), chromedp.Click(chromedp.CSS(box(fleet[4]))))
	step("open Update now", chromedp.Click(chromedp.CSS("#bulk-update summary")), chromedp.WaitVisible(chromedp.ID("bulk-spread")))
	step("spread over 30 minutes", chromedp.SetValue(chromedp.ID("bulk-spread"), "30m"))
	noScroll("agents page with Update now open")
	shot("agents-bulk")
	eval(`window.confirm = function () { return true; }; ""`)
	step("update now", chromedp.Click(chromedp.CSS("#bulk-update [data-bulk-submit]")))
	waitForPage("the summary", `!!document.getElementById("bulk-summary")`)
	if got, want := strings.Join(strings.Fields(hb.text("#bulk-summary")), " "), "Offered to 1 agent. 1 agent skipped."; got != want {
		t.Errorf("summary %q, want %q", got, want)
	}
	if got, want := hb.text("table.skipped tbody td"), "no release for its channel and platform"; got != want {
		t.Errorf("skipped because %q, want %q", got, want)
	}
	if got := hb.text(".page-head .muted"); got != "For 2 selected agents." {
		t.Errorf("result names %q, want the two selected agents", got)
	}
	noProblems("bulk result")
	noScroll("bulk result")
	shot("agents-bulk-result")
	for i, want := range map[int]int{3: 1, 4: 0} {
		items, err := e.db.AgentUpdates(t.Context(), fleet[i].ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(items) != want || want == 1 && items[0].Step != store.UpdateOffered {
			t.Errorf("%s: updates %+v, want %d offered", fleet[i].Hostname, items, want)
		}
	}
	step("back to the list", chromedp.Click(chromedp.CSS(".crumbs a")), chromedp.WaitVisible(chromedp.ID("agents-bulk")))

	// The pages around it: a site's "Update agents now", release keys,
	// and a release's rollback.
	step("site page", chromedp.Navigate(e.srv.URL+"/sites/"+f.site.ID), chromedp.WaitVisible(chromedp.ID("update-now")))
	noProblems("site page")
	noScroll("site page")
	step("release keys", chromedp.Navigate(e.srv.URL+"/releases/keys"), chromedp.WaitVisible(chromedp.ID("key-form")))
	noProblems("release keys page")
	noScroll("release keys page")
	shot("release-keys")
	step("release with a rollback instruction", chromedp.Navigate(e.srv.URL+"/releases/"+relID+"#rollback"), chromedp.WaitVisible(chromedp.ID("rollback-agents")))
	noProblems("release page")
	noScroll("release page")
	shot("release-rollback")
}
