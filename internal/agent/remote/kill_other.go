//go:build !linux && !windows

package remote

import (
	"os/exec"
	"syscall"
)

// killTree kills the shell's process group. Jobs the shell moved to groups
// of their own get SIGHUP from the terminal closing.
func killTree(cmd *exec.Cmd) {
	syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
}
