package command

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/steward-rmm/steward/internal/protocol"
	"github.com/steward-rmm/steward/internal/store"
)

// Summary says in a few words what a command asks, for the audit log and
// the dashboard: "process_end pid 4242 (sleep)", "power reboot in 5m0s".
// Args it cannot read are left out rather than shown raw.
func Summary(name string, args json.RawMessage) string {
	if s := argsSummary(name, args); s != "" {
		return name + " " + s
	}
	return name
}

func argsSummary(name string, args json.RawMessage) string {
	if len(args) == 0 {
		return ""
	}
	switch name {
	case protocol.CommandProcessEnd:
		var p protocol.ProcessEnd
		if json.Unmarshal(args, &p) != nil {
			return ""
		}
		s := fmt.Sprintf("pid %d (%s)", p.PID, p.Name)
		if p.Tree {
			s += " and its descendants"
		}
		return s
	case protocol.CommandServiceControl:
		var sc protocol.ServiceControl
		if json.Unmarshal(args, &sc) != nil {
			return ""
		}
		return sc.Action + " " + sc.Name
	case protocol.CommandEventLog:
		var q protocol.EventLogQuery
		if json.Unmarshal(args, &q) != nil {
			return ""
		}
		return fmt.Sprintf("%d entries, %s and above", q.Count(), q.MinLevel())
	case protocol.CommandPower:
		var p protocol.PowerRequest
		if json.Unmarshal(args, &p) != nil {
			return ""
		}
		s := p.Action
		switch {
		case !p.At.IsZero():
			s += " at " + p.At.UTC().Format(time.RFC3339)
		case p.Delay > 0:
			s += " in " + time.Duration(p.Delay).String()
		case p.Action != protocol.PowerCancel:
			s += " now"
		}
		if p.Message != "" {
			s += fmt.Sprintf(": %q", p.Message)
		}
		return s
	}
	return ""
}

// PowerPending is the power action pending on an agent, derived from the
// latest answered power command (see store.DB.LatestPowerResults) and the
// agent's boot time. An answer names what is pending after the request, so
// a later cancel clears it; a boot after the answer means the machine
// restarted (as asked, or for another reason) and nothing is pending any
// more. It reports false when nothing is pending.
func PowerPending(last store.Command, bootTime time.Time) (protocol.PowerState, bool) {
	if last.Name != protocol.CommandPower || last.State != store.CommandDone || last.FinishedAt.IsZero() {
		return protocol.PowerState{}, false
	}
	var st protocol.PowerState
	if err := json.Unmarshal(last.Output, &st); err != nil || st.Action == "" {
		return protocol.PowerState{}, false
	}
	if bootTime.After(last.FinishedAt) {
		return protocol.PowerState{}, false
	}
	return st, true
}
