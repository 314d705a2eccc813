//go:build unix

package watchdog

import (
	"errors"
	"os"
	"syscall"
)

// terminate asks a process to stop the way a service manager would.
func terminate(p *os.Process) error { return p.Signal(syscall.SIGTERM) }

// processAlive reports whether a process with pid exists: kill(pid, 0)
// succeeds, or fails only because it belongs to someone else.
func processAlive(pid int) bool {
	if pid <= 0 {
		return false
	}
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// killPID kills a process the watchdog did not start (a hung agent the
// service manager could not stop).
func killPID(pid int) error { return syscall.Kill(pid, syscall.SIGKILL) }
