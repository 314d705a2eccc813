package service

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// runningMarker exists when systemd is PID 1 (what sd_booted checks).
const runningMarker = "/run/systemd/system"

// Where units live: ours in /etc, a package's in /lib or /usr/lib.
const etcUnitDir = "/etc/systemd/system"

var packagedUnitDirs = []string{"/usr/lib/systemd/system", "/lib/systemd/system"}

// Binary paths: where install copies the binary, and where the .deb/.rpm
// puts it.
const (
	copiedBinary   = "/usr/local/bin/steward-agent"
	packagedBinary = "/usr/bin/steward-agent"
)

// missingManager says why Available fails, given the missing path.
const missingManager = "systemd is not running as PID 1 (%s is missing; a container or a minimal system?)"

// DefaultBinary is where the services run the binary from:
// /usr/bin/steward-agent when a package installed it with its units,
// /usr/local/bin/steward-agent otherwise.
func (m *Manager) DefaultBinary() string {
	if _, err := os.Stat(m.HostPath(packagedBinary)); err == nil && m.packagedUnit(Agent) != "" {
		return packagedBinary
	}
	return copiedBinary
}

// packagedUnit returns the path (as systemd sees it) of role's unit shipped
// by a package, or "".
func (m *Manager) packagedUnit(r Role) string {
	for _, d := range packagedUnitDirs {
		p := filepath.Join(d, SystemdName(r))
		if _, err := os.Stat(m.HostPath(p)); err == nil {
			return p
		}
	}
	return ""
}

// Install writes both units (unless a package shipped identical ones),
// reloads systemd when a unit changed, enables both and starts them, and
// restarts a running service whose unit changed.
func (m *Manager) Install(ctx context.Context, s Spec) (Result, error) {
	var res Result
	if err := m.ready(s); err != nil {
		return res, err
	}
	changed := map[Role]bool{}
	for _, r := range Roles() {
		name, text := SystemdName(r), SystemdUnit(r, s)
		etc := m.HostPath(filepath.Join(etcUnitDir, name))
		if pkg := m.packagedUnit(r); pkg != "" {
			if b, err := os.ReadFile(m.HostPath(pkg)); err == nil && string(b) == text {
				// The package's unit is the one we would write: use it,
				// and drop an older copy of ours that would shadow it.
				removed, err := removeIfExists(etc)
				if err != nil {
					return res, err
				}
				if removed {
					res.add("removed %s (the packaged %s is used)", etc, pkg)
					changed[r] = true
				}
				continue
			}
		}
		wrote, err := writeIfChanged(etc, []byte(text), 0o644)
		if err != nil {
			return res, err
		}
		if wrote {
			res.add("wrote %s", etc)
			changed[r] = true
		}
	}
	if m.Offline() {
		for _, r := range Roles() {
			enabled, err := m.enableOffline(r)
			if err != nil {
				return res, err
			}
			if enabled {
				res.add("enabled %s", SystemdName(r))
			}
		}
		return res, nil
	}
	if len(changed) > 0 {
		if _, err := m.run(ctx, "systemctl", "daemon-reload"); err != nil {
			return res, err
		}
	}
	for _, r := range Roles() {
		name := SystemdName(r)
		st, err := m.show(ctx, name)
		if err != nil {
			return res, err
		}
		if st["UnitFileState"] != "enabled" {
			if _, err := m.run(ctx, "systemctl", "enable", name); err != nil {
				return res, err
			}
			res.add("enabled %s", name)
		}
		switch {
		case st["ActiveState"] != "active":
			if _, err := m.run(ctx, "systemctl", "start", name); err != nil {
				return res, err
			}
			res.add("started %s", name)
		case changed[r]:
			if _, err := m.run(ctx, "systemctl", "restart", name); err != nil {
				return res, err
			}
			res.add("restarted %s (its unit changed)", name)
		}
	}
	return res, nil
}

// AddRole registers role's unit when systemd has none for it (neither
// ours in /etc nor a package's), then enables and starts it. A unit that
// exists is never rewritten, whatever it says: an administrator may have
// edited it. The agent calls it to bring back a watchdog that was never
// registered; Install is what (re)writes units.
func (m *Manager) AddRole(ctx context.Context, s Spec, r Role) (Result, error) {
	var res Result
	if err := m.ready(s); err != nil {
		return res, err
	}
	name := SystemdName(r)
	etc := m.HostPath(filepath.Join(etcUnitDir, name))
	if m.packagedUnit(r) != "" {
		return res, nil
	}
	wrote, err := createExclusive(etc, []byte(SystemdUnit(r, s)), 0o644)
	if err != nil || !wrote {
		return res, err
	}
	res.add("wrote %s", etc)
	if m.Offline() {
		if _, err := m.enableOffline(r); err != nil {
			return res, err
		}
		res.add("enabled %s", name)
		return res, nil
	}
	if _, err := m.run(ctx, "systemctl", "daemon-reload"); err != nil {
		return res, err
	}
	if _, err := m.run(ctx, "systemctl", "enable", name); err != nil {
		return res, err
	}
	res.add("enabled %s", name)
	if _, err := m.run(ctx, "systemctl", "start", name); err != nil {
		return res, err
	}
	res.add("started %s", name)
	return res, nil
}

// Uninstall stops, disables and removes both units, the watchdog first so
// that it does not restart the agent being stopped. A packaged unit is
// stopped and disabled but left to the package manager.
func (m *Manager) Uninstall(ctx context.Context) (Result, error) {
	var res Result
	if err := m.Available(); err != nil {
		return res, err
	}
	removed := false
	for _, r := range slices.Backward(Roles()) {
		name := SystemdName(r)
		etc := m.HostPath(filepath.Join(etcUnitDir, name))
		_, statErr := os.Stat(etc)
		installed := statErr == nil || m.packagedUnit(r) != ""
		if !installed {
			continue
		}
		if m.Offline() {
			disabled, err := removeIfExists(m.wantsLink(r))
			if err != nil {
				return res, err
			}
			if disabled {
				res.add("disabled %s", name)
			}
		} else {
			st, err := m.show(ctx, name)
			if err != nil {
				return res, err
			}
			if st["ActiveState"] == "active" || st["ActiveState"] == "activating" || st["ActiveState"] == "reloading" {
				if _, err := m.run(ctx, "systemctl", "stop", name); err != nil {
					return res, err
				}
				res.add("stopped %s", name)
			}
			if st["UnitFileState"] == "enabled" {
				if _, err := m.run(ctx, "systemctl", "disable", name); err != nil {
					return res, err
				}
				res.add("disabled %s", name)
			}
		}
		ok, err := removeIfExists(etc)
		if err != nil {
			return res, err
		}
		if ok {
			res.add("removed %s", etc)
			removed = true
		}
	}
	if removed && !m.Offline() {
		if _, err := m.run(ctx, "systemctl", "daemon-reload"); err != nil {
			return res, err
		}
		// Forget a failed state, so the unit does not linger in listings.
		m.run(ctx, "systemctl", "reset-failed", SystemdName(Agent), SystemdName(Watchdog))
	}
	return res, nil
}

// Query reports role's unit as systemd sees it. Offline, a unit is
// installed when its file exists, and never running.
func (m *Manager) Query(ctx context.Context, r Role) (State, error) {
	name := SystemdName(r)
	if m.Offline() {
		_, err := os.Stat(m.HostPath(filepath.Join(etcUnitDir, name)))
		return State{Installed: err == nil || m.packagedUnit(r) != "", Detail: "offline root"}, nil
	}
	if err := m.Available(); err != nil {
		return State{}, err
	}
	st, err := m.show(ctx, name)
	if err != nil {
		return State{}, err
	}
	if st["LoadState"] == "not-found" {
		return State{}, nil
	}
	pid, _ := strconv.Atoi(st["MainPID"])
	return State{
		Installed: true,
		Running:   st["ActiveState"] == "active",
		PID:       pid,
		Detail:    fmt.Sprintf("%s (%s), %s", st["ActiveState"], st["SubState"], st["UnitFileState"]),
	}, nil
}

// Start starts role's unit.
func (m *Manager) Start(ctx context.Context, r Role) error { return m.control(ctx, "start", r) }

// Stop stops role's unit.
func (m *Manager) Stop(ctx context.Context, r Role) error { return m.control(ctx, "stop", r) }

func (m *Manager) control(ctx context.Context, verb string, r Role) error {
	if m.Offline() {
		return fmt.Errorf("%s %s: an offline root has no running services", verb, SystemdName(r))
	}
	if err := m.Available(); err != nil {
		return err
	}
	_, err := m.run(ctx, "systemctl", verb, SystemdName(r))
	return err
}

// show returns the unit properties install and query need.
func (m *Manager) show(ctx context.Context, name string) (map[string]string, error) {
	out, err := m.run(ctx, "systemctl", "show", "--property=LoadState,ActiveState,SubState,UnitFileState,MainPID", name)
	if err != nil {
		return nil, err
	}
	props := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok {
			props[k] = v
		}
	}
	return props, nil
}

// wantsLink is the symlink that enables role in an offline root, as
// `systemctl --root enable` makes it (WantedBy=multi-user.target).
func (m *Manager) wantsLink(r Role) string {
	return m.HostPath(filepath.Join(etcUnitDir, "multi-user.target.wants", SystemdName(r)))
}

// enableOffline links role's unit into multi-user.target.wants and reports
// whether it had to.
func (m *Manager) enableOffline(r Role) (bool, error) {
	target := filepath.Join(etcUnitDir, SystemdName(r))
	if _, err := os.Stat(m.HostPath(target)); err != nil {
		if pkg := m.packagedUnit(r); pkg != "" {
			target = pkg
		}
	}
	link := m.wantsLink(r)
	if cur, err := os.Readlink(link); err == nil && cur == target {
		return false, nil
	}
	if err := os.MkdirAll(filepath.Dir(link), 0o755); err != nil {
		return false, fmt.Errorf("enable %s: %w", SystemdName(r), err)
	}
	if _, err := removeIfExists(link); err != nil {
		return false, err
	}
	if err := os.Symlink(target, link); err != nil {
		return false, fmt.Errorf("enable %s: %w", SystemdName(r), err)
	}
	return true, nil
}
