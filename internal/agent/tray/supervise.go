package tray

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"time"
)

// ExitHidden is the UI child's exit code when the policy turned the icon
// off after it was shown: the parent starts a new child at once, which
// waits without an icon until the policy turns it on again. Every tray
// library keeps its icon until its process ends, so this is how it goes.
const ExitHidden = 11

// Supervisor runs the tray UI as a child process of the same binary and
// keeps it running: a crashed child (a panic in any goroutine, which no
// recover can catch) is restarted with backoff, at most MaxRestarts times
// per Window; a new binary on disk (an agent update) restarts the child on
// it, so the tray always shows the agent's version. The child's output goes
// to Output, the log file, so a crash leaves its stack there.
type Supervisor struct {
	Args   []string  // the child's command line; Args[0] is the binary, watched for updates
	Env    []string  // the child's environment; nil for the parent's
	Output io.Writer // the child's standard output and error
	Log    *slog.Logger

	MaxRestarts int           // crashes restarted per Window; then it waits; default 5
	Window      time.Duration // default one hour
	Backoff     time.Duration // the delay after a first crash, doubled for each next one up to a minute; default 1s
	CheckEvery  time.Duration // how often the binary is checked; default 5s
	StopTimeout time.Duration // how long a child has to quit before it is killed; default 5s
}

func (s *Supervisor) defaults() {
	if s.MaxRestarts == 0 {
		s.MaxRestarts = 5
	}
	if s.Window <= 0 {
		s.Window = time.Hour
	}
	if s.Backoff <= 0 {
		s.Backoff = time.Second
	}
	if s.CheckEvery <= 0 {
		s.CheckEvery = 5 * time.Second
	}
	if s.StopTimeout <= 0 {
		s.StopTimeout = 5 * time.Second
	}
}

// binaryID tells one build of a file from another without reading it.
type binaryID struct {
	size int64
	mod  time.Time
}

func statBinary(path string) binaryID {
	fi, err := os.Stat(path)
	if err != nil {
		// Mid-update the file can be missing for a moment: that is not a
		// change yet, the new file will be.
		return binaryID{}
	}
	return binaryID{fi.Size(), fi.ModTime()}
}

// Run supervises the child until ctx ends, then stops it (closing its
// standard input asks it to quit) and returns nil. It returns an error
// only when the child cannot be started at all.
func (s *Supervisor) Run(ctx context.Context) error {
	s.defaults()
	if len(s.Args) == 0 {
		return errors.New("supervise the tray: no command")
	}
	tick := time.NewTicker(s.CheckEvery)
	defer tick.Stop()
	bin := statBinary(s.Args[0])
	// changed reports a new binary, and takes it as the current one.
	changed := func() bool {
		now := statBinary(s.Args[0])
		if now == (binaryID{}) || now == bin {
			return false
		}
		bin = now
		return true
	}
	var crashes []time.Time
	for {
		code, reason, err := s.runChild(ctx, tick.C, changed)
		if err != nil {
			return err
		}
		switch {
		case ctx.Err() != nil:
			return nil
		case reason != "":
			s.Log.Info("restarting the tray UI", "reason", reason)
			continue
		case code == ExitHidden:
			s.Log.Info("the tray icon is turned off by policy; waiting for it in a new UI process")
			continue
		}
		now := time.Now()
		kept := crashes[:0]
		for _, c := range crashes {
			if now.Sub(c) < s.Window {
				kept = append(kept, c)
			}
		}
		crashes = append(kept, now)
		var wait time.Duration
		if len(crashes) > s.MaxRestarts {
			wait = crashes[0].Add(s.Window).Sub(now)
			s.Log.Error("tray restart limit reached; waiting before the next start",
				"crashes", len(crashes), "window", s.Window, "wait", wait.Round(time.Second), "exit_code", code)
		} else {
			wait = min(s.Backoff<<(len(crashes)-1), time.Minute)
			s.Log.Warn("the tray UI exited; restarting", "exit_code", code, "crashes", len(crashes), "delay", wait)
		}
		if s.pause(ctx, wait, tick.C, changed) {
			// An update may be the fix for the crash: start it at once.
			crashes = nil
			s.Log.Info("restarting the tray UI", "reason", "the agent binary changed")
		}
		if ctx.Err() != nil {
			return nil
		}
	}
}

// pause waits for d, ctx or a changed binary; it reports the latter.
func (s *Supervisor) pause(ctx context.Context, d time.Duration, tick <-chan time.Time, changed func() bool) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
			return false
		case <-tick:
			if changed() {
				return true
			}
		}
	}
}

// runChild starts the child and waits for it to exit, for ctx to end or
// for the binary to change (then it stops the child and returns the
// reason). code is the child's exit code (-1 when killed by a signal).
func (s *Supervisor) runChild(ctx context.Context, tick <-chan time.Time, changed func() bool) (code int, reason string, err error) {
	cmd := exec.Command(s.Args[0], s.Args[1:]...)
	cmd.Env = s.Env
	cmd.Stdout, cmd.Stderr = s.Output, s.Output
	// The child quits when its standard input closes: when the parent asks,
	// and when the parent dies, whatever killed it.
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return 0, "", fmt.Errorf("tray UI stdin: %w", err)
	}
	hideWindow(cmd)
	if err := cmd.Start(); err != nil {
		return 0, "", fmt.Errorf("start the tray UI: %w", err)
	}
	s.Log.Info("tray UI started", "pid", cmd.Process.Pid)
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()

	for reason == "" {
		select {
		case err := <-exited:
			return exitCode(err), "", nil
		case <-ctx.Done():
			reason = "stopping"
		case <-tick:
			if changed() {
				reason = "the agent binary changed"
			}
		}
	}
	stdin.Close()
	t := time.NewTimer(s.StopTimeout)
	defer t.Stop()
	select {
	case err := <-exited:
		return exitCode(err), reason, nil
	case <-t.C:
		s.Log.Warn("the tray UI did not quit; killing it", "pid", cmd.Process.Pid)
		cmd.Process.Kill()
		return exitCode(<-exited), reason, nil
	}
}

func exitCode(err error) int {
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.ExitCode()
	default:
		return -1
	}
}

// WatchParent returns a context that ends when r (the UI child's standard
// input, a pipe from the Supervisor) reaches its end: the parent asked the
// child to quit, or died. The reading goroutine ends with the pipe.
func WatchParent(ctx context.Context, r io.Reader) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(ctx)
	go func() {
		defer cancel()
		_, _ = io.Copy(io.Discard, r)
	}()
	return ctx, cancel
}
