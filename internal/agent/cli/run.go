package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/steward-rmm/steward/internal/agent"
	"github.com/steward-rmm/steward/internal/agent/actions"
	"github.com/steward-rmm/steward/internal/agent/config"
	"github.com/steward-rmm/steward/internal/agent/control"
	"github.com/steward-rmm/steward/internal/agent/facts"
	"github.com/steward-rmm/steward/internal/agent/footprint"
	"github.com/steward-rmm/steward/internal/agent/inventory"
	"github.com/steward-rmm/steward/internal/agent/metrics"
	"github.com/steward-rmm/steward/internal/agent/remote"
	"github.com/steward-rmm/steward/internal/agent/schedule"
	"github.com/steward-rmm/steward/internal/agent/script"
	"github.com/steward-rmm/steward/internal/agent/settings"
	"github.com/steward-rmm/steward/internal/agent/update"
	"github.com/steward-rmm/steward/internal/protocol"
)

const runHelp = `Usage: steward-agent run [--config PATH] [--log-level LEVEL]

Runs the agent in the foreground until interrupted (SIGINT/SIGTERM): keeps
the control connection to the server, reconnecting with backoff after any
failure. With several server URLs (replicas), a lost or failed connection
moves the agent to the next URL. Logs go to standard error. While running it keeps a state file
beside the config (agent.state.json) for "steward-agent status".

The effective policy the server sends is applied without a restart and
kept beside the config (policy.json); the agent starts with it next time,
before it reaches the server.

Metrics are collected at the interval the policy sets and kept beside the
config (metrics-buffer/) until the server has stored them, within the
policy's buffer bounds, so none are lost while the server is unreachable.

Quick actions (processes, services, the system log, reboot and shutdown)
run when the server asks; a pending reboot or shutdown is kept beside the
config (power.json), so that an agent restart keeps it, and shown in the
tray. STEWARD_AGENT_POWER_LOG=FILE (a test hook) makes the agent append the
command it would run to FILE instead of rebooting or shutting down.

The hardware, OS and software inventory is uploaded to the server after the
first connection, every inventory interval of the policy, and when the
server asks for it.

It serves the local IPC endpoint (--ipc) that the tray, the watchdog and
"steward-agent status" call; help requests from the tray are kept beside
the config (help-requests.json) until the server has them.

Run as root (SYSTEM, or an elevated Administrator, on Windows), it refuses a
config that a user other than root/SYSTEM/Administrators could have
written: the file and its folder must be owned by one of them and writable
by nobody else (Unix: not group- or world-writable).

Exit codes: 0 stopped cleanly, 1 failed to start, 2 usage error.
`

func run(ctx context.Context, args []string, _, stderr io.Writer) int {
	fl, path := newFlagSet("run", runHelp, stderr)
	var level slog.Level
	fl.TextVar(&level, "log-level", slog.LevelInfo, "log level: debug, info, warn or error")
	ipcPath := fl.String("ipc", ipcEndpoint(), "local IPC endpoint (socket path or pipe name; env "+ipcEnv+")")
	if code, ok := parse(fl, args); !ok {
		return code
	}
	if untrustedConfig("run", *path, stderr) {
		return exitFail
	}
	cfg, err := config.Load(*path)
	if errors.Is(err, fs.ErrNotExist) {
		fmt.Fprintf(stderr, "steward-agent run: not enrolled: %s does not exist; run steward-agent install first\n", *path)
		return exitFail
	}
	if err != nil {
		fmt.Fprintf(stderr, "steward-agent run: %v\n", err)
		return exitFail
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	statePath := config.StatePath(*path)
	if old, err := config.LoadState(statePath); err == nil && old.PID != os.Getpid() && pidAlive(ctx, old.PID) {
		log.Warn("another steward-agent may be running with this config; the server keeps only one connection per agent",
			"pid", old.PID, "state", statePath)
	}
	policy := settings.New(config.PolicyPath(*path))
	if err := policy.Load(); err != nil && !errors.Is(err, fs.ErrNotExist) {
		log.Warn("ignoring the saved policy; the server will send it again", "err", err)
	}
	saved := policy.Current()
	if saved.Revision != "" {
		log.Info("running with the saved policy", "revision", saved.Revision, "applied_at", saved.AppliedAt)
	}

	servers := cfg.Servers()
	state := config.State{PID: os.Getpid(), Since: time.Now().UTC(), ServerURL: servers[0],
		PolicyRevision: saved.Revision, PolicyAppliedAt: saved.AppliedAt}
	local := newLocalAPI(cfg.AgentID, policy, log)
	saveState := func() {
		local.setState(state)
		if err := config.SaveState(statePath, state); err != nil {
			log.Warn("cannot write state file; status will not see this agent", "err", err)
		}
	}
	saveState()

	// Metrics are collected and buffered whether or not the server is
	// reachable; a buffer that cannot be opened costs the metrics only.
	var buf *metrics.Buffer
	mp := metrics.ParsePolicy(saved.Policy)
	if b, err := metrics.OpenBuffer(config.MetricsDir(*path), mp.MaxSamples, mp.MaxBytes); err != nil {
		log.Error("metrics are not collected", "err", err)
	} else {
		buf = b
		defer buf.Close()
	}

	opts := control.Options{
		ServerURLs:  servers,
		AgentID:     cfg.AgentID,
		AgentSecret: cfg.AgentSecret,
		Facts: local.collected(func(ctx context.Context) (protocol.Facts, error) {
			return facts.Collect(ctx, log, agent.Version)
		}),
		Log: log,
		OnStatus: func(s control.Status) {
			state.Connected, state.Since = s.Connected, s.Since.UTC()
			state.LastError, state.ServerURL = s.LastError, s.ServerURL
			saveState()
		},
		// Called from Run's goroutine, like OnStatus: state needs no lock.
		OnPolicy: func(ctx context.Context, p protocol.PolicyUpdate) error {
			if err := policy.Apply(p); err != nil {
				return err
			}
			cur := policy.Current()
			state.PolicyRevision, state.PolicyAppliedAt = cur.Revision, cur.AppliedAt
			saveState()
			log.InfoContext(ctx, "policy applied", "revision", cur.Revision)
			return nil
		},
		PolicyRevision: saved.Revision,
		Inventory:      inventory.Collect,
		Policy:         policy,
		CommandsFile:   config.CommandsPath(*path),
		HelpFile:       helpRequestsPath(*path),
		// The first report ends the start-up work; each is the agent's
		// largest burst of memory.
		AfterInventory: func() {
			if err := footprint.Release(); err != nil {
				log.Debug("cannot release memory", "err", err)
			}
		},
	}
	if buf != nil {
		opts.Metrics = buf
	}
	// Scheduled scripts: the scheduler finds their dues in local time
	// whether or not the server is reachable; the client sends them.
	sched := schedule.New(schedule.Options{StateFile: filepath.Join(filepath.Dir(*path), "schedules.json"), Log: log})
	opts.Schedules = sched
	if runner, err := script.New(config.ScriptsDir(*path), log); err != nil {
		log.Error("scripts are off", "err", err)
	} else {
		opts.Scripts = runner
	}
	opts.Sessions = remote.New(log, 0)
	// Updates: the binary this process was started from is the one an
	// update replaces; a finished update ends Run with errUpdated.
	runCtx, stopRun := context.WithCancelCause(ctx)
	defer stopRun(nil)
	var (
		runner *update.Runner
		client *control.Client
	)
	if updater, err := newUpdater(*path, cfg, log); err != nil {
		log.Error("updates are off", "err", err)
	} else {
		runner = &update.Runner{U: updater, Log: log,
			// Reports wait in the client, which exists by the time the
			// first one is made.
			Report:      func(s protocol.UpdateStatus, sent func()) { client.ReportUpdate(s, sent) },
			Server:      local.serverURL,
			Window:      func() protocol.UpdateWindow { return updateWindow(policy.Current().Policy, log) },
			Restart:     func(reason string) { stopRun(errUpdated{reason}) },
			OnConfirmed: func() { restartWatchdogService(ctx, log) },
		}
	}
	// Quick actions; a pending reboot or shutdown outlives the process, and
	// the tray and the server are told of it.
	power := actions.NewPower(ctx, actions.PowerOptions{
		Path: config.PowerPath(*path), Exec: actions.NewExecutor(os.Getenv), Boot: facts.BootTime, Log: log,
		OnChange: func(p protocol.PowerState) {
			local.setPower(p)
			client.CheckFacts()
		},
	})
	local.setPower(power.Pending())
	opts.Actions = actions.New(log, power)
	client, err = control.New(opts)
	if err != nil {
		config.RemoveState(statePath)
		fmt.Fprintf(stderr, "steward-agent run: %v\n", err)
		return exitFail
	}
	if runner != nil {
		if err := runner.Start(); err != nil {
			log.Error("cannot read the update state; updates are off until the next start", "err", err)
			runner = nil
		} else {
			client.SetUpdates(runner)
			var wg sync.WaitGroup
			wg.Go(func() { runner.Run(runCtx) })
			defer wg.Wait()
		}
	}

	defer serveIPC(ctx, *ipcPath, local, client)()

	// Started once the client exists: OnChange tells it.
	pctx, stopPower := context.WithCancel(ctx)
	var powerWG sync.WaitGroup
	powerWG.Go(func() { power.Run(pctx) })
	defer func() {
		stopPower()
		powerWG.Wait()
	}()

	if buf != nil {
		sampler := metrics.NewSampler(policy, metrics.NewCollector(log), buf, log)
		sctx, stopSampler := context.WithCancel(ctx)
		var wg sync.WaitGroup
		wg.Go(func() { sampler.Run(sctx) })
		defer func() {
			stopSampler()
			wg.Wait()
		}()
	}

	schedCtx, stopSched := context.WithCancel(ctx)
	var schedWG sync.WaitGroup
	schedWG.Go(func() { sched.Run(schedCtx, policy) })
	defer func() {
		stopSched()
		schedWG.Wait()
	}()

	stopKeeper := startWatchdogKeeper(ctx, *path, log, stderr)
	defer stopKeeper()

	// Let go, every few seconds, of the program's pages the agent no longer runs.
	tctx, stopTrim := context.WithCancel(ctx)
	var trimmer sync.WaitGroup
	trimmer.Go(func() { footprint.Trim(tctx, footprint.TrimEvery, log) })
	defer func() {
		stopTrim()
		trimmer.Wait()
	}()

	log.Info("steward-agent starting", "version", agent.Version, "agent_id", cfg.AgentID,
		"servers", servers, "config", *path, "pid", state.PID)
	err = client.Run(runCtx)
	if rmErr := config.RemoveState(statePath); rmErr != nil {
		log.Warn("remove state file", "err", rmErr)
	}
	var updated errUpdated
	if errors.As(context.Cause(runCtx), &updated) {
		log.Info("steward-agent restarting on its new binary", "reason", updated.reason)
		return exitRestart
	}
	if err != nil {
		log.Error("steward-agent stopped", "err", err)
		return exitFail
	}
	log.Info("steward-agent stopped")
	return exitOK
}
