package push

import (
	"encoding/json"
	"testing"

	"github.com/steward-rmm/steward/internal/effective"
	"github.com/steward-rmm/steward/internal/hub"
	"github.com/steward-rmm/steward/internal/store"
)

func snapshot() store.PolicySnapshot {
	return store.PolicySnapshot{
		Assignments: []store.PolicyAssignment{
			{Level: store.LevelDefault, TargetID: "", PolicyID: "default", PolicyName: "Default"},
			{Level: store.LevelClient, TargetID: "c1", PolicyID: "p-client", PolicyName: "Client"},
			{Level: store.LevelSite, TargetID: "s2", PolicyID: "p-site", PolicyName: "Site"},
			{Level: store.LevelAgent, TargetID: "a9", PolicyID: "p-agent", PolicyName: "Agent"},
		},
		Policies: map[string]store.Policy{
			"default":  {ID: "default", Document: json.RawMessage(`{}`)},
			"p-client": {ID: "p-client", Document: json.RawMessage(`{"metrics":{"interval":"30s"}}`)},
			"p-site":   {ID: "p-site", Document: json.RawMessage(`{"metrics":{"interval":"10s"}}`)},
			"p-agent":  {ID: "p-agent", Document: json.RawMessage(`{"inventory":{"interval":"2h"}}`)},
		},
	}
}

func interval(t *testing.T, raw json.RawMessage) string {
	t.Helper()
	var p struct {
		Metrics struct {
			Interval string `json:"interval"`
		} `json:"metrics"`
	}
	if err := json.Unmarshal(raw, &p); err != nil {
		t.Fatalf("decode policy %s: %v", raw, err)
	}
	return p.Metrics.Interval
}

func TestResolverMemoizesByCombination(t *testing.T) {
	r := newWireCache(effective.New(snapshot()))
	// 1,000 agents in client c1 over two sites, one with its own policy:
	// three distinct combinations (site s1, site s2, agent a9 in s1).
	for i := range 1000 {
		site := "s1"
		if i%2 == 0 {
			site = "s2"
		}
		id := "a" + string(rune('0'+i%10)) + "-" + site
		if i == 9 {
			id = "a9"
			site = "s1"
		}
		if _, err := r.update(id, "c1", site); err != nil {
			t.Fatalf("update(%s): %v", id, err)
		}
	}
	if got := r.Resolutions(); got != 3 {
		t.Errorf("resolutions = %d, want 3 (one per combination of assigned policies)", got)
	}
	s1, _ := r.update("x", "c1", "s1")
	s2, _ := r.update("y", "c1", "s2")
	other, _ := r.update("z", "c2", "s7")
	if got := interval(t, s1.Policy); got != "30s" {
		t.Errorf("client agent interval = %s, want 30s", got)
	}
	if got := interval(t, s2.Policy); got != "10s" {
		t.Errorf("site s2 agent interval = %s, want 10s", got)
	}
	if got := interval(t, other.Policy); got == "30s" || got == "10s" {
		t.Errorf("other client's agent interval = %s, want the built-in default", got)
	}
	if s1.Revision == s2.Revision || s1.Revision == other.Revision {
		t.Errorf("revisions %s, %s, %s: want different policies to have different revisions", s1.Revision, s2.Revision, other.Revision)
	}
}

func TestResolverReportsBrokenStoredPolicy(t *testing.T) {
	snap := snapshot()
	snap.Policies["p-client"] = store.Policy{ID: "p-client", Document: json.RawMessage(`{"metrics":{"interval":"forever"}}`)}
	r := newWireCache(effective.New(snap))
	if _, err := r.update("a1", "c1", "s1"); err == nil {
		t.Errorf("update with an undecodable client policy = nil error, want one")
	}
	if _, err := r.update("a1", "c2", "s1"); err != nil {
		t.Errorf("update for another client = %v, want nil", err)
	}
}

func TestAffected(t *testing.T) {
	c := &hub.Conn{AgentID: "a1", ClientID: "c1", SiteID: "s1"}
	tests := []struct {
		scope Scope
		want  bool
	}{
		{Scope{Level: store.LevelDefault}, true},
		{Scope{Level: store.LevelClient, TargetID: "c1"}, true},
		{Scope{Level: store.LevelClient, TargetID: "c2"}, false},
		{Scope{Level: store.LevelSite, TargetID: "s1"}, true},
		{Scope{Level: store.LevelSite, TargetID: "s9"}, false},
		{Scope{Level: store.LevelAgent, TargetID: "a1"}, true},
		{Scope{Level: store.LevelAgent, TargetID: "a2"}, false},
		{Scope{Level: "galaxy", TargetID: "a1"}, false},
	}
	for _, tt := range tests {
		if got := affected(Change{Scopes: []Scope{tt.scope}}, c); got != tt.want {
			t.Errorf("affected(%+v) = %v, want %v", tt.scope, got, tt.want)
		}
	}
}
