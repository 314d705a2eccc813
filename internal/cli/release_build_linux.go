package cli

import (
	"os/exec"
	"syscall"
)

// ownChild makes a build tool die with the build: a build killed with
// kill -9 would otherwise leave its go build running, which could still
// write a binary into the output directory of the next build.
func ownChild(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
