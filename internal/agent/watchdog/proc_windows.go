package watchdog

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/windows"
)

// terminate stops a child process. A console-less child cannot be sent
// Ctrl+Break, so Windows children are killed; the agent there runs under
// the service manager, which stops it gently.
func terminate(p *os.Process) error { return p.Kill() }

// stillActive is what GetExitCodeProcess reports for a running process.
const stillActive = 259 // STILL_ACTIVE

// processAlive reports whether the process pid still runs. It asks the
// process itself (OpenProcess, GetExitCodeProcess) rather than the service
// manager, whose state can be stale: a crashed service can stay "running"
// with a dead PID (wine shows it). A process we may not open but that
// exists (access denied) counts as alive.
func processAlive(pid int) bool {
	if pid <= 0 {
		return false
	}
	h, err := windows.OpenProcess(windows.PROCESS_QUERY_LIMITED_INFORMATION, false, uint32(pid))
	if err != nil {
		return errors.Is(err, windows.ERROR_ACCESS_DENIED)
	}
	defer windows.CloseHandle(h)
	var code uint32
	if err := windows.GetExitCodeProcess(h, &code); err != nil {
		return true // it exists; the handle tells no more
	}
	return code == stillActive
}

// killPID kills a process the watchdog did not start (a hung agent the
// service manager could not stop).
func killPID(pid int) error {
	h, err := windows.OpenProcess(windows.PROCESS_TERMINATE, false, uint32(pid))
	if err != nil {
		return fmt.Errorf("open process %d: %w", pid, err)
	}
	defer windows.CloseHandle(h)
	if err := windows.TerminateProcess(h, 1); err != nil {
		return fmt.Errorf("terminate process %d: %w", pid, err)
	}
	return nil
}
