package remote

import (
	"os"
	"os/exec"
)

// defaultShell is PowerShell when found, else cmd.exe.
func defaultShell() *exec.Cmd {
	if p, err := exec.LookPath("powershell.exe"); err == nil {
		return exec.Command(p, "-NoLogo")
	}
	comspec := os.Getenv("ComSpec")
	if comspec == "" {
		comspec = `C:\Windows\System32\cmd.exe`
	}
	return exec.Command(comspec)
}

// prepare has nothing to add on Windows: ConPTY attaches the console.
func prepare(*exec.Cmd) {}

// killTree ends the shell; closing the pseudo console then ends the
// console processes still attached to it.
func killTree(cmd *exec.Cmd) {
	cmd.Process.Kill()
}
