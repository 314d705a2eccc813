package service

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// fakeSystemctl stands in for systemctl where no systemd runs (this CI
// container): it keeps each unit's enabled and active state, reads the unit
// files as daemon-reload would, and records every call.
type fakeSystemctl struct {
	root     string
	loaded   map[string]bool // unit files seen at the last daemon-reload
	enabled  map[string]bool
	active   map[string]bool
	calls    []string
	failVerb string // a verb that fails, to test error paths
}

func newFakeSystemctl(root string) *fakeSystemctl {
	return &fakeSystemctl{root: root, loaded: map[string]bool{}, enabled: map[string]bool{}, active: map[string]bool{}}
}

func (f *fakeSystemctl) run(_ context.Context, name string, args ...string) ([]byte, error) {
	if name != "systemctl" {
		return nil, fmt.Errorf("fake: unexpected command %s", name)
	}
	f.calls = append(f.calls, strings.Join(args, " "))
	verb := args[0]
	if verb == f.failVerb {
		return []byte("Failed."), fmt.Errorf("systemctl %s: exit status 1", verb)
	}
	unit := args[len(args)-1]
	switch verb {
	case "daemon-reload":
		f.loaded = map[string]bool{}
		for _, d := range append([]string{etcUnitDir}, packagedUnitDirs...) {
			ents, _ := os.ReadDir(filepath.Join(f.root, d))
			for _, e := range ents {
				f.loaded[e.Name()] = true
			}
		}
	case "show":
		if !f.loaded[unit] {
			return []byte("LoadState=not-found\nActiveState=inactive\nSubState=dead\nUnitFileState=\nMainPID=0\n"), nil
		}
		st := fmt.Sprintf("LoadState=loaded\nActiveState=%s\nSubState=%s\nUnitFileState=%s\nMainPID=%d\n",
			pick(f.active[unit], "active", "inactive"), pick(f.active[unit], "running", "dead"),
			pick(f.enabled[unit], "enabled", "disabled"), pickInt(f.active[unit], 4242, 0))
		return []byte(st), nil
	case "enable", "disable", "start", "stop", "restart":
		if !f.loaded[unit] {
			return nil, fmt.Errorf("systemctl %s: Unit %s not found", verb, unit)
		}
		switch verb {
		case "enable", "disable":
			f.enabled[unit] = verb == "enable"
		default:
			f.active[unit] = verb != "stop"
		}
	case "reset-failed":
	default:
		return nil, fmt.Errorf("fake: unexpected systemctl %s", verb)
	}
	return nil, nil
}

func pick(b bool, yes, no string) string {
	if b {
		return yes
	}
	return no
}

func pickInt(b bool, yes, no int) int {
	if b {
		return yes
	}
	return no
}

// newTestManager returns a live-mode manager whose file system is below a
// temporary root and whose systemctl is fake.
func newTestManager(t *testing.T) (*Manager, *fakeSystemctl, string) {
	t.Helper()
	root := t.TempDir()
	fake := newFakeSystemctl(root)
	marker := filepath.Join(root, "run", "systemd", "system")
	if err := os.MkdirAll(marker, 0o755); err != nil {
		t.Fatal(err)
	}
	m := New(Options{})
	m.run, m.running = fake.run, marker
	// HostPath maps into root without making the manager offline.
	m.root = root
	return m, fake, root
}

func TestSystemdInstallLive(t *testing.T) {
	ctx := t.Context()
	m, fake, root := newTestManager(t)

	res, err := m.Install(ctx, linuxSpec)
	if err != nil {
		t.Fatal(err)
	}
	wantChanges := []string{
		"wrote " + filepath.Join(root, etcUnitDir, "steward-agent.service"),
		"wrote " + filepath.Join(root, etcUnitDir, "steward-agent-watchdog.service"),
		"enabled steward-agent.service", "started steward-agent.service",
		"enabled steward-agent-watchdog.service", "started steward-agent-watchdog.service",
	}
	if diff := cmp.Diff(wantChanges, res.Changes); diff != "" {
		t.Errorf("first install changes (-want +got):\n%s", diff)
	}
	for _, r := range Roles() {
		b, err := os.ReadFile(filepath.Join(root, etcUnitDir, SystemdName(r)))
		if err != nil || string(b) != SystemdUnit(r, linuxSpec) {
			t.Errorf("%s: %v, content differs from SystemdUnit", SystemdName(r), err)
		}
		st, err := m.Query(ctx, r)
		if err != nil || !st.Installed || !st.Running || st.PID != 4242 {
			t.Errorf("Query(%s) = %+v, %v; want installed and running", r, st, err)
		}
	}

	// Twice: nothing changes, and systemd is not reloaded.
	fake.calls = nil
	res, err = m.Install(ctx, linuxSpec)
	if err != nil || res.Changed() {
		t.Errorf("second install: %v, changes %q; want none", err, res.Changes)
	}
	for _, c := range fake.calls {
		if !strings.HasPrefix(c, "show ") {
			t.Errorf("second install called systemctl %s", c)
		}
	}

	// A stopped service is started again; a changed spec rewrites and
	// restarts.
	fake.active["steward-agent-watchdog.service"] = false
	moved := Spec{Binary: "/opt/steward/steward-agent", Config: linuxSpec.Config}
	res, err = m.Install(ctx, moved)
	if err != nil {
		t.Fatal(err)
	}
	wantChanges = []string{
		"wrote " + filepath.Join(root, etcUnitDir, "steward-agent.service"),
		"wrote " + filepath.Join(root, etcUnitDir, "steward-agent-watchdog.service"),
		"restarted steward-agent.service (its unit changed)", "started steward-agent-watchdog.service",
	}
	if diff := cmp.Diff(wantChanges, res.Changes); diff != "" {
		t.Errorf("install of a new spec (-want +got):\n%s", diff)
	}

	res, err = m.Uninstall(ctx)
	if err != nil {
		t.Fatal(err)
	}
	wantChanges = []string{
		"stopped steward-agent-watchdog.service", "disabled steward-agent-watchdog.service", "removed " + filepath.Join(root, etcUnitDir, "steward-agent-watchdog.service"),
		"stopped steward-agent.service", "disabled steward-agent.service", "removed " + filepath.Join(root, etcUnitDir, "steward-agent.service"),
	}
	if diff := cmp.Diff(wantChanges, res.Changes); diff != "" {
		t.Errorf("uninstall (-want +got):\n%s", diff)
	}
	if fake.loaded["steward-agent.service"] {
		t.Errorf("systemd was not reloaded after the units were removed")
	}
	res, err = m.Uninstall(ctx)
	if err != nil || res.Changed() {
		t.Errorf("second uninstall: %v, changes %q; want none", err, res.Changes)
	}
	for _, r := range Roles() {
		if st, err := m.Query(ctx, r); err != nil || st.Installed {
			t.Errorf("Query(%s) after uninstall = %+v, %v; want not installed", r, st, err)
		}
	}
}

// TestSystemdInstallPackaged: units shipped by a package with the text
// install would write are used in place; an older copy in /etc that would
// shadow them is removed; uninstall leaves the package's files alone.
func TestSystemdInstallPackaged(t *testing.T) {
	ctx := t.Context()
	m, _, root := newTestManager(t)
	spec := Spec{Binary: packagedBinary, Config: linuxSpec.Config}
	if m.DefaultBinary() != copiedBinary {
		t.Errorf("DefaultBinary without a package = %s, want %s", m.DefaultBinary(), copiedBinary)
	}
	for _, r := range Roles() {
		write(t, filepath.Join(root, "lib/systemd/system", SystemdName(r)), SystemdUnit(r, spec))
	}
	write(t, filepath.Join(root, packagedBinary), "binary")
	write(t, filepath.Join(root, etcUnitDir, SystemdName(Agent)), "# an older unit of ours\n")
	if got := m.DefaultBinary(); got != packagedBinary {
		t.Errorf("DefaultBinary with a package = %s, want %s", got, packagedBinary)
	}
	res, err := m.Install(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	if want := "removed " + filepath.Join(root, etcUnitDir, SystemdName(Agent)) + " (the packaged /lib/systemd/system/steward-agent.service is used)"; res.Changes[0] != want {
		t.Errorf("first change %q, want %q", res.Changes[0], want)
	}
	if _, err := os.Stat(filepath.Join(root, etcUnitDir, SystemdName(Watchdog))); err == nil {
		t.Errorf("install wrote a unit in /etc although the package ships it")
	}
	if st, _ := m.Query(ctx, Agent); !st.Running {
		t.Errorf("packaged agent not started: %+v", st)
	}
	if _, err := m.Uninstall(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "lib/systemd/system", SystemdName(Agent))); err != nil {
		t.Errorf("uninstall removed the package's unit: %v", err)
	}
	if st, _ := m.Query(ctx, Agent); st.Running {
		t.Errorf("packaged agent still running after uninstall: %+v", st)
	}
}

func TestSystemdNoSystemd(t *testing.T) {
	m, fake, _ := newTestManager(t)
	m.running = filepath.Join(t.TempDir(), "missing")
	_, err := m.Install(t.Context(), linuxSpec)
	if err == nil || !strings.Contains(err.Error(), "systemd is not running") {
		t.Errorf("Install without systemd: %v, want ErrNoServiceManager saying systemd is not running", err)
	}
	if len(fake.calls) > 0 {
		t.Errorf("systemctl called without systemd: %q", fake.calls)
	}
	if _, err := m.Uninstall(t.Context()); err == nil {
		t.Errorf("Uninstall without systemd succeeded")
	}
}

func TestSystemdInstallErrors(t *testing.T) {
	m, fake, _ := newTestManager(t)
	fake.failVerb = "daemon-reload"
	if _, err := m.Install(t.Context(), linuxSpec); err == nil || !strings.Contains(err.Error(), "daemon-reload") {
		t.Errorf("Install with a failing daemon-reload: %v", err)
	}
	if _, err := m.Install(t.Context(), Spec{Binary: "steward-agent", Config: "/etc/a.json"}); err == nil {
		t.Errorf("Install with a relative binary path succeeded")
	}
	if _, err := m.Install(t.Context(), Spec{Binary: "/usr/bin/x", Config: "/etc/a\".json"}); err == nil {
		t.Errorf("Install with a quote in a path succeeded")
	}
}

// TestSystemdOffline installs into a root without any systemctl: units are
// written and linked into multi-user.target.wants as systemctl --root does.
func TestSystemdOffline(t *testing.T) {
	root := t.TempDir()
	m := New(Options{Root: root})
	m.run = func(context.Context, string, ...string) ([]byte, error) {
		t.Fatal("offline install ran a command")
		return nil, nil
	}
	res, err := m.Install(t.Context(), linuxSpec)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Changes) != 4 {
		t.Errorf("changes %q, want 2 writes and 2 enables", res.Changes)
	}
	link := filepath.Join(root, etcUnitDir, "multi-user.target.wants", SystemdName(Agent))
	if got, err := os.Readlink(link); err != nil || got != filepath.Join(etcUnitDir, SystemdName(Agent)) {
		t.Errorf("wants link = %q, %v", got, err)
	}
	if res, _ := m.Install(t.Context(), linuxSpec); res.Changed() {
		t.Errorf("second offline install changed %q", res.Changes)
	}
	if st, _ := m.Query(t.Context(), Watchdog); !st.Installed || st.Running {
		t.Errorf("offline Query = %+v", st)
	}
	res, err = m.Uninstall(t.Context())
	if err != nil || len(res.Changes) != 4 {
		t.Errorf("offline uninstall: %v, %q", err, res.Changes)
	}
	if _, err := os.Lstat(link); err == nil {
		t.Errorf("wants link left behind")
	}
}

func write(t *testing.T, path, text string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestSystemdAddRole(t *testing.T) {
	ctx := t.Context()
	m, fake, root := newTestManager(t)
	unit := filepath.Join(root, etcUnitDir, SystemdName(Watchdog))

	res, err := m.AddRole(ctx, linuxSpec, Watchdog)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"wrote " + unit, "enabled steward-agent-watchdog.service", "started steward-agent-watchdog.service"}
	if diff := cmp.Diff(want, res.Changes); diff != "" {
		t.Errorf("AddRole changes (-want +got):\n%s", diff)
	}
	if _, err := os.Stat(filepath.Join(root, etcUnitDir, SystemdName(Agent))); !os.IsNotExist(err) {
		t.Errorf("AddRole(watchdog) touched the agent's unit: stat: %v", err)
	}
	if st, err := m.Query(ctx, Watchdog); err != nil || !st.Running {
		t.Errorf("Query(watchdog) after AddRole = %+v, %v; want running", st, err)
	}

	// A unit that exists, edited by an administrator, is left as it is:
	// no write, no systemctl call.
	edited := "[Service]\nExecStart=/opt/custom/steward-agent watchdog\n"
	if err := os.WriteFile(unit, []byte(edited), 0o644); err != nil {
		t.Fatal(err)
	}
	fake.calls = nil
	res, err = m.AddRole(ctx, linuxSpec, Watchdog)
	if err != nil || res.Changed() {
		t.Errorf("AddRole over an existing unit: %v, changes %q; want none", err, res.Changes)
	}
	if len(fake.calls) != 0 {
		t.Errorf("AddRole over an existing unit called systemctl %q", fake.calls)
	}
	if b, _ := os.ReadFile(unit); string(b) != edited {
		t.Errorf("AddRole rewrote the edited unit:\n%s", b)
	}
	ents, _ := os.ReadDir(filepath.Dir(unit))
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if want := []string{SystemdName(Watchdog)}; !cmp.Equal(names, want) {
		t.Errorf("files in %s: %q, want %q (no temporary file left)", filepath.Dir(unit), names, want)
	}
}

func TestSystemdAddRolePackaged(t *testing.T) {
	m, fake, root := newTestManager(t)
	pkg := filepath.Join(root, "lib/systemd/system", SystemdName(Watchdog))
	if err := os.MkdirAll(filepath.Dir(pkg), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(pkg, []byte("[Service]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	res, err := m.AddRole(t.Context(), linuxSpec, Watchdog)
	if err != nil || res.Changed() || len(fake.calls) != 0 {
		t.Errorf("AddRole with a packaged unit: %v, changes %q, systemctl %q; want nothing", err, res.Changes, fake.calls)
	}
	if _, err := os.Stat(filepath.Join(root, etcUnitDir, SystemdName(Watchdog))); !os.IsNotExist(err) {
		t.Errorf("AddRole wrote a unit shadowing the packaged one: stat: %v", err)
	}
}
