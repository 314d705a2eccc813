//go:build unix

package script

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/steward-rmm/steward/internal/protocol"
)

func TestArgsReachScriptUnchanged(t *testing.T) {
	tests := []struct {
		lang, body string
	}{
		{protocol.LangBash, `for a in "$@"; do printf '%s\0' "$a"; done`},
		{protocol.LangSh, `for a in "$@"; do printf '%s\0' "$a"; done`},
		{protocol.LangPython, "import sys, os\nfor a in sys.argv[1:]:\n    sys.stdout.buffer.write(os.fsencode(a) + b'\\0')\n"},
		{protocol.LangZsh, `for a in "$@"; do printf '%s\0' "$a"; done`},
		{protocol.LangPowerShell, "foreach ($a in $args) { [Console]::Out.Write($a + [char]0) }"},
	}
	r := newRunner(t)
	for _, tt := range tests {
		t.Run(tt.lang, func(t *testing.T) {
			if _, err := r.interpreter(tt.lang); err != nil {
				t.Skipf("not on this machine: %v", err)
			}
			res, rec, err := run(t, r, "args-"+tt.lang, scriptRun(tt.lang, tt.body, tricky...))
			if err != nil || res.Status != protocol.ScriptSucceeded {
				t.Fatalf("Run got %+v, %v; want succeeded", res, err)
			}
			checkArgs(t, rec.joined(t, protocol.StreamStdout), tricky)
		})
	}
}

func TestExitCodes(t *testing.T) {
	tests := []struct {
		body       string
		wantStatus string
		wantCode   int
		wantErr    string
	}{
		{"exit 0", protocol.ScriptSucceeded, 0, ""},
		{"echo oops >&2; exit 3", protocol.ScriptFailed, 3, "exit code 3"},
		{"kill -TERM $$", protocol.ScriptFailed, 143, "ended by the signal terminated"},
	}
	r := newRunner(t)
	for i, tt := range tests {
		res, _, err := run(t, r, "exit-"+strconv.Itoa(i), scriptRun(protocol.LangBash, tt.body))
		if err != nil {
			t.Fatalf("Run(%q): %v", tt.body, err)
		}
		if res.Status != tt.wantStatus || res.ExitCode != tt.wantCode || res.Error != tt.wantErr {
			t.Errorf("Run(%q) got status %s, code %d, error %q; want %s, %d, %q",
				tt.body, res.Status, res.ExitCode, res.Error, tt.wantStatus, tt.wantCode, tt.wantErr)
		}
		if res.StartedAt.IsZero() || res.FinishedAt.Before(res.StartedAt) {
			t.Errorf("Run(%q) got times %v .. %v", tt.body, res.StartedAt, res.FinishedAt)
		}
	}
}

// treeBody starts a background child that would outlive the script,
// writes its pid to $1, and then either waits for it or exits.
const treeBody = `sleep 300 & echo $! > "$1"; `

func TestTimeoutKillsTree(t *testing.T) {
	r := newRunner(t)
	pidFile := filepath.Join(t.TempDir(), "pid")
	s := scriptRun(protocol.LangBash, treeBody+"echo waiting; wait", pidFile)
	s.Timeout = protocol.Duration(2 * time.Second)
	start := time.Now()
	res, rec, err := run(t, r, "timeout", s)
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != protocol.ScriptTimedOut || !strings.Contains(res.Error, "timeout of 2s") {
		t.Errorf("got status %s (%q), want timed_out naming the timeout", res.Status, res.Error)
	}
	if d := time.Since(start); d > 15*time.Second {
		t.Errorf("run took %v, want about its timeout", d)
	}
	if pid := readPID(t, pidFile); alive(pid) {
		t.Errorf("the script's child %s is still running after the timeout", pid)
	}
	if got := string(rec.joined(t, protocol.StreamStdout)); got != "waiting\n" {
		t.Errorf("stdout got %q, want the output before the kill", got)
	}
	if got := runsLeft(t, r); len(got) != 0 {
		t.Errorf("run directories left: %v", got)
	}
}

func TestExitEndsBackgroundChildren(t *testing.T) {
	r := newRunner(t)
	pidFile := filepath.Join(t.TempDir(), "pid")
	start := time.Now()
	res, _, err := run(t, r, "bg", scriptRun(protocol.LangBash, treeBody+"exit 0", pidFile))
	if err != nil || res.Status != protocol.ScriptSucceeded {
		t.Fatalf("got %+v, %v; want succeeded", res, err)
	}
	if d := time.Since(start); d > 15*time.Second {
		t.Errorf("run took %v: it waited for its background child", d)
	}
	if pid := readPID(t, pidFile); alive(pid) {
		t.Errorf("the script's background child %s outlived it", pid)
	}
}

func TestKill(t *testing.T) {
	tests := []struct {
		name    string
		cause   error
		wantErr string
	}{
		{"on request", ErrKilled, "killed on request with its process tree"},
		{"agent stopping", nil, "killed with its process tree: the agent is stopping"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRunner(t)
			pidFile := filepath.Join(t.TempDir(), "pid")
			ctx, cancel := context.WithCancelCause(t.Context())
			rec := &recorder{}
			// Killed once its first output arrives: it is running.
			rec.onOutput = func(protocol.ScriptOutput) { cancel(tt.cause) }
			s := scriptRun(protocol.LangBash, treeBody+"echo running; wait", pidFile)
			res, err := r.Run(ctx, "kill", s, rec.events())
			if err != nil {
				t.Fatal(err)
			}
			if res.Status != protocol.ScriptKilled || res.Error != tt.wantErr {
				t.Errorf("got status %s (%q), want killed (%q)", res.Status, res.Error, tt.wantErr)
			}
			if len(rec.started) != 1 {
				t.Errorf("Started called %d times, want once", len(rec.started))
			}
			if pid := readPID(t, pidFile); alive(pid) {
				t.Errorf("the script's child %s is still running after the kill", pid)
			}
		})
	}
}

func TestOutputCapAndRawBytes(t *testing.T) {
	r := newRunner(t)
	// 100 kB on stdout past a 1000-byte cap, raw bytes on stderr: the
	// script is drained (it finishes) and the streams kept exactly.
	s := scriptRun(protocol.LangBash, `head -c 100000 /dev/zero | tr '\0' x; printf '\377\376\000a\xc3' >&2`)
	s.MaxOutput = 1000
	res, rec, err := run(t, r, "cap", s)
	if err != nil || res.Status != protocol.ScriptSucceeded {
		t.Fatalf("got %+v, %v; want succeeded", res, err)
	}
	if want := (protocol.ScriptStream{Bytes: 1000, Truncated: true}); !reflect.DeepEqual(res.Stdout, want) {
		t.Errorf("stdout got %+v, want %+v", res.Stdout, want)
	}
	wantErr := []byte("\xff\xfe\x00a\xc3")
	if want := (protocol.ScriptStream{Bytes: int64(len(wantErr))}); !reflect.DeepEqual(res.Stderr, want) {
		t.Errorf("stderr got %+v, want %+v", res.Stderr, want)
	}
	if got := rec.joined(t, protocol.StreamStdout); string(got) != strings.Repeat("x", 1000) {
		t.Errorf("streamed stdout got %d bytes, want 1000 x", len(got))
	}
	if got := rec.joined(t, protocol.StreamStderr); !bytes.Equal(got, wantErr) {
		t.Errorf("streamed stderr got %q, want %q", got, wantErr)
	}
	if got := output(t, r, "cap", protocol.StreamStderr, 0); !bytes.Equal(got, wantErr) {
		t.Errorf("kept stderr got %q, want %q", got, wantErr)
	}
	if got := output(t, r, "cap", protocol.StreamStdout, 990); string(got) != strings.Repeat("x", 10) {
		t.Errorf("kept stdout from 990 got %q, want 10 x", got)
	}
	if got := output(t, r, "cap", protocol.StreamStdout, 5000); len(got) != 0 {
		t.Errorf("kept stdout past its end got %d bytes, want none", len(got))
	}
}

func TestOutputStreamsLive(t *testing.T) {
	r := newRunner(t)
	gate := filepath.Join(t.TempDir(), "gate")
	rec := &recorder{}
	// The script writes, then waits for the test to have seen that write:
	// the chunk must arrive while it runs. Then a lot more, in pieces.
	rec.onOutput = func(o protocol.ScriptOutput) {
		if o.Offset == 0 && o.Stream == protocol.StreamStdout {
			os.WriteFile(gate, nil, 0o600)
		}
	}
	body := `echo first; while [ ! -e "$1" ]; do sleep 0.01; done; for i in $(seq 1 2000); do printf '%0100d\n' $i; done`
	res, err := r.Run(t.Context(), "live", scriptRun(protocol.LangBash, body, gate), rec.events())
	if err != nil || res.Status != protocol.ScriptSucceeded {
		t.Fatalf("got %+v, %v; want succeeded", res, err)
	}
	var want bytes.Buffer
	want.WriteString("first\n")
	for i := 1; i <= 2000; i++ {
		want.WriteString(strings.Repeat("0", 100-len(strconv.Itoa(i))) + strconv.Itoa(i) + "\n")
	}
	got := rec.joined(t, protocol.StreamStdout)
	if !bytes.Equal(got, want.Bytes()) {
		t.Errorf("streamed stdout: %d bytes, want %d", len(got), want.Len())
	}
	if res.Stdout.Bytes != int64(want.Len()) || res.Stdout.Truncated {
		t.Errorf("stdout got %+v, want %d bytes", res.Stdout, want.Len())
	}
	if kept := output(t, r, "live", protocol.StreamStdout, 0); !bytes.Equal(kept, want.Bytes()) {
		t.Errorf("kept stdout: %d bytes, want %d", len(kept), want.Len())
	}
}

func TestRunDirectory(t *testing.T) {
	r := newRunner(t)
	t.Setenv("STEWARD_TEST_SERVICE_VAR", "from the service")
	s := scriptRun(protocol.LangSh, `pwd; stat -c %a .; echo "$STEWARD_TEST_SERVICE_VAR|$RUN_VAR"`)
	s.Env = map[string]string{"RUN_VAR": "from the run; 'quoted'"}
	res, rec, err := run(t, r, "dir", s)
	if err != nil || res.Status != protocol.ScriptSucceeded {
		t.Fatalf("got %+v, %v; want succeeded", res, err)
	}
	lines := strings.Split(strings.TrimSpace(string(rec.joined(t, protocol.StreamStdout))), "\n")
	if len(lines) != 3 {
		t.Fatalf("output got %q, want 3 lines", lines)
	}
	if filepath.Dir(lines[0]) != filepath.Join(r.dir, "runs") {
		t.Errorf("working directory %s, want one under %s", lines[0], filepath.Join(r.dir, "runs"))
	}
	if lines[1] != "700" {
		t.Errorf("working directory mode %s, want 700", lines[1])
	}
	if want := "from the service|from the run; 'quoted'"; lines[2] != want {
		t.Errorf("environment got %q, want %q", lines[2], want)
	}
	if _, err := os.Stat(lines[0]); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("run directory %s still there (%v)", lines[0], err)
	}
}

func TestRunAsUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to run a script as another user")
	}
	nobody, err := user.Lookup("nobody")
	if err != nil {
		t.Skipf("no user nobody: %v", err)
	}
	uid, _ := strconv.ParseUint(nobody.Uid, 10, 32)
	r := newRunner(t)
	r.sessionUser = func() (*account, error) { return lookupAccount(uint32(uid)) }
	s := scriptRun(protocol.LangSh, `id -u; echo "$HOME|$USER|$LOGNAME"; pwd; cat "$0" >/dev/null && echo readable`)
	s.RunAs = protocol.RunAsUser
	res, rec, err := run(t, r, "as-user", s)
	if err != nil || res.Status != protocol.ScriptSucceeded {
		t.Fatalf("got %+v, %v; want succeeded (stderr %q)", res, err, rec.joined(t, protocol.StreamStderr))
	}
	lines := strings.Split(strings.TrimSpace(string(rec.joined(t, protocol.StreamStdout))), "\n")
	want := []string{nobody.Uid, nobody.HomeDir + "|nobody|nobody"}
	if len(lines) != 4 || lines[0] != want[0] || lines[1] != want[1] || lines[3] != "readable" {
		t.Fatalf("output got %q, want uid %s, %s, a directory, readable", lines, want[0], want[1])
	}
	if filepath.Dir(lines[2]) != filepath.Clean(os.TempDir()) {
		t.Errorf("run directory %s, want one in %s", lines[2], os.TempDir())
	}
	if _, err := os.Stat(lines[2]); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("run directory %s still there (%v)", lines[2], err)
	}

	r.sessionUser = func() (*account, error) { return nil, ErrNoUser }
	if _, _, err := run(t, r, "no-user", s); !errors.Is(err, ErrNoUser) || !strings.Contains(err.Error(), "nobody is logged in") {
		t.Errorf("Run with nobody logged in got %v, want ErrNoUser", err)
	}
}

func TestCmdOnlyOnWindows(t *testing.T) {
	r := newRunner(t)
	_, _, err := run(t, r, "cmd", scriptRun(protocol.LangCmd, "echo hi"))
	if !errors.Is(err, ErrNoInterpreter) || !strings.Contains(err.Error(), "Windows only") {
		t.Errorf("cmd script got %v, want ErrNoInterpreter for Windows only", err)
	}
}

func TestEscapedChildDoesNotHoldTheRun(t *testing.T) {
	if _, err := exec.LookPath("setsid"); err != nil {
		t.Skip("no setsid here")
	}
	r := newRunner(t)
	pidFile := filepath.Join(t.TempDir(), "pid")
	start := time.Now()
	// A child that leaves the process group keeps stdout open; the run
	// ends all the same, drainGrace after the script.
	res, _, err := run(t, r, "escaped", scriptRun(protocol.LangBash, `setsid sleep 60 & echo $! > "$1"; echo done`, pidFile))
	pid := readPID(t, pidFile)
	if n, err := strconv.Atoi(pid); err == nil {
		t.Cleanup(func() { syscall.Kill(n, syscall.SIGKILL) })
	}
	if err != nil || res.Status != protocol.ScriptSucceeded || res.Stdout.Bytes != int64(len("done\n")) {
		t.Fatalf("got %+v, %v; want succeeded with its output", res, err)
	}
	if d := time.Since(start); d > drainGrace+10*time.Second {
		t.Errorf("run took %v: it waited for the escaped child", d)
	}
}
