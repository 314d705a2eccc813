package cli

import (
	"context"

	"golang.org/x/sys/windows"
)

// pidAlive reports whether a process with pid exists. A reused pid reads as
// alive; the state file is removed on clean exit, so that takes a crash and
// a coincidence. A process that exited but whose handle someone still holds
// has an exit code other than STILL_ACTIVE; one we may not open exists.
func pidAlive(ctx context.Context, pid int) bool {
	if pid <= 0 || pid > 1<<31-1 {
		return false
	}
	h, err := windows.OpenProcess(windows.PROCESS_QUERY_LIMITED_INFORMATION, false, uint32(pid))
	if err == windows.ERROR_ACCESS_DENIED {
		return true
	}
	if err != nil {
		return false
	}
	defer windows.CloseHandle(h)
	var code uint32
	const stillActive = 259 // STILL_ACTIVE
	return windows.GetExitCodeProcess(h, &code) == nil && code == stillActive
}
