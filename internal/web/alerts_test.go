package web_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/steward-rmm/steward/internal/store"
)

// openAlert stores an open alert of agent for rule, opened at.
func (e *testEnv) openAlert(a store.Agent, rule, severity string, at time.Time) store.Alert {
	e.t.Helper()
	al, ok, err := e.db.OpenAlert(context.Background(), store.Alert{
		AgentID: a.ID, Rule: rule, Metric: "cpu.percent", Severity: severity,
		Message: rule + " is high on " + a.Hostname, Value: 97, OpenedAt: at,
	})
	if err != nil || !ok {
		e.t.Fatalf("open alert %s of %s: ok %v, err %v", rule, a.Hostname, ok, err)
	}
	return al
}

// alertRules returns the rules of the alerts table rows, in order.
func alertRules(body string) []string {
	out := regexpAll(`<tr data-rule="([^"]*)">`, body)
	if out == nil {
		return []string{}
	}
	return out
}

// ruleRange names rules r<from> down to r<to>, newest first as the list
// shows them.
func ruleRange(from, to int, keep func(i int) bool) []string {
	out := []string{}
	for i := from; i >= to; i-- {
		if keep == nil || keep(i) {
			out = append(out, fmt.Sprintf("r%02d", i))
		}
	}
	return out
}

// alertFleet is two clients with one agent each: acme has alerts r00–r59
// (every third critical, the rest warning; r00–r04 resolved), globex has
// one info alert g00, the newest of all.
type alertFleet struct {
	acme, globex           fixture
	acmeAgent, globexAgent store.Agent
	alerts                 []store.Alert // acme's, by number
	info                   store.Alert
}

func seedAlerts(t *testing.T, e *testEnv) alertFleet {
	t.Helper()
	ctx := context.Background()
	var af alertFleet
	af.acme, af.globex = e.fixture("Acme", "HQ"), e.fixture("Globex", "Plant")
	af.acmeAgent, af.globexAgent = e.enroll(af.acme, linuxFacts("acme-01")), e.enroll(af.globex, linuxFacts("globex-01"))
	base := time.Now().Add(-2 * time.Hour).Truncate(time.Second)
	for i := range 60 {
		sev := "warning"
		if i%3 == 0 {
			sev = "critical"
		}
		af.alerts = append(af.alerts, e.openAlert(af.acmeAgent, fmt.Sprintf("r%02d", i), sev, base.Add(time.Duration(i)*time.Minute)))
	}
	for i := range 5 {
		if _, ok, err := e.db.ResolveAlert(ctx, af.alerts[i].ID, "system"); err != nil || !ok {
			t.Fatalf("resolve r%02d: ok %v, err %v", i, ok, err)
		}
	}
	af.info = e.openAlert(af.globexAgent, "g00", "info", base.Add(time.Hour))
	return af
}

func TestAlertsList(t *testing.T) {
	t.Parallel()
	e := newSQLiteEnv(t)
	af := seedAlerts(t, e)
	b := e.signedIn(store.RoleReadonly)

	critical := func(i int) bool { return i%3 == 0 }
	tests := []struct {
		path string
		want []string
	}{
		{"/alerts", append([]string{"g00"}, ruleRange(59, 11, nil)...)},
		{"/alerts?page=2", ruleRange(10, 5, nil)},
		{"/alerts?page=99", ruleRange(10, 5, nil)}, // past the end: the last page
		{"/alerts?state=resolved", ruleRange(4, 0, nil)},
		{"/alerts?state=open&severity=critical", ruleRange(59, 5, critical)},
		{"/alerts?severity=info", []string{"g00"}},
		{"/alerts?client=" + af.globex.client.ID, []string{"g00"}},
		{"/alerts?state=all&client=" + af.acme.client.ID + "&page=2", ruleRange(9, 0, nil)},
		{"/alerts?state=bogus&severity=bogus", append([]string{"g00"}, ruleRange(59, 11, nil)...)},
		{"/alerts?state=acknowledged", []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			res := b.get(tt.path)
			wantStatus(t, "GET "+tt.path, res, http.StatusOK)
			if diff := cmp.Diff(tt.want, alertRules(res.body)); diff != "" {
				t.Errorf("GET %s rules (-want +got):\n%s", tt.path, diff)
			}
		})
	}

	res := b.get("/alerts")
	mustContain(t, "alerts page", res.body,
		`<a href="/alerts" aria-current="page">Alerts <span class="nav-count" title="56 open alerts, not acknowledged">56</span></a>`,
		`<span class="badge sev-critical">critical</span>`, `<span class="badge sev-warning">warning</span>`, `<span class="badge sev-info">info</span>`,
		`<td class="host"><a href="/agents/`+af.acmeAgent.ID+`">acme-01</a></td>`,
		"r59 is high on acme-01", "Showing 1–50 of 56", `href="/alerts?page=2"`, `data-local>`)
	// Readonly users see the list but nothing to act with.
	mustNotContain(t, "readonly alerts page", res.body, `name="id"`, "Acknowledge selected", "/resolve")
	// Paging keeps the filters.
	res = b.get("/alerts?state=all&client=" + af.acme.client.ID)
	mustContain(t, "filtered alerts page", res.body, `href="/alerts?client=`+af.acme.client.ID+`&amp;page=2&amp;state=all"`)
}

func TestAlertsAcknowledgeAndResolve(t *testing.T) {
	t.Parallel()
	e := newSQLiteEnv(t)
	af := seedAlerts(t, e)
	ctx := context.Background()
	b := e.signedIn(store.RoleTechnician)

	page := b.get("/alerts?severity=critical")
	mustContain(t, "technician alerts page", page.body,
		`action="/alerts/acknowledge?severity=critical"`, `name="id" value="`+af.alerts[57].ID+`"`,
		`formaction="/alerts/`+af.alerts[57].ID+`/resolve?severity=critical"`, `name="csrf_token"`)
	mustNotContain(t, "technician alerts page", page.body, `name="id" value="`+af.alerts[0].ID+`"`) // resolved

	// r01 is resolved and stays so; an unknown id is skipped.
	ids := []string{af.alerts[57].ID, af.alerts[58].ID, af.alerts[1].ID, "no-such-alert"}
	res := b.post("/alerts/acknowledge?severity=critical&page=2", url.Values{"id": ids})
	wantStatus(t, "acknowledge", res, http.StatusSeeOther)
	if got, want := location(res), "/alerts?page=2&severity=critical"; got != want {
		t.Errorf("acknowledge redirects to %q, want %q", got, want)
	}
	for i, want := range map[int]string{57: store.AlertAcknowledged, 58: store.AlertAcknowledged, 1: store.AlertResolved, 56: store.AlertOpen} {
		a, err := e.db.Alert(ctx, af.alerts[i].ID)
		if err != nil {
			t.Fatal(err)
		}
		if a.State != want {
			t.Errorf("r%02d state %q, want %q", i, a.State, want)
		}
		if want == store.AlertAcknowledged && (a.AcknowledgedBy != "technician@example.com" || a.AcknowledgedAt.IsZero()) {
			t.Errorf("r%02d acknowledged by %q at %v, want technician@example.com at a time", i, a.AcknowledgedBy, a.AcknowledgedAt)
		}
	}
	// Acknowledging again changes nothing and audits nothing.
	wantStatus(t, "acknowledge again", b.post("/alerts/acknowledge", url.Values{"id": ids[:1]}), http.StatusSeeOther)

	res = b.post("/alerts/"+af.alerts[57].ID+"/resolve?state=all", nil)
	wantStatus(t, "resolve", res, http.StatusSeeOther)
	if got, want := location(res), "/alerts?state=all"; got != want {
		t.Errorf("resolve redirects to %q, want %q", got, want)
	}
	a, err := e.db.Alert(ctx, af.alerts[57].ID)
	if err != nil {
		t.Fatal(err)
	}
	if a.State != store.AlertResolved || a.ResolvedBy != "technician@example.com" || a.ResolvedAt.IsZero() {
		t.Errorf("after resolve: state %q by %q at %v, want resolved by technician@example.com", a.State, a.ResolvedBy, a.ResolvedAt)
	}
	wantStatus(t, "resolve again", b.post("/alerts/"+af.alerts[57].ID+"/resolve", nil), http.StatusSeeOther)
	wantStatus(t, "resolve unknown", b.post("/alerts/no-such-alert/resolve", nil), http.StatusNotFound)

	entries, _, err := e.db.ListAudit(ctx, store.AuditFilter{Action: "alert."}, store.Page{})
	if err != nil {
		t.Fatal(err)
	}
	type row struct{ Action, Target, Actor, Rule string }
	var got []row
	for _, en := range entries {
		got = append(got, row{en.Action, en.TargetType + " " + en.TargetID, en.ActorName, en.Detail["rule"]})
	}
	want := []row{
		{"alert.resolve", "alert " + af.alerts[57].ID, "technician@example.com", "r57"},
		{"alert.acknowledge", "alert " + af.alerts[58].ID, "technician@example.com", "r58"},
		{"alert.acknowledge", "alert " + af.alerts[57].ID, "technician@example.com", "r57"},
	}
	sortRows := cmp.Transformer("sort", func(rs []row) map[row]int {
		m := map[row]int{}
		for _, r := range rs {
			m[r]++
		}
		return m
	})
	// Entries written within one millisecond may list in either order.
	if diff := cmp.Diff(want, got, sortRows); diff != "" {
		t.Errorf("audit entries (-want +got):\n%s", diff)
	}
	// The nav counts open alerts only: of 56, r58 is acknowledged and r57 resolved.
	if res := b.get("/alerts"); !strings.Contains(res.body, `title="54 open alerts, not acknowledged">54</span>`) {
		t.Errorf("nav count after acknowledging one of 56 and resolving another: want 54 in\n%s", regexpFind(`(<a href="/alerts".*?</a>)`, res.body))
	}
}

func TestAlertsRefused(t *testing.T) {
	t.Parallel()
	e := newSQLiteEnv(t)
	af := seedAlerts(t, e)
	ctx := context.Background()
	id := af.alerts[59].ID

	ro := e.signedIn(store.RoleReadonly)
	for path, form := range map[string]url.Values{
		"/alerts/acknowledge":         {"id": {id}},
		"/alerts/" + id + "/resolve":  nil,
		"/alerts/acknowledge?page=2":  {"id": {id, af.alerts[58].ID}},
		"/alerts/no-such-id/resolve":  nil,
		"/alerts/acknowledge?state=x": nil,
	} {
		res := ro.post(path, form)
		wantStatus(t, "readonly POST "+path, res, http.StatusForbidden)
		mustContain(t, "readonly POST "+path, res.body, "Your role does not allow this.")
	}

	admin := e.signedIn(store.RoleAdmin)
	wantStatus(t, "acknowledge without CSRF", admin.postRaw("/alerts/acknowledge", url.Values{"id": {id}}), http.StatusForbidden)
	wantStatus(t, "resolve without CSRF", admin.postRaw("/alerts/"+id+"/resolve", nil), http.StatusForbidden)
	wantStatus(t, "acknowledge with a wrong CSRF token",
		admin.postRaw("/alerts/acknowledge", url.Values{"id": {id}, "csrf_token": {strings.Repeat("x", 43)}}), http.StatusForbidden)

	if a, err := e.db.Alert(ctx, id); err != nil || a.State != store.AlertOpen {
		t.Errorf("r59 after refused posts: state %q, err %v; want open", a.State, err)
	}
	if entries, _, err := e.db.ListAudit(ctx, store.AuditFilter{Action: "alert."}, store.Page{}); err != nil || len(entries) != 0 {
		t.Errorf("alert audit entries after refused posts: %d, err %v; want 0", len(entries), err)
	}
}

func TestHomeAlertCounts(t *testing.T) {
	t.Parallel()
	e := newSQLiteEnv(t)
	b := e.signedIn(store.RoleReadonly)

	tiles := func() string {
		t.Helper()
		res := b.get("/")
		wantStatus(t, "home", res, http.StatusOK)
		return strings.Join(regexpAll(`<a class="stat[^"]*" href="(/alerts[^"]*)"><span class="n">([0-9,]+)</span><span class="l">([^<]*)</span>`, res.body), " ")
	}
	if got, want := tiles(), "/alerts?severity=critical 0 Critical alerts /alerts?severity=warning 0 Warning alerts /alerts?severity=info 0 Info alerts"; got != want {
		t.Errorf("home alert tiles with no alerts %q, want %q", got, want)
	}

	seedAlerts(t, e) // 20 critical (2 resolved), 40 warning (3 resolved), 1 info: 56 unresolved
	if got, want := tiles(), "/alerts?severity=critical 18 Critical alerts /alerts?severity=warning 37 Warning alerts /alerts?severity=info 1 Info alerts"; got != want {
		t.Errorf("home alert tiles %q, want %q", got, want)
	}
	res := b.get("/")
	mustContain(t, "home", res.body, `<a class="stat sev-critical" href="/alerts?severity=critical">`,
		`<span class="nav-count" title="56 open alerts, not acknowledged">56</span>`)
	// The tiles link to lists with exactly those counts.
	mustContain(t, "critical list", b.get("/alerts?severity=critical").body, "of 18 alerts")
}

func TestAlertsSearchColumnsAndActions(t *testing.T) {
	t.Parallel()
	e := newSQLiteEnv(t)
	af := seedAlerts(t, e)
	ctx := context.Background()
	b := e.signedIn(store.RoleTechnician)

	// Client and site columns; the opening time written in the reader's zone by app.js.
	res := b.get("/alerts?q=GLOBEX")
	if got := alertRules(res.body); !cmp.Equal(got, []string{"g00"}) {
		t.Errorf("search GLOBEX rules %v, want [g00]", got)
	}
	mustContain(t, "searched alerts", res.body, `value="GLOBEX"`,
		`<a href="/clients/`+af.globex.client.ID+`">Globex</a>`, `<a href="/sites/`+af.globex.site.ID+`">Plant</a>`, `data-local>`)
	if got := alertRules(b.get("/alerts?q=r5").body); !cmp.Equal(got, ruleRange(59, 50, nil)) {
		t.Errorf("search r5 rules %v", got)
	}
	if got := alertRules(b.get("/alerts?q=nothing-like-it").body); len(got) != 0 {
		t.Errorf("search without match rules %v", got)
	}
	// The search is kept in the forms' return addresses.
	mustContain(t, "searched alerts", b.get("/alerts?q=r5").body,
		`formaction="/alerts/`+af.alerts[59].ID+`/acknowledge?q=r5"`, `formaction="/alerts/resolve?q=r5"`)

	// One row acknowledged by its own button.
	id := af.alerts[59].ID
	res = b.post("/alerts/"+id+"/acknowledge?q=r5", nil)
	wantStatus(t, "acknowledge one", res, http.StatusSeeOther)
	if got := location(res); got != "/alerts?q=r5" {
		t.Errorf("acknowledge one redirects to %q", got)
	}
	if a, _ := e.db.Alert(ctx, id); a.State != store.AlertAcknowledged {
		t.Errorf("after acknowledging: state %q", a.State)
	}
	// An acknowledged row can still be resolved, by itself or in bulk.
	page := b.get("/alerts?q=r59")
	mustContain(t, "acknowledged row", page.body, `name="id" value="`+id+`"`, `formaction="/alerts/`+id+`/resolve?q=r59"`, "acknowledged <span class=\"muted\">by technician@example.com</span>")
	mustNotContain(t, "acknowledged row", page.body, `/alerts/`+id+`/acknowledge`)

	res = b.post("/alerts/resolve?state=all", url.Values{"id": {id, af.alerts[58].ID}})
	wantStatus(t, "bulk resolve", res, http.StatusSeeOther)
	for _, i := range []int{58, 59} {
		if a, _ := e.db.Alert(ctx, af.alerts[i].ID); a.State != store.AlertResolved {
			t.Errorf("r%d after bulk resolve: state %q", i, a.State)
		}
	}
	reader := e.signedIn(store.RoleReadonly)
	wantStatus(t, "readonly bulk resolve", reader.post("/alerts/resolve", url.Values{"id": {af.alerts[57].ID}}), http.StatusForbidden)
	wantStatus(t, "readonly acknowledge", reader.post("/alerts/"+af.alerts[57].ID+"/acknowledge", nil), http.StatusForbidden)
	if a, _ := e.db.Alert(ctx, af.alerts[57].ID); a.State != store.AlertOpen {
		t.Errorf("r57 after refused posts: state %q", a.State)
	}
}
