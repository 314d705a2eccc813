package watchdog

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os/exec"
	"sync"
	"time"

	"github.com/steward-rmm/steward/internal/agent/backoff"
	"github.com/steward-rmm/steward/internal/protocol"
)

// Child is one run of the agent process a Supervisor started.
type Child interface {
	PID() int
	// Wait returns when the process has exited, with why.
	Wait() error
	// Terminate asks the process to stop (SIGTERM on Unix; Windows has no
	// such request for a console-less child, so it kills).
	Terminate() error
	Kill() error
}

// Supervisor runs the agent as its child where no service manager does:
// it starts it, restarts it when it exits or stops answering its health
// call, with exponential backoff, and stops it when its context ends.
type Supervisor struct {
	// Start starts one run of the agent (see Command).
	Start func(ctx context.Context) (Child, error)
	// Health is asked every Interval once the child runs; Misses failed
	// answers in a row make the child hung, and it is restarted. Nil means
	// the child is running as long as its process is.
	Health   HealthChecker
	Interval time.Duration
	Restart
	// Report receives every state of the agent (Status.Agent).
	Report func(state, reason string, restarts int)
	Log    *slog.Logger

	kickOnce sync.Once
	kick     chan struct{}
}

// Kick stops the running agent so that it is started again (on the
// binary now in place). Safe from any goroutine.
func (s *Supervisor) Kick() {
	select {
	case s.kicks() <- struct{}{}:
	default: // a kick is already waiting
	}
}

func (s *Supervisor) kicks() chan struct{} {
	s.kickOnce.Do(func() { s.kick = make(chan struct{}, 1) })
	return s.kick
}

// Restart is the restart policy the supervisor and the service-mode
// monitor share.
type Restart struct {
	// Misses failed health answers in a row make the agent hung.
	Misses int
	// Backoff.Ceiling(n) is the delay before the (n+1)th restart in a row;
	// no jitter, since nothing else competes for the restart. The count
	// starts over once the agent has run well (healthy) for ResetAfter.
	Backoff    backoff.Backoff
	ResetAfter time.Duration
	// More than DownAfter restarts in a row (without ResetAfter of good
	// running between them) make the agent "down" rather than
	// "restarting": it crashes as soon as it starts.
	DownAfter int
	// StopTimeout bounds a gentle stop before the kill.
	StopTimeout time.Duration
}

// DefaultRestart is the restart policy of NewSupervisor and NewMonitor:
// health misses for three intervals, restarts 1s doubling to 60s, reset
// after five minutes of good running, 15s for a stop.
func DefaultRestart() Restart {
	return Restart{
		Misses:     DefaultMisses,
		Backoff:    backoff.Backoff{Base: DefaultBackoffBase, Cap: DefaultBackoffCap},
		ResetAfter: DefaultResetAfter, DownAfter: DefaultDownAfter, StopTimeout: DefaultStopTimeout,
	}
}

// Defaults of the restart policy, shared by the supervisor and the
// service-mode monitor.
const (
	DefaultMisses      = 3
	DefaultBackoffBase = time.Second
	DefaultBackoffCap  = time.Minute
	DefaultResetAfter  = 5 * time.Minute
	DefaultDownAfter   = 3
	DefaultStopTimeout = 15 * time.Second
	maxHealthTimeout   = 10 * time.Second
)

// NewSupervisor returns a Supervisor with the default restart policy.
func NewSupervisor(start func(context.Context) (Child, error), health HealthChecker, interval time.Duration,
	report func(state, reason string, restarts int), log *slog.Logger) *Supervisor {
	return &Supervisor{Start: start, Health: health, Interval: interval, Restart: DefaultRestart(), Report: report, Log: log}
}

// Run supervises the agent until ctx is done, then stops it and returns.
func (s *Supervisor) Run(ctx context.Context) {
	restarts := 0 // since the child last ran well: the backoff exponent
	for {
		var reason string
		// A kick that came while no child ran asked for a start on the
		// binary now in place: this start is it.
		select {
		case <-s.kicks():
		default:
		}
		child, err := s.Start(ctx)
		if err != nil {
			reason = fmt.Sprintf("cannot start: %v", err)
			s.Log.Error("cannot start the agent", "err", err)
		} else {
			s.Log.Info("agent started", "pid", child.PID())
			reason = s.watch(ctx, child, &restarts)
		}
		if ctx.Err() != nil {
			return
		}
		delay := s.Backoff.Ceiling(restarts)
		restarts++
		state := protocol.AgentRestarting
		if err != nil || restarts > s.DownAfter {
			state = protocol.AgentDown
		}
		s.Report(state, reason, restarts)
		s.Log.Warn("restarting the agent", "reason", reason, "in", delay, "restarts", restarts)
		if !sleep(ctx, delay) {
			return
		}
	}
}

// watch follows one run of the child until it exits, hangs (then it is
// stopped) or ctx is done (then it is stopped too), and says why it ended.
func (s *Supervisor) watch(ctx context.Context, child Child, restarts *int) string {
	done := make(chan error, 1)
	go func() { done <- child.Wait() }() // received below on every path

	var tick, ranWell <-chan time.Time
	healthy := func() {
		s.Report(protocol.AgentRunning, "", *restarts)
		t := time.NewTimer(s.ResetAfter)
		ranWell = t.C
	}
	if s.Health == nil {
		healthy()
	} else {
		t := time.NewTicker(s.Interval)
		defer t.Stop()
		tick = t.C
	}
	up, misses := s.Health == nil, 0
	for {
		select {
		case err := <-done:
			return exitReason(err)
		case <-ctx.Done():
			s.stop(child, done)
			s.Log.Info("agent stopped", "pid", child.PID())
			return "stopped"
		case <-s.kicks():
			s.stop(child, done)
			return "restarted on request (an update was rolled back)"
		case <-ranWell:
			ranWell = nil
			if *restarts > 0 {
				*restarts = 0
				s.Report(protocol.AgentRunning, "", 0)
			}
		case <-tick:
			err := s.check(ctx)
			switch {
			case err == nil:
				misses = 0
				if !up {
					up = true
					healthy()
				}
			case ctx.Err() != nil:
			default:
				misses++
				s.Log.Warn("the agent did not answer its health call", "pid", child.PID(), "misses", misses, "err", err)
				if misses >= s.Misses {
					reason := fmt.Sprintf("hung: no answer to health for %s: %v", time.Duration(misses)*s.Interval, err)
					s.Report(protocol.AgentHung, reason, *restarts)
					s.stop(child, done)
					return reason
				}
			}
		}
	}
}

// check asks the agent's health, bounded by the check interval.
func (s *Supervisor) check(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, min(s.Interval, maxHealthTimeout))
	defer cancel()
	return s.Health.Health(ctx)
}

// stop terminates the child, kills it after StopTimeout and waits for it.
func (s *Supervisor) stop(child Child, done <-chan error) {
	s.Log.Info("stopping the agent", "pid", child.PID())
	if err := child.Terminate(); err != nil {
		s.Log.Debug("terminate the agent", "pid", child.PID(), "err", err)
	}
	t := time.NewTimer(s.StopTimeout)
	defer t.Stop()
	select {
	case <-done:
		return
	case <-t.C:
	}
	s.Log.Warn("the agent did not stop in time; killing it", "pid", child.PID(), "after", s.StopTimeout)
	if err := child.Kill(); err != nil {
		s.Log.Error("kill the agent", "pid", child.PID(), "err", err)
	}
	<-done
}

// exitReason says in words why a child's Wait returned.
func exitReason(err error) string {
	if err == nil {
		return "exited with status 0"
	}
	return err.Error() // "exit status 2", "signal: killed"
}

// sleep waits d or until ctx is done; it reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// Command returns a Supervisor.Start that runs path with args, its
// standard output and error copied to out a whole line at a time. The
// agent's lines are already log records (slog text on stderr): wrapping
// them in the watchdog's own records would only quote them again.
func Command(path string, args []string, out io.Writer) func(context.Context) (Child, error) {
	return func(context.Context) (Child, error) {
		out := &lineWriter{w: out}
		// Not CommandContext: the supervisor stops the child itself,
		// gently first.
		cmd := exec.Command(path, args...)
		cmd.Stdout, cmd.Stderr = out, out
		// A grandchild that keeps the output pipe open must not keep
		// Wait from returning.
		cmd.WaitDelay = time.Second
		prepare(cmd)
		if err := cmd.Start(); err != nil {
			return nil, fmt.Errorf("start %s: %w", path, err)
		}
		return &execChild{cmd: cmd, out: out}, nil
	}
}

type execChild struct {
	cmd *exec.Cmd
	out *lineWriter
}

func (c *execChild) PID() int { return c.cmd.Process.Pid }
func (c *execChild) Wait() error {
	err := c.cmd.Wait()
	c.out.flush()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		return fmt.Errorf("wait for the agent: %w", err)
	}
	return err
}
func (c *execChild) Terminate() error { return terminate(c.cmd.Process) }
func (c *execChild) Kill() error      { return c.cmd.Process.Kill() }

// maxLine bounds a line of the child's output held before it is written.
const maxLine = 8 << 10

// lineWriter writes what the child prints to w in whole lines, so that
// they do not interleave mid-line with the watchdog's own log. exec copies
// stdout and stderr from two goroutines, hence the lock.
type lineWriter struct {
	w   io.Writer
	mu  sync.Mutex
	buf []byte
}

func (l *lineWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, p...)
	for {
		i := bytes.IndexByte(l.buf, '\n')
		if i < 0 && len(l.buf) < maxLine {
			return len(p), nil
		}
		if i < 0 {
			i = len(l.buf) - 1 // a long line goes out in pieces
		}
		// The watchdog's log failing is no reason to fail the child.
		l.w.Write(l.buf[:i+1])
		l.buf = l.buf[i+1:]
	}
}

// flush writes a last line the child did not end.
func (l *lineWriter) flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.buf) > 0 {
		l.w.Write(append(l.buf, '\n'))
		l.buf = nil
	}
}
