package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/steward-rmm/steward/internal/agent/config"
	"github.com/steward-rmm/steward/internal/agent/service"
	"github.com/steward-rmm/steward/internal/protocol"
)

const uninstallHelp = `Usage: steward-agent uninstall [--keep-config] [--config PATH]

Removes the agent from this machine: tells the server (the agent then shows
as uninstalled, not offline, and its credentials stop working), stops and
removes the agent and watchdog services, the tray's autostart entry, the
installed binary and the config directory's files. Run it as root
(Administrator on Windows). Running it again finds nothing to do.

With --keep-config the enrollment and the files beside it are kept, so that
a later "steward-agent install" reuses them; the server is then not told,
since the enrollment stays in use.

A server that cannot be reached does not stop the uninstall: the agent then
stays listed on the server until it is deleted there.

On Windows the binary that runs the uninstall cannot delete itself; it is
deleted at the next restart.

Exit codes: 0 uninstalled or nothing to uninstall, 1 failed, 2 usage error.
`

// uninstallTimeout bounds telling one server about the uninstall.
const uninstallTimeout = 15 * time.Second

func uninstall(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fl, path := newFlagSet("uninstall", uninstallHelp, stderr)
	keep := fl.Bool("keep-config", false, "keep the enrollment and the files beside it")
	root := fl.String("root", "", "uninstall from the system image under `DIR` instead of this system")
	if code, ok := parse(fl, args); !ok {
		return code
	}
	fail := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "steward-agent uninstall: "+format+"\n", a...)
		return exitFail
	}
	cfgPath, err := filepath.Abs(*path)
	if err != nil {
		return fail("%v", err)
	}
	did := false
	say := func(format string, a ...any) {
		fmt.Fprintf(stdout, format+"\n", a...)
		did = true
	}

	// The server is told last, once the services are gone: told first, a
	// failed removal would leave a running agent whose credentials the
	// server already refuses, listed as uninstalled and never alerted on.
	cfg, cfgErr := config.Load(cfgPath)

	m := service.New(service.Options{Root: *root})
	if pid, err := stopForeground(ctx, m, cfgPath); err != nil {
		return fail("%v", err)
	} else if pid > 0 {
		say("Stopped the agent running in the foreground (pid %d).", pid)
	}
	res, err := m.Uninstall(ctx)
	switch {
	case errors.Is(err, service.ErrNoServiceManager):
		fmt.Fprintf(stdout, "No services to remove: %v.\n", err)
	case err != nil:
		for _, c := range res.Changes {
			fmt.Fprintf(stdout, "  %s\n", c)
		}
		return fail("%v", err)
	}
	for _, c := range res.Changes {
		say("  %s", c)
	}
	switch {
	case cfgErr == nil && *keep:
		fmt.Fprintf(stdout, "Keeping the enrollment as agent %s; the server is not told.\n", cfg.AgentID)
	case cfgErr == nil:
		if err := tellServer(ctx, cfg); err != nil {
			fmt.Fprintf(stderr, "warning: could not tell the server: %v\nThe agent stays listed there as offline until it is deleted in the dashboard.\n", err)
		} else {
			say("Told the server that agent %s is uninstalled.", cfg.AgentID)
		}
	case !errors.Is(cfgErr, fs.ErrNotExist):
		fmt.Fprintf(stderr, "warning: cannot read the config, so the server is not told: %v\n", cfgErr)
	}
	if removed, err := trayAutostart(m).Remove(); err != nil {
		return fail("%v", err)
	} else if removed {
		say("Removed the tray's autostart entry.")
	}

	bin := m.DefaultBinary()
	switch {
	case m.Packaged():
		fmt.Fprintf(stdout, "The binary %s belongs to the system package; remove the package (apt remove steward-agent, or dnf remove steward-agent).\n", bin)
	default:
		msg, err := removeBinary(m.HostPath(bin))
		if err != nil {
			return fail("%v", err)
		}
		if msg != "" {
			say("%s", msg)
		}
	}

	if !*keep {
		removed, err := removeAgentFiles(cfgPath)
		if err != nil {
			return fail("%v", err)
		}
		for _, p := range removed {
			say("Removed %s.", p)
		}
	}
	if !did {
		fmt.Fprintln(stdout, "Nothing to uninstall.")
	}
	return exitOK
}

// tellServer posts UninstallPath to each server URL in turn until one
// answers. A 401 means the server already forgot the agent (an earlier
// uninstall reached it): that is done too.
func tellServer(ctx context.Context, cfg config.Config) error {
	body, err := json.Marshal(protocol.Uninstall{Reason: "steward-agent uninstall"})
	if err != nil {
		return err
	}
	var errs []error
	for _, u := range cfg.Servers() {
		err := postUninstall(ctx, u, cfg, body)
		if err == nil {
			return nil
		}
		errs = append(errs, fmt.Errorf("%s: %w", u, err))
	}
	return errors.Join(errs...)
}

func postUninstall(ctx context.Context, serverURL string, cfg config.Config, body []byte) error {
	ctx, cancel := context.WithTimeout(ctx, uninstallTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, serverURL+protocol.UninstallPath, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", protocol.FormatCredential(cfg.AgentID, cfg.AgentSecret))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	switch {
	case resp.StatusCode/100 == 2, resp.StatusCode == http.StatusUnauthorized:
		return nil
	default:
		return fmt.Errorf("HTTP %s", resp.Status)
	}
}

// removeAgentFiles removes what the agent keeps beside its config, then
// the directory if that left it empty, and returns what it removed. Only
// known names are removed: a --config in a shared directory must not take
// the directory's other files with it.
func removeAgentFiles(cfgPath string) ([]string, error) {
	dir := filepath.Dir(cfgPath)
	paths := []string{
		cfgPath, config.StatePath(cfgPath), config.PolicyPath(cfgPath),
		config.CommandsPath(cfgPath), config.MetricsDir(cfgPath), helpRequestsPath(cfgPath),
		filepath.Join(dir, "logs"), // service logs on Windows
	}
	var removed []string
	for _, p := range paths {
		if _, err := os.Lstat(p); errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err := os.RemoveAll(p); err != nil {
			return removed, fmt.Errorf("remove %s: %w", p, err)
		}
		removed = append(removed, p)
	}
	if len(removed) > 0 || dir == filepath.Dir(config.DefaultPath()) {
		if err := os.Remove(dir); err == nil {
			removed = append(removed, dir)
		}
	}
	return removed, nil
}
