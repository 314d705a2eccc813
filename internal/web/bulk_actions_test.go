package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/steward-rmm/steward/internal/protocol"
	"github.com/steward-rmm/steward/internal/servertest"
	"github.com/steward-rmm/steward/internal/store"
)

func TestBulkPowerAndPolicy(t *testing.T) {
	eachEnv(t, testBulkPowerAndPolicy)
}

func testBulkPowerAndPolicy(t *testing.T, e *testEnv) {
	f := e.fixture("Acme", "HQ")
	other := e.fixture("Globex", "Plant")
	a1, a2 := e.enroll(f, linuxFacts("acme-ws-01")), e.enroll(f, linuxFacts("acme-ws-02"))
	g1 := e.enroll(other, linuxFacts("globex-01"))
	gone := e.enroll(f, linuxFacts("acme-gone"))
	if _, err := machineAlerts(e).Uninstall(t.Context(), gone.ID, "msiexec /x", "192.0.2.9"); err != nil {
		t.Fatal(err)
	}
	fake1, fake2 := servertest.NewFakeActions(), servertest.NewFakeActions()
	e.connectActions(a1, linuxFacts("acme-ws-01"), fake1)
	e.connectActions(a2, linuxFacts("acme-ws-02"), fake2)
	watcher := e.connect(g1, linuxFacts("globex-01"))
	admin, tech, ro := e.signedIn(store.RoleAdmin), e.signedIn(store.RoleTechnician), e.signedIn(store.RoleReadonly)

	// Each role sees the bulk actions it may take.
	mustContain(t, "admin agents page", admin.get("/agents").body, `id="bulk-power"`, `id="bulk-policy"`, `formaction="/agents/power"`,
		`formaction="/agents/policy"`, `<option value="default">Default</option>`)
	techPage := tech.get("/agents").body
	mustContain(t, "technician agents page", techPage, `id="bulk-power"`)
	mustNotContain(t, "technician agents page", techPage, `id="bulk-policy"`)
	mustNotContain(t, "readonly agents page", ro.get("/agents").body, `id="bulk-power"`, `id="agents-bulk"`)
	wantStatus(t, "readonly bulk reboot", ro.post("/agents/power", url.Values{"id": {a1.ID}, "power": {"reboot"}}), http.StatusForbidden)
	wantStatus(t, "technician bulk assign", tech.post("/agents/policy", url.Values{"id": {a1.ID}, "policy_id": {"default"}}), http.StatusForbidden)

	// Refusals do nothing and say why.
	for _, r := range []struct {
		path string
		form url.Values
		want string
	}{
		{"/agents/power", url.Values{"power": {"reboot"}}, "Selection is empty"},
		{"/agents/power", url.Values{"id": {a1.ID}, "power": {"reboot"}, "when": {"delay"}, "minutes": {"-1"}}, "Minutes must be a number of minutes"},
		{"/agents/power", url.Values{"id": {a1.ID}, "power": {"hibernate"}}, "action must be reboot, shutdown or cancel"},
		{"/agents/power", url.Values{"id": {gone.ID}, "power": {"reboot"}}, "Selection has no installed agent"},
		{"/agents/policy", url.Values{"id": {a1.ID}}, "Policy id is required"},
		{"/agents/policy", url.Values{"id": {a1.ID}, "policy_id": {"nope"}}, "no policy nope"},
	} {
		res := admin.post(r.path, r.form)
		wantStatus(t, r.path+" "+r.form.Encode(), res, http.StatusBadRequest)
		mustContain(t, r.path+" "+r.form.Encode(), res.body, `id="bulk-error"`, "Nothing was done.", r.want)
	}
	if n := auditCount(t, e, "command.create"); n != 0 {
		t.Fatalf("refused bulk posts created %d command batches", n)
	}

	// Reboot in 10 minutes, for the rows checked (one uninstalled): one
	// batch, audited once, pending on both once they answered.
	res := tech.post("/agents/power", url.Values{"id": {a1.ID, a2.ID, gone.ID}, "power": {"reboot"}, "when": {"delay"}, "minutes": {"10"},
		"message": {"Updates"}, "back": {"/agents?q=acme"}})
	wantStatus(t, "bulk reboot", res, http.StatusOK)
	if got, want := bulkSummary(res.body), "Sent to 2 agents. 1 agent skipped."; got != want {
		t.Errorf("bulk reboot summary %q, want %q", got, want)
	}
	mustContain(t, "bulk reboot", res.body, "<h1>Reboot</h1>", "For 3 selected agents.", `href="/agents?q=acme"`, "uninstalled")
	entries, _, err := e.db.ListAudit(context.Background(), store.AuditFilter{Action: "command.create"}, store.Page{})
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Detail["agents"] != "2" || entries[0].Detail["summary"] != `power reboot in 10m0s: "Updates"` {
		t.Errorf("bulk reboot audit = %+v, want one entry for 2 agents", entries)
	}
	servertest.Eventually(t, "both agents reboot pending", func() bool {
		return strings.Count(ro.get("/agents?q=acme").body, ">reboot pending</span></td>") == 2
	})

	// Shut down every agent the filter matches, on any page, but the
	// uninstalled one.
	res = admin.post("/agents/power", url.Values{"all": {"1"}, "filter": {"q=acme"}, "power": {"shutdown"}, "when": {"now"}})
	wantStatus(t, "bulk shutdown", res, http.StatusOK)
	if got, want := bulkSummary(res.body), "Sent to 2 agents. 1 agent skipped."; got != want {
		t.Errorf("bulk shutdown summary %q, want %q", got, want)
	}
	mustContain(t, "bulk shutdown", res.body, "<h1>Shut down</h1>", "For all 3 agents matching the filter.")
	servertest.Eventually(t, "both agents shutdown pending", func() bool {
		return strings.Count(ro.get("/agents?q=acme").body, ">shutdown pending</span></td>") == 2
	})

	// Cancel it all the same way.
	res = admin.post("/agents/power", url.Values{"id": {a1.ID, a2.ID}, "power": {"cancel"}, "when": {"delay"}, "minutes": {"5"}})
	wantStatus(t, "bulk cancel", res, http.StatusOK)
	mustContain(t, "bulk cancel", res.body, "<h1>Cancel reboot or shutdown</h1>")
	servertest.Eventually(t, "nothing pending", func() bool {
		return !strings.Contains(ro.get("/agents?q=acme").body, "power-pending")
	})

	// Assign a policy to two agents of different clients: one change,
	// audited once, pushed to the connected agent at once.
	pol := e.mustPolicy("Kiosks", `{"metrics":{"interval":"15s"}}`)
	before := auditCount(t, e, "policy.assign")
	res = admin.post("/agents/policy", url.Values{"id": {a1.ID, g1.ID}, "policy_id": {pol.ID}})
	wantStatus(t, "bulk assign", res, http.StatusOK)
	if got, want := bulkSummary(res.body), "Assigned to 2 agents."; got != want {
		t.Errorf("bulk assign summary %q, want %q", got, want)
	}
	if got := auditCount(t, e, "policy.assign"); got != before+1 {
		t.Errorf("policy.assign audit entries %d, want %d", got, before+1)
	}
	list, err := e.db.ListAssignments(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	assigned := map[string]string{}
	for _, as := range list {
		if as.Level == store.LevelAgent {
			assigned[as.TargetID] = as.PolicyID
		}
	}
	if len(assigned) != 2 || assigned[a1.ID] != pol.ID || assigned[g1.ID] != pol.ID {
		t.Errorf("agent assignments %v, want %s and %s on %s", assigned, a1.ID, g1.ID, pol.ID)
	}
	for {
		env := watcher.Next(t)
		if env.Type != protocol.TypePolicy {
			continue
		}
		p, err := protocol.DecodePolicyUpdate(env.Data)
		if err != nil {
			t.Fatalf("DecodePolicyUpdate(%s): %v", env.Data, err)
		}
		if strings.Contains(string(p.Policy), `"15s"`) {
			break
		}
	}
}

// A reboot of more agents than the confirmation threshold (the one script
// jobs use) comes back asking to confirm the count, and is sent once
// confirmed; a cancel is not asked about.
func TestBulkPowerConfirm(t *testing.T) {
	t.Parallel()
	opts := envOptions(t)
	opts.ConfirmAbove = 1
	e := newEnv(t, servertest.Start(t, opts))
	f := e.fixture("Acme", "HQ")
	a1, a2 := e.enroll(f, linuxFacts("alpha")), e.enroll(f, linuxFacts("bravo"))
	tech := e.signedIn(store.RoleTechnician)
	form := url.Values{"id": {a1.ID, a2.ID}, "power": {"shutdown"}, "when": {"delay"}, "minutes": {"15"}, "message": {"Power work"}}
	res := tech.post("/agents/power", form)
	wantStatus(t, "unconfirmed shutdown", res, http.StatusOK)
	mustContain(t, "confirm page", res.body, `id="bulk-confirm"`, "<strong>2 agents</strong>", `name="confirm" value="2"`,
		`<input type="hidden" name="id" value="`+a1.ID+`">`, `<input type="hidden" name="message" value="Power work">`,
		`<input type="hidden" name="minutes" value="15">`, "Shut down: 2 agents", `action="/agents/power"`)
	if n := auditCount(t, e, "command.create"); n != 0 {
		t.Fatalf("%d command batches before the confirmation, want 0", n)
	}
	form.Set("confirm", "1")
	mustContain(t, "wrong count", tech.post("/agents/power", form).body, `id="bulk-confirm"`)
	form.Set("confirm", "2")
	res = tech.post("/agents/power", form)
	wantStatus(t, "confirmed shutdown", res, http.StatusOK)
	if got, want := bulkSummary(res.body), "Sent to 2 agents."; got != want {
		t.Errorf("confirmed summary %q, want %q", got, want)
	}
	res = tech.post("/agents/power", url.Values{"id": {a1.ID, a2.ID}, "power": {"cancel"}})
	if got, want := bulkSummary(res.body), "Sent to 2 agents."; got != want {
		t.Errorf("cancel summary %q, want %q", got, want)
	}
	if n := auditCount(t, e, "command.create"); n != 2 {
		t.Errorf("%d command batches, want 2", n)
	}
}
