package watchdog

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/steward-rmm/steward/internal/protocol"
)

// ServiceState is what a ServiceManager knows of one service.
type ServiceState struct {
	Exists  bool
	Running bool
	PID     int // 0 when unknown or not running
}

// ServiceManager is what the watchdog needs of the machine's service
// manager (or, without one, of its process list) for one named service.
type ServiceManager interface {
	State(ctx context.Context, name string) (ServiceState, error)
	Start(ctx context.Context, name string) error
	Stop(ctx context.Context, name string) error
}

// errCannotStart is returned by Start where nothing can start a service by
// name: a bare process list has no command line to start it with.
var errCannotStart = errors.New("no service manager to start it with")

// Watcher checks the services the policy's watchdog section names and
// starts those it may restart.
type Watcher struct {
	Manager ServiceManager
	// Policy returns the watchdog policy, asked again before every round
	// so that a policy pushed meanwhile applies.
	Policy func() Policy
	Report func([]protocol.WatchedService)
	Log    *slog.Logger
	// Alive reports whether a process runs; nil means the OS check.
	Alive func(pid int) bool
}

// Run checks the services every policy interval until ctx is done.
func (w *Watcher) Run(ctx context.Context) {
	for {
		p := w.Policy()
		w.Report(w.Check(ctx, p.Services))
		if !sleep(ctx, p.Interval) {
			return
		}
	}
}

// Check looks at each service once, starts the stopped ones whose policy
// says restart, and returns their states in policy order.
func (w *Watcher) Check(ctx context.Context, services []Service) []protocol.WatchedService {
	out := make([]protocol.WatchedService, 0, len(services))
	for _, s := range services {
		ws := protocol.WatchedService{Name: s.Name, Alert: s.Alert}
		ws.State, ws.Reason = w.check(ctx, s)
		out = append(out, ws)
	}
	return out
}

func (w *Watcher) check(ctx context.Context, s Service) (state, reason string) {
	st, err := w.Manager.State(ctx, s.Name)
	switch {
	case err != nil:
		// No state in the protocol means "unknown"; what the watchdog
		// cannot see running it reports stopped, with why.
		return protocol.ServiceStopped, fmt.Sprintf("cannot query: %v", err)
	case !st.Exists:
		return protocol.ServiceMissing, ""
	case st.Running && (st.PID <= 0 || w.alive(st.PID)):
		return protocol.ServiceRunning, ""
	case st.Running:
		reason = fmt.Sprintf("process %d is gone though the service manager says it runs", st.PID)
	}
	if !s.Restart {
		return protocol.ServiceStopped, reason
	}
	sctx, cancel := context.WithTimeout(ctx, DefaultStopTimeout)
	defer cancel()
	if st.Running { // stale: the service manager must see it stop first
		if err := w.Manager.Stop(sctx, s.Name); err != nil {
			w.Log.Debug("stop a watched service whose process is gone", "service", s.Name, "err", err)
		}
	}
	if err := w.Manager.Start(sctx, s.Name); err != nil {
		w.Log.Warn("cannot restart a watched service", "service", s.Name, "err", err)
		return protocol.ServiceRestartFailed, err.Error()
	}
	w.Log.Info("restarted a watched service", "service", s.Name)
	return protocol.ServiceRestarted, ""
}

func (w *Watcher) alive(pid int) bool {
	if w.Alive != nil {
		return w.Alive(pid)
	}
	return processAlive(pid)
}
