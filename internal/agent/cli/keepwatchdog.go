package cli

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/steward-rmm/steward/internal/agent/service"
)

// The agent looks after its watchdog as the watchdog looks after the
// agent: a watchdog service that was stopped is started again, and one
// that was never registered (an installation older than the watchdog) is
// registered, so existing machines get it without a reinstall. Only the
// watchdog's service is ever created, and only when none exists: an
// existing one, perhaps edited by an administrator, is only started, and
// the agent's own is never touched. While an uninstall runs (its marker
// beside the config) the keeper does nothing, or it would bring back the
// watchdog being removed.
const (
	keepWatchdogFirst = time.Minute     // after the agent starts: let the service manager settle
	keepWatchdogEvery = 5 * time.Minute // then
)

// startWatchdogKeeper runs keepWatchdog for the agent of config until the
// returned stop is called, where a service manager runs.
func startWatchdogKeeper(ctx context.Context, config string, log *slog.Logger, stderr io.Writer) (stop func()) {
	m := service.New(service.Options{Log: log})
	bin, err := os.Executable()
	if err != nil || m.Available() != nil {
		return func() {}
	}
	abs, err := filepath.Abs(config)
	if err != nil {
		return func() {}
	}
	kctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { keepWatchdog(kctx, m, service.Spec{Binary: bin, Config: abs}, log, stderr) })
	return func() {
		cancel()
		wg.Wait()
	}
}

// services is what keepWatchdog needs of the service manager
// (*service.Manager).
type services interface {
	Query(ctx context.Context, r service.Role) (service.State, error)
	Start(ctx context.Context, r service.Role) error
	AddRole(ctx context.Context, s service.Spec, r service.Role) (service.Result, error)
}

// keepWatchdog checks the watchdog service until ctx ends. It does nothing
// unless this process is the agent service itself: an agent run by hand or
// supervised by `watchdog --supervise` has no watchdog service to keep.
func keepWatchdog(ctx context.Context, m services, spec service.Spec, log *slog.Logger, stderr io.Writer) {
	t := time.NewTimer(keepWatchdogFirst)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if mendWatchdog(ctx, m, spec, os.Getpid(), log) && !uninstalling(spec.Config, time.Now()) {
			// Windows: an MSI registers its product only after its
			// install action ran, so the installed-software entry the
			// agent wrote then may not point at msiexec yet.
			recordVersion(stderr)
		}
		t.Reset(keepWatchdogEvery)
	}
}

// mendWatchdog is one check; pid is this process's. It reports whether
// this process is the agent service.
func mendWatchdog(ctx context.Context, m services, spec service.Spec, pid int, log *slog.Logger) bool {
	// Checked before the queries and again before each change: an
	// uninstall that starts in between is caught by its own second pass.
	busy := func() bool {
		if uninstalling(spec.Config, time.Now()) {
			log.Info("an uninstall is running; the watchdog service is left alone", "marker", uninstallMarkerPath(spec.Config))
			return true
		}
		return false
	}
	if busy() {
		return false
	}
	self, err := m.Query(ctx, service.Agent)
	if err != nil || !self.Running || self.PID != pid {
		return false
	}
	w, err := m.Query(ctx, service.Watchdog)
	switch {
	case err != nil:
		log.Warn("cannot check the watchdog service", "err", err)
	case busy():
	case !w.Installed:
		res, err := m.AddRole(ctx, spec, service.Watchdog)
		if err != nil {
			log.Error("the watchdog service is missing and registering it failed", "err", err)
			return true
		}
		log.Warn("the watchdog service was missing; registered it", "changes", res.Changes)
	case !w.Running:
		if err := m.Start(ctx, service.Watchdog); err != nil {
			log.Error("the watchdog service is stopped and starting it failed", "err", err, "state", w.String())
			return true
		}
		log.Warn("the watchdog service was stopped; started it", "state", w.String())
	}
	return true
}
