package api_test

import (
	"net/http"
	"testing"

	"github.com/steward-rmm/steward/internal/protocol"
	"github.com/steward-rmm/steward/internal/servertest"
	"github.com/steward-rmm/steward/internal/store"
)

// TestUninstalledAgents checks how the API shows an agent that was
// uninstalled, filters by status, and deletes its record.
func TestUninstalledAgents(t *testing.T) {
	servertest.Each(t, harnessOptions, func(t *testing.T, s *servertest.Server) {
		h := newHarness(t, s)
		site := s.NewSite(t)
		id, secret := s.EnrollIn(t, site.ID, "leaving-01")
		kept, _ := s.EnrollIn(t, site.ID, "staying-01")
		s.Do(t, servertest.Request{Method: "POST", Path: protocol.UninstallPath, Body: `{"reason":"test"}`,
			Header: http.Header{"Authorization": {protocol.FormatCredential(id, secret)}}}).Want(t, http.StatusNoContent)

		type agent struct {
			Hostname      string `json:"hostname"`
			Status        string `json:"status"`
			UninstalledAt string `json:"uninstalled_at"`
		}
		got := decode[agent](t, h.as(t, store.RoleReadonly, "GET", "/api/v1/agents/"+id, "").want(t, http.StatusOK))
		if got.Status != "uninstalled" || got.UninstalledAt == "" {
			t.Errorf("uninstalled agent = %+v, want status uninstalled with uninstalled_at", got)
		}
		if got := decode[agent](t, h.as(t, store.RoleReadonly, "GET", "/api/v1/agents/"+kept, "").want(t, http.StatusOK)); got.Status != "offline" || got.UninstalledAt != "" {
			t.Errorf("installed agent = %+v, want offline without uninstalled_at", got)
		}
		for status, want := range map[string][]string{"uninstalled": {"leaving-01"}, "offline": {"staying-01"}, "online": {}} {
			list := decode[listOf[agent]](t, h.as(t, store.RoleReadonly, "GET", "/api/v1/agents?site_id="+site.ID+"&status="+status, "").want(t, http.StatusOK))
			var names []string
			for _, a := range list.Items {
				names = append(names, a.Hostname)
			}
			if len(names) != len(want) || (len(want) > 0 && names[0] != want[0]) {
				t.Errorf("status=%s lists %v, want %v", status, names, want)
			}
		}
		h.as(t, store.RoleReadonly, "GET", "/api/v1/agents?status=gone", "").want(t, http.StatusBadRequest)

		// Deleting: not for a read-only user, not an installed agent.
		h.as(t, store.RoleReadonly, "DELETE", "/api/v1/agents/"+id, "").want(t, http.StatusForbidden)
		h.as(t, store.RoleTechnician, "DELETE", "/api/v1/agents/"+kept, "").want(t, http.StatusBadRequest)
		if res := h.as(t, store.RoleTechnician, "DELETE", "/api/v1/agents/"+id, ""); res.status != http.StatusNoContent || len(res.body) != 0 {
			t.Fatalf("DELETE: %d %s, want 204 without a body", res.status, res.body)
		}
		h.as(t, store.RoleTechnician, "GET", "/api/v1/agents/"+id, "").want(t, http.StatusNotFound)
		h.as(t, store.RoleTechnician, "DELETE", "/api/v1/agents/"+id, "").want(t, http.StatusNotFound)
		h.as(t, store.RoleTechnician, "GET", "/api/v1/agents/"+kept, "").want(t, http.StatusOK)
	})
}
