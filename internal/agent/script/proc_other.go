//go:build unix && !linux

package script

import "syscall"

// groupAlive reports whether group pgid has a process (zombies count: this
// OS's init reaps promptly).
func groupAlive(pgid int) bool { return syscall.Kill(-pgid, 0) == nil }
