package ipc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime/debug"
	"sync"
	"time"
)

// Defaults of the Server's bounds.
const (
	// DefaultMaxConns bounds the connections served at once; one more is
	// answered CodeBusy and closed.
	DefaultMaxConns = 32
	// DefaultReservedAdmin of those slots only admin callers (the
	// watchdog, root, SYSTEM) may take, so that users holding every other
	// slot cannot lock the watchdog out.
	DefaultReservedAdmin = 4
	// DefaultMaxConnsPerCaller bounds one account's connections, so that
	// one user cannot take every slot other users have.
	DefaultMaxConnsPerCaller = 8
	// DefaultRequestTimeout bounds one handler (through its context).
	DefaultRequestTimeout = 10 * time.Second
	// DefaultIdleTimeout closes an admin's connection that sends no
	// complete request for this long, so a stuck client gives its slot
	// back.
	DefaultIdleTimeout = 2 * time.Minute
	// DefaultUserIdleTimeout is the same for other callers, shorter: the
	// tray dials once per call, so only a client holding slots waits that
	// long.
	DefaultUserIdleTimeout = 15 * time.Second
	// DefaultWriteTimeout bounds writing one answer to a client that does
	// not read.
	DefaultWriteTimeout = 5 * time.Second
)

// ErrInUse reports that another process is serving the endpoint.
var ErrInUse = errors.New("another agent is listening at the endpoint")

// Handler answers one request from caller. params is the request's raw
// params (nil when absent). The result is sent as JSON; an error is sent
// with its code when it is a *RemoteError, else as CodeInternal (and
// logged). ctx ends at the request deadline: a handler must return when it
// does.
type Handler func(ctx context.Context, caller Caller, params json.RawMessage) (any, error)

type route struct {
	minRole Role
	h       Handler
}

// Server serves the agent's local endpoint. Set the bounds before Serve;
// zero takes the default.
type Server struct {
	// MaxConns bounds the connections served at once, of which
	// ReservedAdmin are kept for admin callers; other callers share the
	// rest, each account at most MaxConnsPerCaller.
	MaxConns          int
	ReservedAdmin     int
	MaxConnsPerCaller int
	RequestTimeout    time.Duration
	// IdleTimeout applies to admin callers, UserIdleTimeout to others.
	IdleTimeout     time.Duration
	UserIdleTimeout time.Duration
	WriteTimeout    time.Duration

	endpoint string
	log      *slog.Logger
	ready    chan struct{}
	// identify names a connection's caller: peerIdentity, replaced in
	// tests that need a caller other than the test process.
	identify func(net.Conn) (Caller, error)

	mu     sync.Mutex
	routes map[string]route

	connMu    sync.Mutex
	conns     int            // connections admitted
	userConns int            // of which non-admin
	perCaller map[string]int // non-admin connections by Caller.Key
}

// NewServer returns a server for endpoint (DefaultEndpoint on a real
// machine) that logs to log. Register methods with Handle, then call Serve.
func NewServer(endpoint string, log *slog.Logger) *Server {
	return &Server{endpoint: endpoint, log: log, ready: make(chan struct{}), identify: peerIdentity,
		routes: map[string]route{}}
}

// Endpoint is the socket path or pipe name the server listens at.
func (s *Server) Endpoint() string { return s.endpoint }

// Ready is closed once Serve listens.
func (s *Server) Ready() <-chan struct{} { return s.ready }

// Handle registers h for method, for callers whose role is at least
// minRole. It panics on an invalid or duplicate method, as http.ServeMux
// does: both are programming errors.
func (s *Server) Handle(method string, minRole Role, h Handler) {
	if err := checkMethod(method); err != nil {
		panic(fmt.Sprintf("ipc: Handle(%q): %v", method, err))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, dup := s.routes[method]; dup {
		panic(fmt.Sprintf("ipc: Handle(%q) called twice", method))
	}
	s.routes[method] = route{minRole: minRole, h: h}
}

func (s *Server) route(method string) (route, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.routes[method]
	return r, ok
}

// Serve listens at the endpoint and serves until ctx is cancelled; then it
// closes the listener and every connection, waits for their goroutines and
// returns nil. It returns an error when it cannot listen (ErrInUse when
// another agent serves the endpoint). Call it once.
func (s *Server) Serve(ctx context.Context) error {
	setDefault(&s.RequestTimeout, DefaultRequestTimeout)
	setDefault(&s.IdleTimeout, DefaultIdleTimeout)
	setDefault(&s.UserIdleTimeout, DefaultUserIdleTimeout)
	setDefault(&s.WriteTimeout, DefaultWriteTimeout)
	if s.MaxConns <= 0 {
		s.MaxConns = DefaultMaxConns
	}
	if s.ReservedAdmin <= 0 {
		s.ReservedAdmin = min(DefaultReservedAdmin, s.MaxConns/2)
	}
	if s.MaxConnsPerCaller <= 0 {
		s.MaxConnsPerCaller = DefaultMaxConnsPerCaller
	}
	s.perCaller = make(map[string]int)
	l, err := listen(s.endpoint)
	if err != nil {
		return fmt.Errorf("ipc: listen at %s: %w", s.endpoint, err)
	}
	close(s.ready)

	var wg sync.WaitGroup
	defer wg.Wait()
	// Whatever ends Serve also ends the connections it waits for.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// Cancellation closes the listener, which ends Accept below. The Once
	// makes the deferred call wait for a close already under way, so the
	// endpoint (and its lock) is free when Serve returns.
	var closeOnce sync.Once
	closeListener := func() { closeOnce.Do(func() { l.Close() }) }
	stop := context.AfterFunc(ctx, closeListener)
	defer stop()
	defer closeListener()

	// Connections not yet identified are bounded apart from the admitted
	// ones: identifying is a few system calls, so a flood of them passes
	// quickly and refused ones give their place back at once.
	pending := make(chan struct{}, 2*s.MaxConns)
	for {
		c, err := l.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if errors.Is(err, net.ErrClosed) {
				return fmt.Errorf("ipc: accept at %s: %w", s.endpoint, err)
			}
			// Out of file descriptors and the like: wait a moment
			// rather than spin.
			s.log.WarnContext(ctx, "ipc: accept failed", "err", err)
			t := time.NewTimer(100 * time.Millisecond)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil
			case <-t.C:
			}
			continue
		}
		select {
		case pending <- struct{}{}:
		default:
			s.refuse(c, &RemoteError{Code: CodeBusy, Message: "too many connections; try again"})
			continue
		}
		wg.Go(func() {
			caller, ok := s.admit(ctx, c)
			<-pending
			if !ok {
				return
			}
			defer s.release(caller)
			s.serveConn(ctx, c, caller)
		})
	}
}

// admit identifies c's caller and gives it a slot, or answers and closes
// c when the caller cannot be identified or has no slot.
func (s *Server) admit(ctx context.Context, c net.Conn) (Caller, bool) {
	caller, err := s.identify(c)
	if err != nil {
		s.log.WarnContext(ctx, "ipc: cannot identify the caller; closing", "err", err)
		s.refuse(c, &RemoteError{Code: CodeInternal, Message: "the agent cannot identify the caller"})
		return Caller{}, false
	}
	if msg := s.take(caller); msg != "" {
		s.log.WarnContext(ctx, "ipc: connection refused", "caller", caller.User, "caller_pid", caller.PID, "reason", msg)
		s.refuse(c, &RemoteError{Code: CodeBusy, Message: msg})
		return Caller{}, false
	}
	return caller, true
}

// take counts a connection of caller in, or says why it cannot be.
func (s *Server) take(caller Caller) string {
	s.connMu.Lock()
	defer s.connMu.Unlock()
	if s.conns >= s.MaxConns {
		return "too many connections; try again"
	}
	if !caller.Admin {
		if s.perCaller[caller.Key()] >= s.MaxConnsPerCaller {
			return fmt.Sprintf("%s has %d connections open, the most one account may; try again", caller.User, s.MaxConnsPerCaller)
		}
		if s.userConns >= s.MaxConns-s.ReservedAdmin {
			return "too many connections; try again"
		}
		s.userConns++
		s.perCaller[caller.Key()]++
	}
	s.conns++
	return ""
}

func (s *Server) release(caller Caller) {
	s.connMu.Lock()
	defer s.connMu.Unlock()
	s.conns--
	if !caller.Admin {
		s.userConns--
		if s.perCaller[caller.Key()]--; s.perCaller[caller.Key()] <= 0 {
			delete(s.perCaller, caller.Key())
		}
	}
}

func setDefault(d *time.Duration, def time.Duration) {
	if *d <= 0 {
		*d = def
	}
}

// refuse answers a connection that will not be served and closes it,
// without waiting on a client that does not read.
func (s *Server) refuse(c net.Conn, e *RemoteError) {
	c.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
	if b, err := encode(Response{V: Version, Error: e}); err == nil {
		WriteFrame(c, b)
	}
	c.Close()
}

// serveConn answers one connection's requests in order until it closes,
// goes idle, breaks the framing or ctx ends.
func (s *Server) serveConn(ctx context.Context, c net.Conn, caller Caller) {
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()

	log := s.log.With("caller", caller.User, "caller_pid", caller.PID)
	idle := s.UserIdleTimeout
	if caller.Admin {
		idle = s.IdleTimeout
	}
	for {
		c.SetReadDeadline(time.Now().Add(idle))
		b, err := ReadFrame(c)
		switch {
		case err == nil:
		case errors.Is(err, ErrFrameTooLarge), errors.Is(err, ErrFrameEmpty):
			log.WarnContext(ctx, "ipc: bad frame; closing", "err", err)
			s.refuse(c, &RemoteError{Code: CodeBadRequest, Message: err.Error()})
			return
		case errors.Is(err, io.EOF), ctx.Err() != nil:
			return
		case errors.Is(err, os.ErrDeadlineExceeded):
			log.DebugContext(ctx, "ipc: idle connection closed")
			return
		default:
			log.DebugContext(ctx, "ipc: read", "err", err)
			return
		}
		resp := s.answer(ctx, log, caller, b)
		out, err := encode(resp)
		if err != nil {
			log.ErrorContext(ctx, "ipc: answer does not fit a frame", "id", resp.ID, "err", err)
			out, _ = encode(Response{V: Version, ID: resp.ID, Error: &RemoteError{Code: CodeInternal, Message: "answer too large"}})
		}
		c.SetWriteDeadline(time.Now().Add(s.WriteTimeout))
		if err := WriteFrame(c, out); err != nil {
			log.DebugContext(ctx, "ipc: write", "err", err)
			return
		}
	}
}

// answer decodes one request, checks the caller's role and runs its
// handler.
func (s *Server) answer(ctx context.Context, log *slog.Logger, caller Caller, b []byte) Response {
	req, err := DecodeRequest(b)
	if err != nil {
		code := CodeBadRequest
		if errors.Is(err, ErrVersion) {
			code = CodeVersion
		}
		log.DebugContext(ctx, "ipc: bad request", "err", err)
		return Response{V: Version, ID: req.ID, Error: &RemoteError{Code: code, Message: err.Error()}}
	}
	fail := func(e *RemoteError) Response { return Response{V: Version, ID: req.ID, Error: e} }
	r, ok := s.route(req.Method)
	if !ok {
		return fail(Errorf(CodeUnknownMethod, "this agent has no method %q", req.Method))
	}
	if caller.Role() < r.minRole {
		log.WarnContext(ctx, "ipc: refused a call the caller may not make", "method", req.Method, "role", caller.Role())
		return fail(Errorf(CodeForbidden, "%s needs the %s role; %s is %s", req.Method, r.minRole, caller.User, caller.Role()))
	}
	hctx, cancel := context.WithTimeout(ctx, s.RequestTimeout)
	defer cancel()
	res, err := s.call(hctx, r.h, caller, req.Params)
	if err != nil {
		var re *RemoteError
		switch {
		case errors.As(err, &re):
			return fail(re)
		case errors.Is(hctx.Err(), context.DeadlineExceeded):
			log.WarnContext(ctx, "ipc: request timed out", "method", req.Method, "timeout", s.RequestTimeout)
			return fail(Errorf(CodeTimeout, "%s did not finish within %s", req.Method, s.RequestTimeout))
		default:
			log.ErrorContext(ctx, "ipc: request failed", "method", req.Method, "err", err)
			return fail(Errorf(CodeInternal, "%s failed; see the agent's log", req.Method))
		}
	}
	out, err := json.Marshal(res)
	if err != nil {
		log.ErrorContext(ctx, "ipc: encode result", "method", req.Method, "err", err)
		return fail(Errorf(CodeInternal, "%s failed; see the agent's log", req.Method))
	}
	return Response{V: Version, ID: req.ID, Result: out}
}

// call runs h, turning a panic into an error so that one bad request does
// not take the agent down.
func (s *Server) call(ctx context.Context, h Handler, caller Caller, params json.RawMessage) (res any, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic: %v\n%s", p, debug.Stack())
		}
	}()
	return h(ctx, caller, params)
}

// DecodeParams decodes a request's params into v; a missing params leaves
// v as it is. A failure is a CodeBadRequest answer.
func DecodeParams(params json.RawMessage, v any) error {
	if len(params) == 0 {
		return nil
	}
	if err := json.Unmarshal(params, v); err != nil {
		return Errorf(CodeBadRequest, "params: %v", err)
	}
	return nil
}
