//go:build !windows

package actions

// systemProcess says why ending pid would harm the machine: init, or the
// kernel's thread starter (the kernel's threads ignore SIGKILL anyway).
func systemProcess(pid int32, _ string) string {
	switch {
	case pid == 1:
		return "PID 1 is the init process; ending it stops the machine (use power instead)"
	case pid <= 2:
		return "it belongs to the kernel"
	}
	return ""
}
