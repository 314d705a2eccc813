package web

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/steward-rmm/steward/internal/protocol"
	"github.com/steward-rmm/steward/internal/store"
)

func TestPostedPower(t *testing.T) {
	now := time.Date(2026, 12, 4, 21, 0, 0, 0, time.UTC)
	tests := []struct {
		name    string
		form    url.Values
		want    protocol.PowerRequest
		wantErr string
	}{
		{"reboot now", url.Values{"power": {"reboot"}, "when": {"now"}, "message": {" bye\r\nnow "}},
			protocol.PowerRequest{Action: "reboot", Message: "bye\nnow"}, ""},
		{"no when is now", url.Values{"power": {"shutdown"}}, protocol.PowerRequest{Action: "shutdown"}, ""},
		{"in 15 minutes", url.Values{"power": {"reboot"}, "when": {"delay"}, "minutes": {" 15 "}},
			protocol.PowerRequest{Action: "reboot", Delay: protocol.Duration(15 * time.Minute)}, ""},
		{"a week at most", url.Values{"power": {"reboot"}, "when": {"delay"}, "minutes": {"10081"}}, protocol.PowerRequest{}, "minutes"},
		{"minutes not a number", url.Values{"power": {"reboot"}, "when": {"delay"}, "minutes": {"soon"}}, protocol.PowerRequest{}, "minutes"},
		{"at, from the reader's zone", url.Values{"power": {"reboot"}, "when": {"at"}, "at": {"2026-12-04T23:30"}, "at_utc": {"2026-12-04T22:30:00Z"}},
			protocol.PowerRequest{Action: "reboot", At: now.Add(90 * time.Minute)}, ""},
		{"at, without JavaScript, as UTC", url.Values{"power": {"reboot"}, "when": {"at"}, "at": {"2026-12-04T23:30"}},
			protocol.PowerRequest{Action: "reboot", At: now.Add(150 * time.Minute)}, ""},
		{"at in the past", url.Values{"power": {"reboot"}, "when": {"at"}, "at_utc": {"2026-12-04T20:00:00Z"}}, protocol.PowerRequest{}, "at"},
		{"at unreadable", url.Values{"power": {"reboot"}, "when": {"at"}, "at": {"tonight"}}, protocol.PowerRequest{}, "at"},
		{"when unknown", url.Values{"power": {"reboot"}, "when": {"later"}}, protocol.PowerRequest{}, "when"},
		{"cancel drops the rest", url.Values{"power": {"cancel"}, "when": {"delay"}, "minutes": {"5"}, "message": {"x"}},
			protocol.PowerRequest{Action: "cancel"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := postedPower(tt.form, now)
			if tt.wantErr != "" {
				pr, ok := formProblem(err)
				if !ok || pr.Field != tt.wantErr {
					t.Fatalf("postedPower(%v) error %v, want one about %s", tt.form, err, tt.wantErr)
				}
				return
			}
			if err != nil || got.Action != tt.want.Action || got.Delay != tt.want.Delay || !got.At.Equal(tt.want.At) || got.Message != tt.want.Message {
				t.Errorf("postedPower(%v) = %+v, %v; want %+v", tt.form, got, err, tt.want)
			}
		})
	}
}

func TestNewActionResult(t *testing.T) {
	now := time.Date(2026, 12, 4, 21, 0, 0, 0, time.UTC)
	online, offline := store.Agent{ID: "a1", Online: true}, store.Agent{ID: "a1"}
	cmd := func(name, state string, expires time.Time, output string) store.Command {
		return store.Command{ID: "c1", AgentID: "a1", Name: name, State: state, ExpiresAt: expires, Output: json.RawMessage(output)}
	}
	later, earlier := now.Add(time.Minute), now.Add(-time.Minute)
	tests := []struct {
		name             string
		agent            store.Agent
		c                store.Command
		waiting, offline bool
		problem, result  bool
	}{
		{"queued, online", online, cmd("processes", store.CommandQueued, later, ""), true, false, false, false},
		{"sent, online", online, cmd("processes", store.CommandSent, later, ""), true, false, false, false},
		{"queued, offline", offline, cmd("processes", store.CommandQueued, later, ""), true, true, false, false},
		{"past its deadline, not yet marked expired", offline, cmd("processes", store.CommandQueued, earlier, ""), false, false, false, false},
		{"expired", offline, cmd("processes", store.CommandExpired, earlier, ""), false, false, false, false},
		{"failed", online, cmd("processes", store.CommandFailed, later, ""), false, false, false, false},
		{"done", online, cmd("processes", store.CommandDone, later, `{"processes":[{"pid":1,"name":"init"}]}`), false, false, false, true},
		{"done, unreadable", online, cmd("services", store.CommandDone, later, `{"services":7}`), false, false, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newActionResult(tt.agent, tt.c, "", now)
			if r.Waiting != tt.waiting || r.Offline != tt.offline || (r.Problem != "") != tt.problem {
				t.Errorf("result waiting %v, offline %v, problem %q; want %v, %v, problem %v", r.Waiting, r.Offline, r.Problem, tt.waiting, tt.offline, tt.problem)
			}
			if got := r.Processes != nil || r.Services != nil; got != tt.result {
				t.Errorf("result has a table: %v, want %v", got, tt.result)
			}
			if r.Self != "/agents/a1/actions/c1" {
				t.Errorf("Self = %q", r.Self)
			}
		})
	}
}

// FuzzActionForm checks that any action form is refused with a field
// error or read into a known command whose args are JSON; the command
// service checks the values.
func FuzzActionForm(f *testing.F) {
	for _, seed := range []string{
		"action=processes", "action=process_end&pid=4242&process=sleep&tree=1", "action=process_end&pid=99999999999",
		"action=service_control&service=nginx&op=restart", "action=event_log&level=error&limit=5", "action=event_log&limit=-1",
		"action=power&power=reboot&when=delay&minutes=30&message=hi", "action=power&power=shutdown&when=at&at_utc=2030-01-01T00:00:00Z",
		"action=power&power=reboot&when=at&at=2030-01-01T10:00", "action=power&power=cancel", "action=format", "",
	} {
		f.Add(seed)
	}
	now := time.Date(2026, 12, 4, 21, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, body string) {
		form, err := url.ParseQuery(body)
		if err != nil {
			return
		}
		name, args, err := postedAction(form, now)
		if err != nil {
			if _, ok := formProblem(err); !ok {
				t.Fatalf("postedAction(%q): %v, want a field error", body, err)
			}
			return
		}
		if !strings.HasPrefix(name, "process") && !strings.HasPrefix(name, "service") && name != protocol.CommandEventLog && name != protocol.CommandPower {
			t.Fatalf("postedAction(%q) = command %q", body, name)
		}
		if args != nil && !json.Valid(args) {
			t.Fatalf("postedAction(%q) args %s are not JSON", body, args)
		}
	})
}
