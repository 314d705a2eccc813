//go:build unix && !linux

package script

import (
	"strconv"
	"syscall"
)

// alive reports whether pid is a process.
func alive(pid string) bool {
	n, err := strconv.Atoi(pid)
	return err == nil && syscall.Kill(n, 0) == nil
}
