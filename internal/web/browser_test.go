package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"

	"github.com/steward-rmm/steward/internal/bus"
	"github.com/steward-rmm/steward/internal/protocol"
	"github.com/steward-rmm/steward/internal/store"
)

// EnvScreenshots names a directory where TestBrowser saves screenshots of
// the pages it visits, for looking at the design.
const EnvScreenshots = "STEWARD_WEB_SCREENSHOTS"

// problemRecorder runs in every page before its own scripts and records
// CSP violations and uncaught errors, which would otherwise pass silently,
// and notes when the event stream opens.
const problemRecorder = `window.__problems = [];
document.addEventListener("securitypolicyviolation", function (e) {
  window.__problems.push("CSP " + e.violatedDirective + " blocked " + (e.blockedURI || "inline") + " at " + e.sourceFile + ":" + e.lineNumber);
});
window.addEventListener("error", function (e) { window.__problems.push("error: " + e.message); });
window.addEventListener("unhandledrejection", function (e) { window.__problems.push("rejection: " + e.reason); });
document.addEventListener("htmx:sseOpen", function () { window.__sseOpen = true; });`

func chromiumPath() string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "headless-shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// TestBrowser drives the dashboard in headless Chromium: strict CSP with no
// violation, login, the search box filtering as one types, "/" focusing
// it, a live presence update without reload, the dark mode toggle
// surviving a reload, and the install-command tabs.
func TestBrowser(t *testing.T) {
	t.Parallel()
	chromium := requireChromium(t)
	e := newSQLiteEnv(t)
	f := e.fixture("Acme Corp", "Head Office")
	for i := range 60 {
		a := e.enroll(f, linuxFacts(fmt.Sprintf("ws-%02d", i)))
		if i%2 == 0 {
			e.connect(a, linuxFacts(a.Hostname))
		}
	}
	target := e.enroll(f, linuxFacts("target-host"))
	u := e.user(store.RoleAdmin)

	hb := newHeadless(t, chromium, 1366, 768)
	ctx := hb.ctx
	step, eval, waitFor, noProblems, shot := hb.step, hb.eval, hb.waitFor, hb.noProblems, hb.shot

	// Sign in, landing where we were going.
	step("open agents signed out", chromedp.Navigate(e.srv.URL+"/agents?status=offline"), chromedp.WaitVisible(chromedp.ID("email")))
	noProblems("login page")
	shot("login")
	step("sign in",
		chromedp.SendKeys(chromedp.ID("email"), u.Email),
		chromedp.SendKeys(chromedp.ID("password"), testPassword),
		chromedp.Click(chromedp.CSS("form button[type=submit]")),
		chromedp.WaitVisible(chromedp.ID("agents-table")))
	if got := eval(`location.pathname + location.search`); got != "/agents?status=offline" {
		t.Errorf("after login at %q, want /agents?status=offline", got)
	}
	waitFor("htmx and the SSE extension", `!!(window.htmx && htmx.version === "2.0.11")`)
	noProblems("agents page")

	step("all agents", chromedp.Navigate(e.srv.URL+"/agents"), chromedp.WaitVisible(chromedp.ID("agents-table")))
	shot("agents")
	if got := eval(`String(document.querySelectorAll("#agents-table tbody tr").length)`); got != "50" {
		t.Errorf("agents rows %s, want 50", got)
	}
	// The column chooser adds a column in place, and the URL keeps it.
	eval(`window.__samePage = true; ""`)
	step("open the column chooser", chromedp.Click(chromedp.CSS(".columns-chooser summary")))
	step("show IP addresses", chromedp.Click(chromedp.CSS(`.columns-chooser input[value="ip"]`)))
	waitFor("the IP column", `[...document.querySelectorAll("#agents-table th")].some(th => th.textContent.trim() === "IP address")`)
	waitFor("the URL to keep the columns", `/col=/.test(location.search)`)
	if got := eval(`String(window.__samePage)`); got != "true" {
		t.Error("the column chooser reloaded the page")
	}
	step("hide IP addresses", chromedp.Click(chromedp.CSS(`.columns-chooser input[value="ip"]`)))
	waitFor("the default columns again", `location.search === ""`)
	eval(`document.activeElement.blur(); document.querySelector(".columns-chooser").open = false; ""`)

	// "/" focuses the search box; typing filters without a page load.
	eval(`window.__samePage = true; ""`)
	// One keyDown carrying the text, as a real keyboard sends it (chromedp's
	// KeyEvent sends a separate char event that preventDefault cannot stop).
	for _, typ := range []input.DispatchKeyEventType{input.DispatchKeyEventTypeKeyDown, input.DispatchKeyEventTypeKeyUp} {
		p := input.DispatchKeyEventParams{Type: typ, Key: "/", Code: "Slash", WindowsVirtualKeyCode: 191}
		if typ == input.DispatchKeyEventTypeKeyDown {
			p.Text, p.UnmodifiedText = "/", "/"
		}
		if _, err := chromedp.Call(ctx, input.DispatchKeyEvent, p); err != nil {
			t.Fatal(err)
		}
	}
	if got := eval(`document.activeElement.id + "=" + document.activeElement.value`); got != "q=" {
		t.Errorf(`after "/" the focused element is %q, want the empty search box`, got)
	}
	step("type a search", chromedp.KeyEvent("target"))
	waitFor("one search result", `document.querySelectorAll("#agents-table tbody tr").length === 1`)
	waitFor("the URL to follow the search", `location.search === "?q=target"`)
	if got := eval(`String(window.__samePage)`); got != "true" {
		t.Error("the search reloaded the page")
	}
	if got := eval(`document.querySelector("#agents-table td.host").textContent`); got != "target-host" {
		t.Errorf("search result %q, want target-host", got)
	}

	// The agent comes online: the row updates live.
	if got := eval(`String(!!document.querySelector("#agents-table .dot.on"))`); got != "false" {
		t.Fatal("target-host shows online before connecting")
	}
	waitFor("the event stream", `window.__sseOpen === true`)
	e.connect(target, linuxFacts("target-host"))
	data, _ := json.Marshal(bus.PresenceEvent{AgentID: target.ID, ClientID: f.client.ID, Online: true})
	// The stream may still be connecting; publish until the page reacts.
	deadline := time.Now().Add(10 * time.Second)
	for eval(`String(!!document.querySelector("#agents-table .dot.on"))`) != "true" {
		if time.Now().After(deadline) {
			t.Fatal("presence change did not reach the agents table")
		}
		if err := e.bus.Publish(context.Background(), bus.SubjectPresence, data); err != nil {
			t.Fatal(err)
		}
		time.Sleep(300 * time.Millisecond)
	}
	if got := eval(`String(window.__samePage)`); got != "true" {
		t.Error("the live update reloaded the page")
	}
	noProblems("agents page after search and live update")

	// Choosing a client brings its site filter in, without a reload.
	step("clear the search", chromedp.Navigate(e.srv.URL+"/agents"), chromedp.WaitVisible(chromedp.ID("client")))
	eval(`window.__samePage = true; var c = document.getElementById("client"); c.value = c.options[1].value; c.dispatchEvent(new Event("change", {bubbles: true})); ""`)
	waitFor("the site select", `!!document.querySelector("#site option[value='`+f.site.ID+`']")`)
	waitFor("the URL to follow the client", `location.search === "?client=`+f.client.ID+`"`)
	if got := eval(`String(window.__samePage)`); got != "true" {
		t.Error("choosing a client reloaded the page")
	}

	// The agent page is tabs; the metrics tab charts the samples with
	// uPlot under the same CSP, folds away an interface without traffic
	// and labels a small axis without repeating itself.
	now := time.Now().UTC()
	var samples []protocol.Sample
	for i := range 55 {
		at := now.Add(time.Duration(i-55) * time.Minute)
		x := float64(i)
		samples = append(samples, protocol.Sample{Time: at, Values: map[string]float64{
			"cpu.percent": 20 + 15*math.Sin(x/6), "memory.percent": 55 + x/5, "disk.percent:/": 61,
			"net.rx_bytes_per_s:eth0": 2e5 + 1e5*math.Sin(x/4), "net.tx_bytes_per_s:eth0": 5e4 + 2e4*math.Cos(x/5),
			"net.rx_bytes_per_s:ifb0": 0, "net.tx_bytes_per_s:ifb0": 0,
			"net.rx_bytes_per_s:lo": float64(i % 2), "net.tx_bytes_per_s:lo": float64(i % 2),
		}})
	}
	e.ingest(target.ID, samples...)
	step("agent page", chromedp.Navigate(e.srv.URL+"/agents/"+target.ID), chromedp.WaitVisible(chromedp.ID("agent-live")))
	if got := eval(`[...document.querySelectorAll(".agent-tabs a")].map(a => a.textContent).join(",")`); got != "Overview,Metrics,Inventory,Software,Policy,Alerts,History,Updates,Scripts,Actions" {
		t.Errorf("agent tabs %q", got)
	}
	if got := eval(`String(document.documentElement.scrollHeight <= 2000)`); got != "true" {
		t.Errorf("overview is %s px tall, want at most 2000", eval(`String(document.documentElement.scrollHeight)`))
	}
	shot("agent-tabs")
	step("metrics tab", chromedp.Click(chromedp.CSS(`.agent-tabs a[href$="/metrics"]`)), chromedp.WaitVisible(chromedp.ID("charts")))
	waitFor("every chart drawn", `document.querySelectorAll("#charts figure:not([hidden]) canvas").length === 5`)
	waitFor("the idle interface folded", `/ifb0/.test(document.querySelector("[data-idle-note]").textContent)`)
	if got := eval(`[...document.querySelectorAll("#charts figure")].filter(f => f.hidden).map(f => f.querySelector("figcaption").textContent).join(",")`); got != "Network ifb0" {
		t.Errorf("hidden charts %q, want Network ifb0", got)
	}
	// The loopback chart carries 0-1 B/s: no two labels of its axis read the same.
	labels := eval(`[...document.querySelectorAll("#charts figure")].find(f => / lo$/.test(f.querySelector("figcaption").textContent)).getAttribute("data-y-labels") || ""`)
	if ls := strings.Split(labels, "|"); len(ls) < 2 || len(ls) != len(slices.Compact(slices.Clone(ls))) {
		t.Errorf("loopback y axis labels %q, want at least two, all different", labels)
	}
	shot("agent-metrics")
	step("24h range", chromedp.Click(chromedp.CSS(`[data-range="24h"]`)))
	waitFor("the 24h button pressed", `document.querySelector('[data-range="24h"]').getAttribute("aria-pressed") === "true"`)
	waitFor("the charts redrawn", `document.querySelectorAll("#charts figure:not([hidden]) canvas").length === 5`)
	step("dark charts", chromedp.Click(chromedp.CSS("[data-theme-toggle]")))
	waitFor("the charts redrawn dark", `document.querySelectorAll("#charts figure:not([hidden]) canvas").length === 5`)
	shot("agent-charts")
	step("light again", chromedp.Click(chromedp.CSS("[data-theme-toggle]")))
	noProblems("agent metrics tab")
	step("policy tab", chromedp.Click(chromedp.CSS(`.agent-tabs a[href$="/policy"]`)), chromedp.WaitVisible(chromedp.ID("policy")))
	shot("agent-policy")
	noProblems("agent policy tab")
	// The updates tab (TestBrowserReleases drives its forms).
	step("updates tab", chromedp.Click(chromedp.CSS(`.agent-tabs a[href$="/updates"]`)), chromedp.WaitVisible(chromedp.ID("update-channel")))
	if got := hb.text("#agent-update p"); !strings.Contains(got, "Channel stable, the default") {
		t.Errorf("updates tab says %q, want the default stable channel", got)
	}
	noProblems("agent updates tab")

	// The inventory tab shows hardware and the refresh; the software tab
	// filters in place as one types.
	pkgs := []protocol.Software{deb("firefox", "129.0"), deb("curl", "8.5.0"), deb("openssh-server", "9.6p1")}
	for i := range 60 {
		pkgs = append(pkgs, deb(fmt.Sprintf("lib-%02d", i), "1.0"))
	}
	e.report(target.ID, webReport(now.Add(-time.Hour), pkgs...))
	step("inventory tab", chromedp.Navigate(e.srv.URL+"/agents/"+target.ID+"/inventory"), chromedp.WaitVisible(chromedp.CSS("#inventory .facts")))
	eval(`window.__samePage = true; ""`)
	shot("agent-inventory")
	waitFor("the refresh form handled by htmx", `(() => {
		const f = document.querySelector('#inventory form[action$="/inventory/refresh"]');
		return !!f && f["htmx-internal-data"] !== undefined;
	})()`)
	step("refresh inventory", chromedp.Click(chromedp.CSS(`#inventory form[action$="/inventory/refresh"] button`)))
	waitFor("the refresh pending", `/waiting for the agent/.test(document.getElementById("inventory").textContent)`)
	if got := eval(`String(window.__samePage)`); got != "true" {
		t.Error("the inventory refresh reloaded the page")
	}
	step("software tab", chromedp.Navigate(e.srv.URL+"/agents/"+target.ID+"/software"), chromedp.WaitVisible(chromedp.CSS("#software table.software")))
	eval(`window.__samePage = true; ""`)
	// The pager swaps the table in place and the URL follows it.
	waitFor("the pager handled by htmx", `(() => { const a = document.querySelector('#software a[rel=next]'); return !!a && a["htmx-internal-data"] !== undefined; })()`)
	step("next software page", chromedp.Click(chromedp.CSS(`#software a[rel=next]`)))
	waitFor("the second page", `location.search === "?page=2" && document.querySelectorAll("#software table.software tbody tr").length === 13`)
	if got := eval(`String(window.__samePage)`); got != "true" {
		t.Error("the software pager reloaded the page")
	}
	// Type only once htmx has taken over the swapped-in filter form.
	waitFor("the filter form handled by htmx", `(() => {
		const f = document.querySelector('#software form[role=search]');
		return !!f && f["htmx-internal-data"] !== undefined && !document.querySelector(".htmx-settling, .htmx-swapping");
	})()`)
	step("filter software", chromedp.SendKeys(chromedp.ID("software-q"), "ssh"))
	waitFor("one software row", `document.querySelectorAll("#software table.software tbody tr").length === 1`)
	waitFor("the URL to follow the filter", `location.search === "?q=ssh"`)
	if got := eval(`String(window.__samePage)`); got != "true" {
		t.Error("the software filter reloaded the page")
	}
	shot("agent-software")
	step("software page", chromedp.Navigate(e.srv.URL+"/software?name=fire"), chromedp.WaitVisible(chromedp.CSS("table.software-titles")))
	shot("software")
	noProblems("inventory and software pages")

	// The audit log fits the window: long details wrap.
	step("audit log", chromedp.Navigate(e.srv.URL+"/audit"), chromedp.WaitVisible(chromedp.CSS("table.audit")))
	if got := eval(`String(document.documentElement.scrollWidth <= innerWidth)`); got != "true" {
		t.Errorf("audit page is %s px wide in a %s px window", eval(`String(document.documentElement.scrollWidth)`), eval(`String(innerWidth)`))
	}
	shot("audit-web")
	noProblems("audit page")

	// Dark mode toggles, persists, and applies before paint on reload.
	step("home", chromedp.Navigate(e.srv.URL+"/"), chromedp.WaitVisible(chromedp.ID("home-live")))
	light := eval(`getComputedStyle(document.body).backgroundColor`)
	step("toggle dark mode", chromedp.Click(chromedp.CSS("[data-theme-toggle]")))
	if got := eval(`document.documentElement.getAttribute("data-theme")`); got != "dark" {
		t.Errorf("data-theme after toggle %q, want dark", got)
	}
	step("reload", chromedp.Reload(), chromedp.WaitVisible(chromedp.ID("home-live")))
	dark := eval(`getComputedStyle(document.body).backgroundColor`)
	if dark == light || eval(`document.documentElement.getAttribute("data-theme")`) != "dark" {
		t.Errorf("after reload: background %s (light was %s), want the dark theme kept", dark, light)
	}
	shot("home-dark")
	noProblems("home page")

	// A new token shows tabs of install commands.
	step("site page", chromedp.Navigate(e.srv.URL+"/sites/"+f.site.ID), chromedp.WaitVisible(chromedp.ID("expires_in")))
	shot("site-dark")
	step("create token", chromedp.Click(chromedp.CSS(`form[action$="/tokens"] button[type=submit]`)), chromedp.WaitVisible(chromedp.ID("token-secret")))
	if got := eval(`[...document.querySelectorAll("[role=tabpanel]")].map(function (p) { return p.hidden ? "-" : p.id; }).join(",")`); got != "panel-linux,-,-" {
		t.Errorf("tab panels before a click: %s", got)
	}
	step("windows tab", chromedp.Click(chromedp.ID("tab-windows")))
	if got := eval(`[...document.querySelectorAll("[role=tabpanel]")].map(function (p) { return p.hidden ? "-" : p.id; }).join(",")`); got != "-,panel-windows,-" {
		t.Errorf("tab panels after clicking Windows: %s", got)
	}
	step("light mode again", chromedp.Click(chromedp.CSS("[data-theme-toggle]")))
	shot("token")
	noProblems("token page")
	if !strings.Contains(eval(`document.getElementById("cmd-windows").textContent`), "Invoke-WebRequest") {
		t.Error("windows panel has no PowerShell command")
	}
}
