package api_test

import (
	"testing"

	"github.com/steward-rmm/steward/internal/servertest"
	"github.com/steward-rmm/steward/internal/store"
)

type effectiveJSON struct {
	Revision string `json:"revision"`
	Fields   []struct {
		Path   string `json:"path"`
		Value  any    `json:"value"`
		Source struct {
			Level    string `json:"level"`
			PolicyID string `json:"policy_id"`
		} `json:"source"`
	} `json:"fields"`
}

func (e effectiveJSON) field(t *testing.T, path string) (any, string, string) {
	t.Helper()
	for _, f := range e.Fields {
		if f.Path == path {
			return f.Value, f.Source.Level, f.Source.PolicyID
		}
	}
	t.Fatalf("effective policy has no field %s", path)
	return nil, "", ""
}

func TestPoliciesAPI(t *testing.T) {
	servertest.Each(t, harnessOptions, func(t *testing.T, s *servertest.Server) {
		h := newHarness(t, s)
		agentPath := "/api/v1/agents/" + h.web01.ID + "/effective-policy"

		// Out of the box: the default policy is assigned and empty, so every
		// value is built in.
		eff := decode[effectiveJSON](t, h.as(t, store.RoleReadonly, "GET", agentPath, "").want(t, 200))
		if v, level, _ := eff.field(t, "metrics.interval"); v != "1m0s" && v != "60s" || level != "builtin" {
			t.Errorf("metrics.interval = %v from %s, want the built-in 60s", v, level)
		}
		builtinRevision := eff.Revision

		// Field-level validation errors.
		res := h.as(t, store.RoleAdmin, "POST", "/api/v1/policies",
			`{"name":"Bad","document":{"metrics":{"interval":"1s","intervall":"5s"}}}`).want(t, 400)
		bad := decode[struct {
			Fields []struct{ Path, Message string } `json:"fields"`
		}](t, res)
		paths := map[string]bool{}
		for _, f := range bad.Fields {
			paths[f.Path] = true
		}
		if !paths["metrics.intervall"] && !paths["metrics.interval"] {
			t.Errorf("validation fields = %+v, want metrics.interval or metrics.intervall named", bad.Fields)
		}

		// A client policy sets the interval; a site policy overrides it.
		client := decode[struct{ ID string }](t, h.as(t, store.RoleAdmin, "POST", "/api/v1/policies",
			`{"name":"Acme","document":{"metrics":{"interval":"30s"}}}`).want(t, 201))
		site := decode[struct{ ID string }](t, h.as(t, store.RoleAdmin, "POST", "/api/v1/policies",
			`{"name":"HQ fast","document":{"metrics":{"interval":"10s"},"inventory":{"interval":"12h"}}}`).want(t, 201))
		h.as(t, store.RoleAdmin, "PUT", "/api/v1/policy-assignments",
			`{"level":"client","target_id":"`+h.acme.ID+`","policy_id":"`+client.ID+`"}`).want(t, 200)
		eff = decode[effectiveJSON](t, h.as(t, store.RoleReadonly, "GET", agentPath, "").want(t, 200))
		if v, level, id := eff.field(t, "metrics.interval"); v != "30s" || level != "client" || id != client.ID {
			t.Errorf("metrics.interval = %v from %s %s, want 30s from the client policy", v, level, id)
		}
		h.as(t, store.RoleAdmin, "PUT", "/api/v1/policy-assignments",
			`{"level":"site","target_id":"`+h.hq.ID+`","policy_id":"`+site.ID+`"}`).want(t, 200)
		eff = decode[effectiveJSON](t, h.as(t, store.RoleReadonly, "GET", agentPath, "").want(t, 200))
		if v, level, _ := eff.field(t, "metrics.interval"); v != "10s" || level != "site" {
			t.Errorf("metrics.interval = %v from %s, want 10s from the site policy", v, level)
		}
		if eff.Revision == builtinRevision {
			t.Errorf("revision unchanged after assignments")
		}
		// An agent of the other site still gets the client's value.
		other := decode[effectiveJSON](t, h.as(t, store.RoleReadonly, "GET", "/api/v1/agents/"+h.db01.ID+"/effective-policy", "").want(t, 200))
		if v, level, _ := other.field(t, "metrics.interval"); v != "30s" || level != "client" {
			t.Errorf("branch agent metrics.interval = %v from %s, want 30s from the client", v, level)
		}

		// An assigned policy cannot be deleted; unassigning falls back.
		h.as(t, store.RoleAdmin, "DELETE", "/api/v1/policies/"+site.ID, "").want(t, 409)
		if res := h.as(t, store.RoleAdmin, "DELETE", "/api/v1/policy-assignments?level=site&target_id="+h.hq.ID, ""); res.status != 204 {
			t.Fatalf("unassign = %d %s, want 204", res.status, res.body)
		}
		eff = decode[effectiveJSON](t, h.as(t, store.RoleReadonly, "GET", agentPath, "").want(t, 200))
		if v, level, _ := eff.field(t, "metrics.interval"); v != "30s" || level != "client" {
			t.Errorf("after unassign metrics.interval = %v from %s, want 30s from the client", v, level)
		}
		if res := h.as(t, store.RoleAdmin, "DELETE", "/api/v1/policies/"+site.ID, ""); res.status != 204 {
			t.Errorf("delete unassigned policy = %d %s, want 204", res.status, res.body)
		}
		h.as(t, store.RoleAdmin, "DELETE", "/api/v1/policies/default", "").want(t, 409)

		// Updating the client policy changes the agent's value.
		h.as(t, store.RoleAdmin, "PUT", "/api/v1/policies/"+client.ID,
			`{"name":"Acme","document":{"metrics":{"interval":"45s"}}}`).want(t, 200)
		eff = decode[effectiveJSON](t, h.as(t, store.RoleReadonly, "GET", agentPath, "").want(t, 200))
		if v, _, _ := eff.field(t, "metrics.interval"); v != "45s" {
			t.Errorf("after update metrics.interval = %v, want 45s", v)
		}

		// Roles and bad targets.
		for _, role := range []store.Role{store.RoleReadonly, store.RoleTechnician} {
			h.as(t, role, "POST", "/api/v1/policies", `{"name":"Nope"}`).want(t, 403)
			h.as(t, role, "PUT", "/api/v1/policy-assignments", `{"level":"default","target_id":"","policy_id":"default"}`).want(t, 403)
		}
		h.as(t, store.RoleAdmin, "PUT", "/api/v1/policy-assignments", `{"level":"galaxy","target_id":"x","policy_id":"default"}`).want(t, 400)
		h.as(t, store.RoleAdmin, "PUT", "/api/v1/policy-assignments", `{"level":"client","target_id":"nope","policy_id":"default"}`).want(t, 400)
		h.as(t, store.RoleAdmin, "PUT", "/api/v1/policy-assignments",
			`{"level":"client","target_id":"`+h.acme.ID+`","policy_id":"missing"}`).want(t, 400)
		h.as(t, store.RoleReadonly, "GET", "/api/v1/agents/missing/effective-policy", "").want(t, 404)
		list := decode[listOf[struct{ ID string }]](t, h.as(t, store.RoleReadonly, "GET", "/api/v1/policies", "").want(t, 200))
		if list.Total != 2 {
			t.Errorf("policies total = %d, want 2 (default and Acme)", list.Total)
		}
	})
}
