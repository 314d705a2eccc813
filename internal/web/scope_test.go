package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/steward-rmm/steward/internal/effective"
	"github.com/steward-rmm/steward/internal/store"
)

func TestAlertCountsOnClientsAndSites(t *testing.T) {
	t.Parallel()
	e := newSQLiteEnv(t)
	acme, globex := e.fixture("Acme", "HQ"), e.fixture("Globex", "Plant")
	branch, err := e.mgr.CreateSite(context.Background(), consolePrincipal(), acme.client.ID, "Branch")
	if err != nil {
		t.Fatal(err)
	}
	hq1, hq2 := e.enroll(acme, linuxFacts("hq-01")), e.enroll(acme, linuxFacts("hq-02"))
	g1 := e.enroll(globex, linuxFacts("plant-01"))
	now := time.Now()
	e.openAlert(hq1, "cpu", "critical", now)
	e.openAlert(hq1, "memory", "warning", now)
	e.openAlert(hq2, "cpu", "warning", now)
	resolved := e.openAlert(g1, "cpu", "critical", now)
	if _, _, err := e.db.ResolveAlert(context.Background(), resolved.ID, "tester"); err != nil {
		t.Fatal(err)
	}
	b := e.signedIn(store.RoleReadonly)

	res := b.get("/clients")
	wantStatus(t, "clients", res, http.StatusOK)
	mustContain(t, "clients list", res.body,
		`href="/alerts?client=`+acme.client.ID+`&amp;severity=critical" title="1 unresolved critical alert">1 critical</a>`,
		`href="/alerts?client=`+acme.client.ID+`&amp;severity=warning" title="2 unresolved warning alerts">2 warning</a>`)
	// Globex's only alert is resolved: no badge.
	mustNotContain(t, "clients list", res.body, `client=`+globex.client.ID+`&amp;severity`)

	res = b.get("/clients/" + acme.client.ID)
	wantStatus(t, "client page", res, http.StatusOK)
	mustContain(t, "client page", res.body, `id="monitoring"`,
		`href="/alerts?client=`+acme.client.ID+`&amp;severity=critical">1 critical</a>`,
		`href="/alerts?client=`+acme.client.ID+`&amp;severity=info">0 info</a>`,
		// The sites table counts per site, linked to the site's alerts.
		`href="/alerts?client=`+acme.client.ID+`&amp;severity=warning&amp;site=`+acme.site.ID+`"`)
	mustNotContain(t, "client page", res.body, `severity=warning&amp;site=`+branch.ID)

	res = b.get("/sites/" + acme.site.ID)
	wantStatus(t, "site page", res, http.StatusOK)
	mustContain(t, "site page", res.body, `>2 warning</a>`, `href="/alerts?client=`+acme.client.ID+`&amp;site=`+acme.site.ID+`">All alerts of this site`)

	// The alerts list follows a site filter, and keeps it when refiltered.
	res = b.get("/alerts?client=" + acme.client.ID + "&site=" + acme.site.ID + "&severity=warning")
	wantStatus(t, "alerts by site", res, http.StatusOK)
	if got := alertRules(res.body); strings.Join(got, ",") != "cpu,memory" && strings.Join(got, ",") != "memory,cpu" {
		t.Errorf("site's warning alerts: rules %v, want cpu and memory", got)
	}
	mustContain(t, "alerts by site", res.body, `<option value="`+acme.site.ID+`" selected>HQ</option>`, `<option value="`+branch.ID+`">Branch</option>`)
	// A site without its client keeps the filter in a hidden field.
	res = b.get("/alerts?site=" + acme.site.ID)
	mustContain(t, "alerts by site alone", res.body, "Only site HQ (Acme)", `<input type="hidden" name="site" value="`+acme.site.ID+`">`)
	res = b.get("/alerts?site=" + branch.ID)
	if got := alertRules(res.body); len(got) != 0 {
		t.Errorf("branch alerts %v, want none", got)
	}
	res = b.get("/alerts?agent=" + hq2.ID)
	if got := alertRules(res.body); strings.Join(got, ",") != "cpu" {
		t.Errorf("hq-02 alerts %v, want [cpu]", got)
	}
	mustContain(t, "alerts by agent", res.body, "Only agent hq-02")

	// The agent page counts the agent's own.
	res = b.get("/agents/" + hq1.ID)
	wantStatus(t, "agent page", res, http.StatusOK)
	mustContain(t, "agent page", res.body, `href="/alerts?agent=`+hq1.ID+`&amp;severity=critical">1 critical</a>`)
}

func TestMaintenanceWindows(t *testing.T) {
	t.Parallel()
	e := newSQLiteEnv(t)
	f := e.fixture("Acme", "HQ")
	other := e.fixture("Globex", "Plant")
	a := e.enroll(f, linuxFacts("hq-01"))
	tech := e.signedIn(store.RoleTechnician)

	res := tech.post("/maintenance", url.Values{"level": {"site"}, "target_id": {f.site.ID}, "duration": {"2h"},
		"reason": {"Switch replacement"}, "next": {"/sites/" + f.site.ID}})
	wantStatus(t, "start maintenance", res, http.StatusSeeOther)
	if location(res) != "/sites/"+f.site.ID {
		t.Errorf("after start to %s", location(res))
	}
	ws, err := e.db.ListMaintenanceWindows(context.Background())
	if err != nil || len(ws) != 1 {
		t.Fatalf("windows %v, %v; want one", ws, err)
	}
	if d := ws[0].EndsAt.Sub(ws[0].StartsAt); d != 2*time.Hour || ws[0].Reason != "Switch replacement" || ws[0].CreatedBy != "technician@example.com" {
		t.Errorf("window %+v", ws[0])
	}
	entries, _, _ := e.db.ListAudit(context.Background(), store.AuditFilter{Action: "maintenance.start"}, store.Page{Limit: 5})
	if len(entries) != 1 {
		t.Errorf("%d maintenance.start audit entries, want 1", len(entries))
	}

	res = tech.get("/sites/" + f.site.ID)
	mustContain(t, "site page", res.body, "in maintenance", "Switch replacement", `action="/maintenance/`+ws[0].ID+`/end"`)
	// The site's agent is covered through its site; its client is not.
	res = tech.get("/agents/" + a.ID)
	mustContain(t, "agent page", res.body, "in maintenance", "via site HQ")
	mustNotContain(t, "client page", tech.get("/clients/"+f.client.ID).body, "in maintenance", "Switch replacement")
	// Lists mark what is under maintenance.
	mustContain(t, "client's sites", tech.get("/clients/"+f.client.ID).body, `HQ</a> <span class="badge maint">maintenance</span>`)
	mustNotContain(t, "clients list", tech.get("/clients").body, `badge maint`)
	mustNotContain(t, "other site", tech.get("/sites/"+other.site.ID).body, "in maintenance")

	// Until a UTC time.
	until := time.Now().UTC().Add(3 * time.Hour).Truncate(time.Minute)
	res = tech.post("/maintenance", url.Values{"level": {"agent"}, "target_id": {a.ID}, "until": {until.Format("2006-01-02T15:04")}})
	wantStatus(t, "start until", res, http.StatusSeeOther)
	if location(res) != "/agents/"+a.ID {
		t.Errorf("after start to %s, want the agent page", location(res))
	}
	ws, _ = e.db.ListMaintenanceWindows(context.Background())
	if len(ws) != 2 || !ws[1].EndsAt.Equal(until) {
		t.Errorf("windows %+v, want a second one ending %s", ws, until)
	}
	// Until the reader's local time, which the browser sends in UTC; it
	// wins over the field it was converted from.
	local := time.Now().Add(5 * time.Hour).Truncate(time.Minute).In(time.FixedZone("UTC+2", 2*3600))
	res = tech.post("/maintenance", url.Values{"level": {"agent"}, "target_id": {a.ID}, "until": {local.Format("2006-01-02T15:04")},
		"until_utc": {local.UTC().Format("2006-01-02T15:04:05.000Z")}})
	wantStatus(t, "start until a local time", res, http.StatusSeeOther)
	ws, _ = e.db.ListMaintenanceWindows(context.Background())
	if len(ws) != 3 || !ws[2].EndsAt.Equal(local) {
		t.Errorf("windows %+v, want a third one ending %s", ws, local.UTC())
	}
	mustContain(t, "agent page", tech.get("/agents/"+a.ID).body, `<span data-tz-label>(UTC)</span>`, `name="until_utc"`, `data-local>`)

	for _, bad := range []url.Values{
		{"level": {"site"}, "target_id": {f.site.ID}, "duration": {"forever"}},
		{"level": {"site"}, "target_id": {f.site.ID}, "duration": {"10s"}},
		{"level": {"site"}, "target_id": {f.site.ID}, "until": {"2001-01-01T00:00"}},
		{"level": {"default"}, "target_id": {""}, "duration": {"1h"}},
		{"level": {"site"}, "target_id": {store.NewID()}, "duration": {"1h"}},
	} {
		res := tech.post("/maintenance", bad)
		wantStatus(t, "start "+bad.Encode(), res, http.StatusBadRequest)
	}

	ro := e.signedIn(store.RoleReadonly)
	res = ro.get("/sites/" + f.site.ID)
	mustContain(t, "readonly site page", res.body, "in maintenance")
	mustNotContain(t, "readonly site page", res.body, `action="/maintenance"`, "/end\"", `action="/assignments"`)
	wantStatus(t, "readonly start", ro.post("/maintenance", url.Values{"level": {"site"}, "target_id": {f.site.ID}, "duration": {"1h"}}), http.StatusForbidden)
	wantStatus(t, "readonly end", ro.post("/maintenance/"+ws[0].ID+"/end", nil), http.StatusForbidden)
	wantStatus(t, "end without CSRF", tech.postRaw("/maintenance/"+ws[0].ID+"/end", nil), http.StatusForbidden)

	res = tech.post("/maintenance/"+ws[0].ID+"/end", url.Values{"next": {"/sites/" + f.site.ID}})
	wantStatus(t, "end", res, http.StatusSeeOther)
	mustNotContain(t, "site page after end", tech.get("/sites/"+f.site.ID).body, "Switch replacement")
	wantStatus(t, "end again", tech.post("/maintenance/"+ws[0].ID+"/end", nil), http.StatusNotFound)

	// A client's window covers its sites, and the clients list marks it.
	if _, err := e.mgr.StartMaintenance(context.Background(), consolePrincipal(), store.LevelClient, other.client.ID, time.Time{}, time.Hour, "audit"); err != nil {
		t.Fatal(err)
	}
	mustContain(t, "clients list", tech.get("/clients").body, `Globex</a> <span class="badge maint">maintenance</span>`)
	mustContain(t, "other client's site", tech.get("/sites/"+other.site.ID).body, "in maintenance", "via client Globex")
}

func TestScopePolicyAssignment(t *testing.T) {
	t.Parallel()
	e := newSQLiteEnv(t)
	f := e.fixture("Acme", "HQ")
	srv := e.mustPolicy("Servers", `{}`)
	admin := e.signedIn(store.RoleAdmin)

	res := admin.get("/clients/" + f.client.ID)
	mustContain(t, "client page", res.body, "No policy assigned here", `<input type="hidden" name="level" value="client">`)
	res = admin.post("/assignments", url.Values{"level": {"client"}, "target_id": {f.client.ID}, "policy_id": {srv.ID}, "next": {"/clients/" + f.client.ID}})
	wantStatus(t, "assign on the client page", res, http.StatusSeeOther)
	res = admin.get("/clients/" + f.client.ID)
	mustContain(t, "client page", res.body, `<a href="/policies/`+srv.ID+`?at=client:`+f.client.ID+`">Servers</a> is assigned`,
		`<option value="`+srv.ID+`" selected>`, `action="/assignments/remove"`)
	// Technicians see the policy but cannot change it.
	tech := e.signedIn(store.RoleTechnician)
	res = tech.get("/clients/" + f.client.ID)
	mustContain(t, "technician's client page", res.body, ">Servers</a> is assigned")
	mustNotContain(t, "technician's client page", res.body, `action="/assignments`)
	wantStatus(t, "technician assigns", tech.post("/assignments", url.Values{"level": {"client"}, "target_id": {f.client.ID}, "policy_id": {store.DefaultPolicyID}}), http.StatusForbidden)
	res = admin.post("/assignments/remove", url.Values{"level": {"client"}, "target_id": {f.client.ID}, "next": {"/clients/" + f.client.ID}})
	wantStatus(t, "unassign", res, http.StatusSeeOther)
	mustContain(t, "client page", admin.get("/clients/"+f.client.ID).body, "No policy assigned here")
	// next must stay on this site.
	res = admin.post("/assignments", url.Values{"level": {"client"}, "target_id": {f.client.ID}, "policy_id": {srv.ID}, "next": {"//evil.example/"}})
	if location(res) != "/clients/"+f.client.ID {
		t.Errorf("assign with a foreign next went to %q", location(res))
	}
}

func TestOlderPolicyRevision(t *testing.T) {
	t.Parallel()
	e := newSQLiteEnv(t)
	f := e.fixture("Acme", "HQ")
	a1, a2 := e.enroll(f, linuxFacts("alpha")), e.enroll(f, linuxFacts("bravo"))
	eff, err := effective.NewPolicies(e.db).Agent(context.Background(), a1.ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.db.WithTx(context.Background(), func(tx *store.Tx) error { return tx.SetPolicyRevision(context.Background(), a1.ID, eff.Revision()) }); err != nil {
		t.Fatal(err)
	}
	b := e.signedIn(store.RoleReadonly)

	res := b.get("/")
	mustContain(t, "home", res.body, `href="/policies/outdated"><span class="n">1</span>`)
	res = b.get("/policies")
	mustContain(t, "policies page", res.body, "1 agent still on an older policy revision")
	res = b.get("/policies/outdated")
	wantStatus(t, "outdated", res, http.StatusOK)
	if got := hostnames(res.body); strings.Join(got, ",") != "bravo" {
		t.Errorf("outdated agents %v, want [bravo]", got)
	}
	mustContain(t, "outdated", res.body, "none acknowledged", eff.Revision())

	// A change to the site's policy leaves both behind until they acknowledge.
	p := e.mustPolicy("Tighter", `{"thresholds": {"cpu": {"trigger": 70, "clear": 60}}}`)
	e.mustAssign(store.LevelSite, f.site.ID, p.ID)
	if got := hostnames(b.get("/policies/outdated").body); strings.Join(got, ",") != "alpha,bravo" {
		t.Errorf("outdated agents after a change %v, want [alpha bravo]", got)
	}
	_ = a2
	mustContain(t, "home", b.get("/").body, `href="/policies/outdated"><span class="n">2</span>`)
}
