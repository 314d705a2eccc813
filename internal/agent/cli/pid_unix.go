//go:build !windows

package cli

import (
	"context"
	"errors"

	"golang.org/x/sys/unix"
)

// pidAlive reports whether a process with pid exists. A reused pid reads as
// alive; the state file is removed on clean exit, so that takes a crash and
// a coincidence. Signal 0 checks without sending anything (EPERM: it
// exists but belongs to another user); gopsutil's process package would do
// the same, but linking it links regexp.
func pidAlive(ctx context.Context, pid int) bool {
	if pid <= 0 || pid > 1<<31-1 {
		return false
	}
	err := unix.Kill(pid, 0)
	return err == nil || errors.Is(err, unix.EPERM)
}
