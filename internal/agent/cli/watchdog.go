package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"

	"github.com/steward-rmm/steward/internal/agent/config"
	"github.com/steward-rmm/steward/internal/agent/service"
	// Aliased: the command function is named watchdog, the name the Windows
	// service runner calls it by.
	wd "github.com/steward-rmm/steward/internal/agent/watchdog"
)

const watchdogHelp = `Usage: steward-agent watchdog [--config PATH] [--supervise] [--log-level LEVEL]

Keeps the agent alive and tells the server when it is not. It uses the
agent's config and the policy beside it; it has no configuration of its own.

Service mode (the default where a service manager runs the agent: Windows,
macOS, Linux with systemd): every watchdog.interval of the policy it checks
the agent's service, the agent's process by PID and its health answer, and
restarts a dead or hung agent with backoff.

Supervisor mode (--supervise, and the default on Linux without systemd, as
in a container): it starts "steward-agent run --config PATH" as its child,
logs the child's output, restarts it when it exits or hangs, with backoff
(1s doubling to 60s, reset after 5 minutes of good running), and on
SIGTERM/SIGINT stops it (SIGTERM, then kill after 15s) and exits 0.

In both modes it checks the services the policy's watchdog section names,
starts those it may restart, and posts the agent's and the services' state
to the server whenever one changes (and every 5 minutes while the agent is
down), with the agent's credentials.

Exit codes: 0 stopped on request, 1 failed (no readable config), 2 usage error.
`

// watchdog runs the watchdog until ctx is cancelled. The Windows
// service runner wraps it as the StewardWatchdog service's body.
func watchdog(ctx context.Context, args []string, _, stderr io.Writer) int {
	fl, path := newFlagSet("watchdog", watchdogHelp, stderr)
	supervise := fl.Bool("supervise", false, "start and supervise the agent as a child process (no service manager)")
	var level slog.Level
	fl.TextVar(&level, "log-level", slog.LevelInfo, "log level: debug, info, warn or error")
	if code, ok := parse(fl, args); !ok {
		return code
	}
	if untrustedConfig("watchdog", *path, stderr) {
		return exitFail
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	// The watchdog rolls back an update the agent cannot confirm. Its own
	// binary is the installed one, read now, before any swap.
	updater, err := newUpdater(*path, config.Config{}, log)
	if err != nil {
		fmt.Fprintf(stderr, "steward-agent watchdog: %v\n", err)
		return exitFail
	}
	o := wd.Options{
		Updates:    updater,
		Binary:     updater.Binary,
		ConfigPath: *path,
		Supervise:  *supervise,
		Services:   wd.SystemServices(),
		Log:        log,
		// The agent's own log records, unchanged, beside the watchdog's.
		AgentOutput: stderr,
		// The agent's health over the local IPC channel
		// (STEWARD_AGENT_IPC or the default endpoint).
		Health: ipcHealth{endpoint: ipcEndpoint()},
	}
	if !o.Supervise {
		m := service.New(service.Options{Log: log})
		err := m.Available()
		switch {
		case errors.Is(err, service.ErrNoServiceManager):
			log.Info("no service manager runs the agent here; supervising it as a child process", "why", err)
			o.Supervise = true
		case err != nil:
			fmt.Fprintf(stderr, "steward-agent watchdog: %v\n", err)
			return exitFail
		default:
			o.Agent = agentService{m}
		}
	}
	if o.Supervise {
		exe, err := os.Executable()
		if err != nil {
			fmt.Fprintf(stderr, "steward-agent watchdog: find own executable: %v\n", err)
			return exitFail
		}
		o.Executable = exe
	}
	err = wd.Run(ctx, o)
	if errors.Is(err, wd.ErrRefresh) {
		if o.Supervise {
			// No service manager to start it again: become the new binary
			// in place (Unix); where that cannot be done, exit for whoever
			// runs the watchdog.
			err := reexec(updater.Binary)
			log.Error("cannot execute the updated binary; exiting for a restart", "err", err)
		}
		return exitRestart
	}
	if errors.Is(err, fs.ErrNotExist) {
		fmt.Fprintf(stderr, "steward-agent watchdog: not enrolled: %s does not exist; run steward-agent install first\n", *path)
		return exitFail
	}
	if err != nil {
		fmt.Fprintf(stderr, "steward-agent watchdog: %v\n", err)
		return exitFail
	}
	return exitOK
}

// agentService is the agent's service (service.Agent) as the watchdog's
// service mode needs it.
type agentService struct{ m *service.Manager }

var _ wd.AgentService = agentService{}

func (a agentService) Query(ctx context.Context) (running bool, pid int, err error) {
	st, err := a.m.Query(ctx, service.Agent)
	if err != nil {
		return false, 0, err
	}
	if !st.Installed {
		return false, 0, errors.New("the agent service is not installed")
	}
	return st.Running, st.PID, nil
}

func (a agentService) Start(ctx context.Context) error { return a.m.Start(ctx, service.Agent) }
func (a agentService) Stop(ctx context.Context) error  { return a.m.Stop(ctx, service.Agent) }
