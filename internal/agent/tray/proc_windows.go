package tray

import (
	"os/exec"
	"syscall"

	"golang.org/x/sys/windows"
)

// hideWindow starts the child without a console window: the agent is a
// console program, and a window would flash up on every login.
func hideWindow(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{CreationFlags: windows.CREATE_NO_WINDOW, HideWindow: true}
}

// DetachConsole lets go of the console window Windows opens for a console
// program started at login (the agent is one): the tray has no use for it.
func DetachConsole() {
	// x/sys has no FreeConsole; it takes no arguments and cannot fail in a
	// way that matters here.
	_, _, _ = windows.NewLazySystemDLL("kernel32.dll").NewProc("FreeConsole").Call()
}
