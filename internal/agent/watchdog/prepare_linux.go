package watchdog

import (
	"os/exec"
	"syscall"
)

// prepare makes the child die with the watchdog: a watchdog killed with
// SIGKILL must not leave an agent behind that the next watchdog would
// start a second time.
func prepare(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
}
