//go:build !windows

package remote

import (
	"os"
	"os/exec"
	"os/user"
	"syscall"
)

// defaultShell is $SHELL when it runs, else bash, else sh, in the home of
// the user the agent runs as (root).
func defaultShell() *exec.Cmd {
	path := "/bin/sh"
	for _, p := range []string{os.Getenv("SHELL"), "/bin/bash"} {
		if p == "" {
			continue
		}
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			path = p
			break
		}
	}
	cmd := exec.Command(path, "-l")
	if u, err := user.Current(); err == nil && u.HomeDir != "" {
		cmd.Dir = u.HomeDir
		cmd.Env = append(cmd.Env, "HOME="+u.HomeDir)
	}
	return cmd
}

// prepare makes the shell the leader of a new session with the PTY as its
// controlling terminal, so job control and Ctrl-C work and killTree finds
// its processes.
func prepare(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true}
}
