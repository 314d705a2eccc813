//go:build !linux

package inventory

import (
	"testing"
	"time"
)

// cpuTimer skips the test: only Linux gives a thread's own CPU time, and
// the wall clock on a loaded machine is no measure of an algorithm's cost.
func cpuTimer(t *testing.T) func() time.Duration {
	t.Helper()
	t.Skip("needs a thread's CPU time, which this test reads on Linux only")
	return nil
}
