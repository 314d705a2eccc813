package cli

import (
	"context"
	"fmt"
	"path/filepath"

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

// processName is the file name of process pid's program
// ("steward-agent.exe").
func processName(pid int) (string, error) {
	h, err := windows.OpenProcess(windows.PROCESS_QUERY_LIMITED_INFORMATION, false, uint32(pid))
	if err != nil {
		return "", fmt.Errorf("process %d name: %w", pid, err)
	}
	defer windows.CloseHandle(h)
	buf := make([]uint16, windows.MAX_LONG_PATH)
	n := uint32(len(buf))
	if err := windows.QueryFullProcessImageName(h, 0, &buf[0], &n); err != nil {
		return "", fmt.Errorf("process %d name: %w", pid, err)
	}
	return filepath.Base(windows.UTF16ToString(buf[:n])), nil
}
