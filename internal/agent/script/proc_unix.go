//go:build unix

package script

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// tree is a script's process tree: its own process group, which its
// children join unless they leave it on purpose (setsid, nohup does not).
type tree struct{ pgid int }

func startTree(cmd *exec.Cmd) (*tree, error) {
	sysProcAttr(cmd).Setpgid = true
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	return &tree{pgid: cmd.Process.Pid}, nil
}

func sysProcAttr(cmd *exec.Cmd) *syscall.SysProcAttr {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	return cmd.SysProcAttr
}

// kill sends SIGKILL to the whole group; a group already gone is fine.
func (t *tree) kill() error {
	if err := syscall.Kill(-t.pgid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("kill process group %d: %w", t.pgid, err)
	}
	return nil
}

// waitGone waits until no process of the group is alive.
func (t *tree) waitGone(ctx context.Context) error {
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for groupAlive(t.pgid) {
		select {
		case <-ctx.Done():
			return fmt.Errorf("process group %d: %w", t.pgid, ctx.Err())
		case <-tick.C:
		}
	}
	return nil
}

func (t *tree) close() {}

// signaled reports the signal that ended a process, with the exit code a
// shell would show for it (128 + the signal's number).
func signaled(ps *os.ProcessState) (code int, name string, ok bool) {
	ws, isWS := ps.Sys().(syscall.WaitStatus)
	if !isWS || !ws.Signaled() {
		return 0, "", false
	}
	return 128 + int(ws.Signal()), ws.Signal().String(), true
}

// restrictDir makes dir the agent user's alone.
func restrictDir(dir string) error { return os.Chmod(dir, 0o700) }
