package service

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/windows"
	"golang.org/x/sys/windows/registry"
	"golang.org/x/sys/windows/svc"
	"golang.org/x/sys/windows/svc/mgr"

	"github.com/steward-rmm/steward/internal/agent/winetest"
)

// helperMain is the test binary started by the SCM as a service with the
// agent's command line, `run|watchdog --config PATH`. The config file says
// how it behaves: empty, it runs until stopped; "panic" panics; "fail"
// exits 1. It writes PATH.<role>.pid when it runs and PATH.<role>.stopped
// when it saw the stop.
func helperMain(args []string) (int, bool) {
	if len(args) != 3 || (args[0] != "run" && args[0] != "watchdog") || args[1] != "--config" {
		return 0, false
	}
	cfg, role := args[2], Role("agent")
	if args[0] == "watchdog" {
		role = Watchdog
	}
	mode, _ := os.ReadFile(cfg)
	log, err := os.OpenFile(cfg+"."+string(role)+".log", os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return ExitFail, true
	}
	defer log.Close()
	body := func(ctx context.Context, stderr io.Writer) int {
		os.WriteFile(cfg+"."+string(role)+".pid", []byte(strconv.Itoa(os.Getpid())), 0o644)
		switch strings.TrimSpace(string(mode)) {
		case "panic":
			panic("test panic in the service body")
		case "fail":
			return ExitFail
		}
		<-ctx.Done()
		os.WriteFile(cfg+"."+string(role)+".stopped", nil, 0o644)
		return ExitOK
	}
	code, err := ServeAs(context.Background(), ServiceName(role), log, body)
	if err != nil {
		fmt.Fprintln(log, err)
	}
	return code, true
}

// connect skips the test where the SCM cannot be managed (not elevated).
func connect(t *testing.T) *mgr.Mgr {
	t.Helper()
	sm, err := mgr.Connect()
	if err != nil {
		t.Skipf("no access to the service manager (not elevated?): %v", err)
	}
	t.Cleanup(func() { sm.Disconnect() })
	return sm
}

func testSpec(t *testing.T) Spec {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(t.TempDir(), "Steward Data", "agent.json")
	if err := os.MkdirAll(filepath.Dir(cfg), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfg, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	return Spec{Binary: exe, Config: cfg}
}

func waitFor(t *testing.T, what string, fn func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for !fn() {
		select {
		case <-ctx.Done():
			t.Fatalf("timed out waiting for %s", what)
		case <-tick.C:
		}
	}
}

func registryString(t *testing.T, key, name string) string {
	t.Helper()
	k, err := registry.OpenKey(registry.LOCAL_MACHINE, key, registry.QUERY_VALUE)
	if err != nil {
		t.Fatalf("open %s: %v", key, err)
	}
	defer k.Close()
	v, _, err := k.GetStringValue(name)
	if err != nil {
		t.Fatalf("read %s\\%s: %v", key, name, err)
	}
	return v
}

// TestSCMLifecycle installs the test binary as both services through the
// SCM, checks what was registered by reading it back, stops, starts,
// makes the agent panic and fail, and uninstalls, twice each.
func TestSCMLifecycle(t *testing.T) {
	sm := connect(t)
	ctx := t.Context()
	m := New(Options{})
	if _, err := m.Uninstall(ctx); err != nil { // left over by an aborted run
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Uninstall(context.Background()) })
	spec := testSpec(t)

	res, err := m.Install(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"created service StewardAgent", "started service StewardAgent", "created service StewardWatchdog", "started service StewardWatchdog", "wrote the uninstall registry entry"} {
		if !strings.Contains(strings.Join(res.Changes, "\n"), want) {
			t.Errorf("install changes lack %q: %q", want, res.Changes)
		}
	}
	for _, r := range Roles() {
		key := `SYSTEM\CurrentControlSet\Services\` + ServiceName(r)
		want := `"` + spec.Binary + `" ` + r.Command() + ` --config "` + spec.Config + `"`
		if got := registryString(t, key, "ImagePath"); got != want {
			t.Errorf("%s ImagePath = %s, want %s", ServiceName(r), got, want)
		}
		if got := registryString(t, key, "ObjectName"); got != "LocalSystem" {
			t.Errorf("%s ObjectName = %s, want LocalSystem", ServiceName(r), got)
		}
		cfg, err := serviceConfig(&mgr.Service{Name: ServiceName(r)})
		if err != nil || cfg.StartType != mgr.StartAutomatic || cfg.DisplayName != DisplayName(r) {
			t.Errorf("%s config %+v, %v; want automatic start and display name %q", ServiceName(r), cfg, err, DisplayName(r))
		}
		pidFile := spec.Config + "." + string(r) + ".pid"
		waitFor(t, pidFile, func() bool { _, err := os.Stat(pidFile); return err == nil })
		b, _ := os.ReadFile(pidFile)
		st, err := m.Query(ctx, r)
		if err != nil || !st.Installed || !st.Running || strconv.Itoa(st.PID) != string(b) {
			t.Errorf("Query(%s) = %+v, %v; want running with pid %s", r, st, err, b)
		}
	}

	res, err = m.Install(ctx, spec)
	if err != nil || res.Changed() {
		t.Errorf("second install: %v, changes %q; want none", err, res.Changes)
	}

	// Stop cancels the body's context: it sees the stop and returns 0.
	if err := m.Stop(ctx, Agent); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(spec.Config + ".agent.stopped"); err != nil {
		t.Errorf("the agent did not see the stop: %v", err)
	}
	if st, _ := m.Query(ctx, Agent); st.Running || st.Detail != "STOPPED" {
		t.Errorf("after Stop: %+v, want STOPPED with exit code 0", st)
	}

	// A panic becomes service-specific exit code 3, a failure 1: both are
	// failures the recovery actions act on.
	for _, tt := range []struct {
		mode string
		code uint32
	}{{"panic", ExitPanic}, {"fail", ExitFail}} {
		os.WriteFile(spec.Config, []byte(tt.mode), 0o600)
		m.Start(ctx, Agent) // may see Running or Stopped first: the body ends at once
		sv, err := sm.OpenService(ServiceName(Agent))
		if err != nil {
			t.Fatal(err)
		}
		var st svc.Status
		waitFor(t, "the "+tt.mode+" to stop the service", func() bool {
			st, err = sv.Query()
			return err == nil && st.State == svc.Stopped
		})
		sv.Close()
		if st.Win32ExitCode != uint32(windows.ERROR_SERVICE_SPECIFIC_ERROR) || st.ServiceSpecificExitCode != tt.code {
			t.Errorf("%s: exit codes %d/%d, want ERROR_SERVICE_SPECIFIC_ERROR/%d", tt.mode, st.Win32ExitCode, st.ServiceSpecificExitCode, tt.code)
		}
	}
	logText, _ := os.ReadFile(spec.Config + ".agent.log")
	if !strings.Contains(string(logText), "panic: test panic in the service body") || !strings.Contains(string(logText), "goroutine") {
		t.Errorf("the panic and its stack are not in the service log:\n%s", logText)
	}
	os.WriteFile(spec.Config, nil, 0o600)
	res, err = m.Install(ctx, spec)
	if err != nil || strings.Join(res.Changes, ",") != "started service StewardAgent" {
		t.Errorf("install with the agent stopped: %v, %q; want it started", err, res.Changes)
	}

	res, err = m.Uninstall(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"stopped service StewardWatchdog", "deleted service StewardWatchdog", "stopped service StewardAgent", "deleted service StewardAgent", "removed the uninstall registry entry"}
	if diff := cmp.Diff(want, res.Changes); diff != "" {
		t.Errorf("uninstall (-want +got):\n%s", diff)
	}
	for _, r := range Roles() {
		if st, err := m.Query(ctx, r); err != nil || st.Installed {
			t.Errorf("Query(%s) after uninstall = %+v, %v", r, st, err)
		}
	}
	if res, err := m.Uninstall(ctx); err != nil || res.Changed() {
		t.Errorf("second uninstall: %v, %q; want nothing to do", err, res.Changes)
	}
}

// TestSCMAddRole adds the watchdog's service alone, then checks that an
// existing one, reconfigured by hand, is left exactly as it is.
func TestSCMAddRole(t *testing.T) {
	connect(t)
	ctx := t.Context()
	m := New(Options{})
	if _, err := m.Uninstall(ctx); err != nil { // left over by an aborted run
		t.Fatal(err)
	}
	spec := testSpec(t)
	// After testSpec's TempDir: cleanups run last first, and the service
	// must be gone before its directory can be removed.
	t.Cleanup(func() { m.Uninstall(context.Background()) })

	res, err := m.AddRole(ctx, spec, Watchdog)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"created service StewardWatchdog", "started service StewardWatchdog"}, res.Changes); diff != "" {
		t.Errorf("AddRole (-want +got):\n%s", diff)
	}
	if st, err := m.Query(ctx, Agent); err != nil || st.Installed {
		t.Errorf("AddRole(watchdog) registered the agent: %+v, %v", st, err)
	}
	if st, err := m.Query(ctx, Watchdog); err != nil || !st.Running {
		t.Errorf("Query(watchdog) after AddRole = %+v, %v; want running", st, err)
	}

	// An administrator's change to the existing service stays.
	key := `SYSTEM\CurrentControlSet\Services\` + ServiceName(Watchdog)
	k, err := registry.OpenKey(registry.LOCAL_MACHINE, key, registry.SET_VALUE)
	if err != nil {
		t.Fatal(err)
	}
	edited := `"` + spec.Binary + `" watchdog --config "` + spec.Config + `" --edited`
	err = k.SetExpandStringValue("ImagePath", edited)
	k.Close()
	if err != nil {
		t.Fatal(err)
	}
	res, err = m.AddRole(ctx, spec, Watchdog)
	if err != nil || res.Changed() {
		t.Errorf("AddRole over an existing service: %v, %q; want nothing done", err, res.Changes)
	}
	if got := registryString(t, key, "ImagePath"); got != edited {
		t.Errorf("ImagePath after AddRole = %s, want the edited %s", got, edited)
	}
}

// TestCreateServiceMarkedForDelete deletes a service while another handle
// keeps it open, so that it stays marked for deletion, and creates it
// again: createService retries until the handle is closed.
func TestCreateServiceMarkedForDelete(t *testing.T) {
	sm := connect(t)
	ctx := t.Context()
	cmd := CommandLine(Agent, testSpec(t))
	if old, err := sm.OpenService(ServiceName(Agent)); err == nil {
		old.Delete()
		old.Close()
	}
	first, err := createService(ctx, sm, Agent, cmd, nil)
	if err != nil {
		t.Fatal(err)
	}
	hold, err := sm.OpenService(ServiceName(Agent))
	if err != nil {
		t.Fatal(err)
	}
	if err := first.Delete(); err != nil {
		t.Fatal(err)
	}
	first.Close()
	retries := 0
	again, err := createService(ctx, sm, Agent, cmd, func() {
		retries++
		hold.Close()
	})
	if err != nil {
		t.Fatalf("create after delete: %v", err)
	}
	if retries == 0 {
		hold.Close()
		t.Logf("the service manager deleted the service at once (wine does); the retry was not exercised")
	} else {
		t.Logf("created after %d retries while marked for deletion", retries)
	}
	again.Delete()
	again.Close()
}

// TestStartSettled: the start is retried while the service manager answers
// that it has not settled (wine's ERROR_INTERNAL_ERROR for a service
// created again right after its deletion), and not for a failure of the
// service itself.
func TestStartSettled(t *testing.T) {
	answers := func(errs ...error) (func() error, *int) {
		calls := 0
		return func() error {
			calls++
			if calls <= len(errs) {
				return errs[calls-1]
			}
			return nil
		}, &calls
	}
	tests := []struct {
		name        string
		errs        []error
		wantCalls   int
		wantRefused int
		wantErr     error
	}{
		{"at once", nil, 1, 0, nil},
		{"already running", []error{windows.ERROR_SERVICE_ALREADY_RUNNING}, 1, 0, nil},
		{"wine's internal error twice", []error{windows.ERROR_INTERNAL_ERROR, windows.ERROR_INTERNAL_ERROR}, 3, 2, nil},
		{"database locked, then marked for delete", []error{windows.ERROR_SERVICE_DATABASE_LOCKED, windows.ERROR_SERVICE_MARKED_FOR_DELETE}, 3, 2, nil},
		{"a failure of the service", []error{windows.ERROR_FILE_NOT_FOUND}, 1, 0, windows.ERROR_FILE_NOT_FOUND},
		{"refused, then a failure", []error{windows.ERROR_INTERNAL_ERROR, windows.ERROR_SERVICE_DISABLED}, 2, 1, windows.ERROR_SERVICE_DISABLED},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start, calls := answers(tt.errs...)
			res, err := startSettled(t.Context(), start)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Errorf("startSettled = %v, want %v", err, tt.wantErr)
			}
			if *calls != tt.wantCalls || res.Refused != tt.wantRefused {
				t.Errorf("%d calls, %d refusals; want %d and %d", *calls, res.Refused, tt.wantCalls, tt.wantRefused)
			}
			if tt.wantRefused > 0 && !strings.Contains(res.note(), fmt.Sprintf("refused %d time(s) first", tt.wantRefused)) {
				t.Errorf("note %q does not count the refusals", res.note())
			}
		})
	}

	// Bounded: a manager that never settles ends with its answer named.
	ctx, cancel := context.WithTimeout(t.Context(), 5*pollEvery)
	defer cancel()
	res, err := startSettled(ctx, func() error { return windows.ERROR_INTERNAL_ERROR })
	if !errors.Is(err, windows.ERROR_INTERNAL_ERROR) || !strings.Contains(err.Error(), "still refuses the start") || res.Refused < 2 {
		t.Errorf("never settled: %v after %d refusals; want ERROR_INTERNAL_ERROR named after several", err, res.Refused)
	}
}

func TestRecoveryActions(t *testing.T) {
	actions, reset := RecoveryActions()
	if len(actions) != 3 || reset != 86400 {
		t.Fatalf("RecoveryActions = %+v, %d", actions, reset)
	}
	for _, a := range actions {
		if a.Type != mgr.ServiceRestart || a.Delay != 10*time.Second {
			t.Errorf("action %+v, want restart after 10s", a)
		}
	}
	// Set them on a real service and read them back where the SCM can
	// (wine implements neither: logged, so a real Windows run shows it).
	sm := connect(t)
	sv, err := createService(t.Context(), sm, Watchdog, CommandLine(Watchdog, testSpec(t)), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { sv.Delete(); sv.Close() }()
	if err := sv.SetRecoveryActions(actions, reset); err != nil {
		t.Logf("SetRecoveryActions: %v (expected under wine only)", err)
	} else if got, err := sv.RecoveryActions(); err != nil {
		t.Logf("RecoveryActions: %v", err)
	} else if diff := cmp.Diff(actions, got); diff != "" {
		t.Errorf("recovery actions read back (-want +got):\n%s", diff)
	}
	if err := sv.SetRecoveryActionsOnNonCrashFailures(true); err != nil {
		t.Logf("SetRecoveryActionsOnNonCrashFailures: %v (expected under wine only)", err)
	} else if on, err := sv.RecoveryActionsOnNonCrashFailures(); err == nil && !on {
		t.Errorf("RecoveryActionsOnNonCrashFailures read back false")
	}
}

func TestProtect(t *testing.T) {
	// The descriptors say what the issue asks, ACE by ACE, read back
	// through Windows' own parser.
	for _, tt := range []struct{ sddl, want string }{
		{DirSDDL, "O:S-1-5-18 protected (0;0x3;0x1f01ff;S-1-5-18) (0;0x3;0x1f01ff;S-1-5-32-544)"},
		{BinarySDDL, "O:S-1-5-18 protected (0;0x0;0x1f01ff;S-1-5-18) (0;0x0;0x1f01ff;S-1-5-32-544) (0;0x0;0x1200a9;S-1-5-32-545)"},
	} {
		sd, err := windows.SecurityDescriptorFromString(tt.sddl)
		if err != nil {
			t.Fatal(err)
		}
		if got := SecurityKey(sd); got != tt.want {
			t.Errorf("SecurityKey(%s) = %s, want %s", tt.sddl, got, tt.want)
		}
		if s := sd.String(); !strings.Contains(s, "D:PAI") {
			t.Errorf("%s renders %s, want a protected auto-inherited DACL", tt.sddl, s)
		}
	}

	dir := filepath.Join(t.TempDir(), "Steward")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "steward-agent.exe")
	if err := os.WriteFile(bin, []byte("MZ"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ path, sddl string }{{dir, DirSDDL}, {bin, BinarySDDL}} {
		changed, err := Protect(tt.path, tt.sddl)
		if errors.Is(err, ErrACLNotKept) && winetest.Detected() {
			t.Logf("wine does not keep file security descriptors: %v", err)
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		// The test's files are owned by the test's user: Protect takes
		// ownership for SYSTEM.
		if !strings.HasPrefix(changed, "set owner SYSTEM") {
			t.Errorf("Protect(%s) = %q, want a change", tt.path, changed)
		}
		got, err := readSecurity(tt.path)
		if err != nil {
			t.Fatal(err)
		}
		sd, _ := windows.SecurityDescriptorFromString(tt.sddl)
		if SecurityKey(got) != SecurityKey(sd) {
			t.Errorf("%s read back %s, want %s", tt.path, SecurityKey(got), SecurityKey(sd))
		}
		if changed, err := Protect(tt.path, tt.sddl); err != nil || changed != "" {
			t.Errorf("second Protect(%s) = %q, %v; want no change", tt.path, changed, err)
		}
	}
}

func TestUninstallEntry(t *testing.T) {
	RemoveUninstallEntry()
	t.Cleanup(func() { RemoveUninstallEntry() })
	bin := `C:\Program Files\Steward\steward-agent.exe`
	if changed, err := WriteUninstallEntry(bin, "v1.2.3"); err != nil || !changed {
		t.Fatalf("first write: %v, %v", changed, err)
	}
	want := map[string]string{
		"DisplayName":     "Steward Agent",
		"DisplayVersion":  "v1.2.3",
		"Publisher":       "Steward",
		"UninstallString": `"C:\Program Files\Steward\steward-agent.exe" uninstall`,
		"InstallLocation": `C:\Program Files\Steward`,
	}
	for name, v := range want {
		if got := registryString(t, UninstallKey, name); got != v {
			t.Errorf("%s = %q, want %q", name, got, v)
		}
	}
	if changed, err := WriteUninstallEntry(bin, "v1.2.3"); err != nil || changed {
		t.Errorf("rewrite of the same entry: changed %v, %v", changed, err)
	}
	if changed, _ := WriteUninstallEntry(bin, "v1.2.4"); !changed || registryString(t, UninstallKey, "DisplayVersion") != "v1.2.4" {
		t.Errorf("a new version was not written")
	}
	if removed, err := RemoveUninstallEntry(); err != nil || !removed {
		t.Errorf("remove: %v, %v", removed, err)
	}
	if removed, err := RemoveUninstallEntry(); err != nil || removed {
		t.Errorf("second remove: %v, %v", removed, err)
	}
	if _, err := registry.OpenKey(registry.LOCAL_MACHINE, UninstallKey, registry.QUERY_VALUE); !errors.Is(err, registry.ErrNotExist) {
		t.Errorf("key still there: %v", err)
	}
}
