package watchdog

import (
	"context"
	"fmt"
)

// managedAgent is the agent's service in a ServiceManager.
type managedAgent struct {
	m    ServiceManager
	name string
}

// newAgentService returns the AgentService of the service called name in
// m, for tests that run service mode against a real service of their own.
func newAgentService(m ServiceManager, name string) AgentService {
	return managedAgent{m: m, name: name}
}

func (a managedAgent) Query(ctx context.Context) (bool, int, error) {
	st, err := a.m.State(ctx, a.name)
	if err != nil {
		return false, 0, err
	}
	if !st.Exists {
		return false, 0, fmt.Errorf("service %s is not installed", a.name)
	}
	return st.Running, st.PID, nil
}

func (a managedAgent) Start(ctx context.Context) error { return a.m.Start(ctx, a.name) }
func (a managedAgent) Stop(ctx context.Context) error  { return a.m.Stop(ctx, a.name) }
