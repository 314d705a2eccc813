package service

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
)

// runningMarker is launchctl itself: launchd is always PID 1 on macOS.
const runningMarker = "/bin/launchctl"

const (
	daemonDir     = "/Library/LaunchDaemons"
	copiedBinary  = "/Library/Steward/steward-agent"
	launchdDomain = "system"
)

// missingManager says why Available fails, given the missing path.
const missingManager = "%s is missing"

// DefaultBinary is where the daemons run the binary from.
func (m *Manager) DefaultBinary() string { return copiedBinary }

func plistPath(r Role) string { return filepath.Join(daemonDir, LaunchdLabel(r)+".plist") }

func target(r Role) string { return launchdDomain + "/" + LaunchdLabel(r) }

// Install writes both plists and bootstraps them into the system domain;
// a loaded daemon whose plist changed is booted out and in again.
func (m *Manager) Install(ctx context.Context, s Spec) (Result, error) {
	var res Result
	if err := m.ready(s); err != nil {
		return res, err
	}
	if err := os.MkdirAll(m.HostPath(launchdLogDir), 0o755); err != nil {
		return res, fmt.Errorf("create %s: %w", launchdLogDir, err)
	}
	for _, r := range Roles() {
		path := m.HostPath(plistPath(r))
		wrote, err := writeIfChanged(path, []byte(LaunchdPlist(r, s)), 0o644)
		if err != nil {
			return res, err
		}
		if wrote {
			res.add("wrote %s", path)
		}
		if m.Offline() {
			continue
		}
		loaded := m.loaded(ctx, r)
		if loaded && wrote {
			if _, err := m.run(ctx, "launchctl", "bootout", target(r)); err != nil {
				return res, err
			}
			loaded = false
		}
		if !loaded {
			if err := m.bootstrap(ctx, r); err != nil {
				return res, err
			}
			res.add("loaded %s", LaunchdLabel(r))
		}
	}
	return res, nil
}

// AddRole writes role's plist when there is none and loads it. A plist
// that exists is never rewritten: an administrator may have edited it.
// The agent calls it to bring back a watchdog that was never registered;
// Install is what (re)writes plists.
func (m *Manager) AddRole(ctx context.Context, s Spec, r Role) (Result, error) {
	var res Result
	if err := m.ready(s); err != nil {
		return res, err
	}
	path := m.HostPath(plistPath(r))
	wrote, err := createExclusive(path, []byte(LaunchdPlist(r, s)), 0o644)
	if err != nil || !wrote {
		return res, err
	}
	res.add("wrote %s", path)
	if m.Offline() {
		return res, nil
	}
	if err := m.bootstrap(ctx, r); err != nil {
		return res, err
	}
	res.add("loaded %s", LaunchdLabel(r))
	return res, nil
}

// Uninstall boots both daemons out and removes their plists.
func (m *Manager) Uninstall(ctx context.Context) (Result, error) {
	var res Result
	if err := m.Available(); err != nil {
		return res, err
	}
	for _, r := range slices.Backward(Roles()) {
		if !m.Offline() && m.loaded(ctx, r) {
			if _, err := m.run(ctx, "launchctl", "bootout", target(r)); err != nil {
				return res, err
			}
			res.add("unloaded %s", LaunchdLabel(r))
		}
		path := m.HostPath(plistPath(r))
		removed, err := removeIfExists(path)
		if err != nil {
			return res, err
		}
		if removed {
			res.add("removed %s", path)
		}
	}
	return res, nil
}

// Query reports role's daemon from `launchctl print`.
func (m *Manager) Query(ctx context.Context, r Role) (State, error) {
	_, err := os.Stat(m.HostPath(plistPath(r)))
	st := State{Installed: err == nil}
	if m.Offline() {
		st.Detail = "offline root"
		return st, nil
	}
	if err := m.Available(); err != nil {
		return State{}, err
	}
	out, err := m.run(ctx, "launchctl", "print", target(r))
	if err != nil {
		if st.Installed {
			st.Detail = "not loaded"
		}
		return st, nil
	}
	return parseLaunchctlPrint(st, string(out)), nil
}

// Start loads role's daemon if it is not (Stop unloads it), or else
// starts it now (kickstart) without waiting for launchd.
func (m *Manager) Start(ctx context.Context, r Role) error {
	if err := m.Available(); err != nil || m.Offline() {
		return fmt.Errorf("start %s: no launchd to ask: %w", LaunchdLabel(r), err)
	}
	if m.loaded(ctx, r) {
		_, err := m.run(ctx, "launchctl", "kickstart", target(r))
		return err
	}
	return m.bootstrap(ctx, r)
}

// Stop boots role's daemon out: with KeepAlive, a plain kill would only
// restart it. Start or Install loads it again.
func (m *Manager) Stop(ctx context.Context, r Role) error {
	if err := m.Available(); err != nil || m.Offline() {
		return fmt.Errorf("stop %s: no launchd to ask: %w", LaunchdLabel(r), err)
	}
	if !m.loaded(ctx, r) {
		return nil
	}
	_, err := m.run(ctx, "launchctl", "bootout", target(r))
	return err
}

func (m *Manager) loaded(ctx context.Context, r Role) bool {
	_, err := m.run(ctx, "launchctl", "print", target(r))
	return err == nil
}

// bootstrap loads role's plist into the system domain. A daemon marked
// disabled (launchctl disable, or an old bootout -w) cannot be
// bootstrapped, so it is enabled first.
func (m *Manager) bootstrap(ctx context.Context, r Role) error {
	if _, err := m.run(ctx, "launchctl", "enable", target(r)); err != nil {
		return err
	}
	_, err := m.run(ctx, "launchctl", "bootstrap", launchdDomain, plistPath(r))
	return err
}

// packagedBinary: macOS has no system package of the agent.
const packagedBinary = ""
