package sim

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/steward-rmm/steward/internal/protocol"
)

func TestQuickActions(t *testing.T) {
	s := &Sim{platform: -1}
	a := &agent{index: 1} // linux in the fleet's mix
	for _, tc := range []struct {
		name, args string
		check      func(out json.RawMessage) bool
		wantErr    string
	}{
		{name: protocol.CommandProcesses, check: func(out json.RawMessage) bool {
			var l protocol.ProcessList
			return json.Unmarshal(out, &l) == nil && len(l.Processes) > 0 && l.Processes[0].Name == "systemd"
		}},
		{name: protocol.CommandProcessEnd, args: `{"pid":4,"name":"systemd"}`, check: func(out json.RawMessage) bool {
			return string(out) == `{"pid":4,"name":"systemd","ended":1}`
		}},
		{name: protocol.CommandProcessEnd, args: `{"pid":4}`, wantErr: "name is required"},
		{name: protocol.CommandServices, check: func(out json.RawMessage) bool {
			var l protocol.ServiceList
			return json.Unmarshal(out, &l) == nil && l.Manager == protocol.ManagerSystemd
		}},
		{name: protocol.CommandServiceControl, args: `{"name":"nginx","action":"stop"}`, check: func(out json.RawMessage) bool {
			return string(out) == `{"name":"nginx","state":"stopped"}`
		}},
		{name: protocol.CommandEventLog, args: `{"level":"error"}`, check: func(out json.RawMessage) bool {
			var l protocol.EventLog
			return json.Unmarshal(out, &l) == nil && l.Source == "systemd journal" && len(l.Entries) == 1
		}},
		{name: protocol.CommandPower, args: `{"action":"reboot","delay":"1h","by":"alice"}`, check: func(out json.RawMessage) bool {
			var p protocol.PowerState
			return json.Unmarshal(out, &p) == nil && p.Action == "reboot" && p.By == "alice" && a.power == p
		}},
		{name: protocol.CommandPower, args: `{"action":"cancel"}`, check: func(out json.RawMessage) bool {
			return string(out) == `{}` && a.power == protocol.PowerState{}
		}},
	} {
		cmd := protocol.Command{CommandID: "c1", Name: tc.name}
		if tc.args != "" {
			cmd.Args = json.RawMessage(tc.args)
		}
		res, ok := s.quickAction(a, cmd)
		if !ok {
			t.Fatalf("%s: not taken as a quick action", tc.name)
		}
		if tc.wantErr != "" {
			if res.Status != protocol.ResultError || !strings.Contains(res.Error, tc.wantErr) {
				t.Errorf("%s %s: %+v, want an error with %q", tc.name, tc.args, res, tc.wantErr)
			}
			continue
		}
		if res.Status != protocol.ResultOK || !tc.check(res.Output) {
			t.Errorf("%s %s: %+v (output %s), not as expected", tc.name, tc.args, res, res.Output)
		}
	}
	if _, ok := s.quickAction(a, protocol.Command{CommandID: "c2", Name: protocol.CommandPing}); ok {
		t.Errorf("ping taken as a quick action")
	}
}
