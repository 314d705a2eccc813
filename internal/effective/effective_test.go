package effective

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/steward-rmm/steward/internal/store"
)

func TestResolve(t *testing.T) {
	r := New(store.PolicySnapshot{
		Assignments: []store.PolicyAssignment{
			{Level: store.LevelDefault, PolicyID: "d", PolicyName: "Default"},
			{Level: store.LevelClient, TargetID: "c1", PolicyID: "pc", PolicyName: "Client"},
			{Level: store.LevelSite, TargetID: "s1", PolicyID: "ps", PolicyName: "Site"},
			{Level: store.LevelAgent, TargetID: "a1", PolicyID: "pa", PolicyName: "Agent"},
			{Level: store.LevelSite, TargetID: "broken", PolicyID: "bad", PolicyName: "Broken"},
		},
		Policies: map[string]store.Policy{
			"d":   {ID: "d", Document: json.RawMessage(`{"metrics":{"interval":"50s"}}`)},
			"pc":  {ID: "pc", Document: json.RawMessage(`{"metrics":{"interval":"40s"}}`)},
			"ps":  {ID: "ps", Document: json.RawMessage(`{"metrics":{"interval":"30s"}}`)},
			"pa":  {ID: "pa", Document: json.RawMessage(`{"metrics":{"interval":"20s"}}`)},
			"bad": {ID: "bad", Document: json.RawMessage(`{"metrics":{"interval":"1s"}}`)},
		},
	})
	tests := []struct {
		name                     string
		client, site, agent      string
		wantInterval, wantSource string
	}{
		{"default level only", "", "", "", "50s", "Default"},
		{"client", "c1", "", "", "40s", "Client"},
		{"site beats client", "c1", "s1", "", "30s", "Site"},
		{"agent beats site", "c1", "s1", "a1", "20s", "Agent"},
		{"unassigned levels fall through", "c2", "s9", "a9", "50s", "Default"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			eff, err := r.Resolve(tt.client, tt.site, tt.agent)
			if err != nil {
				t.Fatal(err)
			}
			v, _ := eff.Get("metrics.interval")
			if got := v.Value.(time.Duration).String(); got != tt.wantInterval {
				t.Errorf("interval = %s, want %s", got, tt.wantInterval)
			}
			if v.Source.PolicyName != tt.wantSource {
				t.Errorf("source = %q, want %q", v.Source.PolicyName, tt.wantSource)
			}
		})
	}
	// Four lookups above hit the default-only combination twice.
	if got := r.Resolutions(); got != 4 {
		t.Errorf("Resolutions() = %d, want 4 (one per distinct combination)", got)
	}
	// A document that no longer decodes fails only the agents it reaches.
	if _, err := r.Resolve("c1", "broken", ""); err == nil || !strings.Contains(err.Error(), "stored policy bad") {
		t.Errorf("Resolve under a broken policy: err = %v, want one naming it", err)
	}
	if _, err := r.Resolve("c1", "s1", ""); err != nil {
		t.Errorf("Resolve elsewhere: %v", err)
	}
}
