package watchdog

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/windows/svc"
	"golang.org/x/sys/windows/svc/mgr"

	"github.com/steward-rmm/steward/internal/agent/winetest"
	"github.com/steward-rmm/steward/internal/protocol"
)

// serviceArg makes the test binary, started by the SCM, a service that
// runs until it is stopped.
const serviceArg = "watchdog-test-service"

func serviceMain() (int, bool) {
	ran, err := winetest.RunService(serviceArg)
	switch {
	case !ran:
		return 0, false
	case err != nil:
		return 1, true
	}
	return 0, true
}

// installTestService registers the test binary as a manual service.
func installTestService(t *testing.T) string {
	t.Helper()
	m, err := mgr.Connect()
	if err != nil {
		t.Skipf("no access to the service manager: %v", err)
	}
	defer m.Disconnect()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	name := fmt.Sprintf("wdtest%d", os.Getpid())
	s, err := m.CreateService(name, exe, mgr.Config{DisplayName: name, StartType: mgr.StartManual}, serviceArg, name)
	if err != nil {
		t.Fatalf("CreateService: %v", err)
	}
	s.Close()
	t.Cleanup(func() {
		m, err := mgr.Connect()
		if err != nil {
			return
		}
		defer m.Disconnect()
		if s, err := m.OpenService(name); err == nil {
			s.Control(svc.Stop)
			s.Delete()
			s.Close()
		}
	})
	return name
}

// TestSCMWatchedService starts a stopped watched service, and sees a
// service whose process died as stopped although the SCM (under wine)
// keeps calling it running.
func TestSCMWatchedService(t *testing.T) {
	name := installTestService(t)
	w := &Watcher{Manager: scm{}, Log: discard()}
	got := w.Check(t.Context(), []Service{{Name: "nosuch-watchdog-test"}, {Name: name, Alert: true}, {Name: name, Restart: true}})
	want := []string{protocol.ServiceMissing, protocol.ServiceStopped, protocol.ServiceRestarted}
	for i := range want {
		if got[i].State != want[i] {
			t.Errorf("service %d (%s): %s (%s), want %s", i, got[i].Name, got[i].State, got[i].Reason, want[i])
		}
	}
	var st ServiceState
	waitUntil(t, "the service runs", func() bool {
		var err error
		st, err = scm{}.State(t.Context(), name)
		return err == nil && st.Running && st.PID > 0
	})
	if err := killPID(st.PID); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the dead process is seen", func() bool { return !processAlive(st.PID) })
	if q := rawQuery(t, name); q.State == svc.Running {
		t.Logf("the SCM still says running with the dead pid %d (stale)", q.ProcessId)
	}
	got = w.Check(t.Context(), []Service{{Name: name}})
	if got[0].State != protocol.ServiceStopped {
		t.Errorf("after the process died: %+v, want stopped", got[0])
	}
	got = w.Check(t.Context(), []Service{{Name: name, Restart: true}})
	if got[0].State != protocol.ServiceRestarted {
		t.Errorf("restart after the process died: %+v, want restarted", got[0])
	}
	waitUntil(t, "a new process runs", func() bool {
		now, err := scm{}.State(t.Context(), name)
		return err == nil && now.Running && now.PID != st.PID && processAlive(now.PID)
	})
}

// TestSCMMonitorRestartsDeadAgent runs one check of service mode against
// a real service whose process was killed: the monitor must bring a new
// process up.
func TestSCMMonitorRestartsDeadAgent(t *testing.T) {
	name := installTestService(t)
	agent := newAgentService(scm{}, name)
	if err := agent.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	var pid int
	waitUntil(t, "the service runs", func() bool {
		running, p, err := agent.Query(t.Context())
		pid = p
		return err == nil && running && p > 0
	})
	if err := killPID(pid); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the process is gone", func() bool { return !processAlive(pid) })
	if q := rawQuery(t, name); q.State == svc.Running {
		t.Logf("the SCM still says running with the dead pid %d (stale)", q.ProcessId)
	}

	rec := &recorder{}
	m := NewMonitor(agent, nil, func() time.Duration { return 10 * time.Second }, rec.report, discard())
	m.StopTimeout = 5 * time.Second
	var st monitorState
	m.round(t.Context(), &st)
	waitUntil(t, "a new process runs", func() bool {
		running, p, err := agent.Query(t.Context())
		return err == nil && running && p > 0 && p != pid && processAlive(p)
	})
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.reports) != 1 || rec.reports[0].State != protocol.AgentRestarting || !strings.Contains(rec.reports[0].Reason, "is gone") {
		t.Errorf("reports %+v, want restarting because the process is gone", rec.reports)
	}
}

func rawQuery(t *testing.T, name string) svc.Status {
	t.Helper()
	m, err := mgr.Connect()
	if err != nil {
		t.Fatal(err)
	}
	defer m.Disconnect()
	s, err := m.OpenService(name)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	q, err := s.Query()
	if err != nil {
		t.Fatal(err)
	}
	return q
}
