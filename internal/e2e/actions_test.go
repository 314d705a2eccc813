package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/steward-rmm/steward/internal/protocol"
)

// commandJSON is a command as the API shows it.
type commandJSON struct {
	ID           string          `json:"id"`
	State        string          `json:"state"`
	ResultStatus string          `json:"result_status"`
	Error        string          `json:"error"`
	Output       json.RawMessage `json:"output"`
}

// command sends a command to the agent through the API and waits for its
// answer.
func (f *scriptFleet) command(agentID, name string, args any) commandJSON {
	f.t.Helper()
	body := map[string]any{"name": name}
	if args != nil {
		body["args"] = args
	}
	var c commandJSON
	f.api.mustDo("POST", "/api/v1/agents/"+agentID+"/commands", body, &c, 201)
	waitFor(f.t, 60*time.Second, name+" answered", func() error {
		f.api.mustDo("GET", "/api/v1/commands/"+c.ID, nil, &c, 200)
		if c.State == "queued" || c.State == "sent" {
			return fmt.Errorf("command %s", c.State)
		}
		return nil
	})
	return c
}

// TestQuickActions runs the quick actions on a real Linux agent through
// the API: the process list has the test's sleeper and ending it works;
// a service is restarted through a stand-in systemctl (CI has no systemd
// as PID 1; the machine's own services are never touched); the log is read
// through a stand-in journalctl; a reboot is carried out up to the command
// the agent would run (the STEWARD_AGENT_POWER_LOG hook), and a pending
// shutdown is cancelled.
func TestQuickActions(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the quick actions end-to-end test runs the Linux agent")
	}
	f := newScriptFleet(t, 1)
	fakebin, err := filepath.Abs(filepath.Join("..", "agent", "actions", "testdata", "fakebin"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	journal := filepath.Join(dir, "journal.json")
	sample, err := os.ReadFile(filepath.Join(fakebin, "..", "journal.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(journal, sample, 0o600); err != nil {
		t.Fatal(err)
	}
	systemctlState, powerLog := filepath.Join(dir, "systemctl"), filepath.Join(dir, "power.log")
	f.agents[f.configs[0]] = startAgentBinary(t, bin(t, "steward-agent"), f.configs[0],
		"PATH="+fakebin+string(os.PathListSeparator)+os.Getenv("PATH"),
		"FAKE_SYSTEMCTL_STATE="+systemctlState, "FAKE_JOURNAL="+journal, "STEWARD_AGENT_POWER_LOG="+powerLog)
	waitOnline(t, f.api, 1, 60*time.Second)
	var l agentList
	f.api.mustDo("GET", "/api/v1/agents", nil, &l, 200)
	agentID := l.Items[0].ID

	// Processes: the sleeper is listed, a wrong name is refused, ending it works.
	sleeper := exec.Command("sleep", "300")
	if err := sleeper.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- sleeper.Wait() }()
	t.Cleanup(func() { sleeper.Process.Kill() })
	c := f.command(agentID, protocol.CommandProcesses, nil)
	var procs protocol.ProcessList
	if c.State != "done" || json.Unmarshal(c.Output, &procs) != nil {
		t.Fatalf("processes: %+v", c)
	}
	found := false
	for _, p := range procs.Processes {
		if p.PID == int32(sleeper.Process.Pid) {
			found = p.Name == "sleep" && strings.Contains(p.CommandLine, "sleep 300")
		}
	}
	if !found {
		t.Fatalf("the sleeper (pid %d) is not listed as sleep among %d processes", sleeper.Process.Pid, len(procs.Processes))
	}
	c = f.command(agentID, protocol.CommandProcessEnd, protocol.ProcessEnd{PID: int32(sleeper.Process.Pid), Name: "bash"})
	if c.State != "failed" || !strings.Contains(c.Error, "not \"bash\"") {
		t.Errorf("process_end with the wrong name: %+v, want refused", c)
	}
	c = f.command(agentID, protocol.CommandProcessEnd, protocol.ProcessEnd{PID: int32(sleeper.Process.Pid), Name: "sleep"})
	if c.State != "done" || !strings.Contains(string(c.Output), `"ended":1`) {
		t.Errorf("process_end: %+v", c)
	}
	if err := <-exited; err == nil || !strings.Contains(err.Error(), "killed") {
		t.Errorf("the sleeper ended with %v, want killed", err)
	}

	// Services, through the stand-in systemctl.
	c = f.command(agentID, protocol.CommandServices, nil)
	if c.State != "done" || !strings.Contains(string(c.Output), `"name":"demo.service"`) {
		t.Errorf("services: %+v", c)
	}
	c = f.command(agentID, protocol.CommandServiceControl, protocol.ServiceControl{Name: "demo", Action: protocol.ServiceRestart})
	var info protocol.ServiceInfo
	if c.State != "done" || json.Unmarshal(c.Output, &info) != nil || info.Name != "demo.service" || info.State != protocol.ServiceRunning {
		t.Errorf("service_control restart: %+v", c)
	}
	if calls, _ := os.ReadFile(systemctlState + ".calls"); !strings.Contains(string(calls), "restart -- demo.service\n") {
		t.Errorf("systemctl was called with:\n%s\nwant a restart of demo.service", calls)
	}

	// The system log, through the stand-in journalctl.
	c = f.command(agentID, protocol.CommandEventLog, protocol.EventLogQuery{Level: protocol.LogError, Limit: 10})
	var events protocol.EventLog
	if c.State != "done" || json.Unmarshal(c.Output, &events) != nil || events.Source != "systemd journal" || len(events.Entries) != 2 {
		t.Errorf("event_log: %+v", c)
	}

	// Power: a reboot after its delay, then a shutdown cancelled.
	asked := time.Now()
	c = f.command(agentID, protocol.CommandPower, map[string]any{"action": "reboot", "delay": "6s", "message": "patches"})
	var pending protocol.PowerState
	if c.State != "done" || json.Unmarshal(c.Output, &pending) != nil || pending.Action != protocol.PowerReboot ||
		pending.At.Before(asked.Add(5*time.Second)) || pending.By == "" {
		t.Fatalf("power reboot: %+v, want a reboot pending in 6 s, signed by who asked", c)
	}
	var logged []byte
	waitFor(t, 60*time.Second, "the reboot carried out", func() error {
		if logged, _ = os.ReadFile(powerLog); len(logged) == 0 {
			return fmt.Errorf("nothing in %s", powerLog)
		}
		return nil
	})
	st, err := os.Stat(powerLog)
	if err != nil {
		t.Fatal(err)
	}
	// File times come from the kernel's coarse clock, up to a tick behind.
	if st.ModTime().Before(pending.At.Add(-50*time.Millisecond)) || string(logged) != "systemctl reboot\n" {
		t.Errorf("power log %q written at %v, want \"systemctl reboot\" once, at %v or later", logged, st.ModTime(), pending.At)
	}
	c = f.command(agentID, protocol.CommandPower, map[string]any{"action": "shutdown", "delay": "1h"})
	if c.State != "done" || !strings.Contains(string(c.Output), `"action":"shutdown"`) {
		t.Fatalf("power shutdown: %+v", c)
	}
	powerFile := filepath.Join(filepath.Dir(f.configs[0]), "power.json")
	if _, err := os.Stat(powerFile); err != nil {
		t.Errorf("the pending shutdown is not kept: %v", err)
	}
	c = f.command(agentID, protocol.CommandPower, map[string]any{"action": "cancel"})
	if c.State != "done" || string(c.Output) != "{}" {
		t.Errorf("power cancel: %+v, want nothing pending", c)
	}
	if _, err := os.Stat(powerFile); !os.IsNotExist(err) {
		t.Errorf("the cancelled shutdown is still kept (err %v)", err)
	}
}
