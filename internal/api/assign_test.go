package api_test

import (
	"testing"

	"github.com/steward-rmm/steward/internal/servertest"
	"github.com/steward-rmm/steward/internal/store"
)

func TestBulkPolicyAssignment(t *testing.T) {
	servertest.Each(t, harnessOptions, func(t *testing.T, s *servertest.Server) {
		h := newHarness(t, s)
		pol := decode[struct{ ID string }](t, h.as(t, store.RoleAdmin, "POST", "/api/v1/policies",
			`{"name":"Workstations","document":{"metrics":{"interval":"20s"}}}`).want(t, 201))
		body := `{"level":"agent","target_ids":["` + h.web01.ID + `","` + h.db01.ID + `","` + h.web01.ID + `"],"policy_id":"` + pol.ID + `"}`

		h.as(t, store.RoleTechnician, "PUT", "/api/v1/policy-assignments", body).want(t, 403)
		for _, bad := range []string{
			`{"level":"site","target_ids":["` + h.web01.ID + `"],"policy_id":"` + pol.ID + `"}`,
			`{"level":"agent","target_ids":[],"policy_id":"` + pol.ID + `"}`,
			`{"level":"agent","target_id":"` + h.web01.ID + `","target_ids":["` + h.db01.ID + `"],"policy_id":"` + pol.ID + `"}`,
			`{"level":"agent","target_ids":["nope"],"policy_id":"` + pol.ID + `"}`,
			`{"level":"agent","target_ids":["` + h.web01.ID + `"],"policy_id":"nope"}`,
		} {
			h.as(t, store.RoleAdmin, "PUT", "/api/v1/policy-assignments", bad).want(t, 400)
		}

		got := decode[struct {
			Level    string `json:"level"`
			PolicyID string `json:"policy_id"`
			Assigned int    `json:"assigned"`
		}](t, h.as(t, store.RoleAdmin, "PUT", "/api/v1/policy-assignments", body).want(t, 200))
		if got.Level != "agent" || got.PolicyID != pol.ID || got.Assigned != 2 {
			t.Errorf("bulk assignment answered %+v, want 2 agents on %s", got, pol.ID)
		}
		for _, id := range []string{h.web01.ID, h.db01.ID} {
			eff := decode[effectiveJSON](t, h.as(t, store.RoleReadonly, "GET", "/api/v1/agents/"+id+"/effective-policy", "").want(t, 200))
			if v, level, pid := eff.field(t, "metrics.interval"); v != "20s" || level != "agent" || pid != pol.ID {
				t.Errorf("agent %s metrics.interval = %v from %s %s, want 20s from the agent policy", id, v, level, pid)
			}
		}
	})
}
