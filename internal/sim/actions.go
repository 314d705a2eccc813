package sim

import (
	"encoding/json"
	"time"

	"github.com/steward-rmm/steward/internal/protocol"
)

// quickAction answers a quick action as a real agent on the simulated
// agent's system would, with a small plausible output and without doing
// anything; ok is false for other commands. A power request is kept per
// agent (replaced, cancelled) but never carried out.
func (s *Sim) quickAction(a *agent, cmd protocol.Command) (res protocol.Result, ok bool) {
	osName := s.factsOf(a.index).OS
	var out any
	var err error
	switch cmd.Name {
	case protocol.CommandProcesses:
		out = simProcesses(osName, a.index)
	case protocol.CommandProcessEnd:
		var req protocol.ProcessEnd
		if req, err = protocol.DecodeProcessEnd(cmd.Args); err == nil {
			out = protocol.ProcessEnded{PID: req.PID, Name: req.Name, Ended: 1}
		}
	case protocol.CommandServices:
		out = simServices(osName)
	case protocol.CommandServiceControl:
		var req protocol.ServiceControl
		if req, err = protocol.DecodeServiceControl(cmd.Args); err == nil {
			state := protocol.ServiceRunning
			if req.Action == protocol.ServiceStop {
				state = protocol.ServiceStopped
			}
			out = protocol.ServiceInfo{Name: req.Name, State: state}
		}
	case protocol.CommandEventLog:
		var q protocol.EventLogQuery
		if q, err = protocol.DecodeEventLogQuery(cmd.Args); err == nil {
			out = simEventLog(osName, q)
		}
	case protocol.CommandPower:
		now := time.Now()
		var req protocol.PowerRequest
		if req, err = protocol.DecodePowerRequest(cmd.Args, now); err == nil {
			var state protocol.PowerState
			if req.Action != protocol.PowerCancel {
				state = protocol.PowerState{Action: req.Action, At: req.When(now).UTC(), Message: req.Message, By: req.By}
			}
			a.mu.Lock()
			a.power = state
			a.mu.Unlock()
			out = state
		}
	default:
		return protocol.Result{}, false
	}
	if err != nil {
		return protocol.Result{CommandID: cmd.CommandID, Status: protocol.ResultError, Error: err.Error()}, true
	}
	data, _ := json.Marshal(out)
	return protocol.Result{CommandID: cmd.CommandID, Status: protocol.ResultOK, Output: data}, true
}

func simProcesses(osName string, i int) protocol.ProcessList {
	started := time.Now().Add(-time.Duration(i%720+1) * time.Hour).UTC().Truncate(time.Second)
	names := map[string][]string{
		"windows": {"System", "svchost.exe", "explorer.exe", "msedge.exe", "steward-agent.exe", "OUTLOOK.EXE"},
		"darwin":  {"launchd", "WindowServer", "Finder", "Safari", "steward-agent", "mds_stores"},
	}[osName]
	if names == nil {
		names = []string{"systemd", "sshd", "nginx", "postgres", "steward-agent", "bash"}
	}
	list := protocol.ProcessList{}
	for n, name := range names {
		pid := int32(n*97 + 4)
		list.Processes = append(list.Processes, protocol.ProcessInfo{PID: pid, PPID: 1, Name: name, User: "root",
			CPUPercent: float64((i+n)%7) * 1.5, MemoryBytes: uint64(n+1) * 37 << 20, CommandLine: name, StartedAt: started})
	}
	return list
}

func simServices(osName string) protocol.ServiceList {
	switch osName {
	case "windows":
		return protocol.ServiceList{Manager: protocol.ManagerSCM, Services: []protocol.ServiceInfo{
			{Name: "Spooler", DisplayName: "Print Spooler", State: protocol.ServiceRunning, StartType: protocol.StartAuto, PID: 2140},
			{Name: "wuauserv", DisplayName: "Windows Update", State: protocol.ServiceStopped, StartType: protocol.StartManual},
			{Name: "StewardAgent", DisplayName: "Steward Agent", State: protocol.ServiceRunning, StartType: protocol.StartAuto, PID: 3012},
		}}
	case "darwin":
		return protocol.ServiceList{Manager: protocol.ManagerLaunchd, Services: []protocol.ServiceInfo{
			{Name: "com.apple.mDNSResponder", State: protocol.ServiceRunning, PID: 412},
			{Name: "com.steward.agent", State: protocol.ServiceRunning, PID: 733},
		}}
	}
	return protocol.ServiceList{Manager: protocol.ManagerSystemd, Services: []protocol.ServiceInfo{
		{Name: "ssh.service", DisplayName: "OpenBSD Secure Shell server", State: protocol.ServiceRunning, StartType: protocol.StartAuto, PID: 812},
		{Name: "nginx.service", DisplayName: "A high performance web server", State: protocol.ServiceFailed, StartType: protocol.StartAuto},
		{Name: "steward-agent.service", DisplayName: "Steward agent", State: protocol.ServiceRunning, StartType: protocol.StartAuto, PID: 977},
	}}
}

func simEventLog(osName string, q protocol.EventLogQuery) protocol.EventLog {
	now := time.Now().UTC().Truncate(time.Second)
	source := map[string]string{"windows": "Windows System log", "darwin": "unified log"}[osName]
	if source == "" {
		source = "systemd journal"
	}
	all := []protocol.LogEntry{
		{Time: now.Add(-time.Minute), Level: protocol.LogError, Source: "disk", EventID: 7, Message: "The device has a bad block."},
		{Time: now.Add(-5 * time.Minute), Level: protocol.LogWarning, Source: "time", Message: "The time service has not synchronized the system time."},
		{Time: now.Add(-time.Hour), Level: protocol.LogInfo, Source: "steward-agent", Message: "steward-agent starting"},
	}
	l := protocol.EventLog{Source: source, Entries: []protocol.LogEntry{}}
	for _, e := range all {
		if protocol.LogSeverity(e.Level) <= protocol.LogSeverity(q.MinLevel()) && len(l.Entries) < q.Count() {
			l.Entries = append(l.Entries, e)
		}
	}
	return l
}
