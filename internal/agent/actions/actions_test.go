package actions

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/steward-rmm/steward/internal/protocol"
)

func TestRunRefusals(t *testing.T) {
	r := testRunner(t)
	for _, tc := range []struct {
		name, args, wantErr string
	}{
		{protocol.CommandProcessEnd, `{"pid":42}`, "name is required"},
		{protocol.CommandServiceControl, `{"name":"nginx","action":"reload"}`, "action must be"},
		{protocol.CommandEventLog, `{"level":"loud"}`, "level must be"},
		{protocol.CommandPower, `{"action":"reboot"}`, "not a quick action"}, // no Power given
		{protocol.CommandPing, ``, "not a quick action"},
	} {
		_, err := r.Run(t.Context(), tc.name, json.RawMessage(tc.args))
		if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("%s %s: err %v, want %q", tc.name, tc.args, err, tc.wantErr)
		}
	}
	for name, want := range map[string]bool{protocol.CommandProcesses: true, protocol.CommandPower: false, protocol.CommandPing: false} {
		if _, ok := r.Timeout(name); ok != want {
			t.Errorf("Timeout(%s) ok = %v, want %v", name, ok, want)
		}
	}
}
