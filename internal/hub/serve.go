package hub

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/coder/websocket"

	"github.com/steward-rmm/steward/internal/protocol"
	"github.com/steward-rmm/steward/internal/store"
)

// helloTimeout bounds how long an agent may take to say hello.
const helloTimeout = 15 * time.Second

// maxBadMessages is how many malformed messages in a row an agent may send
// before the server gives up on the connection.
const maxBadMessages = 10

// Go serves an authenticated agent's control connection on a new
// goroutine that the hub owns: Shutdown ends it and waits for it.
func (h *Hub) Go(ws *websocket.Conn, agent store.Agent, remoteAddr string) {
	// Add under mu so that it happens before Shutdown's Wait, or not at all.
	h.mu.Lock()
	if h.closing {
		h.mu.Unlock()
		ws.Close(protocol.CloseShutdown, "server shutting down")
		return
	}
	h.serving.Add(1)
	h.mu.Unlock()
	go func() {
		defer h.serving.Done()
		h.serve(h.base, ws, agent, remoteAddr)
	}()
}

// Serve runs an agent's control connection on the calling goroutine until
// it ends. It owns ws and closes it.
func (h *Hub) Serve(ctx context.Context, ws *websocket.Conn, agent store.Agent, remoteAddr string) {
	h.mu.Lock()
	if h.closing {
		h.mu.Unlock()
		ws.Close(protocol.CloseShutdown, "server shutting down")
		return
	}
	h.serving.Add(1)
	h.mu.Unlock()
	defer h.serving.Done()
	h.serve(ctx, ws, agent, remoteAddr)
}

// serve runs the connection: hello, welcome, then heartbeats, facts and
// results.
func (h *Hub) serve(ctx context.Context, ws *websocket.Conn, agent store.Agent, remoteAddr string) {
	h.active.Add(1)
	defer h.active.Add(-1)
	ws.SetReadLimit(protocol.MaxMessageBytes)
	log := h.log.With("agent_id", agent.ID, "remote_addr", remoteAddr)

	connCtx, kick := context.WithCancelCause(ctx)
	defer kick(nil)
	c := &Conn{AgentID: agent.ID, ClientID: agent.ClientID, ConnID: store.NewID(), ws: ws, kick: kick}
	// coder/websocket drops the TCP connection without a close frame when
	// the context of a read or write ends, which would lose the kick's
	// close code. So reads and writes below use ctx, and a kick closes ws
	// from here, close code first, which ends the pending read.
	kicked := make(chan struct{})
	stopKick := context.AfterFunc(connCtx, func() {
		defer close(kicked)
		closeWith(ws, context.Cause(connCtx))
	})
	defer func() {
		if !stopKick() {
			<-kicked
		}
	}()

	var (
		facts protocol.Facts
		err   error
	)
	onFreshStack(func() { facts, err = h.readHello(ctx, c) })
	if err != nil {
		log.Warn("agent connection rejected before hello", "err", err)
		h.CountRejected("hello")
		closeWith(ws, err)
		return
	}
	var regErr error
	onFreshStack(func() { regErr = h.register(connCtx, c, remoteAddr, facts) })
	if err := regErr; err != nil {
		var cc closeCause
		if !errors.As(err, &cc) {
			log.Error("register agent connection", "err", err)
			err = closeCause{websocket.StatusInternalError, "server error"}
		}
		closeWith(ws, err)
		return
	}
	defer onFreshStack(func() { h.unregister(context.WithoutCancel(ctx), c) })
	log.Info("agent connected", "hostname", facts.Hostname, "version", facts.AgentVersion, "conn_id", c.ConnID)

	welcome := protocol.Welcome{
		AgentID: agent.ID, ProtocolVersion: protocol.Version, ServerVersion: h.serverVersion,
		HeartbeatInterval: protocol.Duration(h.heartbeat), ServerTime: time.Now().UTC(),
	}
	onFreshStack(func() { err = h.send(ctx, c, protocol.TypeWelcome, "", welcome) })
	if err != nil {
		log.Warn("send welcome", "err", err)
		closeWith(ws, context.Cause(connCtx))
		return
	}
	if ch := h.commandHandler(); ch != nil {
		onFreshStack(func() { ch.Connected(ctx, c) })
	}
	err = h.readLoop(ctx, c)
	if cause := context.Cause(connCtx); cause != nil && !errors.Is(cause, context.Canceled) {
		err = cause
	}
	log.Info("agent disconnected", "reason", err)
	closeWith(ws, err)
}

// closeWith closes ws with the code a closeCause carries, or a generic one.
func closeWith(ws *websocket.Conn, err error) {
	// Without a close cause the peer is gone or broken: waiting for a close
	// handshake would only delay cleanup.
	var cc closeCause
	if errors.As(err, &cc) {
		ws.Close(cc.code, cc.reason)
		return
	}
	ws.CloseNow()
}

func (h *Hub) readHello(ctx context.Context, c *Conn) (protocol.Facts, error) {
	ctx, cancel := context.WithTimeout(ctx, helloTimeout)
	defer cancel()
	_, data, err := c.ws.Read(ctx)
	if err != nil {
		return protocol.Facts{}, fmt.Errorf("read hello: %w", err)
	}
	env, err := protocol.DecodeEnvelope(data)
	if err != nil {
		h.sendError(ctx, c, protocol.CodeBadMessage, err.Error(), "")
		return protocol.Facts{}, closeCause{protocol.CloseProtocol, "malformed hello"}
	}
	h.CountMessage("in", env.Type)
	if env.Type != protocol.TypeHello {
		h.sendError(ctx, c, protocol.CodeNotHello, "the first message must be hello, got "+env.Type, env.ID)
		return protocol.Facts{}, closeCause{protocol.CloseProtocol, "expected hello"}
	}
	facts, err := protocol.DecodeFacts(env.Data)
	if err != nil {
		h.sendError(ctx, c, protocol.CodeBadMessage, err.Error(), env.ID)
		return protocol.Facts{}, closeCause{protocol.CloseProtocol, "invalid hello"}
	}
	return facts, nil
}

// readLoop handles messages until the connection fails or the agent stays
// silent for OfflineAfter.
func (h *Hub) readLoop(ctx context.Context, c *Conn) error {
	bad := 0
	for {
		readCtx, cancel := context.WithTimeout(ctx, h.OfflineAfter())
		_, data, err := c.ws.Read(readCtx)
		cancel()
		if err != nil {
			if ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
				return fmt.Errorf("no message for %s: %w", h.OfflineAfter(), err)
			}
			return err
		}
		// Decoding, encoding and storing need deep stacks; the connection's
		// goroutine, idle nearly always, only reads.
		onFreshStack(func() { err = h.handle(ctx, c, data, &bad) })
		if err != nil {
			return err
		}
	}
}

// handle processes one message from the agent. It returns an error only
// when the connection must end.
func (h *Hub) handle(ctx context.Context, c *Conn, data []byte, bad *int) error {
	env, err := protocol.DecodeEnvelope(data)
	if err != nil {
		h.CountRejected("bad_envelope")
		*bad++
		h.sendError(ctx, c, protocol.CodeBadMessage, err.Error(), "")
		if *bad >= maxBadMessages {
			return closeCause{protocol.CloseProtocol, "too many malformed messages"}
		}
		return nil
	}
	*bad = 0 // only a run of malformed messages ends the connection
	h.CountMessage("in", env.Type)
	switch env.Type {
	case protocol.TypeResult:
		r, err := protocol.DecodeResult(env.Data)
		if err != nil {
			h.CountRejected("bad_result")
			h.sendError(ctx, c, protocol.CodeBadMessage, err.Error(), env.ID)
			return nil
		}
		if ch := h.commandHandler(); ch != nil {
			ch.Result(ctx, c.AgentID, r)
		}
	case protocol.TypeHeartbeat:
		if _, err := protocol.DecodeHeartbeat(env.Data); err != nil {
			h.CountRejected("bad_heartbeat")
			h.sendError(ctx, c, protocol.CodeBadMessage, err.Error(), env.ID)
			return nil
		}
		if err := h.send(ctx, c, protocol.TypeHeartbeat, env.ID, protocol.Heartbeat{Time: time.Now().UTC()}); err != nil {
			return fmt.Errorf("answer heartbeat: %w", err)
		}
	case protocol.TypeFacts:
		facts, err := protocol.DecodeFacts(env.Data)
		if err != nil {
			h.CountRejected("bad_facts")
			h.sendError(ctx, c, protocol.CodeBadMessage, err.Error(), env.ID)
			return nil
		}
		if err := h.db.UpdateFacts(ctx, c.AgentID, facts); err != nil {
			return fmt.Errorf("store facts: %w", err)
		}
	case protocol.TypeError:
		e, _ := protocol.DecodeError(env.Data)
		h.log.Warn("agent reported an error", "agent_id", c.AgentID, "code", e.Code, "message", e.Message)
	default:
		h.CountRejected("unknown_type")
		h.sendError(ctx, c, protocol.CodeUnknownType, "unknown message type "+env.Type, env.ID)
	}
	return nil
}

func (h *Hub) send(ctx context.Context, c *Conn, typ, id string, payload any) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := c.Send(ctx, typ, id, payload); err != nil {
		return err
	}
	h.CountMessage("out", typ)
	return nil
}

func (h *Hub) sendError(ctx context.Context, c *Conn, code, msg, ref string) {
	if err := h.send(ctx, c, protocol.TypeError, "", protocol.Error{Code: code, Message: msg, RefID: ref}); err != nil {
		h.log.Debug("send error to agent", "agent_id", c.AgentID, "err", err)
	}
}

// onFreshStack runs fn on a short-lived goroutine and waits for it. A
// goroutine keeps the largest stack it ever needed, and the database
// drivers (SQLite's especially) need deep ones: run on the connection's
// own goroutine, one query would leave every idle agent holding tens of
// kilobytes of stack. Database work is rare per connection, so the extra
// goroutine costs nothing that matters.
func onFreshStack(fn func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn()
	}()
	<-done
}
