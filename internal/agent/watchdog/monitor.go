package watchdog

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/steward-rmm/steward/internal/protocol"
)

// Monitor watches the agent where the service manager runs it: every
// Interval it asks the service manager, checks the process by PID itself
// (the service manager's state can be stale) and asks the agent's health;
// it restarts a dead or hung agent, no more often than its backoff allows.
type Monitor struct {
	Service AgentService
	Health  HealthChecker // nil: not asked
	// Alive reports whether a process runs; nil means the OS check
	// (kill(pid, 0) on Unix, OpenProcess and GetExitCodeProcess on
	// Windows).
	Alive func(pid int) bool
	// Interval returns the time between checks, the policy's
	// watchdog.interval, asked again before every check.
	Interval func() time.Duration
	Restart
	Report func(state, reason string, restarts int)
	Log    *slog.Logger
}

// NewMonitor returns a Monitor with the default restart policy.
func NewMonitor(service AgentService, health HealthChecker, interval func() time.Duration,
	report func(state, reason string, restarts int), log *slog.Logger) *Monitor {
	return &Monitor{Service: service, Health: health, Alive: processAlive, Interval: interval,
		Restart: DefaultRestart(), Report: report, Log: log}
}

// Run checks the agent until ctx is done.
func (m *Monitor) Run(ctx context.Context) {
	var st monitorState
	for {
		wait := m.round(ctx, &st)
		if !sleep(ctx, wait) {
			return
		}
	}
}

// monitorState is what Monitor remembers between checks.
type monitorState struct {
	misses      int       // health misses in a row
	restarts    int       // since the agent last ran well: the backoff exponent
	nextRestart time.Time // no restart before
	wellSince   time.Time // running and healthy since; zero when not
}

// round checks the agent once, restarts it if it must, and returns the
// time until the next check.
func (m *Monitor) round(ctx context.Context, st *monitorState) time.Duration {
	every := m.Interval()
	running, pid, err := m.Service.Query(ctx)
	if ctx.Err() != nil {
		return every
	}
	var reason, state string
	switch {
	case err != nil:
		state, reason = protocol.AgentDown, fmt.Sprintf("query the agent service: %v", err)
	case !running:
		state, reason = protocol.AgentDown, "the agent service is stopped"
	case pid > 0 && !m.alive(pid):
		state, reason = protocol.AgentDown, fmt.Sprintf("the agent process %d is gone though the service manager says it runs", pid)
	case m.Health != nil:
		hctx, cancel := context.WithTimeout(ctx, min(every, maxHealthTimeout))
		herr := m.Health.Health(hctx)
		cancel()
		if ctx.Err() != nil {
			return every
		}
		if herr != nil {
			st.misses++
			m.Log.Warn("the agent did not answer its health call", "pid", pid, "misses", st.misses, "err", herr)
			if st.misses < m.Misses {
				return every
			}
			state, reason = protocol.AgentHung, fmt.Sprintf("hung: no answer to health for %s: %v", time.Duration(st.misses)*every, herr)
		}
	}
	now := time.Now()
	if state == "" { // running and, if asked, healthy
		st.misses = 0
		if st.wellSince.IsZero() {
			st.wellSince = now
		}
		if st.restarts > 0 && now.Sub(st.wellSince) >= m.ResetAfter {
			st.restarts = 0
		}
		m.Report(protocol.AgentRunning, "", st.restarts)
		return every
	}
	st.wellSince = time.Time{}
	if now.Before(st.nextRestart) {
		// Reported with the last restart; the next one is due soon.
		return min(st.nextRestart.Sub(now), every)
	}
	st.misses = 0
	if state == protocol.AgentHung || (running && pid > 0) {
		// A hung agent, or a dead one the service manager still thinks
		// runs: it must be stopped before it can be started again.
		m.stop(ctx, pid)
	}
	st.nextRestart = now.Add(m.Backoff.Ceiling(st.restarts))
	st.restarts++
	m.Log.Warn("restarting the agent", "reason", reason, "restarts", st.restarts)
	if err := m.Service.Start(ctx); err != nil {
		if ctx.Err() != nil {
			return every
		}
		m.Log.Error("cannot start the agent service", "err", err)
		m.Report(protocol.AgentDown, fmt.Sprintf("%s; start failed: %v", reason, err), st.restarts)
		return min(st.nextRestart.Sub(now), every)
	}
	down := protocol.AgentRestarting
	if st.restarts > m.DownAfter {
		down = protocol.AgentDown
	}
	m.Report(down, reason, st.restarts)
	// The next check gives the agent an interval to come up and answer.
	return every
}

func (m *Monitor) alive(pid int) bool {
	if m.Alive != nil {
		return m.Alive(pid)
	}
	return processAlive(pid)
}

// stop stops the agent service and kills its process if it outlives the
// stop: a hung agent may not handle the service manager's request.
func (m *Monitor) stop(ctx context.Context, pid int) {
	sctx, cancel := context.WithTimeout(ctx, m.StopTimeout)
	defer cancel()
	if err := m.Service.Stop(sctx); err != nil {
		m.Log.Debug("stop the agent service", "err", err)
	}
	if pid > 0 && m.alive(pid) {
		if err := killPID(pid); err != nil {
			m.Log.Warn("kill the hung agent", "pid", pid, "err", err)
		}
	}
}

// RestartNow stops the agent service (killing its process if it outlives
// the stop) and starts it again, outside the checks' backoff: the binary
// under it was just replaced.
func (m *Monitor) RestartNow(ctx context.Context) error {
	_, pid, err := m.Service.Query(ctx)
	if err != nil {
		pid = 0
	}
	m.stop(ctx, pid)
	if err := m.Service.Start(ctx); err != nil {
		return fmt.Errorf("start the agent service: %w", err)
	}
	return nil
}
