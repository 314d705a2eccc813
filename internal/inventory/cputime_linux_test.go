package inventory

import (
	"runtime"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// cpuTimer measures the CPU time of the calling goroutine's thread, which
// other processes on a loaded machine do not add to as they do to the
// wall clock. It locks the goroutine to its thread until the test ends.
func cpuTimer(t *testing.T) func() time.Duration {
	t.Helper()
	runtime.LockOSThread()
	t.Cleanup(runtime.UnlockOSThread)
	return func() time.Duration {
		var ts unix.Timespec
		if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
			t.Fatalf("clock_gettime(CLOCK_THREAD_CPUTIME_ID): %v", err)
		}
		return time.Duration(ts.Nano())
	}
}
