package web_test

import (
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/steward-rmm/steward/internal/alerting"
	"github.com/steward-rmm/steward/internal/bus"
	"github.com/steward-rmm/steward/internal/effective"
	"github.com/steward-rmm/steward/internal/protocol"
	"github.com/steward-rmm/steward/internal/store"
)

// machineAlerts is an alerting service on the env's database, recording
// what the gateway and the hub would.
func machineAlerts(e *testEnv) *alerting.Service {
	return alerting.New(e.db, effective.NewPolicies(e.db), bus.NewLocal(), slog.New(slog.DiscardHandler), nil)
}

func TestAgentMachineLife(t *testing.T) {
	t.Parallel()
	e := newSQLiteEnv(t)
	ctx := t.Context()
	al := machineAlerts(e)
	f := e.fixture("Acme Corp", "Head Office")
	online := e.enroll(f, linuxFacts("online-01"))
	e.connect(online, linuxFacts("online-01"))
	down := e.enroll(f, linuxFacts("down-01"))
	alive := e.enroll(f, linuxFacts("alive-01"))
	gone := e.enroll(f, linuxFacts("gone-01"))
	plain := e.enroll(f, linuxFacts("plain-01"))

	since := time.Now().Add(-5 * time.Minute)
	report := func(a store.Agent, state, reason string, services ...protocol.WatchedService) {
		t.Helper()
		err := al.Watchdog(ctx, a.ID, a.ClientID, a.SiteID, protocol.WatchdogReport{At: time.Now(), Services: services,
			Agent: protocol.AgentHealth{State: state, Reason: reason, Since: since, Restarts: 3}})
		if err != nil {
			t.Fatal(err)
		}
	}
	report(down, protocol.AgentHung, "no answer to <health> for 90s",
		protocol.WatchedService{Name: "Spooler", State: protocol.ServiceStopped, Reason: "exit 1", Alert: true},
		protocol.WatchedService{Name: "sshd", State: protocol.ServiceRunning, Alert: true})
	report(alive, protocol.AgentRunning, "")
	// A report on a connected agent says nothing on the page: it is there.
	report(online, protocol.AgentDown, "stale")
	if _, err := al.Uninstall(ctx, gone.ID, "msiexec /x", "192.0.2.9"); err != nil {
		t.Fatal(err)
	}
	if _, err := al.HelpRequest(ctx, down.ID, down.ClientID, down.SiteID, protocol.HelpRequest{
		ID: "help-1", User: "bob", Message: "<script>alert(1)</script> screen is black", At: time.Now()}); err != nil {
		t.Fatal(err)
	}

	b := e.signedIn(store.RoleTechnician)
	list := b.get("/agents")
	wantStatus(t, "agents", list, http.StatusOK)
	mustContain(t, "agents list", list.body,
		`<option value="uninstalled">Uninstalled</option>`,
		`<span class="presence uninstalled"><span class="dot off" aria-hidden="true"></span>Uninstalled</span>`,
		// The reason is the agent's text: escaped.
		`agent down, watchdog reporting: hung: no answer to &lt;health&gt; for 90s</span>`, `3 restarts)`,
		`watchdog alive, agent not connected`,
	)
	mustNotContain(t, "agents list", list.body, "stale")

	for _, c := range []struct {
		status string
		want   []string
	}{
		{"uninstalled", []string{"gone-01"}},
		{"offline", []string{"alive-01", "down-01", "plain-01"}},
		{"online", []string{"online-01"}},
		{"", []string{"alive-01", "down-01", "gone-01", "online-01", "plain-01"}},
	} {
		res := b.get("/agents?status=" + c.status)
		if got := hostnames(res.body); !slices.Equal(got, c.want) {
			t.Errorf("/agents?status=%s lists %v, want %v", c.status, got, c.want)
		}
	}

	// The home page counts the uninstalled agent neither online nor
	// offline, and does not list it as lost.
	home := b.get("/")
	mustContain(t, "home page", home.body, `<span class="n">3</span><span class="l"><span class="dot off" aria-hidden="true"></span>Offline</span>`,
		"down-01", "plain-01")
	mustNotContain(t, "home page", home.body, "gone-01")

	// The CSV export says it too.
	csv := b.get("/agents.csv?status=uninstalled")
	wantStatus(t, "agents.csv", csv, http.StatusOK)
	mustContain(t, "agents.csv", csv.body, gone.ID+",gone-01,Acme Corp,Head Office,uninstalled,")

	page := b.get("/agents/" + down.ID)
	wantStatus(t, "down agent page", page, http.StatusOK)
	mustContain(t, "down agent page", page.body,
		`agent down, watchdog reporting: hung: no answer to &lt;health&gt; for 90s`,
		`<h2 id="watched-title">Watched services</h2>`,
		`<td class="mono">Spooler</td>`, `<span class="badge service-stopped warn">stopped</span>`, `<td>exit 1</td>`,
		`<td class="mono">sshd</td>`, `<span class="badge service-running">running</span>`,
	)
	mustNotContain(t, "down agent page", page.body, "Delete record")
	mustContain(t, "alive agent page", b.get("/agents/"+alive.ID).body, "watchdog alive, agent not connected")
	mustNotContain(t, "plain agent page", b.get("/agents/"+plain.ID).body, "watchdog alive", "agent down", "Watched services")

	// The help request and the service alert are on the alerts page, the
	// user's text escaped.
	alerts := b.get("/alerts")
	mustContain(t, "alerts page", alerts.body, "Help requested by bob: &lt;script&gt;alert(1)&lt;/script&gt; screen is black",
		"Service Spooler stopped: exit 1")
	mustNotContain(t, "alerts page", alerts.body, "<script>alert(1)")
	mustContain(t, "agent alerts tab", b.get("/agents/"+down.ID+"/alerts").body, "Help requested by bob")

	gonePage := b.get("/agents/" + gone.ID)
	mustContain(t, "uninstalled agent page", gonePage.body, "Uninstalled", "(msiexec /x)",
		`action="/agents/`+gone.ID+`/delete"`, "Delete record")
	mustNotContain(t, "uninstalled agent page", gonePage.body, "Offline")

	// Only the record of an uninstalled agent can be deleted, and not by
	// a read-only user.
	ro := e.signedIn(store.RoleReadonly)
	mustNotContain(t, "uninstalled agent page for read-only", ro.get("/agents/"+gone.ID).body, "Delete record")
	wantStatus(t, "read-only delete", ro.post("/agents/"+gone.ID+"/delete", nil), http.StatusForbidden)
	res := b.post("/agents/"+down.ID+"/delete", url.Values{})
	if res.status < 400 {
		t.Errorf("delete of an installed agent: status %d, want refused", res.status)
	}
	res = b.post("/agents/"+gone.ID+"/delete", nil)
	wantStatus(t, "delete", res, http.StatusSeeOther)
	if _, err := e.db.Agent(ctx, gone.ID); err == nil {
		t.Error("agent still there after delete")
	}
	if _, err := e.db.Agent(ctx, down.ID); err != nil {
		t.Errorf("installed agent: %v", err)
	}
	entries, _, err := e.db.ListAudit(ctx, store.AuditFilter{TargetID: gone.ID}, store.Page{})
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, en := range entries {
		actions = append(actions, en.Action+" by "+en.ActorName)
	}
	if want := []string{"agent.delete by technician@example.com", "agent.uninstall by gone-01", "agent.enroll by gone-01"}; !slices.Equal(actions, want) {
		t.Errorf("audit = %v, want %v", actions, want)
	}
	wantStatus(t, "deleted agent page", b.get("/agents/"+gone.ID), http.StatusNotFound)
}
