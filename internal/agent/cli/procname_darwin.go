package cli

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// processName is the name of process pid's program, as the kernel keeps it
// (at most 16 bytes: "steward-agent").
func processName(pid int) (string, error) {
	p, err := unix.SysctlKinfoProc("kern.proc.pid", pid)
	if err != nil {
		return "", fmt.Errorf("process %d name: %w", pid, err)
	}
	return unix.ByteSliceToString(p.Proc.P_comm[:]), nil
}
