package watchdog

import (
	"context"
	"encoding/json"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/steward-rmm/steward/internal/agent/config"
	"github.com/steward-rmm/steward/internal/protocol"
)

// fakeManager is a ServiceManager of services that run when started.
type fakeManager struct {
	mu      sync.Mutex
	running map[string]bool // present: exists
}

func (f *fakeManager) State(_ context.Context, name string) (ServiceState, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	run, ok := f.running[name]
	return ServiceState{Exists: ok, Running: run}, nil
}

func (f *fakeManager) Start(_ context.Context, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.running[name] = true
	return nil
}

func (f *fakeManager) Stop(_ context.Context, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.running[name] = false
	return nil
}

// TestRunServiceMode wires Run as the command does in service mode: the
// agent's service is found stopped and started, the watched services of
// policy.json are checked, and the server gets one report with both.
func TestRunServiceMode(t *testing.T) {
	srv, ts := newServer(t)
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "agent.json")
	if err := config.Save(cfgPath, config.Config{ServerURL: ts.URL, AgentID: "agent-1", AgentSecret: "s3cret"}); err != nil {
		t.Fatal(err)
	}
	doc := `{"watchdog":{"interval":"10s","services":[{"name":"spooler","restart":true,"alert":true},{"name":"gone"}]}}`
	if err := config.SavePolicy(config.PolicyPath(cfgPath), config.Policy{Revision: "r1", Policy: json.RawMessage(doc), AppliedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	agent := &fakeService{alive: map[int]bool{}, nextPID: 100}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Options{ConfigPath: cfgPath, Agent: agent,
			Services: &fakeManager{running: map[string]bool{"spooler": false}}, Log: discard()})
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()

	want := []protocol.WatchedService{
		{Name: "spooler", State: protocol.ServiceRestarted, Alert: true},
		{Name: "gone", State: protocol.ServiceMissing},
	}
	for {
		srv.wait(t, 1)
		reps := srv.reports()
		last := reps[len(reps)-1]
		if len(last.Services) == 2 && last.Services[0] == want[0] && last.Services[1] == want[1] {
			if last.Agent.State != protocol.AgentRestarting || last.Agent.Restarts != 1 {
				t.Errorf("agent %+v, want restarting once", last.Agent)
			}
			break
		}
	}
	agent.mu.Lock()
	defer agent.mu.Unlock()
	if len(agent.starts) != 1 {
		t.Errorf("agent service started %d times, want 1", len(agent.starts))
	}
}

func TestRunNeedsConfig(t *testing.T) {
	err := Run(t.Context(), Options{ConfigPath: filepath.Join(t.TempDir(), "agent.json"), Supervise: true, Log: discard()})
	if err == nil {
		t.Fatal("Run without a config succeeded")
	}
}

// startsAfterRepair records, at each start of the agent service, how many
// repairs had been made.
type startsAfterRepair struct {
	*fakeService
	u       *fakeUpdates
	repairs []int
}

func (s *startsAfterRepair) Start(ctx context.Context) error {
	s.u.mu.Lock()
	s.repairs = append(s.repairs, s.u.repairs)
	s.u.mu.Unlock()
	return s.fakeService.Start(ctx)
}

// TestRunServiceModeRepairsFirst: in service mode the watchdog repairs the
// agent's binary (a swap killed half-way) before it asks the service
// manager to start the agent.
func TestRunServiceModeRepairsFirst(t *testing.T) {
	srv, ts := newServer(t)
	cfgPath := filepath.Join(t.TempDir(), "agent.json")
	if err := config.Save(cfgPath, config.Config{ServerURL: ts.URL, AgentID: "agent-1", AgentSecret: "s3cret"}); err != nil {
		t.Fatal(err)
	}
	u := &fakeUpdates{repaired: "the previous binary is back"}
	agent := &startsAfterRepair{fakeService: &fakeService{alive: map[int]bool{}, nextPID: 100}, u: u}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Options{ConfigPath: cfgPath, Agent: agent, Updates: u,
			Services: &fakeManager{running: map[string]bool{}}, Log: discard()})
	}()
	srv.wait(t, 1) // the report of the agent found stopped and started
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	agent.mu.Lock()
	defer agent.mu.Unlock()
	if len(agent.repairs) == 0 || agent.repairs[0] == 0 {
		t.Errorf("repairs before each start: %v; want at least one before the first", agent.repairs)
	}
}
