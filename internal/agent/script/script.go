// Package script runs the scripts the server sends (protocol.ScriptRun):
// each in a fresh private directory, with the interpreter its language
// names, its arguments as an argument vector, its whole process tree
// killed when the timeout passes or on request, and its output streamed
// live and kept in a spool so that it can be sent again from an offset.
package script

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"time"

	"github.com/steward-rmm/steward/internal/protocol"
)

// Errors a run may end with before its script started.
var (
	// ErrNoInterpreter: the language's interpreter is not on this machine.
	ErrNoInterpreter = errors.New("no interpreter")
	// ErrNoUser: the script runs as the logged-in user and nobody is.
	ErrNoUser = errors.New("nobody is logged in")
	// ErrNoOutput: the output asked for is not kept (any more).
	ErrNoOutput = errors.New("the output of this run is not kept on the agent")
	// ErrKilled is the cause to cancel a run's context with to kill it on
	// request: the run then ends as protocol.ScriptKilled.
	ErrKilled = errors.New("killed on request")
)

// Bounds of a run's end.
const (
	// drainGrace is how long the output pipes may stay open after the
	// process tree is gone (a process that left the tree may hold them);
	// then they are closed and what is unread is lost.
	drainGrace = 2 * time.Second
	// goneWait bounds the wait for a killed tree to be gone.
	goneWait = 10 * time.Second
)

// Events are called while a script runs, from the run's own goroutines:
// Started once the process exists, Output for each chunk of output in
// stream order (the chunks of one stream one after the other; stdout and
// stderr concurrently). Neither may block long: the output pipes are not
// read meanwhile. Either may be nil.
type Events struct {
	Started func(at time.Time)
	Output  func(o protocol.ScriptOutput)
}

// Runner runs scripts. Its directory holds the runs' temporary directories
// (runs/) and the output spool (output/); both are readable by the agent's
// user only. Create it with New; it is safe for concurrent use.
type Runner struct {
	dir   string
	log   *slog.Logger
	spool *spool
	// sessionUser finds the user of the active session (RunAsUser);
	// replaced in tests.
	sessionUser func() (*account, error)
	// lookPath finds an executable; replaced in tests.
	lookPath func(name string) (string, error)
}

// New returns a Runner keeping its files under dir, created if needed.
// Run directories an earlier process left behind (it crashed or was
// killed mid-run) are removed; the spool keeps what it can (see spool).
func New(dir string, log *slog.Logger) (*Runner, error) {
	for _, d := range []string{dir, filepath.Join(dir, "runs"), filepath.Join(dir, "output")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("script directory: %w", err)
		}
		if err := restrictDir(d); err != nil {
			return nil, fmt.Errorf("script directory: %w", err)
		}
	}
	runs := filepath.Join(dir, "runs")
	if left, err := os.ReadDir(runs); err == nil {
		for _, e := range left {
			if err := os.RemoveAll(filepath.Join(runs, e.Name())); err != nil {
				log.Warn("cannot remove a script directory left by an earlier run", "path", e.Name(), "err", err)
			}
		}
	}
	sp, err := openSpool(filepath.Join(dir, "output"), log)
	if err != nil {
		return nil, err
	}
	return &Runner{dir: dir, log: log, spool: sp, sessionUser: sessionUser, lookPath: findExecutable}, nil
}

// Run runs s as the command id and returns how it ended. ctx cancelled
// with the cause ErrKilled kills the run as asked (ScriptKilled); cancelled
// otherwise (the agent stops) it kills it too and says so in the result's
// Error. An error means the script never started: no interpreter, nobody
// to run as, or this machine could not create its files or process.
func (r *Runner) Run(ctx context.Context, id string, s protocol.ScriptRun, ev Events) (protocol.ScriptResult, error) {
	lang, err := r.interpreter(s.Language)
	if err != nil {
		return protocol.ScriptResult{}, err
	}
	var as *account
	if s.RunAs == protocol.RunAsUser {
		if as, err = r.sessionUser(); err != nil {
			return protocol.ScriptResult{}, fmt.Errorf("run as the logged-in user: %w", err)
		}
		defer as.close()
	}
	dir, file, err := r.prepare(id, s, lang, as)
	if err != nil {
		return protocol.ScriptResult{}, err
	}
	defer func() {
		if err := os.RemoveAll(dir); err != nil {
			r.log.Warn("cannot remove a script's directory", "command_id", id, "path", dir, "err", err)
		}
	}()
	cmd := exec.Command(lang.path)
	if err := lang.command(cmd, file, s.Args); err != nil {
		return protocol.ScriptResult{}, err
	}
	cmd.Dir = dir
	cmd.Env = environ(s.Env, as)
	if err := as.apply(cmd); err != nil {
		return protocol.ScriptResult{}, err
	}

	out, err := r.spool.create(id)
	if err != nil {
		return protocol.ScriptResult{}, err
	}
	defer r.spool.finish(id)
	streams := [2]*stream{
		{name: protocol.StreamStdout, id: id, file: out[0], cap: s.OutputCap(), emit: ev.Output, log: r.log},
		{name: protocol.StreamStderr, id: id, file: out[1], cap: s.OutputCap(), emit: ev.Output, log: r.log},
	}
	defer func() {
		for _, st := range streams {
			st.file.Close()
		}
	}()
	var writers [2]*os.File
	for i, st := range streams {
		rd, wr, err := os.Pipe()
		if err != nil {
			return protocol.ScriptResult{}, fmt.Errorf("output pipe: %w", err)
		}
		defer rd.Close()
		defer wr.Close()
		st.pipe, writers[i] = rd, wr
	}
	cmd.Stdout, cmd.Stderr = writers[0], writers[1]

	t, err := startTree(cmd)
	if err != nil {
		return protocol.ScriptResult{}, fmt.Errorf("start %s: %w", lang.path, err)
	}
	defer t.close()
	started := time.Now().UTC()
	// Only the script holds the write ends now: the pipes end when it
	// and its children do.
	writers[0].Close()
	writers[1].Close()
	if ev.Started != nil {
		ev.Started(started)
	}

	var readers sync.WaitGroup
	for _, st := range streams {
		readers.Go(st.read)
	}
	ended, waitErr := r.supervise(ctx, id, cmd, t, time.Duration(s.Timeout))
	finished := time.Now().UTC()
	drain(&readers, streams)

	res := protocol.ScriptResult{
		StartedAt: started, FinishedAt: finished,
		Stdout: streams[0].result(), Stderr: streams[1].result(),
	}
	res.ExitCode, res.Status, res.Error = outcome(cmd.ProcessState, waitErr)
	switch {
	case ended == nil:
	case errors.Is(ended, ErrKilled):
		res.Status, res.Error = protocol.ScriptKilled, "killed on request with its process tree"
	case errors.Is(ended, context.Canceled) || errors.Is(ended, context.DeadlineExceeded):
		res.Status, res.Error = protocol.ScriptKilled, "killed with its process tree: the agent is stopping"
	default:
		res.Status, res.Error = protocol.ScriptTimedOut, "killed with its process tree: "+ended.Error()
	}
	return res, nil
}

// supervise waits for the script to exit, the timeout to pass or ctx to
// end, then kills what is left of its tree and waits for it to be gone.
// ended says why the tree was killed, nil when the script exited first.
func (r *Runner) supervise(ctx context.Context, id string, cmd *exec.Cmd, t *tree, timeout time.Duration) (ended, waitErr error) {
	exited := make(chan error, 1)
	var waiter sync.WaitGroup
	waiter.Go(func() { exited <- cmd.Wait() })
	defer waiter.Wait()

	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case waitErr = <-exited:
	case <-timer.C:
		ended = fmt.Errorf("the timeout of %v passed", timeout)
	case <-ctx.Done():
		ended = context.Cause(ctx)
	}
	// Whatever the script left running ends with it.
	if err := t.kill(); err != nil {
		r.log.Warn("cannot kill a script's process tree", "command_id", id, "err", err)
	}
	if ended != nil {
		waitErr = <-exited
	}
	gctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), goneWait)
	defer cancel()
	if err := t.waitGone(gctx); err != nil {
		r.log.Warn("a script's processes are still there after being killed", "command_id", id, "err", err)
	}
	return ended, waitErr
}

// drain waits for the output readers to reach the end of their pipes.
// Something outside the tree (it left its process group) may hold a pipe
// open: after drainGrace reading stops. (On Windows the job object leaves
// no such process, and pipes take no deadline.)
func drain(readers *sync.WaitGroup, streams [2]*stream) {
	drained := make(chan struct{})
	go func() { readers.Wait(); close(drained) }()
	select {
	case <-drained:
	case <-time.After(drainGrace):
		for _, st := range streams {
			st.pipe.SetReadDeadline(time.Now())
		}
		<-drained
	}
}

// outcome is the exit code, status and explanation of an exited process.
func outcome(ps *os.ProcessState, waitErr error) (code int, status, msg string) {
	if ps == nil {
		return -1, protocol.ScriptFailed, fmt.Sprintf("wait: %v", waitErr)
	}
	if sigCode, sig, ok := signaled(ps); ok {
		return sigCode, protocol.ScriptFailed, "ended by the signal " + sig
	}
	code = ps.ExitCode()
	if code == 0 {
		return 0, protocol.ScriptSucceeded, ""
	}
	return code, protocol.ScriptFailed, fmt.Sprintf("exit code %d", code)
}

// prepare creates the run's private directory and writes the body into
// it; it returns the directory and the script's path.
func (r *Runner) prepare(id string, s protocol.ScriptRun, lang interp, as *account) (dir, file string, err error) {
	base := filepath.Join(r.dir, "runs")
	if as.other() {
		base = userRunsDir(base)
	}
	dir, err = os.MkdirTemp(base, "steward-run-")
	if err != nil {
		return "", "", fmt.Errorf("script directory: %w", err)
	}
	fail := func(err error) (string, string, error) {
		os.RemoveAll(dir)
		return "", "", err
	}
	if err := restrictDir(dir); err != nil {
		return fail(fmt.Errorf("script directory: %w", err))
	}
	file = filepath.Join(dir, "script"+lang.ext)
	if err := os.WriteFile(file, []byte(s.Body), 0o600); err != nil {
		return fail(fmt.Errorf("write script: %w", err))
	}
	// Handed to the user only once written: the agent never writes into
	// a directory another user controls.
	if err := as.share(dir, file); err != nil {
		return fail(fmt.Errorf("script directory for %s: %w", as, err))
	}
	return dir, file, nil
}

// environ is the script's environment: the agent's own, the user's where
// the script runs as one, and the run's Env last (it wins).
func environ(env map[string]string, as *account) []string {
	out := as.environ()
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	return out
}

// Output sends what the spool keeps of a run's stream from offset, in
// chunks of at most protocol.MaxScriptChunk, through send. A run still
// running sends what it has written so far.
func (r *Runner) Output(id, streamName string, offset int64, send func(protocol.ScriptOutput) error) error {
	f, err := r.spool.open(id, streamName)
	if err != nil {
		return err
	}
	defer f.Close()
	buf := make([]byte, protocol.MaxScriptChunk)
	for {
		n, err := f.ReadAt(buf, offset)
		if n > 0 {
			o := protocol.ScriptOutput{CommandID: id, Stream: streamName, Offset: offset, Data: buf[:n]}
			if err := send(o); err != nil {
				return err
			}
			offset += int64(n)
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read kept output: %w", err)
		}
	}
}

// stream is one output stream of a run: read from its pipe, kept up to
// cap in the spool and passed on live.
type stream struct {
	name string
	id   string
	pipe *os.File
	file *os.File
	cap  int64
	emit func(protocol.ScriptOutput)
	log  *slog.Logger

	kept      int64
	truncated bool
	spoolErr  error
}

// read copies the pipe until it ends; past the cap it keeps draining so
// that the script never blocks on a full pipe.
func (s *stream) read() {
	buf := make([]byte, protocol.MaxScriptChunk)
	for {
		n, err := s.pipe.Read(buf)
		if n > 0 {
			s.take(buf[:n])
		}
		if err != nil {
			return
		}
	}
}

func (s *stream) take(p []byte) {
	keep := int64(len(p))
	if room := s.cap - s.kept; keep > room {
		keep = room
		s.truncated = true
	}
	if keep <= 0 {
		return
	}
	data := p[:keep]
	if s.spoolErr == nil {
		if _, err := s.file.Write(data); err != nil {
			s.spoolErr = err
			s.log.Warn("cannot keep a script's output; it can no longer be sent again", "command_id", s.id, "stream", s.name, "err", err)
		}
	}
	if s.emit != nil {
		s.emit(protocol.ScriptOutput{CommandID: s.id, Stream: s.name, Offset: s.kept, Data: append([]byte(nil), data...)})
	}
	s.kept += keep
}

func (s *stream) result() protocol.ScriptStream {
	return protocol.ScriptStream{Bytes: s.kept, Truncated: s.truncated}
}
