//go:build !linux

package watchdog

import "os/exec"

// prepare has nothing to add outside Linux (no parent-death signal).
func prepare(*exec.Cmd) {}
