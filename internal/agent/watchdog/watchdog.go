// Package watchdog keeps the agent alive and tells the server when it is
// not. It runs as `steward-agent watchdog` in one of two modes:
//
//   - supervisor (Supervisor): where no service manager runs the agent (a
//     container, a minimal system), the watchdog starts `steward-agent run`
//     as its child, restarts it when it exits or hangs, and stops it on
//     SIGTERM;
//   - service (Monitor): the agent is a service of the machine's service
//     manager; the watchdog checks that service, the agent's process by
//     PID and its health answer, and restarts a dead or hung agent.
//
// In both modes it watches the services the policy's watchdog section
// names (Watcher) and posts every change of state to the server (Status,
// Reporter) with the agent's own credentials, since a dead agent has no
// control channel to speak on.
package watchdog

import (
	"context"
)

// HealthChecker asks the running agent whether it is well (the local IPC
// health call). An error or no answer within ctx counts as a miss.
type HealthChecker interface {
	Health(ctx context.Context) error
}

// AgentService is the agent's service in the machine's service manager.
type AgentService interface {
	// Query reports whether the service manager says the agent runs, and
	// its process ID when it knows one (0 otherwise).
	Query(ctx context.Context) (running bool, pid int, err error)
	Start(ctx context.Context) error
	Stop(ctx context.Context) error
}

// HealthFunc adapts a function to HealthChecker.
type HealthFunc func(ctx context.Context) error

// Health calls f.
func (f HealthFunc) Health(ctx context.Context) error { return f(ctx) }
