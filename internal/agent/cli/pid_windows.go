package cli

import (
	"context"

	"github.com/shirou/gopsutil/v4/process"
)

// pidAlive reports whether a process with pid exists. A reused pid reads as
// alive; the state file is removed on clean exit, so that takes a crash and
// a coincidence.
func pidAlive(ctx context.Context, pid int) bool {
	if pid <= 0 || pid > 1<<31-1 {
		return false
	}
	ok, err := process.PidExistsWithContext(ctx, int32(pid))
	return err == nil && ok
}
