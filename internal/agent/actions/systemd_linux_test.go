package actions

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/steward-rmm/steward/internal/protocol"
)

// fakeTools puts testdata/fakebin first on PATH and returns the fake
// systemctl's state file.
func fakeTools(t *testing.T) string {
	t.Helper()
	bin, err := filepath.Abs(filepath.Join("testdata", "fakebin"))
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	dir := t.TempDir()
	state := filepath.Join(dir, "systemctl-state")
	t.Setenv("FAKE_SYSTEMCTL_STATE", state)
	journal := filepath.Join(dir, "journal.json")
	if err := os.WriteFile(journal, readTestdata(t, "journal.json"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("FAKE_JOURNAL", journal)
	return state
}

func TestSystemdControl(t *testing.T) {
	state := fakeTools(t)
	r := testRunner(t)
	list, err := r.Run(t.Context(), protocol.CommandServices, nil)
	if err != nil {
		t.Fatal(err)
	}
	var got protocol.ServiceList
	if err := json.Unmarshal(list, &got); err != nil {
		t.Fatal(err)
	}
	want := protocol.ServiceList{Manager: "systemd", Services: []protocol.ServiceInfo{
		{Name: "demo.service", DisplayName: "Demo stand-in service", State: "running", StartType: "auto"},
		{Name: "other.service", DisplayName: "Another service", State: "stopped", StartType: "manual"},
	}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("services (-want +got):\n%s", diff)
	}
	for _, tc := range []struct {
		name, action, want, wantErr string
	}{
		{"demo", "stop", "stopped", ""},
		{"demo.service", "start", "running", ""},
		{"demo", "restart", "running", ""},
		{"missing", "restart", "", "no service unit missing.service"},
		{"-H", "stop", "", "not a service unit name"},
	} {
		args, _ := json.Marshal(protocol.ServiceControl{Name: tc.name, Action: tc.action})
		out, err := r.Run(t.Context(), protocol.CommandServiceControl, args)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%s %s: err %v, want %q", tc.action, tc.name, err, tc.wantErr)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s %s: %v", tc.action, tc.name, err)
		}
		var info protocol.ServiceInfo
		json.Unmarshal(out, &info)
		if info.Name != "demo.service" || info.State != tc.want {
			t.Errorf("%s %s: %+v, want demo.service %s", tc.action, tc.name, info, tc.want)
		}
	}
	calls, _ := os.ReadFile(state + ".calls")
	if !strings.Contains(string(calls), "restart -- demo.service\n") {
		t.Errorf("systemctl calls:\n%s\nwant a restart of demo.service", calls)
	}
}

func TestNoSystemd(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	r := testRunner(t)
	for _, name := range []string{protocol.CommandServices, protocol.CommandEventLog} {
		_, err := r.Run(t.Context(), name, nil)
		if err == nil || !strings.Contains(err.Error(), "not installed") {
			t.Errorf("%s without systemd: err %v, want one that says the tool is not installed", name, err)
		}
	}
}

func TestJournalctl(t *testing.T) {
	fakeTools(t)
	r := testRunner(t)
	out, err := r.Run(t.Context(), protocol.CommandEventLog, json.RawMessage(`{"level":"error","limit":5}`))
	if err != nil {
		t.Fatal(err)
	}
	var got protocol.EventLog
	json.Unmarshal(out, &got)
	if got.Source != "systemd journal" || len(got.Entries) != 2 || got.Entries[0].Level != "error" || got.Entries[1].Level != "critical" {
		t.Errorf("event log %+v, want the journal's error and critical entries", got)
	}
	calls, _ := os.ReadFile(os.Getenv("FAKE_JOURNAL") + ".calls")
	if want := "-r -n 5 -p 0..3 -o json --no-pager -q\n"; !strings.HasSuffix(string(calls), want) {
		t.Errorf("journalctl called with %q, want %q", calls, want)
	}
}
