package cli

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/steward-rmm/steward/internal/agent"
	"github.com/steward-rmm/steward/internal/agent/config"
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
