package actions

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/steward-rmm/steward/internal/protocol"
)

// helperEnv makes the test binary a sleeper: "sleep" waits until its
// standard input closes; "tree" starts a sleeper below itself, prints its
// PID, and waits the same way.
const helperEnv = "STEWARD_ACTIONS_HELPER"

func TestMain(m *testing.M) {
	runAsService()
	switch os.Getenv(helperEnv) {
	case "sleep":
		io.Copy(io.Discard, os.Stdin)
		os.Exit(0)
	case "tree":
		child := exec.Command(os.Args[0])
		child.Env = append(os.Environ(), helperEnv+"=sleep")
		in, _ := child.StdinPipe()
		if err := child.Start(); err != nil {
			os.Exit(3)
		}
		fmt.Println(child.Process.Pid)
		io.Copy(io.Discard, os.Stdin)
		in.Close()
		child.Wait()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// startHelper starts the test binary as a helper; it ends when the test
// does, whatever the test did to it.
func startHelper(t *testing.T, mode string) (*exec.Cmd, *bufio.Reader) {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), helperEnv+"="+mode)
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		in.Close()
		cmd.Process.Kill()
		cmd.Wait()
	})
	return cmd, bufio.NewReader(out)
}

func testRunner(t *testing.T) *Runner {
	r := New(slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	r.sample = 50 * time.Millisecond
	return r
}

func findProcess(list protocol.ProcessList, pid int) (protocol.ProcessInfo, bool) {
	for _, p := range list.Processes {
		if int(p.PID) == pid {
			return p, true
		}
	}
	return protocol.ProcessInfo{}, false
}

func TestProcessesListAndEnd(t *testing.T) {
	r := testRunner(t)
	sleeper, _ := startHelper(t, "sleep")
	list, err := r.processes(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	got, ok := findProcess(list, sleeper.Process.Pid)
	if !ok {
		t.Fatalf("the sleeper (pid %d) is not among the %d processes listed", sleeper.Process.Pid, len(list.Processes))
	}
	exe := filepath.Base(os.Args[0])
	if got.Name != exe || got.PPID != int32(os.Getpid()) || got.MemoryBytes == 0 || got.StartedAt.IsZero() ||
		!strings.Contains(got.CommandLine, exe) {
		t.Errorf("sleeper listed as %+v, want name %s, ppid %d, memory, start time and command line", got, exe, os.Getpid())
	}
	if got.StartedAt.After(time.Now()) || time.Since(got.StartedAt) > time.Hour {
		t.Errorf("sleeper started at %v, want about now", got.StartedAt)
	}

	_, err = r.endProcess(t.Context(), protocol.ProcessEnd{PID: got.PID, Name: "other.exe"})
	if err == nil || !strings.Contains(err.Error(), "reused") {
		t.Fatalf("end with the wrong name: err %v, want a refusal that says the PID may be reused", err)
	}
	ended, err := r.endProcess(t.Context(), protocol.ProcessEnd{PID: got.PID, Name: got.Name})
	if err != nil {
		t.Fatal(err)
	}
	if ended.Ended != 1 || ended.Name != got.Name {
		t.Errorf("ended %+v, want 1 process named %s", ended, got.Name)
	}
	// Wait returns once the process is gone: it was ended, not left.
	if err := sleeper.Wait(); err == nil {
		t.Errorf("the sleeper exited cleanly; want it killed")
	}
}

func TestProcessEndTree(t *testing.T) {
	r := testRunner(t)
	parent, out := startHelper(t, "tree")
	line, err := out.ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	child, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil {
		t.Fatal(err)
	}
	name := filepath.Base(os.Args[0])
	ended, err := r.endProcess(t.Context(), protocol.ProcessEnd{PID: int32(parent.Process.Pid), Name: name, Tree: true})
	if err != nil {
		t.Fatal(err)
	}
	if ended.Ended != 2 {
		t.Errorf("ended %d processes, want 2 (the helper and its child %d)", ended.Ended, child)
	}
	parent.Wait()
}

func TestProcessEndRefused(t *testing.T) {
	r := testRunner(t)
	for _, tc := range []struct {
		name string
		req  protocol.ProcessEnd
	}{
		{"the agent itself", protocol.ProcessEnd{PID: int32(os.Getpid()), Name: filepath.Base(os.Args[0])}},
		{"a system process", protocol.ProcessEnd{PID: 1, Name: "init"}},
	} {
		_, err := r.endProcess(t.Context(), tc.req)
		if !errors.Is(err, errProtected) {
			t.Errorf("%s: err %v, want a refusal", tc.name, err)
		}
	}
	if _, err := r.endProcess(t.Context(), protocol.ProcessEnd{PID: 1 << 30, Name: "gone"}); err == nil {
		t.Errorf("ending a PID that does not exist worked")
	}
}

func TestProcessesCancelled(t *testing.T) {
	r := testRunner(t)
	r.sample = time.Hour
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := r.processes(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("processes on a cancelled context: err %v, want context.Canceled", err)
	}
}
