//go:build !linux

package cli

import "os/exec"

// ownChild: only Linux can tie a child's life to its parent's
// (Pdeathsig); elsewhere a killed build's tools run to their end.
func ownChild(*exec.Cmd) {}
