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
	"github.com/steward-rmm/steward/internal/agent/update"
	"github.com/steward-rmm/steward/internal/protocol"
)

const uninstallHelp = `Usage: steward-agent uninstall [--keep-config] [--config PATH] [--from-msi]

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

When the agent's MSI installed it, uninstall hands the work to Windows
Installer (msiexec /x of the product, quietly), which runs this command
again as the MSI's own uninstall step and then forgets the product, so that
the MSI can be installed again later. --from-msi is what that step passes:
the work is then done here, never handed back, and the binary is left to
Windows Installer.

While it runs, uninstall keeps a marker beside the config (CONFIG.uninstalling)
that stops the agent from bringing its watchdog service back.

Exit codes: 0 uninstalled or nothing to uninstall, 1 failed, 2 usage error.
`

// uninstallTimeout bounds telling one server about the uninstall.
const uninstallTimeout = 15 * time.Second

func uninstall(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fl, path := newFlagSet("uninstall", uninstallHelp, stderr)
	keep := fl.Bool("keep-config", false, "keep the enrollment and the files beside it")
	root := fl.String("root", "", "uninstall from the system image under `DIR` instead of this system")
	fromMSI := fl.Bool("from-msi", false, "run as the MSI's uninstall step: do the work, do not hand it to msiexec")
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

	// The marker goes first and is removed last: the agent's watchdog
	// keeper must not bring the watchdog back while it is being removed.
	marker, err := holdUninstallMarker(cfgPath, time.Now())
	if err != nil {
		fmt.Fprintf(stderr, "warning: %v\n", err)
	}
	removeDir := false
	defer func() {
		marker.release()
		if dir := filepath.Dir(cfgPath); removeDir && os.Remove(dir) == nil { // only when empty
			fmt.Fprintf(stdout, "Removed %s.\n", dir)
		}
	}()

	msi := platformMSI()
	byMSI := *fromMSI || msi.RunByMSI()
	if !byMSI && *root == "" {
		handed, err := handOverToMSI(ctx, msi, *keep, stdout)
		if err != nil {
			// Nothing is removed behind Windows Installer's back: the
			// product would stay registered with nothing installed.
			return fail("%v", err)
		}
		// What Windows Installer's step left behind (it ignores a failed
		// uninstall step) is removed below; the product is gone, so this
		// cannot hand over again.
		did = did || handed
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
	// The agent's keeper may have registered the watchdog again between
	// its check of the marker and the agent's stop; the agent is stopped
	// now, so a second pass is final.
	if err == nil {
		if st, qerr := m.Query(ctx, service.Watchdog); qerr == nil && st.Installed {
			res, err := m.Uninstall(ctx)
			for _, c := range res.Changes {
				say("  %s", c)
			}
			if err != nil {
				return fail("%v", err)
			}
		}
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
	case byMSI:
		// The file is the MSI's: Windows Installer removes it, and rolls
		// it back when its uninstall fails.
	case m.Packaged():
		fmt.Fprintf(stdout, "The binary %s belongs to the system package; remove the package (apt remove steward-agent, or dnf remove steward-agent).\n", bin)
	default:
		// What an update left beside the binary (a previous binary still
		// running when its update ended) goes with it.
		for _, p := range update.Leftovers(m.HostPath(bin)) {
			if os.Remove(p) == nil {
				say("Removed %s.", p)
			}
		}
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
		removeDir = len(removed) > 0 || filepath.Dir(cfgPath) == filepath.Dir(config.DefaultPath())
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

// removeAgentFiles removes what the agent keeps beside its config and
// returns what it removed; the directory goes last, after the uninstall
// marker, if that leaves it empty. Only known names are removed: a
// --config in a shared directory must not take the directory's other
// files with it.
func removeAgentFiles(cfgPath string) ([]string, error) {
	paths := []string{
		cfgPath, config.StatePath(cfgPath), config.PolicyPath(cfgPath),
		config.CommandsPath(cfgPath), config.MetricsDir(cfgPath), helpRequestsPath(cfgPath), config.ScriptsDir(cfgPath),
		updateDir(cfgPath),                           // the update state and downloads
		filepath.Join(filepath.Dir(cfgPath), "logs"), // service logs on Windows
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
	return removed, nil
}

// msiHost is Windows Installer as uninstall needs it: msiWindows on
// Windows, noMSI elsewhere.
type msiHost interface {
	// Product is the installed Steward Agent MSI's product code, or "".
	Product() string
	// RunByMSI reports whether this process is a step of an msiexec.
	RunByMSI() bool
	// Remove runs msiexec /x product quietly with the public properties
	// props (NAME=value) and waits for it.
	Remove(ctx context.Context, product string, props ...string) error
}

// handOverToMSI removes the agent through Windows Installer when an MSI
// installed it, and reports whether it did. Removing the services and
// files by hand would leave the product registered: a later msiexec /i
// would then find it installed and install nothing.
func handOverToMSI(ctx context.Context, h msiHost, keep bool, stdout io.Writer) (bool, error) {
	product := h.Product()
	if product == "" {
		return false, nil
	}
	var props []string
	if keep {
		props = append(props, "UNINSTALLFLAGS=--keep-config")
	}
	fmt.Fprintf(stdout, "The agent's MSI installed it (product %s): uninstalling through Windows Installer.\n", product)
	if err := h.Remove(ctx, product, props...); err != nil {
		return true, fmt.Errorf("msiexec /x %s: %w", product, err)
	}
	fmt.Fprintf(stdout, "Windows Installer removed product %s.\n", product)
	return true, nil
}

// uninstallMarkerStale is the age after which a marker is taken for one
// left by an uninstall that crashed: the keeper must not stay off forever.
const uninstallMarkerStale = 10 * time.Minute

// uninstallMarkerPath is the marker of the agent whose config is cfgPath.
func uninstallMarkerPath(cfgPath string) string { return cfgPath + ".uninstalling" }

// uninstalling reports whether an uninstall of the agent of cfgPath is
// running: its marker exists and is younger than uninstallMarkerStale.
func uninstalling(cfgPath string, now time.Time) bool {
	fi, err := os.Stat(uninstallMarkerPath(cfgPath))
	return err == nil && now.Sub(fi.ModTime()) < uninstallMarkerStale
}

// uninstallMarker is a marker this process holds; the zero value holds
// none.
type uninstallMarker struct{ path string }

// holdUninstallMarker writes the marker unless a fresh one exists: that
// one belongs to the uninstall that started this one (msiexec running the
// MSI's step), which removes it when it ends.
func holdUninstallMarker(cfgPath string, now time.Time) (uninstallMarker, error) {
	if uninstalling(cfgPath, now) {
		return uninstallMarker{}, nil
	}
	p := uninstallMarkerPath(cfgPath)
	if _, err := os.Stat(filepath.Dir(p)); err != nil {
		return uninstallMarker{}, nil // no config directory: no agent to stop
	}
	body := fmt.Sprintf("steward-agent uninstall, pid %d, started %s\n", os.Getpid(), now.UTC().Format(time.RFC3339))
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		return uninstallMarker{}, fmt.Errorf("write the uninstall marker: %w (the agent may start its watchdog again meanwhile)", err)
	}
	return uninstallMarker{path: p}, nil
}

// release removes the marker if this process holds it.
func (u uninstallMarker) release() {
	if u.path != "" {
		os.Remove(u.path)
	}
}
