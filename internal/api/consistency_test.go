package api_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/steward-rmm/steward/internal/servertest"
	"github.com/steward-rmm/steward/internal/store"
)

// TestListsAndAssignmentsConsistent checks that the lists read whole
// answer with the paging every list has, that the default policy carries
// real times, and that an assignment answers as the list shows it.
func TestListsAndAssignmentsConsistent(t *testing.T) {
	servertest.Each(t, harnessOptions, func(t *testing.T, s *servertest.Server) {
		h := newHarness(t, s)
		type page struct {
			Items  []map[string]any `json:"items"`
			Total  int              `json:"total"`
			Limit  int              `json:"limit"`
			Offset int              `json:"offset"`
		}
		for _, path := range []string{"/api/v1/policies", "/api/v1/policy-assignments", "/api/v1/notification-channels", "/api/v1/maintenance-windows"} {
			got := decode[page](t, h.as(t, store.RoleAdmin, "GET", path, "").want(t, http.StatusOK))
			if got.Limit != 50 || got.Offset != 0 || got.Total != len(got.Items) {
				t.Errorf("GET %s: limit %d offset %d total %d items %d; want the default limit 50", path, got.Limit, got.Offset, got.Total, len(got.Items))
			}
		}
		// limit and offset apply to them too.
		for range 3 {
			h.as(t, store.RoleAdmin, "POST", "/api/v1/policies", `{"name":"P`+store.NewID()+`","document":{}}`).want(t, http.StatusCreated)
		}
		got := decode[page](t, h.as(t, store.RoleAdmin, "GET", "/api/v1/policies?limit=2&offset=1", "").want(t, http.StatusOK))
		if len(got.Items) != 2 || got.Total != 4 || got.Limit != 2 || got.Offset != 1 {
			t.Errorf("policies?limit=2&offset=1: %d items, total %d, limit %d, offset %d; want 2 of 4", len(got.Items), got.Total, got.Limit, got.Offset)
		}
		got = decode[page](t, h.as(t, store.RoleAdmin, "GET", "/api/v1/policies?offset=10", "").want(t, http.StatusOK))
		if got.Items == nil || len(got.Items) != 0 || got.Total != 4 {
			t.Errorf("policies past the end: %v items, total %d; want [] of 4", got.Items, got.Total)
		}
		h.as(t, store.RoleAdmin, "GET", "/api/v1/policies?limit=0", "").want(t, http.StatusBadRequest)

		def := decode[struct {
			CreatedAt time.Time `json:"created_at"`
		}](t, h.as(t, store.RoleAdmin, "GET", "/api/v1/policies/default", "").want(t, http.StatusOK))
		if def.CreatedAt.Year() < 2020 {
			t.Errorf("default policy created_at %v, want a real time", def.CreatedAt)
		}

		put := decode[map[string]any](t, h.as(t, store.RoleAdmin, "PUT", "/api/v1/policy-assignments",
			`{"level":"client","target_id":"`+h.acme.ID+`","policy_id":"default"}`).want(t, http.StatusOK))
		list := decode[page](t, h.as(t, store.RoleAdmin, "GET", "/api/v1/policy-assignments", "").want(t, http.StatusOK))
		var listed map[string]any
		for _, it := range list.Items {
			if it["level"] == "client" && it["target_id"] == h.acme.ID {
				listed = it
			}
		}
		if listed == nil || len(put) != len(listed) {
			t.Fatalf("PUT answered %v, the list shows %v: want the same fields", put, listed)
		}
		for k, v := range listed {
			if put[k] != v {
				t.Errorf("PUT answered %s = %v, the list shows %v", k, put[k], v)
			}
		}
		if put["policy_name"] != "Default" || put["assigned_by"] != "admin@example.com (api token)" {
			t.Errorf("PUT answered %v, want the policy's name and who assigned it", put)
		}

		// The lifetime refusal speaks in the units the docs use.
		res := h.as(t, store.RoleAdmin, "POST", "/api/v1/sites/"+h.hq.ID+"/enrollment-tokens", `{"expires_in":"400d"}`).want(t, http.StatusBadRequest)
		if msg := res.errorBody(t)["error"]; !strings.Contains(msg, "365 days") || strings.Contains(msg, "8760h") {
			t.Errorf("expires_in refusal %q, want it in days", msg)
		}
	})
}
