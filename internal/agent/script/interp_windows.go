package script

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/steward-rmm/steward/internal/protocol"
)

// languages on Windows. PowerShell and cmd are the system's own, by full
// path (never a look-up a PATH entry could redirect); the others are
// looked up in PATH (Python, Git for Windows' bash, ...).
var languages = map[string]spec{
	protocol.LangPowerShell: {names: []string{systemPath(`WindowsPowerShell\v1.0\powershell.exe`)}, ext: ".ps1",
		flags: []string{"-NoLogo", "-NoProfile", "-NonInteractive", "-ExecutionPolicy", "Bypass", "-File"}},
	protocol.LangCmd:    {names: []string{systemPath("cmd.exe")}, ext: ".cmd", cmdLine: cmdLine},
	protocol.LangBash:   {names: []string{"bash"}, ext: ".sh"},
	protocol.LangSh:     {names: []string{"sh"}, ext: ".sh"},
	protocol.LangPython: {names: []string{"python3", "python"}, ext: ".py", flags: []string{"-u"}},
	protocol.LangZsh:    {names: []string{"zsh"}, ext: ".zsh"},
}

// systemPath is name in %SystemRoot%\System32.
func systemPath(name string) string {
	root := os.Getenv("SystemRoot")
	if root == "" {
		root = `C:\Windows`
	}
	return filepath.Join(root, "System32", name)
}

// findExecutable checks a full path exists, or looks a bare name up in
// PATH.
func findExecutable(name string) (string, error) {
	if filepath.IsAbs(name) {
		if fi, err := os.Stat(name); err != nil || !fi.Mode().IsRegular() {
			return "", errors.New("not found")
		}
		return name, nil
	}
	p, err := exec.LookPath(name)
	if err != nil || !filepath.IsAbs(p) {
		return "", errors.New("not found")
	}
	return p, nil
}

// cmdLine builds cmd.exe's command line, which cmd parses itself with its
// own rules rather than as an argument vector: /S /C takes what follows
// with its outer quotes removed, each argument is quoted (so spaces, ;, &,
// |, <, >, ^ and non-ASCII are plain text in it) and /V:OFF turns ! into
// plain text. What no quoting protects from cmd is refused: " (it would
// end the quoting), % (expanded even inside quotes) and line breaks. The
// script sees each argument quoted in %1..%9 and unquoted in %~1..%~9.
func cmdLine(exe, file string, args []string) (string, error) {
	var b strings.Builder
	fmt.Fprintf(&b, `"%s" /D /Q /V:OFF /S /C ""%s"`, exe, file)
	for i, a := range args {
		if strings.ContainsAny(a, "\"%\r\n") {
			return "", fmt.Errorf("argument %d: a cmd script cannot be given \", %% or a line break safely (cmd.exe interprets them); use powershell, or pass it in the environment", i+1)
		}
		b.WriteString(` "` + a + `"`)
	}
	b.WriteString(`"`)
	return b.String(), nil
}

func setCmdLine(cmd *exec.Cmd, line string) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.CmdLine = line
}
