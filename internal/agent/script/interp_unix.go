//go:build unix

package script

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/steward-rmm/steward/internal/protocol"
)

// languages on Unix. Python runs unbuffered (-u) so its output streams
// live instead of arriving at exit.
var languages = map[string]spec{
	protocol.LangPowerShell: {names: []string{"pwsh"}, ext: ".ps1", flags: []string{"-NoLogo", "-NoProfile", "-NonInteractive", "-File"}},
	protocol.LangCmd:        {absent: "cmd scripts run on Windows only"},
	protocol.LangBash:       {names: []string{"bash"}, ext: ".sh"},
	protocol.LangSh:         {names: []string{"sh"}, ext: ".sh"},
	protocol.LangPython:     {names: []string{"python3", "python"}, ext: ".py", flags: []string{"-u"}},
	protocol.LangZsh:        {names: []string{"zsh"}, ext: ".zsh"},
}

// fallbackDirs are searched after PATH: a service often starts with a
// short PATH that leaves out where interpreters live.
var fallbackDirs = []string{"/usr/local/bin", "/usr/bin", "/bin", "/opt/homebrew/bin", "/opt/microsoft/powershell/7"}

// findExecutable looks name up in PATH, then in fallbackDirs.
func findExecutable(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil && filepath.IsAbs(p) {
		return p, nil
	}
	for _, d := range fallbackDirs {
		p := filepath.Join(d, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", errors.New("not found")
}

func setCmdLine(*exec.Cmd, string) {}
