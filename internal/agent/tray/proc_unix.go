//go:build unix

package tray

import "os/exec"

// hideWindow: Unix processes have no console window to hide.
func hideWindow(*exec.Cmd) {}

// DetachConsole: Unix processes have no console window.
func DetachConsole() {}
