package api_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/steward-rmm/steward/internal/servertest"
	"github.com/steward-rmm/steward/internal/store"
)

// TestAlertsSearchAndNames lists alerts by a text search and checks each
// carries its client's and site's names.
func TestAlertsSearchAndNames(t *testing.T) {
	servertest.Each(t, harnessOptions, func(t *testing.T, s *servertest.Server) {
		h := newHarness(t, s)
		for _, a := range []store.Agent{h.web01, h.winpc} {
			if _, ok, err := h.db.OpenAlert(t.Context(), store.Alert{AgentID: a.ID, Rule: "cpu", Metric: "cpu.percent",
				Severity: "warning", Message: "CPU above 90 % for 5 minutes (now 93 %)", OpenedAt: time.Now()}); err != nil || !ok {
				t.Fatalf("open alert on %s: %v %v", a.Hostname, ok, err)
			}
		}
		type alertJSON struct {
			Hostname, ClientName, SiteName string
		}
		list := decode[struct {
			Items []struct {
				Hostname   string `json:"hostname"`
				ClientName string `json:"client_name"`
				SiteName   string `json:"site_name"`
			} `json:"items"`
			Total int `json:"total"`
		}](t, h.as(t, store.RoleReadonly, "GET", "/api/v1/alerts?q=win-pc", "").want(t, http.StatusOK))
		if list.Total != 1 || len(list.Items) != 1 {
			t.Fatalf("q=win-pc: %d alerts (total %d), want 1", len(list.Items), list.Total)
		}
		if got := alertJSON(list.Items[0]); got != (alertJSON{"WIN-PC7", "Globex", "Main"}) {
			t.Errorf("alert %+v, want WIN-PC7 in Globex / Main", got)
		}
		h.as(t, store.RoleReadonly, "GET", "/api/v1/alerts?q="+strings.Repeat("x", 201), "").want(t, http.StatusBadRequest)
	})
}
