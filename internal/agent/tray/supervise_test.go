package tray

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// The supervisor tests run real child processes: this test binary again,
// with STEWARD_TRAY_HELPER naming what the child does. Each child appends
// a line to STEWARD_TRAY_HELPER_FILE when it starts and when it quits.
func TestHelperProcess(t *testing.T) {
	mode := os.Getenv("STEWARD_TRAY_HELPER")
	if mode == "" {
		t.Skip("helper process for the supervisor tests")
	}
	if mode == "ui" {
		runUIHelper()
	}
	file := os.Getenv("STEWARD_TRAY_HELPER_FILE")
	mark := func(s string) {
		f, err := os.OpenFile(file, os.O_APPEND|os.O_WRONLY|os.O_CREATE, 0o600)
		if err != nil {
			os.Exit(50)
		}
		fmt.Fprintln(f, s)
		f.Close()
	}
	starts := strings.Count(readFile(file), "start")
	mark("start")
	switch {
	case mode == "panic":
		// A panic in a goroutine other than main, as a tray library's
		// would be: nothing in the process can recover it.
		go func() { panic("boom in the tray UI") }()
		select {}
	case mode == "hidden-once" && starts == 0:
		os.Exit(ExitHidden)
	}
	ctx, cancel := WatchParent(context.Background(), os.Stdin)
	defer cancel()
	<-ctx.Done()
	mark("stopped")
	os.Exit(0)
}

func readFile(name string) string {
	b, _ := os.ReadFile(name)
	return string(b)
}

// syncBuffer is the children's output, written by exec's copy goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// msgHandler passes every log message to a channel, for tests to wait on.
type msgHandler struct{ c chan string }

func (h msgHandler) Enabled(context.Context, slog.Level) bool      { return true }
func (h msgHandler) Handle(_ context.Context, r slog.Record) error { h.c <- r.Message; return nil }
func (h msgHandler) WithAttrs([]slog.Attr) slog.Handler            { return h }
func (h msgHandler) WithGroup(string) slog.Handler                 { return h }

type superviseRun struct {
	s      *Supervisor
	file   string
	out    *syncBuffer
	msgs   chan string
	cancel context.CancelFunc
	done   chan error
}

func startSupervisor(t *testing.T, mode string, configure func(*Supervisor)) *superviseRun {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	// A copy of the test binary, so that a test can replace it.
	bin := filepath.Join(dir, "tray-child"+filepath.Ext(exe))
	b, err := os.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, b, 0o700); err != nil {
		t.Fatal(err)
	}
	r := &superviseRun{file: filepath.Join(dir, "marks"), out: &syncBuffer{}, msgs: make(chan string, 1000), done: make(chan error, 1)}
	r.s = &Supervisor{
		Args:   []string{bin, "-test.run=^TestHelperProcess$"},
		Env:    append(os.Environ(), "STEWARD_TRAY_HELPER="+mode, "STEWARD_TRAY_HELPER_FILE="+r.file),
		Output: r.out,
		Log:    slog.New(msgHandler{r.msgs}),
		// Tests wait for conditions; these only keep them short.
		Backoff: time.Millisecond, CheckEvery: 10 * time.Millisecond, StopTimeout: 30 * time.Second,
	}
	if configure != nil {
		configure(r.s)
	}
	ctx, cancel := context.WithCancel(t.Context())
	r.cancel = cancel
	go func() { r.done <- r.s.Run(ctx) }()
	t.Cleanup(func() { r.stop(t) })
	return r
}

// waitLog waits for a log message with the prefix, failing on timeout.
func (r *superviseRun) waitLog(t *testing.T, prefix string) {
	t.Helper()
	timeout := time.After(60 * time.Second)
	for {
		select {
		case m := <-r.msgs:
			if strings.HasPrefix(m, prefix) {
				return
			}
		case <-timeout:
			t.Fatalf("no log message %q; child output:\n%s", prefix, r.out.String())
		}
	}
}

// waitMarks waits until the marks file holds n lines of s.
func (r *superviseRun) waitMarks(t *testing.T, s string, n int) {
	t.Helper()
	timeout := time.After(60 * time.Second)
	poll := time.NewTicker(5 * time.Millisecond)
	defer poll.Stop()
	for strings.Count(readFile(r.file), s) < n {
		select {
		case <-poll.C: // the children write the file: look again
		case <-timeout:
			t.Fatalf("marks %q, want %d %q", readFile(r.file), n, s)
		}
	}
}

func (r *superviseRun) stop(t *testing.T) {
	t.Helper()
	if r.cancel == nil {
		return
	}
	r.cancel()
	r.cancel = nil
	if err := <-r.done; err != nil {
		t.Errorf("Run: %v", err)
	}
}

func TestSuperviseRestartsCrashesWithABound(t *testing.T) {
	r := startSupervisor(t, "panic", func(s *Supervisor) { s.MaxRestarts = 3 })
	r.waitLog(t, "tray restart limit reached")
	r.stop(t)
	// The first start and three restarts; the fifth start waits for the hour.
	if got := strings.Count(readFile(r.file), "start"); got != 4 {
		t.Errorf("child started %d times, want 4", got)
	}
	if out := r.out.String(); strings.Count(out, "panic: boom in the tray UI") != 4 {
		t.Errorf("log holds %d panics, want 4:\n%s", strings.Count(out, "panic: boom"), out)
	}
}

func TestSuperviseRestartsOnNewBinary(t *testing.T) {
	r := startSupervisor(t, "wait", func(s *Supervisor) { s.MaxRestarts = -1 })
	r.waitMarks(t, "start", 1)
	// An update moves the running binary aside (Windows allows no more)
	// and the new one into its place.
	bin := r.s.Args[0]
	b, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	tmp := bin + ".new"
	if err := os.WriteFile(tmp, append(b, 0), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(bin, bin+".old"); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, bin); err != nil {
		t.Fatal(err)
	}
	r.waitMarks(t, "start", 2)
	// The old child quit cleanly when asked (its stdin closed), and the
	// restart was not taken as a crash (MaxRestarts -1 allows none).
	if got := readFile(r.file); got != "start\nstopped\nstart\n" {
		t.Errorf("marks %q, want start, stopped, start", got)
	}
	r.stop(t)
	if got := readFile(r.file); got != "start\nstopped\nstart\nstopped\n" {
		t.Errorf("after stop marks %q, want the second child stopped too", got)
	}
}

func TestSuperviseHiddenIsNotACrash(t *testing.T) {
	r := startSupervisor(t, "hidden-once", func(s *Supervisor) { s.MaxRestarts = -1 })
	r.waitMarks(t, "start", 2)
	r.stop(t)
	if got := readFile(r.file); got != "start\nstart\nstopped\n" {
		t.Errorf("marks %q, want a hidden exit, a second start and a clean stop", got)
	}
}
