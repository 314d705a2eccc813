package release

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// lockHelperEnv makes the test binary a lock holder (TestLockHelper): it
// takes the lock at the path the variable names, says "locked", and waits
// until its standard input closes or it is killed.
const lockHelperEnv = "STEWARD_TEST_LOCK_HOLDER"

func TestLockHelper(t *testing.T) {
	path := os.Getenv(lockHelperEnv)
	if path == "" {
		t.Skip("helper process for TestLockAcrossProcesses")
	}
	l, err := AcquireLock(path)
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(3)
	}
	fmt.Println("locked")
	bufio.NewReader(os.Stdin).ReadString('\n')
	l.Release()
	os.Exit(0)
}

// holdLock starts a process holding the lock at path and returns it once
// it holds it.
func holdLock(t *testing.T, path string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestLockHelper$")
	cmd.Env = append(os.Environ(), lockHelperEnv+"="+path)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stdin.Close(); cmd.Process.Kill(); cmd.Wait() })
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if strings.TrimSpace(line) != "locked" {
		t.Fatalf("lock holder said %q, %v; want locked", line, err)
	}
	return cmd
}

// TestLockAcrossProcesses: while one process holds the lock, a second
// refuses, naming the holder's PID; once the holder is killed (no chance
// to clean up), the next run takes the lock.
func TestLockAcrossProcesses(t *testing.T) {
	path := filepath.Join(t.TempDir(), LockFile)
	proc := holdLock(t, path)

	_, err := AcquireLock(path)
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("AcquireLock while another process holds it: %v; want ErrLocked", err)
	}
	if pid := strconv.Itoa(proc.Process.Pid); !strings.Contains(err.Error(), "PID "+pid) {
		t.Errorf("refusal %q does not name the holder's PID %s", err, pid)
	}

	if err := proc.Process.Kill(); err != nil { // SIGKILL on Unix, TerminateProcess on Windows
		t.Fatal(err)
	}
	proc.Wait()
	l, err := AcquireLock(path)
	if err != nil {
		t.Fatalf("AcquireLock after the holder was killed: %v", err)
	}
	// Read as another process would (on Windows the holder shares reads
	// only with openers that allow its delete-on-close).
	if got, want := holder(path), strconv.Itoa(os.Getpid()); got != want {
		t.Errorf("lock file holds %q, want our PID %s", got, want)
	}
	if err := l.Release(); err != nil {
		t.Fatalf("Release: %v", err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("lock file after Release: %v; want it gone", err)
	}
}

// TestLockReleasedHandsOver: a lock released normally is free for the
// next process, and one process cannot take its own lock twice.
func TestLockReleasedHandsOver(t *testing.T) {
	path := filepath.Join(t.TempDir(), LockFile)
	l, err := AcquireLock(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := AcquireLock(path); !errors.Is(err, ErrLocked) {
		t.Errorf("second AcquireLock in the same process: %v; want ErrLocked", err)
	}
	if err := l.Release(); err != nil {
		t.Fatal(err)
	}
	proc := holdLock(t, path)
	if _, err := AcquireLock(path); !errors.Is(err, ErrLocked) {
		t.Errorf("AcquireLock after handing over: %v; want ErrLocked", err)
	}
	proc.Process.Kill()
}

// TestLockStaleFile: a lock file a crashed run left behind (PID of a
// process long gone) does not block.
func TestLockStaleFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), LockFile)
	if err := os.WriteFile(path, []byte("999999\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	l, err := AcquireLock(path)
	if err != nil {
		t.Fatalf("AcquireLock over a stale file: %v", err)
	}
	l.Release()
}
