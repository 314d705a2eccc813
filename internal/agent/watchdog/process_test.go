package watchdog

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/steward-rmm/steward/internal/agent/backoff"
	"github.com/steward-rmm/steward/internal/protocol"
)

// childEnv makes the test binary a child that answers a health call over
// loopback TCP (the IPC channel's stand-in) until told to hang.
const childEnv = "STEWARD_WATCHDOG_TEST_CHILD"

func TestMain(m *testing.M) {
	if dir := os.Getenv(childEnv); dir != "" {
		os.Exit(healthChild(dir))
	}
	if code, ok := serviceMain(); ok { // Windows: started by the SCM
		os.Exit(code)
	}
	os.Exit(m.Run())
}

// healthChild writes "pid addr" to dir/current and answers "ok" to every
// connection, except while dir/hang-<pid> exists: then it reads and never
// answers, like a hung agent.
func healthChild(dir string) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	pid := os.Getpid()
	tmp := filepath.Join(dir, fmt.Sprintf("current.%d", pid))
	if err := os.WriteFile(tmp, fmt.Appendf(nil, "%d %s", pid, ln.Addr()), 0o644); err != nil {
		return 1
	}
	if err := os.Rename(tmp, filepath.Join(dir, "current")); err != nil {
		return 1
	}
	fmt.Fprintf(os.Stderr, "child %d listening\n", pid)
	for {
		c, err := ln.Accept()
		if err != nil {
			return 1
		}
		go func() {
			defer c.Close()
			if _, err := os.Stat(filepath.Join(dir, fmt.Sprintf("hang-%d", pid))); err == nil {
				bufio.NewReader(c).ReadString('\n') // until the caller gives up
				return
			}
			c.Write([]byte("ok\n"))
		}()
	}
}

// current reads the pid and address the newest child wrote.
func current(dir string) (pid int, addr string, err error) {
	b, err := os.ReadFile(filepath.Join(dir, "current"))
	if err != nil {
		return 0, "", err
	}
	p, a, _ := strings.Cut(string(b), " ")
	pid, err = strconv.Atoi(p)
	return pid, a, err
}

// childHealth asks the newest child for "ok".
func childHealth(dir string) HealthFunc {
	return func(ctx context.Context) error {
		_, addr, err := current(dir)
		if err != nil {
			return err
		}
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return err
		}
		defer c.Close()
		if dl, ok := ctx.Deadline(); ok {
			c.SetDeadline(dl)
		}
		line, err := bufio.NewReader(c).ReadString('\n')
		if err != nil {
			return fmt.Errorf("no answer: %w", err)
		}
		if line != "ok\n" {
			return fmt.Errorf("answer %q", line)
		}
		return nil
	}
}

// waitUntil waits until cond holds, checking it every few milliseconds,
// or fails when the test's deadline comes.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-tick.C:
		case <-t.Context().Done():
			t.Fatalf("gave up waiting until %s", what)
		}
	}
}

// TestSupervisorRealChild runs real child processes: one killed is
// started again, one that stops answering its health call is stopped and
// started again, and cancelling the supervisor stops the last one.
func TestSupervisorRealChild(t *testing.T) {
	dir := t.TempDir()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv(childEnv, dir) // inherited by the children only: TestMain ran
	rec := &recorder{}
	var logMu sync.Mutex
	var logged strings.Builder
	log := testLogger(&logMu, &logged)
	s := NewSupervisor(Command(exe, nil, lockedWriter{&logMu, &logged}), childHealth(dir), 300*time.Millisecond, rec.report, log)
	s.Backoff = backoff.Backoff{Base: 10 * time.Millisecond, Cap: 100 * time.Millisecond}
	s.StopTimeout = 5 * time.Second
	stop := background(t, s.Run)

	running := func(n int) func() bool {
		return func() bool {
			rec.mu.Lock()
			defer rec.mu.Unlock()
			c := 0
			for _, h := range rec.reports {
				if h.State == protocol.AgentRunning {
					c++
				}
			}
			return c >= n
		}
	}
	waitUntil(t, "the first child answers", running(1))
	first, _, err := current(dir)
	if err != nil {
		t.Fatal(err)
	}

	// Killed: started again.
	p, err := os.FindProcess(first)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Kill(); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "a second child answers", running(2))
	second, _, _ := current(dir)
	if second == first {
		t.Fatalf("pid %d after the kill, want a new one", second)
	}

	// Hung: stopped and started again.
	if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("hang-%d", second)), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "a third child answers", running(3))
	third, _, _ := current(dir)
	if third == second {
		t.Fatalf("pid %d after the hang, want a new one", third)
	}
	waitUntil(t, "the hung child is gone", func() bool { return !processAlive(second) })

	stop()
	if processAlive(third) {
		t.Errorf("child %d still runs after the supervisor stopped", third)
	}
	want := []string{"running", "restarting", "running", "hung", "restarting", "running"}
	if got := rec.states(); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("states %q, want %q", got, want)
	}
	logMu.Lock()
	defer logMu.Unlock()
	if !strings.Contains(logged.String(), fmt.Sprintf("child %d listening", third)) {
		t.Errorf("the child's output is not in the log:\n%s", logged.String())
	}
}

func TestCommandStartFails(t *testing.T) {
	_, err := Command(filepath.Join(t.TempDir(), "missing"), nil, io.Discard)(t.Context())
	if !errors.Is(err, os.ErrNotExist) && !errors.Is(err, exec.ErrNotFound) {
		t.Errorf("start of a missing program: %v, want not found", err)
	}
}

// TestProcessAlive checks a live, an ended and an impossible process;
// on Windows through OpenProcess and GetExitCodeProcess.
func TestProcessAlive(t *testing.T) {
	if !processAlive(os.Getpid()) {
		t.Error("processAlive(own pid) = false")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), childEnv+"="+dir)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	waitUntil(t, "the child listens", func() bool { p, _, _ := current(dir); return p == pid })
	if !processAlive(pid) {
		t.Errorf("processAlive(%d) = false while it runs", pid)
	}
	if err := killPID(pid); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	if processAlive(pid) {
		t.Errorf("processAlive(%d) = true after it was killed", pid)
	}
	if processAlive(0) || processAlive(-1) {
		t.Error("processAlive of a non-pid = true")
	}
}
