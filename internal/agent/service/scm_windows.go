package service

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"
	"unsafe"

	"golang.org/x/sys/windows"
	"golang.org/x/sys/windows/registry"
	"golang.org/x/sys/windows/svc"
	"golang.org/x/sys/windows/svc/mgr"

	"github.com/steward-rmm/steward/internal/agent"
	"github.com/steward-rmm/steward/internal/agent/config"
)

// runningMarker is unused on Windows: the SCM always runs.
const runningMarker = ""

// ServiceName is role's SCM service name.
func ServiceName(r Role) string {
	if r == Watchdog {
		return "StewardWatchdog"
	}
	return "StewardAgent"
}

// DisplayName is role's name in services.msc.
func DisplayName(r Role) string {
	if r == Watchdog {
		return "Steward Agent Watchdog"
	}
	return "Steward Agent"
}

func description(r Role) string {
	if r == Watchdog {
		return "Checks that the Steward agent runs and answers, restarts it, and reports to the Steward server when it stays down."
	}
	return "Keeps this computer connected to its Steward RMM server: monitoring, scripts and remote support."
}

// Bounds of the SCM waits.
const (
	// markedForDeleteWait bounds the retries of CreateService while a
	// service of the same name is still marked for deletion (a handle to
	// the old one is open somewhere, services.msc for instance).
	markedForDeleteWait = 30 * time.Second
	// stateWait bounds waiting for a service to reach Running or Stopped.
	stateWait = 30 * time.Second
	// pollEvery is how often the SCM is asked while waiting: it has no
	// notification the mgr package exposes.
	pollEvery = 200 * time.Millisecond
)

// RecoveryActions are the SCM's failure actions for both services: restart
// after 10 s, every time (the last action repeats for every later failure),
// with the failure count reset after a day without failure.
func RecoveryActions() (actions []mgr.RecoveryAction, resetPeriod uint32) {
	restart := mgr.RecoveryAction{Type: mgr.ServiceRestart, Delay: 10 * time.Second}
	return []mgr.RecoveryAction{restart, restart, restart}, uint32((24 * time.Hour).Seconds())
}

// CommandLine is role's image path: the binary and the config quoted, so
// that a path with spaces cannot be read as a shorter program
// (C:\Program.exe) by the SCM.
func CommandLine(r Role, s Spec) string {
	return `"` + s.Binary + `" ` + r.Command() + ` --config "` + s.Config + `"`
}

// Available reports whether the SCM can be managed: it needs an elevated
// Administrator or SYSTEM.
func (m *Manager) Available() error {
	if m.root != "" {
		return errors.New("installing into a root directory is not supported on Windows")
	}
	sm, err := mgr.Connect()
	if err != nil {
		return scmError(err)
	}
	sm.Disconnect()
	return nil
}

func scmError(err error) error {
	if errors.Is(err, windows.ERROR_ACCESS_DENIED) {
		return fmt.Errorf("connect to the service manager: %w (run as Administrator, from an elevated prompt)", err)
	}
	return fmt.Errorf("connect to the service manager: %w", err)
}

// DefaultBinary is %ProgramFiles%\Steward\steward-agent.exe.
func (m *Manager) DefaultBinary() string {
	dir, err := windows.KnownFolderPath(windows.FOLDERID_ProgramFiles, 0)
	if err != nil || dir == "" {
		dir = os.Getenv("ProgramFiles")
	}
	if dir == "" {
		dir = `C:\Program Files`
	}
	return filepath.Join(dir, "Steward", "steward-agent.exe")
}

// Install protects the install and data directories, creates or updates
// both services (LocalSystem, automatic start, quoted image path), sets
// their recovery actions, writes the uninstall registry entry and starts
// them; a running service whose command line changed is restarted.
func (m *Manager) Install(ctx context.Context, s Spec) (Result, error) {
	var res Result
	if err := m.ready(s); err != nil {
		return res, err
	}
	// The directories are protected only where they are ours: a --config
	// in someone's profile must not lock its owner out of the folder.
	protect := []struct{ path, sddl string }{{s.Binary, BinarySDDL}}
	if s.Binary == m.DefaultBinary() {
		protect = append(protect, struct{ path, sddl string }{filepath.Dir(s.Binary), DirSDDL})
	}
	if dir := filepath.Dir(config.DefaultPath()); filepath.Dir(s.Config) == dir {
		protect = append(protect, struct{ path, sddl string }{dir, DirSDDL})
	}
	for _, p := range protect {
		changed, err := Protect(p.path, p.sddl)
		if errors.Is(err, ErrACLNotKept) {
			m.log.Warn("the file system does not keep access control lists; the files are not protected", "err", err)
			continue
		}
		if err != nil {
			return res, err
		}
		if changed != "" {
			res.add("%s: %s", p.path, changed)
		}
	}
	sm, err := mgr.Connect()
	if err != nil {
		return res, scmError(err)
	}
	defer sm.Disconnect()
	for _, r := range Roles() {
		if err := m.installRole(ctx, sm, r, s, &res); err != nil {
			return res, err
		}
	}
	wrote, err := WriteUninstallEntry(s.Binary, agent.Version)
	if err != nil {
		return res, err
	}
	if wrote {
		res.add("wrote the uninstall registry entry")
	}
	return res, nil
}

func (m *Manager) installRole(ctx context.Context, sm *mgr.Mgr, r Role, s Spec, res *Result) error {
	name, cmd := ServiceName(r), CommandLine(r, s)
	changed := false
	sv, err := sm.OpenService(name)
	switch {
	case errors.Is(err, windows.ERROR_SERVICE_DOES_NOT_EXIST):
		sv, err = createService(ctx, sm, r, cmd, nil)
		if err != nil {
			return err
		}
		res.add("created service %s", name)
		changed = true
	case err != nil:
		return fmt.Errorf("open service %s: %w", name, err)
	default:
		cur, err := serviceConfig(sv)
		if err != nil {
			sv.Close()
			return err
		}
		if cur.BinaryPathName != cmd || cur.StartType != mgr.StartAutomatic || !isLocalSystem(cur.ServiceStartName) || cur.DisplayName != DisplayName(r) {
			cur.BinaryPathName, cur.StartType, cur.ServiceStartName, cur.DisplayName = cmd, mgr.StartAutomatic, "LocalSystem", DisplayName(r)
			cur.Description = description(r)
			if err := sv.UpdateConfig(cur); err != nil {
				sv.Close()
				return fmt.Errorf("update service %s: %w", name, err)
			}
			res.add("updated service %s", name)
			changed = true
		}
	}
	defer sv.Close()
	m.setRecovery(sv, name)

	st, err := sv.Query()
	if err != nil {
		return fmt.Errorf("query service %s: %w", name, err)
	}
	if st.State != svc.Stopped && changed {
		// The SCM runs the old command line until the service restarts.
		if err := stopService(ctx, sv); err != nil {
			return fmt.Errorf("restart service %s: %w", name, err)
		}
		st.State = svc.Stopped
		res.add("stopped service %s to apply its new configuration", name)
	}
	if st.State == svc.Stopped {
		started, err := startService(ctx, sv)
		if err != nil {
			return fmt.Errorf("start service %s: %w", name, err)
		}
		res.add("started service %s%s", name, started.note())
	}
	return nil
}

// AddRole creates role's service when the SCM has none of that name (as
// LocalSystem, automatic start, with the recovery actions) and starts it.
// A service that exists is never reconfigured: an administrator may have
// changed it. The agent calls it to bring back a watchdog that was never
// registered; Install is what (re)configures services.
func (m *Manager) AddRole(ctx context.Context, s Spec, r Role) (Result, error) {
	var res Result
	if err := m.ready(s); err != nil {
		return res, err
	}
	sm, err := mgr.Connect()
	if err != nil {
		return res, scmError(err)
	}
	defer sm.Disconnect()
	name := ServiceName(r)
	sv, err := sm.OpenService(name)
	if err == nil {
		sv.Close()
		return res, nil
	}
	if !errors.Is(err, windows.ERROR_SERVICE_DOES_NOT_EXIST) {
		return res, fmt.Errorf("open service %s: %w", name, err)
	}
	sv, err = createService(ctx, sm, r, CommandLine(r, s), nil)
	if errors.Is(err, windows.ERROR_SERVICE_EXISTS) {
		return res, nil // registered meanwhile, by an install
	}
	if err != nil {
		return res, err
	}
	defer sv.Close()
	res.add("created service %s", name)
	m.setRecovery(sv, name)
	started, err := startService(ctx, sv)
	if err != nil {
		return res, fmt.Errorf("start service %s: %w", name, err)
	}
	res.add("started service %s%s", name, started.note())
	return res, nil
}

// createService creates role's service, retrying while an older service of
// the same name is still marked for deletion, up to markedForDeleteWait.
// onRetry, when set, runs before each retry (tests release the handle that
// keeps the old service alive).
func createService(ctx context.Context, sm *mgr.Mgr, r Role, cmd string, onRetry func()) (*mgr.Service, error) {
	name := ServiceName(r)
	ctx, cancel := context.WithTimeout(ctx, markedForDeleteWait)
	defer cancel()
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	for {
		// windows.CreateService rather than mgr.CreateService: mgr quotes
		// the image path only when it contains a space; ours is always
		// quoted, exactly as CommandLine says.
		h, err := windows.CreateService(sm.Handle, windows.StringToUTF16Ptr(name), windows.StringToUTF16Ptr(DisplayName(r)),
			windows.SERVICE_ALL_ACCESS, windows.SERVICE_WIN32_OWN_PROCESS, windows.SERVICE_AUTO_START, windows.SERVICE_ERROR_NORMAL,
			windows.StringToUTF16Ptr(cmd), nil, nil, nil, windows.StringToUTF16Ptr("LocalSystem"), nil)
		if err == nil {
			sv := &mgr.Service{Name: name, Handle: h}
			setDescription(h, description(r))
			return sv, nil
		}
		if !errors.Is(err, windows.ERROR_SERVICE_MARKED_FOR_DELETE) {
			return nil, fmt.Errorf("create service %s: %w", name, err)
		}
		if onRetry != nil {
			onRetry()
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("create service %s: the old service is still marked for deletion after %s (close services.msc, or reboot): %w", name, markedForDeleteWait, err)
		case <-tick.C:
		}
	}
}

// setDescription sets the text services.msc shows; a failure (wine has no
// ChangeServiceConfig2 for it) costs only the text.
func setDescription(h windows.Handle, text string) {
	d := windows.SERVICE_DESCRIPTION{Description: windows.StringToUTF16Ptr(text)}
	_ = windows.ChangeServiceConfig2(h, windows.SERVICE_CONFIG_DESCRIPTION, (*byte)(unsafe.Pointer(&d)))
}

// setRecovery sets the restart actions and that a non-zero exit counts as a
// failure. Failing to set them leaves a service that still runs, so it is
// logged, not fatal (wine implements neither).
func (m *Manager) setRecovery(sv *mgr.Service, name string) {
	actions, reset := RecoveryActions()
	if err := sv.SetRecoveryActions(actions, reset); err != nil {
		m.log.Warn("cannot set the service's recovery actions; it will not be restarted after a crash", "service", name, "err", err)
	}
	if err := sv.SetRecoveryActionsOnNonCrashFailures(true); err != nil {
		m.log.Warn("cannot make a non-zero exit restart the service", "service", name, "err", err)
	}
}

// serviceConfig reads a service's configuration from the SCM, or from its
// registry key where the SCM cannot tell (wine has no QueryServiceConfig2).
func serviceConfig(sv *mgr.Service) (mgr.Config, error) {
	if c, err := sv.Config(); err == nil {
		return c, nil
	}
	k, err := registry.OpenKey(registry.LOCAL_MACHINE, `SYSTEM\CurrentControlSet\Services\`+sv.Name, registry.QUERY_VALUE)
	if err != nil {
		return mgr.Config{}, fmt.Errorf("read the configuration of service %s: %w", sv.Name, err)
	}
	defer k.Close()
	var c mgr.Config
	c.BinaryPathName, _, _ = k.GetStringValue("ImagePath")
	c.DisplayName, _, _ = k.GetStringValue("DisplayName")
	c.ServiceStartName, _, _ = k.GetStringValue("ObjectName")
	c.Description, _, _ = k.GetStringValue("Description")
	start, _, _ := k.GetIntegerValue("Start")
	c.StartType = uint32(start)
	c.ServiceType = windows.SERVICE_WIN32_OWN_PROCESS
	c.ErrorControl = mgr.ErrorNormal
	return c, nil
}

func isLocalSystem(account string) bool {
	return account == "" || account == "LocalSystem" || account == `.\LocalSystem` || account == `NT AUTHORITY\SYSTEM`
}

// startService starts sv and waits until it runs. StartService answers
// that the service manager has not settled are retried (startRefusals),
// up to startSettleWait; the result says how often it refused.
func startService(ctx context.Context, sv *mgr.Service) (startResult, error) {
	res, err := startSettled(ctx, func() error { return sv.Start() })
	if err != nil {
		return res, err
	}
	return res, waitState(ctx, sv, svc.Running)
}

// startRefusals are the answers of StartService that come from the service
// manager's own state, not the service's, and pass:
//   - ERROR_SERVICE_DATABASE_LOCKED: another start holds the manager's
//     start lock (wine waits 3 s for it, Windows for a database lock);
//   - ERROR_SERVICE_MARKED_FOR_DELETE: a service of that name deleted just
//     before is still being removed;
//   - ERROR_INTERNAL_ERROR: wine 8's services.exe answers it for a service
//     created again right after one of that name was stopped and deleted
//     (1 install in 4 of scripts/wine/test-msi.sh); the same call a moment
//     later starts it.
var startRefusals = []error{windows.ERROR_SERVICE_DATABASE_LOCKED, windows.ERROR_SERVICE_MARKED_FOR_DELETE, windows.ERROR_INTERNAL_ERROR}

// startSettleWait bounds the retries of startRefusals.
const startSettleWait = 30 * time.Second

// startResult says how a start went: how often the service manager refused
// it first, and its last refusal.
type startResult struct {
	Refused int
	Last    error
}

// note describes the refusals for an install's list of changes ("" when
// there were none).
func (r startResult) note() string {
	if r.Refused == 0 {
		return ""
	}
	return fmt.Sprintf(" (the service manager refused %d time(s) first: %v)", r.Refused, r.Last)
}

// startSettled calls start until it succeeds, the service already runs, or
// it fails with an error other than startRefusals, retrying those every
// pollEvery for up to startSettleWait.
func startSettled(ctx context.Context, start func() error) (startResult, error) {
	var res startResult
	ctx, cancel := context.WithTimeout(ctx, startSettleWait)
	defer cancel()
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	for {
		err := start()
		if err == nil || errors.Is(err, windows.ERROR_SERVICE_ALREADY_RUNNING) {
			return res, nil
		}
		if !slices.ContainsFunc(startRefusals, func(r error) bool { return errors.Is(err, r) }) {
			return res, err
		}
		res.Refused++
		res.Last = err
		select {
		case <-ctx.Done():
			return res, fmt.Errorf("the service manager still refuses the start after %d tries: %w", res.Refused, err)
		case <-tick.C:
		}
	}
}

func stopService(ctx context.Context, sv *mgr.Service) error {
	st, err := sv.Query()
	if err != nil {
		return err
	}
	if st.State == svc.Stopped {
		return nil
	}
	if _, err := sv.Control(svc.Stop); err != nil && !errors.Is(err, windows.ERROR_SERVICE_NOT_ACTIVE) {
		return err
	}
	return waitState(ctx, sv, svc.Stopped)
}

// waitState polls the SCM until sv reaches want, or is stopped while
// starting (the process exited: its exit code says why), up to stateWait.
func waitState(ctx context.Context, sv *mgr.Service, want svc.State) error {
	ctx, cancel := context.WithTimeout(ctx, stateWait)
	defer cancel()
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	for {
		st, err := sv.Query()
		if err != nil {
			return err
		}
		if st.State == want {
			return nil
		}
		if want == svc.Running && st.State == svc.Stopped {
			return fmt.Errorf("the service stopped while starting (exit code %d, service-specific %d)", st.Win32ExitCode, st.ServiceSpecificExitCode)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("service %s is in state %d, not %d, after %s: %w", sv.Name, st.State, want, stateWait, ctx.Err())
		case <-tick.C:
		}
	}
}

// Uninstall stops and deletes both services (the watchdog first, so it does
// not restart the agent being stopped) and removes the uninstall entry.
func (m *Manager) Uninstall(ctx context.Context) (Result, error) {
	var res Result
	if err := m.Available(); err != nil {
		return res, err
	}
	sm, err := mgr.Connect()
	if err != nil {
		return res, scmError(err)
	}
	defer sm.Disconnect()
	for _, r := range slices.Backward(Roles()) {
		name := ServiceName(r)
		sv, err := sm.OpenService(name)
		if errors.Is(err, windows.ERROR_SERVICE_DOES_NOT_EXIST) {
			continue
		}
		if err != nil {
			return res, fmt.Errorf("open service %s: %w", name, err)
		}
		st, err := sv.Query()
		if err == nil && st.State != svc.Stopped {
			if err := stopService(ctx, sv); err != nil {
				sv.Close()
				return res, fmt.Errorf("stop service %s: %w", name, err)
			}
			res.add("stopped service %s", name)
		}
		err = sv.Delete()
		sv.Close()
		if err != nil && !errors.Is(err, windows.ERROR_SERVICE_MARKED_FOR_DELETE) {
			return res, fmt.Errorf("delete service %s: %w", name, err)
		}
		res.add("deleted service %s", name)
	}
	removed, err := RemoveUninstallEntry()
	if err != nil {
		return res, err
	}
	if removed {
		res.add("removed the uninstall registry entry")
	}
	return res, nil
}

// Query reports role's service as the SCM sees it. The SCM's state can be
// stale (a dead process still "running" under wine): callers that must
// know check the PID.
func (m *Manager) Query(ctx context.Context, r Role) (State, error) {
	sm, err := mgr.Connect()
	if err != nil {
		return State{}, scmError(err)
	}
	defer sm.Disconnect()
	sv, err := sm.OpenService(ServiceName(r))
	if errors.Is(err, windows.ERROR_SERVICE_DOES_NOT_EXIST) {
		return State{}, nil
	}
	if err != nil {
		return State{}, fmt.Errorf("open service %s: %w", ServiceName(r), err)
	}
	defer sv.Close()
	st, err := sv.Query()
	if err != nil {
		return State{}, fmt.Errorf("query service %s: %w", ServiceName(r), err)
	}
	out := State{Installed: true, Running: st.State == svc.Running, PID: int(st.ProcessId), Detail: stateName(st.State)}
	if st.State == svc.Stopped && st.Win32ExitCode != 0 {
		out.Detail += fmt.Sprintf(", last exit code %d", exitCode(st))
	}
	return out, nil
}

func exitCode(st svc.Status) uint32 {
	if st.Win32ExitCode == uint32(windows.ERROR_SERVICE_SPECIFIC_ERROR) {
		return st.ServiceSpecificExitCode
	}
	return st.Win32ExitCode
}

func stateName(s svc.State) string {
	switch s {
	case svc.Stopped:
		return "STOPPED"
	case svc.StartPending:
		return "START_PENDING"
	case svc.StopPending:
		return "STOP_PENDING"
	case svc.Running:
		return "RUNNING"
	case svc.ContinuePending:
		return "CONTINUE_PENDING"
	case svc.PausePending:
		return "PAUSE_PENDING"
	case svc.Paused:
		return "PAUSED"
	}
	return fmt.Sprintf("state %d", s)
}

// Start starts role's service and waits until it runs.
func (m *Manager) Start(ctx context.Context, r Role) error {
	return m.withService(r, func(sv *mgr.Service) error {
		_, err := startService(ctx, sv)
		return err
	})
}

// Stop stops role's service and waits until it has stopped.
func (m *Manager) Stop(ctx context.Context, r Role) error {
	return m.withService(r, func(sv *mgr.Service) error { return stopService(ctx, sv) })
}

func (m *Manager) withService(r Role, fn func(*mgr.Service) error) error {
	sm, err := mgr.Connect()
	if err != nil {
		return scmError(err)
	}
	defer sm.Disconnect()
	sv, err := sm.OpenService(ServiceName(r))
	if err != nil {
		return fmt.Errorf("open service %s: %w", ServiceName(r), err)
	}
	defer sv.Close()
	if err := fn(sv); err != nil {
		return fmt.Errorf("service %s: %w", ServiceName(r), err)
	}
	return nil
}

// packagedBinary: the MSI installs the binary where install would copy it,
// and uninstall may remove it (MSI removes it too).
const packagedBinary = ""
