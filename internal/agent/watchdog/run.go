package watchdog

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/steward-rmm/steward/internal/agent/config"
	"github.com/steward-rmm/steward/internal/protocol"
)

// Options configure Run.
type Options struct {
	// ConfigPath is the agent's config; its credentials sign the reports
	// and the policy beside it names the watched services.
	ConfigPath string
	// Supervise selects supervisor mode: Executable is started as
	// `Executable run --config ConfigPath`. Otherwise Agent is the
	// agent's service, watched in service mode.
	Supervise  bool
	Executable string
	Agent      AgentService
	// Health asks the agent's health; nil: not asked.
	Health HealthChecker
	// Services answers for the watched services; nil: SystemServices().
	Services   ServiceManager
	HTTPClient *http.Client // nil: a default client
	Log        *slog.Logger // nil: discarded
	// AgentOutput receives the supervised agent's output (its log); nil:
	// discarded.
	AgentOutput io.Writer
	// Updates, if set, is the agent's update state: a failed update is
	// rolled back and the agent restarted on the previous binary.
	Updates Updates
	// Binary is the installed binary the watchdog runs from. When an
	// update replaced it and is confirmed (no longer swapped), Run
	// returns ErrRefresh: the watchdog must restart on the new binary.
	Binary string
}

// repairFirst repairs the agent's binary before the service manager is
// asked to start it.
type repairFirst struct {
	AgentService
	repair func()
}

func (r repairFirst) Start(ctx context.Context) error {
	r.repair()
	return r.AgentService.Start(ctx)
}

// ErrRefresh ends Run when the watchdog's own binary was replaced by a
// confirmed update: the caller restarts the watchdog on it (exits for the
// service manager, or executes itself again as a supervisor).
var ErrRefresh = errors.New("the watchdog's binary was updated")

// Run watches the agent and the watched services and reports to the
// server until ctx is done; in supervisor mode it then stops the agent.
// It fails only when the config cannot be read.
func Run(ctx context.Context, o Options) error {
	cfg, err := config.Load(o.ConfigPath)
	if err != nil {
		return err
	}
	if !o.Supervise && o.Agent == nil {
		return errors.New("watchdog: service mode needs the agent's service")
	}
	if o.Services == nil {
		o.Services = SystemServices()
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.AgentOutput == nil {
		o.AgentOutput = io.Discard
	}
	policyPath := config.PolicyPath(o.ConfigPath)
	policy := func() Policy { return LoadPolicy(policyPath) }
	reporter := NewReporter(cfg.Servers(), cfg.AgentID, cfg.AgentSecret, o.HTTPClient, o.Log)
	status := NewStatus(reporter.Set)
	watcher := &Watcher{Manager: o.Services, Policy: policy, Report: status.Services, Log: o.Log}

	var rw *RollbackWatch
	report := status.Agent
	if o.Updates != nil {
		rw = &RollbackWatch{Updates: o.Updates, Log: o.Log}
		report = func(state, reason string, restarts int) {
			if state != protocol.AgentRunning {
				rw.AgentFailed()
			}
			status.Agent(state, reason, restarts)
		}
	}
	var (
		agent   func(context.Context)
		restart func(context.Context) error
	)
	if o.Supervise {
		start := Command(o.Executable, []string{"run", "--config", o.ConfigPath}, o.AgentOutput)
		if rw != nil {
			command := start
			start = func(ctx context.Context) (Child, error) {
				rw.Repair()
				return command(ctx)
			}
		}
		sup := NewSupervisor(start, o.Health, policy().Interval, report, o.Log)
		agent, restart = sup.Run, func(context.Context) error { sup.Kick(); return nil }
	} else {
		svc := o.Agent
		if rw != nil {
			svc = repairFirst{AgentService: svc, repair: rw.Repair}
		}
		interval := func() time.Duration { return policy().Interval }
		mon := NewMonitor(svc, o.Health, interval, report, o.Log)
		agent, restart = mon.Run, mon.RestartNow
	}
	mode := map[bool]string{true: "supervisor", false: "service"}[o.Supervise]
	o.Log.Info("watchdog starting", "mode", mode, "config", o.ConfigPath, "health_checked", o.Health != nil)

	ctx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	var wg sync.WaitGroup
	if o.Updates != nil && o.Binary != "" {
		self := newBinaryWatch(o.Binary)
		wg.Go(func() {
			for sleep(ctx, DefaultRollbackCheck) {
				if !o.Updates.Swapped() && self.changed() {
					o.Log.Info("the installed binary was updated; restarting the watchdog on it", "binary", o.Binary)
					stop(ErrRefresh)
					return
				}
			}
		})
	}
	wg.Go(func() { reporter.Run(ctx) })
	wg.Go(func() { watcher.Run(ctx) })
	wg.Go(func() { agent(ctx) })
	if rw != nil {
		rw.RestartAgent = restart
		wg.Go(func() { rw.Run(ctx) })
	}
	wg.Wait()
	if errors.Is(context.Cause(ctx), ErrRefresh) {
		return ErrRefresh
	}
	o.Log.Info("watchdog stopped")
	return nil
}
