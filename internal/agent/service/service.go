// Package service registers the agent with the operating system's service
// manager: the SCM on Windows, systemd on Linux, launchd on macOS. One
// binary plays two roles, each its own service: the agent (`steward-agent
// run`) and its watchdog (`steward-agent watchdog`). Install, Uninstall,
// Start and Stop are idempotent; Install reports what it changed so that
// running it twice can say that nothing did.
package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
)

// MSIUpgradeCode is the UpgradeCode of every Steward Agent MSI
// (cmd/steward-package). The agent looks its MSI up by it so that the one
// Apps & features entry, the agent's own, uninstalls through msiexec when
// an MSI installed it. Never change it.
const MSIUpgradeCode = "{FD8A8FE3-CF85-4AB0-8411-8DDC5503ADCB}"

// Role is one of the services the agent binary provides.
type Role string

// The two roles, each registered as its own service.
const (
	Agent    Role = "agent"    // steward-agent run
	Watchdog Role = "watchdog" // steward-agent watchdog
)

// Roles lists every role in the order they are installed. The agent comes
// first: the watchdog checks on it.
func Roles() []Role { return []Role{Agent, Watchdog} }

// Command is the steward-agent command a role's service runs.
func (r Role) Command() string {
	if r == Watchdog {
		return "watchdog"
	}
	return "run"
}

// ErrNoServiceManager is returned on a machine where no supported service
// manager runs, such as a container whose PID 1 is not systemd. There,
// `steward-agent watchdog --config PATH` is the supervisor.
var ErrNoServiceManager = errors.New("no service manager runs on this machine")

// Spec is what the services run: the installed binary and the config file
// it is given, both absolute paths as the service manager will see them.
type Spec struct {
	Binary string
	Config string
}

// Validate reports a path the service manager could not use.
func (s Spec) Validate() error {
	for _, p := range []struct{ name, path string }{{"binary", s.Binary}, {"config", s.Config}} {
		if p.path == "" {
			return fmt.Errorf("service %s path is empty", p.name)
		}
		if !filepath.IsAbs(p.path) {
			return fmt.Errorf("service %s path %q is not absolute", p.name, p.path)
		}
		// Quotes and line breaks cannot be written safely into a unit
		// file's or the SCM's command line.
		if strings.ContainsAny(p.path, "\"\r\n\x00") {
			return fmt.Errorf("service %s path %q contains a quote or a line break", p.name, p.path)
		}
	}
	return nil
}

// Args returns the command-line arguments of role's service after the binary.
func (s Spec) Args(r Role) []string { return []string{r.Command(), "--config", s.Config} }

// Result says what Install or Uninstall changed, in words, one per step.
type Result struct {
	Changes []string
}

// Changed reports whether anything changed.
func (r Result) Changed() bool { return len(r.Changes) > 0 }

func (r *Result) add(format string, a ...any) {
	r.Changes = append(r.Changes, fmt.Sprintf(format, a...))
}

// State is a role's service as the service manager reports it.
type State struct {
	Installed bool
	Running   bool
	PID       int    // 0 when not running or unknown
	Detail    string // the service manager's own words, e.g. "active (running)"
}

// String is the state in the words `steward-agent status` prints.
func (s State) String() string {
	var b strings.Builder
	switch {
	case !s.Installed:
		b.WriteString("not installed")
	case s.Running && s.PID > 0:
		fmt.Fprintf(&b, "running (pid %d)", s.PID)
	case s.Running:
		b.WriteString("running")
	default:
		b.WriteString("stopped")
	}
	if s.Detail != "" {
		fmt.Fprintf(&b, ", %s", s.Detail)
	}
	return b.String()
}

// Options configure a Manager.
type Options struct {
	// Root, when set, installs into a directory tree instead of the running
	// system (Linux and macOS): units and plists are written under Root and
	// enabled the way `systemctl --root` does, but no service manager is
	// asked to start, stop or reload anything. For building images and for
	// tests. Windows has no such mode and refuses a Root.
	Root string
	// Log receives what the manager does; nil discards it.
	Log *slog.Logger
}

// runner runs a service manager's command line tool (systemctl, launchctl)
// and returns its combined output. Tests replace it with a fake.
type runner func(ctx context.Context, name string, args ...string) ([]byte, error)

// Manager installs and controls the agent's services on this machine.
type Manager struct {
	root    string // where paths are on this machine's file system; "" is /
	offline bool   // Options.Root was given: never call the service manager
	log     *slog.Logger
	run     runner
	running string // a path whose presence says the service manager runs (Unix)
}

// New returns a Manager for this machine's service manager.
func New(opts Options) *Manager {
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Manager{root: opts.Root, offline: opts.Root != "", log: log, run: runCommand, running: runningMarker}
}

// ready reports why Install cannot install s here: a bad spec, or no
// service manager to install it with.
func (m *Manager) ready(s Spec) error {
	if err := s.Validate(); err != nil {
		return err
	}
	return m.Available()
}

// Offline reports whether the manager writes into Options.Root instead of
// controlling the running system.
func (m *Manager) Offline() bool { return m.offline }

// HostPath maps a path as the service manager sees it (say,
// /usr/local/bin/steward-agent) to where it is on this machine's file
// system: below Root when one is set.
func (m *Manager) HostPath(p string) string {
	if m.root == "" {
		return p
	}
	return filepath.Join(m.root, p)
}

// writeIfChanged writes data to path atomically (temporary file and rename)
// unless the file already holds exactly data; it reports whether it wrote.
func writeIfChanged(path string, data []byte, perm os.FileMode) (bool, error) {
	if old, err := os.ReadFile(path); err == nil && string(old) == string(data) {
		return false, nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return false, fmt.Errorf("create %s: %w", filepath.Dir(path), err)
	}
	if err := WriteFileAtomic(path, data, perm); err != nil {
		return false, err
	}
	return true, nil
}

// WriteFileAtomic writes data to path through a temporary file in the same
// directory, synced and renamed over path, so that readers (and a service
// manager starting at that moment) see the old file or the new one.
func WriteFileAtomic(path string, data []byte, perm os.FileMode) (err error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if err := f.Chmod(perm); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := f.Write(data); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// createExclusive writes data to a new file at path, atomically, and
// reports false when path already exists: the file there, perhaps edited
// by an administrator, is left exactly as it is. The temporary file is
// linked, not renamed, into place because a link never replaces a file.
func createExclusive(path string, data []byte, perm os.FileMode) (bool, error) {
	if _, err := os.Lstat(path); err == nil {
		return false, nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return false, fmt.Errorf("create %s: %w", filepath.Dir(path), err)
	}
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".new")
	os.Remove(tmp) // left by a crash
	if err := WriteFileAtomic(tmp, data, perm); err != nil {
		return false, err
	}
	defer os.Remove(tmp)
	err := os.Link(tmp, path)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, os.ErrExist):
		return false, nil
	default:
		return false, fmt.Errorf("create %s: %w", path, err)
	}
}

// removeIfExists removes path and reports whether it was there.
func removeIfExists(path string) (bool, error) {
	err := os.Remove(path)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, os.ErrNotExist):
		return false, nil
	default:
		return false, fmt.Errorf("remove %s: %w", path, err)
	}
}

// Packaged reports whether a system package (.deb, .rpm) installed the
// binary the services run: install then uses it as it is, and uninstall
// leaves it to the package manager.
func (m *Manager) Packaged() bool { return m.DefaultBinary() == packagedBinary }
