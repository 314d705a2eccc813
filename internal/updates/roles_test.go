package updates

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/steward-rmm/steward/internal/protocol"
	"github.com/steward-rmm/steward/internal/store"
)

func TestRoles(t *testing.T) {
	tests := []struct {
		name      string
		agent     store.Agent
		want      []Role
		wantAgree bool
	}{{
		name:      "agent alone",
		agent:     store.Agent{Version: "v1.1.0"},
		want:      []Role{{"agent", "1.1.0"}},
		wantAgree: true,
	}, {
		name: "watchdog behind",
		agent: store.Agent{Version: "1.1.0", Watchdog: &store.WatchdogState{Version: "1.0.0"},
			Trays: []protocol.TrayInfo{{User: "alice", Version: "1.1.0"}}},
		want:      []Role{{"agent", "1.1.0"}, {"watchdog", "1.0.0"}, {"tray:alice", "1.1.0"}},
		wantAgree: false,
	}, {
		name: "a tray behind",
		agent: store.Agent{Version: "1.1.0", Watchdog: &store.WatchdogState{Version: "1.1.0"},
			Trays: []protocol.TrayInfo{{User: "bob", Session: "3", Version: "1.0.0"}, {User: "alice", Session: "2", Version: "v1.1.0"}}},
		want:      []Role{{"agent", "1.1.0"}, {"watchdog", "1.1.0"}, {"tray:alice", "1.1.0"}, {"tray:bob", "1.0.0"}},
		wantAgree: false,
	}, {
		name: "one user in two sessions",
		agent: store.Agent{Version: "1.1.0", Watchdog: &store.WatchdogState{},
			Trays: []protocol.TrayInfo{{User: "alice", Session: "7", Version: "1.1.0"}, {User: "alice", Session: "2", Version: "1.1.0"}}},
		want:      []Role{{"agent", "1.1.0"}, {"tray:alice@2", "1.1.0"}, {"tray:alice@7", "1.1.0"}},
		wantAgree: true,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, agree := Roles(tt.agent)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Roles (-want +got):\n%s", diff)
			}
			if agree != tt.wantAgree {
				t.Errorf("Roles agree = %v, want %v", agree, tt.wantAgree)
			}
		})
	}
}
