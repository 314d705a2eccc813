package web_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/steward-rmm/steward/internal/store"
)

// The audit page names every kind of target as it is called now (read in
// one query per kind), and filters by actor through the actors' IDs.
func TestAuditPage(t *testing.T) {
	t.Parallel()
	eachEnv(t, testAuditPage)
}

func testAuditPage(t *testing.T, e *testEnv) {
	f := e.fixture("Acme Corp", "Head Office")
	a := e.enroll(f, linuxFacts("web-01"))
	ctx := context.Background()
	ops, err := e.mgr.CreateUser(ctx, consolePrincipal(), "ops@example.com", testPassword, store.RoleTechnician)
	if err != nil {
		t.Fatal(err)
	}
	// An API token's actor name says "(api token)" already.
	if err := e.db.AddAudit(ctx, store.AuditEntry{ActorType: "api_token", ActorID: ops.ID, ActorName: "ops@example.com (api token)",
		Action: "command.create", TargetType: "agent", TargetID: a.ID}); err != nil {
		t.Fatal(err)
	}
	// A target since deleted is named from the entry's detail.
	if err := e.db.AddAudit(ctx, store.AuditEntry{ActorType: "console", ActorName: "console", Action: "client.create",
		TargetType: "client", TargetID: store.NewID(), Detail: map[string]string{"name": "Gone Inc"}}); err != nil {
		t.Fatal(err)
	}
	b := e.signedIn(store.RoleAdmin)

	res := b.get("/audit")
	wantStatus(t, "audit", res, http.StatusOK)
	mustContain(t, "audit", res.body,
		`<a href="/agents/`+a.ID+`">agent web-01</a>`, `<a href="/clients/`+f.client.ID+`">client Acme Corp</a>`,
		`<a href="/sites/`+f.site.ID+`">site Head Office (Acme Corp)</a>`, `user ops@example.com`,
		`<td class="target">client Gone Inc</td>`, `ops@example.com (api token)</td>`, `console <span class="muted">(console)</span>`)
	mustNotContain(t, "audit", res.body, "(api token) <span", "(api_token)")

	res = b.get("/audit?actor=OPS@&target_type=agent")
	mustContain(t, "audit by actor and target", res.body, "command.create", `value="OPS@"`, `<option value="agent" selected>`)
	mustNotContain(t, "audit by actor and target", res.body, `<td class="mono">agent.enroll</td>`, `<td class="mono">client.create</td>`)

	today := time.Now().UTC().Format(time.DateOnly)
	tomorrow := time.Now().UTC().AddDate(0, 0, 1).Format(time.DateOnly)
	mustContain(t, "audit of today", b.get("/audit?from="+today+"&to="+today).body, "command.create", "agent.enroll")
	mustContain(t, "audit from tomorrow", b.get("/audit?from="+tomorrow).body, "No entries match.")
	// A date that is no date is dropped, not an error.
	mustContain(t, "audit with a bad date", b.get("/audit?from=yesterday").body, "command.create", `name="from" value=""`)
}
