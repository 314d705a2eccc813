// Package remote serves remote sessions on the agent: told by the server
// (protocol.CommandSessionOpen) it dials the relay on a WebSocket of its
// own, apart from the control connection, and runs the default shell in a
// real PTY (xpty: a Unix PTY, or ConPTY on Windows) for the browser at the
// other end. Sessions are bounded; each ends, and its processes are
// killed, when either side leaves or the agent stops.
package remote

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"time"

	"github.com/charmbracelet/x/xpty"
	"github.com/coder/websocket"

	"github.com/steward-rmm/steward/internal/protocol"
)

// DefaultMaxSessions bounds the sessions one agent serves at once.
const DefaultMaxSessions = 8

// ErrBusy refuses a session past the bound.
var ErrBusy = errors.New("this agent already serves as many remote sessions as it may")

// Dial opens the session's relay connection.
type Dial = func(ctx context.Context) (*websocket.Conn, error)

// Host runs the agent's remote sessions on goroutines its Run owns.
type Host struct {
	log     *slog.Logger
	max     int32
	running atomic.Int32
	reqs    chan request
	// Shell builds the command a terminal runs; nil means the system's
	// default shell (tests set it).
	Shell func() *exec.Cmd
}

type request struct {
	open protocol.SessionOpen
	dial Dial
}

// New returns a Host serving at most max sessions (DefaultMaxSessions
// when max <= 0).
func New(log *slog.Logger, max int) *Host {
	if max <= 0 {
		max = DefaultMaxSessions
	}
	return &Host{log: log, max: int32(max), reqs: make(chan request, max)}
}

// Open starts a session, or refuses it at once with ErrBusy. It does not
// block: Run takes the session.
func (h *Host) Open(open protocol.SessionOpen, dial Dial) error {
	for {
		n := h.running.Load()
		if n >= h.max {
			return ErrBusy
		}
		if h.running.CompareAndSwap(n, n+1) {
			break
		}
	}
	h.reqs <- request{open: open, dial: dial} // room for max, and at most max are counted
	return nil
}

// Run serves the sessions Open starts until ctx ends, then ends them all
// and returns once their processes are gone.
func (h *Host) Run(ctx context.Context) {
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		select {
		case <-ctx.Done():
			return
		case req := <-h.reqs:
			wg.Go(func() {
				defer h.running.Add(-1)
				h.serve(ctx, req)
			})
		}
	}
}

// serve runs one terminal session to its end.
func (h *Host) serve(ctx context.Context, req request) {
	log := h.log.With("session_id", req.open.SessionID)
	dialCtx, cancel := context.WithDeadline(ctx, req.open.Expires.Add(5*time.Second))
	conn, err := req.dial(dialCtx)
	cancel()
	if err != nil {
		log.WarnContext(ctx, "remote session: cannot reach the relay", "err", err)
		return
	}
	conn.SetReadLimit(protocol.MaxFrameBytes)
	reason := h.terminal(ctx, conn, req.open, log)
	log.InfoContext(ctx, "remote session ended", "reason", reason)
}

// terminal runs the shell in a PTY and copies between it and conn until
// the shell exits, the relay closes or ctx ends; it returns why it ended.
func (h *Host) terminal(ctx context.Context, conn *websocket.Conn, open protocol.SessionOpen, log *slog.Logger) string {
	fail := func(reason string) string {
		wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		conn.Write(wctx, websocket.MessageBinary, protocol.CloseFrame(reason))
		conn.Close(websocket.StatusNormalClosure, "")
		return reason
	}
	pty, err := xpty.NewPty(open.Cols, open.Rows)
	if err != nil {
		return fail("the agent could not open a terminal: " + err.Error())
	}
	defer pty.Close()
	cmd := h.shell()
	cmd.Env = append(append(os.Environ(), cmd.Env...), "TERM=xterm-256color")
	prepare(cmd)
	if err := pty.Start(cmd); err != nil {
		return fail(fmt.Sprintf("the agent could not start %s: %v", cmd.Path, err))
	}
	log.InfoContext(ctx, "remote terminal started", "shell", cmd.Path, "pid", cmd.Process.Pid)

	// sctx ends when the session does; I/O runs on ctx, since the
	// WebSocket library closes the connection when a read's context
	// ends, and the relay must get the close frame first.
	sctx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	var wg sync.WaitGroup
	// The shell's end ends the session.
	exited := make(chan struct{})
	wg.Go(func() {
		defer close(exited)
		if err := xpty.WaitProcess(sctx, cmd); err != nil && sctx.Err() == nil {
			stop(fmt.Errorf("the shell exited: %v", err))
		}
		stop(errors.New("the shell exited"))
	})
	// PTY → relay. A write that waits on a slow browser holds the PTY's
	// reads back, and with them the shell.
	wg.Go(func() {
		buf := make([]byte, protocol.MaxFrameBytes-1)
		for {
			n, err := pty.Read(buf)
			if n > 0 {
				if werr := conn.Write(ctx, websocket.MessageBinary, protocol.DataFrame(buf[:n])); werr != nil {
					stop(errors.New("the relay connection was lost"))
					return
				}
			}
			if err != nil {
				stop(errors.New("the terminal closed"))
				return
			}
		}
	})
	// Relay → PTY.
	wg.Go(func() {
		for {
			_, b, err := conn.Read(ctx)
			if err != nil {
				stop(errors.New("the relay closed the session"))
				return
			}
			f, err := protocol.DecodeFrame(b)
			if err != nil {
				stop(fmt.Errorf("bad frame from the relay: %v", err))
				return
			}
			switch f.Type {
			case protocol.FrameData:
				if _, err := pty.Write(f.Data); err != nil {
					stop(errors.New("the terminal closed"))
					return
				}
			case protocol.FrameResize:
				if err := pty.Resize(f.Cols, f.Rows); err != nil {
					log.DebugContext(ctx, "resize terminal", "err", err)
				}
			case protocol.FrameClose:
				stop(errors.New(f.Reason))
				return
			}
		}
	})
	<-sctx.Done()
	// Whatever ended it, nothing the shell started outlives the session.
	killTree(cmd)
	select {
	case <-exited:
	case <-time.After(5 * time.Second):
		log.WarnContext(ctx, "remote terminal: the shell did not exit after kill", "pid", cmd.Process.Pid)
	}
	reason := context.Cause(sctx).Error()
	// Closing the PTY ends its reader; closing the socket, after telling
	// the relay why, ends the other.
	pty.Close()
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	if conn.Write(wctx, websocket.MessageBinary, protocol.CloseFrame(reason)) == nil {
		conn.Close(websocket.StatusNormalClosure, "")
	}
	conn.CloseNow()
	wg.Wait()
	return reason
}

func (h *Host) shell() *exec.Cmd {
	if h.Shell != nil {
		return h.Shell()
	}
	return defaultShell()
}
