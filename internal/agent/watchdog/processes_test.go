//go:build !windows

package watchdog

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/steward-rmm/steward/internal/protocol"
)

// TestProcessWatcher watches a real process by a name no other process
// has: a copy of sleep.
func TestProcessWatcher(t *testing.T) {
	sleepPath, err := exec.LookPath("sleep")
	if err != nil {
		t.Skip("no sleep program")
	}
	b, err := os.ReadFile(sleepPath)
	if err != nil {
		t.Fatal(err)
	}
	name := fmt.Sprintf("wdtest%d", os.Getpid())
	prog := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(prog, b, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(prog, "600")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })

	w := &Watcher{Manager: processes{}, Log: discard()}
	watched := []Service{{Name: name, Restart: true, Alert: true}}
	got := w.Check(t.Context(), watched)
	if want := (protocol.WatchedService{Name: name, State: protocol.ServiceRunning, Alert: true}); got[0] != want {
		t.Errorf("while it runs: %+v, want %+v", got[0], want)
	}
	st, err := processes{}.State(t.Context(), name)
	if err != nil || st.PID != cmd.Process.Pid {
		t.Errorf("State = %+v, %v; want pid %d", st, err, cmd.Process.Pid)
	}

	cmd.Process.Kill()
	cmd.Wait()
	got = w.Check(t.Context(), watched)
	if got[0].State != protocol.ServiceRestartFailed || got[0].Reason != errCannotStart.Error() {
		t.Errorf("after it ended, with restart: %+v, want restart_failed: %v", got[0], errCannotStart)
	}
	watched[0].Restart = false
	if got := w.Check(t.Context(), watched); got[0].State != protocol.ServiceStopped {
		t.Errorf("after it ended, without restart: %+v, want stopped", got[0])
	}
}
