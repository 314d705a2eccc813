package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/steward-rmm/steward/internal/agent"
	"github.com/steward-rmm/steward/internal/agent/config"
	"github.com/steward-rmm/steward/internal/agent/service"
	"github.com/steward-rmm/steward/internal/agent/update"
	"github.com/steward-rmm/steward/internal/protocol"
)

// exitRestart is the exit code of an agent that replaced its binary: any
// non-zero code makes the service manager (or the supervising watchdog)
// start it again, on the new binary.
const exitRestart = 4

// updateDir is where the update state and downloads live: beside the
// config, in the folder only SYSTEM/root may write.
func updateDir(configPath string) string { return filepath.Join(filepath.Dir(configPath), "update") }

// releaseKeys are the release public keys the agent trusts: those built
// into the binary and those its config names (written at install).
func releaseKeys(extra []string, log *slog.Logger) []protocol.ReleaseKey {
	var keys []protocol.ReleaseKey
	seen := map[string]bool{}
	for _, k := range append(strings.Split(agent.ReleaseKeys, ","), extra...) {
		if strings.TrimSpace(k) == "" {
			continue
		}
		key, err := protocol.ParseReleaseKey(k)
		if err != nil {
			log.Warn("ignoring a release key that does not parse", "err", err)
			continue
		}
		if !seen[key.ID] {
			seen[key.ID] = true
			keys = append(keys, key)
		}
	}
	return keys
}

// newUpdater is the update state of the installed binary the running
// process was started from (read now: after a swap the running image's
// path names the backup).
func newUpdater(configPath string, cfg config.Config, log *slog.Logger) (*update.Updater, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find own executable: %w", err)
	}
	if resolved, err := filepath.EvalSymlinks(exe); err == nil {
		exe = resolved
	}
	return &update.Updater{
		Binary: exe, Dir: updateDir(configPath), Config: configPath, Version: agent.Version,
		GOOS: runtime.GOOS, GOARCH: runtime.GOARCH, Keys: releaseKeys(cfg.ReleaseKeys, log),
		Authorization: protocol.FormatCredential(cfg.AgentID, cfg.AgentSecret), Log: log,
	}, nil
}

// untrustedConfig refuses, as root/SYSTEM, a config whoever else may
// write (the process would obey them) and says why; cmd names the command.
func untrustedConfig(cmd, path string, stderr io.Writer) bool {
	if !config.Privileged() {
		return false
	}
	if err := config.CheckTrusted(path); err != nil {
		fmt.Fprintf(stderr, "steward-agent %s: refusing the config: %v\n"+
			"Running as root/SYSTEM, the agent uses a config only if it and its folder are owned by root, SYSTEM or Administrators "+
			"and nobody else may write them. \"steward-agent install\" (as root or Administrator) sets up the default folder so.\n", cmd, err)
		return true
	}
	return false
}

// versionCheck is "steward-agent version --check [--config PATH]": the
// self-check an update runs on the staged binary before it swaps it in. It
// loads the config as the agent would and prints the version alone.
func versionCheck(args []string, stdout, stderr io.Writer) int {
	fl, path := newFlagSet("version", "Usage: steward-agent version [--check] [--config PATH]\n", stderr)
	check := fl.Bool("check", false, "load the config and print the bare version (the self-check of an update)")
	if code, ok := parse(fl, args); !ok {
		return code
	}
	if !*check {
		fmt.Fprintf(stdout, "steward-agent %s %s/%s\n", agent.Version, runtime.GOOS, runtime.GOARCH)
		return exitOK
	}
	if _, err := config.Load(*path); err != nil {
		fmt.Fprintf(stderr, "steward-agent version --check: %v\n", err)
		return exitFail
	}
	fmt.Fprintln(stdout, strings.TrimPrefix(agent.Version, "v"))
	return exitOK
}

// errUpdated ends the agent's run after an update swapped its binary.
type errUpdated struct{ reason string }

func (e errUpdated) Error() string { return e.reason }

// restartWatchdogService restarts the watchdog service on the new binary
// once an update is confirmed: until then it ran the previous binary,
// which is the one that can roll the update back. Only the agent service
// does this; an agent run by hand or supervised has no watchdog service.
func restartWatchdogService(ctx context.Context, log *slog.Logger) {
	m := service.New(service.Options{Log: log})
	if m.Available() != nil {
		return
	}
	self, err := m.Query(ctx, service.Agent)
	if err != nil || !self.Running || self.PID != os.Getpid() {
		return
	}
	w, err := m.Query(ctx, service.Watchdog)
	if err != nil || !w.Installed {
		return
	}
	if w.Running {
		if err := m.Stop(ctx, service.Watchdog); err != nil {
			log.Warn("stop the watchdog to restart it on the new binary", "err", err)
		}
	}
	if err := m.Start(ctx, service.Watchdog); err != nil {
		log.Error("start the watchdog on the new binary", "err", err)
		return
	}
	log.Info("watchdog restarted on the new binary")
}

// updateWindow reads the policy's updates.window; a window that does not
// parse (the server checks it, so only an old or hand-edited policy) is
// any time, and says so.
func updateWindow(doc json.RawMessage, log *slog.Logger) protocol.UpdateWindow {
	var p struct {
		Updates struct {
			Window string `json:"window"`
		} `json:"updates"`
	}
	if len(doc) == 0 || json.Unmarshal(doc, &p) != nil {
		return protocol.UpdateWindow{}
	}
	w, err := protocol.ParseUpdateWindow(p.Updates.Window)
	if err != nil {
		log.Warn("ignoring the policy's update window", "err", err)
		return protocol.UpdateWindow{}
	}
	return w
}
