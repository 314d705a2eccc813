package command_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/steward-rmm/steward/internal/command"
	"github.com/steward-rmm/steward/internal/protocol"
	"github.com/steward-rmm/steward/internal/store"
)

func TestSummary(t *testing.T) {
	at := time.Date(2026, 12, 4, 22, 30, 0, 0, time.UTC)
	tests := []struct {
		name, args, want string
	}{
		{protocol.CommandPing, ``, "ping"},
		{protocol.CommandProcesses, ``, "processes"},
		{protocol.CommandProcessEnd, `{"pid":4242,"name":"sleep"}`, "process_end pid 4242 (sleep)"},
		{protocol.CommandProcessEnd, `{"pid":7,"name":"make","tree":true}`, "process_end pid 7 (make) and its descendants"},
		{protocol.CommandServiceControl, `{"name":"nginx","action":"restart"}`, "service_control restart nginx"},
		{protocol.CommandEventLog, `{"level":"error","limit":50}`, "event_log 50 entries, error and above"},
		{protocol.CommandEventLog, `{}`, "event_log 100 entries, info and above"},
		{protocol.CommandPower, `{"action":"reboot","delay":"5m0s","message":"patches","by":"alice"}`, `power reboot in 5m0s: "patches"`},
		{protocol.CommandPower, `{"action":"shutdown","at":"` + at.Format(time.RFC3339) + `"}`, "power shutdown at 2026-12-04T22:30:00Z"},
		{protocol.CommandPower, `{"action":"reboot"}`, "power reboot now"},
		{protocol.CommandPower, `{"action":"cancel"}`, "power cancel"},
		{protocol.CommandProcessEnd, `not json`, "process_end"},
	}
	for _, tt := range tests {
		if got := command.Summary(tt.name, json.RawMessage(tt.args)); got != tt.want {
			t.Errorf("Summary(%q, %s) = %q, want %q", tt.name, tt.args, got, tt.want)
		}
	}
}

func TestPowerPending(t *testing.T) {
	answered := time.Date(2026, 12, 4, 22, 0, 0, 0, time.UTC)
	at := answered.Add(30 * time.Minute)
	pending := `{"action":"reboot","at":"` + at.Format(time.RFC3339) + `","message":"patches","by":"alice@example.com"}`
	power := func(state, output string) store.Command {
		return store.Command{Name: protocol.CommandPower, State: state, FinishedAt: answered, Output: json.RawMessage(output)}
	}
	want := protocol.PowerState{Action: protocol.PowerReboot, At: at, Message: "patches", By: "alice@example.com"}
	tests := []struct {
		name string
		last store.Command
		boot time.Time
		want bool
	}{
		{"no power command", store.Command{}, time.Time{}, false},
		{"reboot pending", power(store.CommandDone, pending), answered.Add(-24 * time.Hour), true},
		{"boot time unknown", power(store.CommandDone, pending), time.Time{}, true},
		{"past its time, not rebooted yet", power(store.CommandDone, pending), answered.Add(-time.Hour), true},
		{"rebooted since", power(store.CommandDone, pending), at.Add(time.Minute), false},
		{"booted at the very answer", power(store.CommandDone, pending), answered, true},
		{"cancelled later", power(store.CommandDone, `{}`), answered.Add(-time.Hour), false},
		{"request failed", power(store.CommandFailed, pending), answered.Add(-time.Hour), false},
		{"not answered yet", store.Command{Name: protocol.CommandPower, State: store.CommandSent}, time.Time{}, false},
		{"malformed output", power(store.CommandDone, `[`), time.Time{}, false},
		{"another command", store.Command{Name: protocol.CommandPing, State: store.CommandDone, FinishedAt: answered, Output: json.RawMessage(pending)}, time.Time{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, ok := command.PowerPending(tt.last, tt.boot)
			if ok != tt.want {
				t.Fatalf("PowerPending = %+v, %v; want pending %v", st, ok, tt.want)
			}
			if ok && !(st.Action == want.Action && st.At.Equal(want.At) && st.Message == want.Message && st.By == want.By) {
				t.Errorf("PowerPending = %+v, want %+v", st, want)
			}
		})
	}
}
