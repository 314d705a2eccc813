package servertest

import (
	"encoding/json"
	"sync"
	"time"

	"github.com/steward-rmm/steward/internal/protocol"
)

// FakeActions answers the quick actions (processes, services, event log,
// power) as a real agent would, from a small made-up machine whose
// processes can be ended and services stopped and started; every other
// command goes to the test. Use its Answer as AgentOptions.Answer.
type FakeActions struct {
	mu        sync.Mutex
	processes []protocol.ProcessInfo
	services  []protocol.ServiceInfo
	power     protocol.PowerState
	// Truncated marks the process list truncated.
	Truncated bool
}

// NewFakeActions returns a machine running init, sshd, a busy worker and
// the test's own sleeper (PID 4242), with the nginx and cron services.
func NewFakeActions() *FakeActions {
	started := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
	return &FakeActions{
		processes: []protocol.ProcessInfo{
			{PID: 1, Name: "systemd", User: "root", CPUPercent: 0.1, MemoryBytes: 12 << 20, CommandLine: "/sbin/init", StartedAt: started},
			{PID: 812, PPID: 1, Name: "sshd", User: "root", CPUPercent: 0, MemoryBytes: 8 << 20, CommandLine: "sshd: /usr/sbin/sshd -D", StartedAt: started},
			{PID: 3100, PPID: 1, Name: "worker", User: "www-data", CPUPercent: 87.5, MemoryBytes: 300 << 20, CommandLine: "/opt/app/worker --queue=default", StartedAt: started.Add(time.Hour)},
			{PID: 4242, PPID: 812, Name: "sleep", User: "alice", CPUPercent: 0, MemoryBytes: 1 << 20, CommandLine: "sleep 3600", StartedAt: started.Add(2 * time.Hour)},
		},
		services: []protocol.ServiceInfo{
			{Name: "cron.service", DisplayName: "Regular background program processing daemon", State: protocol.ServiceRunning, StartType: protocol.StartAuto, PID: 640},
			{Name: "nginx.service", DisplayName: "A high performance web server", State: protocol.ServiceRunning, StartType: protocol.StartAuto, PID: 900},
		},
	}
}

// Answer answers a quick action; false hands any other command to the
// test.
func (f *FakeActions) Answer(c protocol.Command) (protocol.Result, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var (
		out any
		err error
	)
	switch c.Name {
	case protocol.CommandProcesses:
		out = protocol.ProcessList{Processes: append([]protocol.ProcessInfo(nil), f.processes...), Truncated: f.Truncated}
	case protocol.CommandProcessEnd:
		var req protocol.ProcessEnd
		if req, err = protocol.DecodeProcessEnd(c.Args); err == nil {
			ended := 0
			for i, p := range f.processes {
				if p.PID == req.PID && p.Name == req.Name {
					f.processes = append(f.processes[:i], f.processes[i+1:]...)
					ended = 1
					break
				}
			}
			if ended == 0 {
				return failed(c, "no process "+req.Name+" with that PID"), true
			}
			out = protocol.ProcessEnded{PID: req.PID, Name: req.Name, Ended: ended}
		}
	case protocol.CommandServices:
		out = protocol.ServiceList{Manager: protocol.ManagerSystemd, Services: append([]protocol.ServiceInfo(nil), f.services...)}
	case protocol.CommandServiceControl:
		var req protocol.ServiceControl
		if req, err = protocol.DecodeServiceControl(c.Args); err == nil {
			for i := range f.services {
				s := &f.services[i]
				if s.Name != req.Name {
					continue
				}
				s.State = protocol.ServiceRunning
				if req.Action == protocol.ServiceStop {
					s.State, s.PID = protocol.ServiceStopped, 0
				}
				out = *s
			}
			if out == nil {
				return failed(c, "no service "+req.Name), true
			}
		}
	case protocol.CommandEventLog:
		var q protocol.EventLogQuery
		if len(c.Args) > 0 {
			q, err = protocol.DecodeEventLogQuery(c.Args)
		}
		if err == nil {
			at := time.Date(2026, 12, 4, 21, 0, 0, 0, time.UTC)
			log := protocol.EventLog{Source: "systemd journal"}
			for i, e := range []protocol.LogEntry{
				{Time: at, Level: protocol.LogError, Source: "nginx.service", Message: "bind() to 0.0.0.0:80 failed (98: Address already in use)"},
				{Time: at.Add(-time.Minute), Level: protocol.LogWarning, Source: "kernel", Message: "CPU0: Core temperature above threshold"},
				{Time: at.Add(-2 * time.Minute), Level: protocol.LogInfo, Source: "systemd", Message: "Started Daily apt upgrade."},
			} {
				if protocol.LogSeverity(e.Level) <= protocol.LogSeverity(q.MinLevel()) && i < q.Count() {
					log.Entries = append(log.Entries, e)
				}
			}
			out = log
		}
	case protocol.CommandPower:
		var req protocol.PowerRequest
		if req, err = protocol.DecodePowerRequest(c.Args, time.Now()); err == nil {
			f.power = protocol.PowerState{}
			if req.Action != protocol.PowerCancel {
				f.power = protocol.PowerState{Action: req.Action, At: req.When(time.Now()).UTC().Truncate(time.Second), Message: req.Message, By: req.By}
			}
			out = f.power
		}
	default:
		return protocol.Result{}, false
	}
	if err != nil {
		return failed(c, err.Error()), true
	}
	b, err := json.Marshal(out)
	if err != nil {
		return failed(c, err.Error()), true
	}
	return protocol.Result{CommandID: c.CommandID, Status: protocol.ResultOK, Output: b}, true
}

func failed(c protocol.Command, msg string) protocol.Result {
	return protocol.Result{CommandID: c.CommandID, Status: protocol.ResultError, Error: msg}
}
