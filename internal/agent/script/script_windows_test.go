package script

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/windows"

	"github.com/google/go-cmp/cmp"

	"github.com/steward-rmm/steward/internal/agent/winetest"
	"github.com/steward-rmm/steward/internal/protocol"
)

// cmdEcho prints each argument, unquoted, on a line of its own, in UTF-8.
// Delayed expansion prints a value without cmd parsing it again. (Plain
// echo: wine's cmd does not know echo( and no argument here is "on".)
const cmdEcho = "@echo off\r\nchcp 65001 >nul\r\nsetlocal EnableDelayedExpansion\r\n:loop\r\nif \"%~1\"==\"\" goto end\r\nset \"v=%~1\"\r\necho !v!\r\nshift\r\ngoto loop\r\n:end\r\n"

func TestCmdArgs(t *testing.T) {
	r := newRunner(t)
	args := []string{"two  spaces", "semi;colon & echo injected", "pipe | more", "<angle>", "caret^", "ünïcödé 日本語",
		"(paren)", "'single'", "comma,equals=x", `back\slash\`, "bang!"}
	res, rec, err := run(t, r, "cmd-args", scriptRun(protocol.LangCmd, cmdEcho, args...))
	if err != nil || res.Status != protocol.ScriptSucceeded {
		t.Fatalf("got %+v, %v; want succeeded (stderr %q)", res, err, rec.joined(t, protocol.StreamStderr))
	}
	got := strings.Split(strings.TrimRight(strings.ReplaceAll(string(rec.joined(t, protocol.StreamStdout)), "\r\n", "\n"), "\n"), "\n")
	// ! is eaten by the script's own delayed expansion, not on the way in.
	want := append(append([]string(nil), args[:len(args)-1]...), "bang")
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("arguments the cmd script saw (-want +got):\n%s", diff)
	}
}

func TestCmdRefusesWhatItCannotCarry(t *testing.T) {
	for _, a := range []string{`say "hi"`, "100%", "%PATH%", "two\r\nlines"} {
		if _, err := cmdLine(`C:\cmd.exe`, `C:\s.cmd`, []string{"ok", a}); err == nil || !strings.Contains(err.Error(), "argument 2") {
			t.Errorf("cmdLine(%q) got %v, want argument 2 refused", a, err)
		}
	}
	got, err := cmdLine(`C:\W\cmd.exe`, `C:\d\s.cmd`, []string{"a b", ""})
	if want := `"C:\W\cmd.exe" /D /Q /V:OFF /S /C ""C:\d\s.cmd" "a b" """`; err != nil || got != want {
		t.Errorf("cmdLine got %q, %v; want %q", got, err, want)
	}
}

func TestCmdExitCode(t *testing.T) {
	r := newRunner(t)
	res, _, err := run(t, r, "cmd-exit", scriptRun(protocol.LangCmd, "@echo off\r\necho out\r\necho err 1>&2\r\nexit /b 7\r\n"))
	if err != nil || res.Status != protocol.ScriptFailed || res.ExitCode != 7 {
		t.Fatalf("got %+v, %v; want failed with exit code 7", res, err)
	}
	if res.Stdout.Bytes == 0 || res.Stderr.Bytes == 0 {
		t.Errorf("streams got %+v and %+v, want output on both", res.Stdout, res.Stderr)
	}
	if got := runsLeft(t, r); len(got) != 0 {
		t.Errorf("run directories left: %v", got)
	}
}

func TestPowerShellArgs(t *testing.T) {
	winetest.Skip(t, "Windows PowerShell (wine's powershell.exe is a stub)")
	r := newRunner(t)
	if _, err := r.interpreter(protocol.LangPowerShell); err != nil {
		t.Skipf("no Windows PowerShell here: %v", err)
	}
	res, rec, err := run(t, r, "ps-args", scriptRun(protocol.LangPowerShell,
		"foreach ($a in $args) { [Console]::Out.Write($a + [char]0) }", tricky...))
	if err != nil || res.Status != protocol.ScriptSucceeded {
		t.Fatalf("got %+v, %v; want succeeded", res, err)
	}
	checkArgs(t, rec.joined(t, protocol.StreamStdout), tricky)
}

// gone reports whether process pid has ended.
func gone(pid string) bool {
	n, err := strconv.ParseUint(pid, 10, 32)
	if err != nil {
		return false
	}
	h, err := windows.OpenProcess(windows.SYNCHRONIZE, false, uint32(n))
	if err != nil {
		return true
	}
	defer windows.CloseHandle(h)
	ev, _ := windows.WaitForSingleObject(h, 0)
	return ev == windows.WAIT_OBJECT_0
}

func TestTimeoutKillsJob(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	r := newRunner(t)
	tmp := t.TempDir()
	bg, fg := filepath.Join(tmp, "bg"), filepath.Join(tmp, "fg")
	// A child in the background and one the script waits for, both this
	// test binary sleeping (see TestMain).
	body := "@echo off\r\nstart /b \"\" \"%SLEEPER_EXE%\"\r\nset \"STEWARD_SCRIPT_SLEEPER=%FG_PID%\"\r\n\"%SLEEPER_EXE%\"\r\n"
	s := scriptRun(protocol.LangCmd, body)
	s.Env = map[string]string{"SLEEPER_EXE": exe, "STEWARD_SCRIPT_SLEEPER": bg, "FG_PID": fg}
	s.Timeout = protocol.Duration(5 * time.Second)
	res, _, err := run(t, r, "job", s)
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != protocol.ScriptTimedOut {
		t.Errorf("got status %s (%q), want timed_out", res.Status, res.Error)
	}
	for _, f := range []string{bg, fg} {
		if pid := readPID(t, f); !gone(pid) {
			t.Errorf("process %s of the script's tree is still running after the timeout", pid)
		}
	}
}

func TestRunAsUserWindows(t *testing.T) {
	r := newRunner(t)
	s := scriptRun(protocol.LangCmd, "@echo hi")
	s.RunAs = protocol.RunAsUser
	res, rec, err := run(t, r, "as-user", s)
	switch {
	case errors.Is(err, ErrNoUser):
		t.Logf("nobody at the console here: %v", err)
	case err != nil:
		t.Skipf("the console user's token cannot be had here (a service on a real Windows can): %v", err)
	case res.Status != protocol.ScriptSucceeded || !strings.Contains(string(rec.joined(t, protocol.StreamStdout)), "hi"):
		t.Errorf("run as the console user got %+v, stdout %q; want succeeded saying hi", res, rec.joined(t, protocol.StreamStdout))
	}
}
