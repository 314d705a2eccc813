package watchdog

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/steward-rmm/steward/internal/protocol"
)

// fakeSystemctl writes a systemctl that answers `show` from the unit name
// and logs every call, since this machine (like a CI container) runs no
// systemd.
func fakeSystemctl(t *testing.T) (path, log string) {
	t.Helper()
	dir := t.TempDir()
	path, log = filepath.Join(dir, "systemctl"), filepath.Join(dir, "calls")
	script := `#!/bin/sh
echo "$*" >> ` + log + `
unit=$(eval echo \${$#})
case "$1:$unit" in
show:running.service) printf 'MainPID=42\nLoadState=loaded\nActiveState=active\n' ;;
show:stale) printf 'MainPID=7\nLoadState=loaded\nActiveState=active\n' ;;
show:nosuch) printf 'MainPID=0\nLoadState=not-found\nActiveState=inactive\n' ;;
show:garbled) echo 'what?' ;;
show:*) printf 'LoadState=loaded\nActiveState=failed\nMainPID=0\n' ;;
start:broken) echo 'Job for broken.service failed.' >&2; exit 1 ;;
esac
`
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return path, log
}

func TestSystemdWatcher(t *testing.T) {
	systemctl, log := fakeSystemctl(t)
	// pid 7 is a process that died without systemd noticing.
	w := &Watcher{Manager: systemd{systemctl: systemctl}, Log: discard(), Alive: func(pid int) bool { return pid != 7 }}
	got := w.Check(t.Context(), []Service{
		{Name: "running.service", Alert: true},
		{Name: "stopped", Restart: true},
		{Name: "nosuch", Restart: true},
		{Name: "broken", Restart: true, Alert: true},
		{Name: "idle"},
		{Name: "garbled"},
		{Name: "stale", Restart: true},
	})
	for i := range got {
		if got[i].State == protocol.ServiceRestartFailed || got[i].State == protocol.ServiceStopped && got[i].Reason != "" {
			got[i].Reason = strings.SplitN(got[i].Reason, ":", 2)[0] // keep the gist
		}
	}
	want := []protocol.WatchedService{
		{Name: "running.service", State: protocol.ServiceRunning, Alert: true},
		{Name: "stopped", State: protocol.ServiceRestarted},
		{Name: "nosuch", State: protocol.ServiceMissing},
		{Name: "broken", State: protocol.ServiceRestartFailed, Reason: "systemctl start -- broken", Alert: true},
		{Name: "idle", State: protocol.ServiceStopped},
		{Name: "garbled", State: protocol.ServiceStopped, Reason: "cannot query"},
		{Name: "stale", State: protocol.ServiceRestarted},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Check (-want +got):\n%s", diff)
	}
	calls, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	wantCalls := []string{
		"show --property=LoadState,ActiveState,MainPID -- running.service",
		"show --property=LoadState,ActiveState,MainPID -- stopped",
		"start -- stopped",
		"show --property=LoadState,ActiveState,MainPID -- nosuch",
		"show --property=LoadState,ActiveState,MainPID -- broken",
		"start -- broken",
		"show --property=LoadState,ActiveState,MainPID -- idle",
		"show --property=LoadState,ActiveState,MainPID -- garbled",
		"show --property=LoadState,ActiveState,MainPID -- stale",
		"stop -- stale",
		"start -- stale",
	}
	if diff := cmp.Diff(wantCalls, strings.Split(strings.TrimSpace(string(calls)), "\n")); diff != "" {
		t.Errorf("systemctl calls (-want +got):\n%s", diff)
	}
}
