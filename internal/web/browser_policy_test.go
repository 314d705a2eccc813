package web_test

import (
	"context"
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/steward-rmm/steward/internal/access"
	"github.com/steward-rmm/steward/internal/manage"
	"github.com/steward-rmm/steward/internal/protocol"
	"github.com/steward-rmm/steward/internal/store"
)

// TestMonitoringInBrowser drives the monitoring pages in headless
// Chromium under the strict CSP: the policy editor of a site-level policy
// showing inherited values with their sources and set ones as "set here",
// an invalid value refused beside its input, the alerts list with an
// alert, a chart on the agent page and a maintenance window started from
// a site page. With STEWARD_WEB_SCREENSHOTS set it saves policy-editor,
// policy-editor-error, policies, alerts and site-maintenance screenshots
// there.
func TestMonitoringInBrowser(t *testing.T) {
	t.Parallel()
	chromium := requireChromium(t)
	ctx := context.Background()
	e := newSQLiteEnv(t)
	f := e.fixture("Acme Dental", "Main Office")
	if _, err := e.mgr.UpdatePolicy(ctx, access.Console(), store.DefaultPolicyID, manage.PolicyInput{Name: "Default",
		Description: "Applies to every agent", Document: json.RawMessage(`{"metrics": {"interval": "30s"}}`)}); err != nil {
		t.Fatal(err)
	}
	pol := e.mustPolicy("Office workstations", `{"metrics": {"enabled": {"temperature": true}}, "thresholds": {"cpu": {"trigger": 85, "for": "10m"}}}`)
	e.mustAssign(store.LevelSite, f.site.ID, pol.ID)
	agent := e.enroll(f, linuxFacts("reception-pc"))
	e.connect(agent, linuxFacts("reception-pc"))
	now := time.Now().UTC()
	var samples []protocol.Sample
	for i := range 55 {
		x := float64(i)
		samples = append(samples, protocol.Sample{Time: now.Add(time.Duration(i-55) * time.Minute), Values: map[string]float64{
			"cpu.percent": 40 + 30*math.Sin(x/6), "memory.percent": 62 + x/8,
		}})
	}
	e.ingest(agent.ID, samples...)
	e.openAlert(agent, "cpu", "warning", now.Add(-12*time.Minute))
	e.openAlert(agent, "disk:/", "critical", now.Add(-3*time.Minute))
	u := e.user(store.RoleAdmin)

	// Tall enough for the editor's first section in one screenshot.
	b := newHeadless(t, chromium, 1366, 1500)
	b.step("sign in",
		chromedp.Navigate(e.srv.URL+"/policies/"+pol.ID),
		chromedp.WaitVisible(chromedp.ID("email")),
		chromedp.SendKeys(chromedp.ID("email"), u.Email),
		chromedp.SendKeys(chromedp.ID("password"), testPassword),
		chromedp.Click(chromedp.CSS("form button[type=submit]")),
		chromedp.WaitVisible(chromedp.ID("policy-form")))
	b.noProblems("policy editor")

	// The editor opens in the context of the site the policy is assigned to.
	if got := b.eval(`document.getElementById("at").value`); got != "site:"+f.site.ID {
		t.Errorf("context %q, want the site", got)
	}
	checks := []struct{ field, state, source string }{
		{"metrics-interval", "inherited", `Default level: policy "Default"`},
		{"metrics-enabled-temperature", "set here", `Site Main Office: policy "Office workstations"`},
		{"thresholds-cpu-trigger", "set here", `Site Main Office: policy "Office workstations"`},
		{"metrics-retention-raw", "inherited", "built-in default"},
	}
	for _, c := range checks {
		row := "#row-f-" + c.field
		if got := b.text(row + " [data-state]"); got != c.state {
			t.Errorf("%s shows %q, want %q", c.field, got, c.state)
		}
		if got := b.text(row + " .source"); got != c.source {
			t.Errorf("%s source %q, want %q", c.field, got, c.source)
		}
	}
	if got := b.text("#row-f-metrics-interval td.effective .mono"); got != "30 seconds" {
		t.Errorf("effective interval %q, want 30 seconds", got)
	}
	b.shot("policy-editor")
	// The save bar stays in view halfway down the long form.
	b.eval(`document.getElementById("row-f-thresholds-cpu-trigger").scrollIntoView(); ""`)
	if got := b.eval(`(() => { const r = document.querySelector(".save-bar button").getBoundingClientRect(); return String(r.top >= 0 && r.bottom <= innerHeight); })()`); got != "true" {
		t.Error("the save button is out of view in the middle of the form")
	}
	// Ticking a channel of a route marks the route "set here".
	b.eval(`document.getElementById("row-f-notifications-critical").scrollIntoView(); ""`)
	b.step("tick a route box", chromedp.Click(chromedp.CSS(`#row-f-notifications-critical input[value="all"]`)))
	if got := b.text("#row-f-notifications-critical [data-state]"); got != "set here" {
		t.Errorf("route after a tick shows %q, want set here (what is at the box: %s)", got,
			b.eval(`(() => { const r = document.querySelector('#row-f-notifications-critical input[value="all"]').getBoundingClientRect(); const e = document.elementFromPoint(r.left + r.width/2, r.top + r.height/2); return e ? e.outerHTML.slice(0, 200) : "none"; })()`))
	}
	b.step("reload the editor", chromedp.Navigate(e.srv.URL+"/policies/"+pol.ID), chromedp.WaitVisible(chromedp.ID("policy-form")))

	// Choosing the default level shows what an agent there gets: the
	// site's policy does not reach it.
	b.eval(`var at = document.getElementById("at"); at.value = "default:"; at.dispatchEvent(new Event("change", {bubbles: true})); ""`)
	b.waitForPage("the default-level context", `location.search === "?at=default%3A" && !!document.getElementById("policy-form")`)
	if got := b.text("#row-f-thresholds-cpu-trigger .source"); got != "built-in default" {
		t.Errorf("trigger source at the default level %q, want built-in default", got)
	}
	if got := b.text("#row-f-thresholds-cpu-trigger [data-state]"); got != "set here" {
		t.Errorf("trigger at the default level shows %q, want set here (the policy still sets it)", got)
	}
	b.step("back to the site's context", chromedp.Navigate(e.srv.URL+"/policies/"+pol.ID), chromedp.WaitVisible(chromedp.ID("policy-form")))

	// Typing into an inherited field marks it "set here"; a value the
	// schema refuses comes back beside its input, as typed.
	b.eval(`document.getElementById("f-metrics-interval").value = ""; ""`)
	b.step("type an interval below the minimum", chromedp.SendKeys(chromedp.ID("f-metrics-interval"), "2s"))
	if got := b.text("#row-f-metrics-interval [data-state]"); got != "set here" {
		t.Errorf("after typing, interval shows %q, want set here", got)
	}
	b.step("save", chromedp.Click(chromedp.CSS(`#policy-form button[type=submit]`)), chromedp.WaitVisible(chromedp.ID("form-errors")))
	if got := b.text("#f-metrics-interval-error"); got != "must be at least 5s" {
		t.Errorf("interval error %q, want must be at least 5s", got)
	}
	if got := b.eval(`document.getElementById("f-metrics-interval").value`); got != "2s" {
		t.Errorf("interval input %q after the refused save, want 2s as typed", got)
	}
	if got := b.eval(`document.getElementById("f-metrics-interval").getAttribute("aria-invalid")`); got != "true" {
		t.Errorf("interval aria-invalid %q, want true", got)
	}
	b.eval(`document.getElementById("row-f-metrics-interval").scrollIntoView({block: "center"}); ""`)
	b.shot("policy-editor-error")
	b.noProblems("policy editor after a refused save")
	stored, err := e.db.Policy(ctx, pol.ID)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(stored.Document), "interval") {
		t.Errorf("refused save stored %s", stored.Document)
	}

	// A valid value saves and comes back set here.
	b.eval(`document.getElementById("f-metrics-interval").value = ""; ""`)
	b.step("fix and save",
		chromedp.SendKeys(chromedp.ID("f-metrics-interval"), "15s"),
		chromedp.Click(chromedp.CSS(`#policy-form button[type=submit]`)),
		chromedp.WaitVisible(chromedp.ID("saved")))
	if got := b.text("#row-f-metrics-interval .source"); got != `Site Main Office: policy "Office workstations"` {
		t.Errorf("interval source after save %q", got)
	}

	b.step("policies", chromedp.Navigate(e.srv.URL+"/policies"), chromedp.WaitVisible(chromedp.ID("policies-table")))
	if got := b.text("#outdated-count"); got != "1 agent still on an older policy revision →" {
		t.Errorf("policies page says %q", got)
	}
	b.shot("policies")
	b.noProblems("policies page")

	b.step("alerts", chromedp.Navigate(e.srv.URL+"/alerts"), chromedp.WaitVisible(chromedp.CSS("table.alerts")))
	if got := b.eval(`String(document.querySelectorAll("table.alerts tbody tr").length)`); got != "2" {
		t.Errorf("alert rows %s, want 2", got)
	}
	if got := b.eval(`document.querySelector("table.alerts tbody tr").dataset.rule`); got != "disk:/" {
		t.Errorf("newest alert %q, want disk:/", got)
	}
	// The opening time is written in the reader's time zone, not in UTC.
	if got := b.text("table.alerts tbody tr time[data-local]"); got == "" || strings.Contains(got, "UTC") {
		t.Errorf("opened at %q, want a local time", got)
	}
	b.shot("alerts")
	b.noProblems("alerts page")

	b.step("agent page", chromedp.Navigate(e.srv.URL+"/agents/"+agent.ID), chromedp.WaitVisible(chromedp.ID("monitoring")))
	if got := b.text("#scope-policy"); !strings.Contains(got, "No policy assigned here") {
		t.Errorf("agent's own policy line %q", got)
	}
	b.step("agent metrics", chromedp.Navigate(e.srv.URL+"/agents/"+agent.ID+"/metrics"), chromedp.WaitVisible(chromedp.ID("charts")))
	b.waitFor("the charts drawn", `document.querySelectorAll("#charts figure canvas").length === 2`)
	b.noProblems("agent page")

	b.step("start maintenance on the site",
		chromedp.Navigate(e.srv.URL+"/sites/"+f.site.ID),
		chromedp.WaitVisible(chromedp.ID("maint-duration")))
	if got := b.text("[data-tz-label]"); !strings.HasSuffix(got, " time)") {
		t.Errorf("until label %q, want the reader's time zone", got)
	}
	b.eval(`document.getElementById("maint-duration").value = "4h"; ""`)
	b.step("submit the maintenance form",
		chromedp.SendKeys(chromedp.ID("maint-reason"), "Network switch replacement"),
		chromedp.Click(chromedp.CSS(`form[action="/maintenance"] button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(".maint-banner")))
	if got := b.text("#maintenance tbody td:nth-child(4)"); got != "Network switch replacement" {
		t.Errorf("window reason %q", got)
	}
	b.shot("site-maintenance")
	b.noProblems("site page")
}
