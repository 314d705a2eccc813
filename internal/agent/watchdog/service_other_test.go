//go:build !windows

package watchdog

// serviceMain runs the test binary as a Windows service; elsewhere there
// is none to run.
func serviceMain() (int, bool) { return 0, false }
