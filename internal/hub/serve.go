package hub

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/gobwas/ws"

	"github.com/steward-rmm/steward/internal/protocol"
	"github.com/steward-rmm/steward/internal/store"
)

// helloTimeout bounds how long an agent may take to say hello.
const helloTimeout = 15 * time.Second

// maxBadMessages is how many malformed messages in a row an agent may send
// before the server gives up on the connection.
const maxBadMessages = 10

// Go serves an authenticated agent's control connection; the hub owns
// the goroutines that serve it: Shutdown ends it and waits for them. conn
// is the upgraded WebSocket connection; early holds bytes already read
// from it behind the upgrade request (usually none).
func (h *Hub) Go(conn net.Conn, early []byte, agent store.Agent, remoteAddr string) {
	c := &Conn{AgentID: agent.ID, ClientID: agent.ClientID, SiteID: agent.SiteID, ConnID: store.NewID(),
		link: link{conn: conn, early: early}, policyRev: agent.PolicyRevision}
	// Add under mu so that it happens before Shutdown's Wait, or not at all.
	h.mu.Lock()
	if h.closing {
		h.mu.Unlock()
		c.link.close(closeCause{protocol.CloseShutdown, "server shutting down"})
		return
	}
	h.serving.Add(1)
	h.active.Add(1)
	h.mu.Unlock()
	go h.serve(h.base, c, remoteAddr)
}

// serve opens the connection (hello, welcome) and hands it to watch. No
// goroutine lives as long as the connection: each message is read and
// handled by a short-lived one, so an idle agent costs no stack (on
// Linux) or a small one.
func (h *Hub) serve(ctx context.Context, c *Conn, remoteAddr string) {
	if !h.open(ctx, c, remoteAddr) {
		h.serving.Done()
		h.active.Add(-1)
		return
	}
	if err := h.expect(c, h.OfflineAfter()); err != nil {
		h.end(ctx, c, err)
		return
	}
	h.watch(ctx, c)
}

// end closes an open connection and releases its count in serving.
func (h *Hub) end(ctx context.Context, c *Conn, err error) {
	defer h.active.Add(-1)
	defer h.serving.Done()
	if p := h.startPoller(); p != nil {
		p.forget(c)
	}
	h.finish(ctx, c, err)
}

// open reads the hello, registers the connection, sends the welcome and
// any queued commands. It reports whether the connection is open.
func (h *Hub) open(ctx context.Context, c *Conn, remoteAddr string) bool {
	log := h.log.With("agent_id", c.AgentID, "remote_addr", remoteAddr)
	facts, err := h.readHello(ctx, c)
	if err != nil {
		log.Warn("agent connection rejected before hello", "err", err)
		h.CountRejected("hello")
		c.link.close(err)
		return false
	}
	queued, err := h.register(ctx, c, remoteAddr, facts)
	if err != nil {
		var cc closeCause
		if !errors.As(err, &cc) {
			log.Error("register agent connection", "err", err)
			err = closeCause{ws.StatusInternalServerError, "server error"}
		}
		c.link.close(err)
		return false
	}
	log.Info("agent connected", "hostname", facts.Hostname, "version", facts.AgentVersion, "conn_id", c.ConnID)
	welcome := protocol.Welcome{
		AgentID: c.AgentID, ProtocolVersion: protocol.Version, ServerVersion: h.serverVersion,
		HeartbeatInterval: protocol.Duration(h.heartbeat), ServerTime: time.Now().UTC(),
	}
	if facts.Update != nil {
		welcome.UpdateConfirmed = h.confirmUpdate(ctx, c, facts)
	}
	if ph := h.policyHandler(); ph != nil {
		// Without its policy the agent keeps the last one it applied; the
		// next change or connection brings it up to date.
		if welcome.Policy, err = ph.Effective(ctx, c); err != nil {
			log.Error("resolve policy for welcome", "err", err)
		}
	}
	// Keep the welcome's revision string (shared by every agent on that
	// policy) rather than the one read from the database.
	if welcome.Policy != nil && welcome.Policy.Revision == c.policyRev {
		c.policyRev = welcome.Policy.Revision
	} else {
		c.policyRev = ""
	}
	if err := h.send(ctx, c, protocol.TypeWelcome, "", welcome); err != nil {
		log.Warn("send welcome", "err", err)
		c.link.close(c.kicked())
		h.unregister(context.WithoutCancel(ctx), c)
		return false
	}
	if ph := h.policyHandler(); ph != nil {
		rev := ""
		if welcome.Policy != nil {
			rev = welcome.Policy.Revision
		}
		ph.Welcomed(ctx, c, rev)
	}
	if ch := h.commandHandler(); ch != nil {
		ch.Connected(ctx, c, queued)
	}
	return true
}

// finish closes a connection that failed with err (or was kicked, or went
// silent) and marks the agent offline unless a newer connection took over.
func (h *Hub) finish(ctx context.Context, c *Conn, err error) {
	if cause := c.kicked(); cause != nil {
		err = cause
	} else if ctx.Err() == nil && errors.Is(err, os.ErrDeadlineExceeded) {
		err = fmt.Errorf("no message for %s: %w", h.OfflineAfter(), err)
	}
	h.log.Info("agent disconnected", "agent_id", c.AgentID, "reason", err)
	c.link.close(err)
	h.unregister(context.WithoutCancel(ctx), c)
}

func (h *Hub) readHello(ctx context.Context, c *Conn) (protocol.Facts, error) {
	data, err := h.read(c, helloTimeout)
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

// read waits up to timeout for the agent's next message.
func (h *Hub) read(c *Conn, timeout time.Duration) ([]byte, error) {
	if err := h.expect(c, timeout); err != nil {
		return nil, err
	}
	if err := c.link.wait(); err != nil {
		return nil, err
	}
	return c.link.next()
}

// expect gives the agent timeout to start its next message. Silence is
// detected with a socket deadline: a context or timer per read would cost
// every idle agent memory. A kick moves the deadline to the past.
func (h *Hub) expect(c *Conn, timeout time.Duration) error {
	d := time.Now().Add(timeout)
	c.link.deadline.Store(d.UnixNano())
	if err := c.link.conn.SetReadDeadline(d); err != nil {
		return err
	}
	// Checked after setting the deadline: a kick after this point moves
	// the deadline back to the past, one before it is seen here.
	return c.kicked()
}

// handle processes one message from the agent. It returns an error only
// when the connection must end.
func (h *Hub) handle(ctx context.Context, c *Conn, data []byte) error {
	env, err := protocol.DecodeEnvelope(data)
	if err != nil {
		h.CountRejected("bad_envelope")
		c.bad++
		h.sendError(ctx, c, protocol.CodeBadMessage, err.Error(), "")
		if c.bad >= maxBadMessages {
			return closeCause{protocol.CloseProtocol, "too many malformed messages"}
		}
		return nil
	}
	c.bad = 0 // only a run of malformed messages ends the connection
	h.CountMessage("in", env.Type)
	switch env.Type {
	case protocol.TypeResult:
		return h.handleResult(ctx, c, env)
	case protocol.TypeMetrics:
		return h.handleMetrics(ctx, c, env)
	case protocol.TypePolicyAck:
		return h.handlePolicyAck(ctx, c, env)
	case protocol.TypeHeartbeat:
		return h.handleHeartbeat(ctx, c, env)
	case protocol.TypeFacts:
		return h.handleFacts(ctx, c, env)
	case protocol.TypeHelpRequest:
		return h.handleHelpRequest(ctx, c, env)
	case protocol.TypeUpdateStatus:
		return h.handleUpdateStatus(ctx, c, env)
	case protocol.TypeScriptStarted, protocol.TypeScriptOutput:
		return h.handleScript(ctx, c, env)
	case protocol.TypeScheduleDue:
		return h.handleScheduleDue(ctx, c, env)
	case protocol.TypeError:
		e, _ := protocol.DecodeError(env.Data)
		h.log.Warn("agent reported an error", "agent_id", c.AgentID, "code", e.Code, "message", e.Message)
	default:
		h.CountRejected("unknown_type")
		h.sendError(ctx, c, protocol.CodeUnknownType, "unknown message type "+env.Type, env.ID)
	}
	return nil
}

// reject counts a message whose payload does not decode and tells the
// agent why; the connection goes on.
func (h *Hub) reject(ctx context.Context, c *Conn, reason string, env protocol.Envelope, err error) error {
	h.CountRejected(reason)
	h.sendError(ctx, c, protocol.CodeBadMessage, err.Error(), env.ID)
	return nil
}

// handleResult hands a command's result to the command service.
func (h *Hub) handleResult(ctx context.Context, c *Conn, env protocol.Envelope) error {
	r, err := protocol.DecodeResult(env.Data)
	if err != nil {
		return h.reject(ctx, c, "bad_result", env, err)
	}
	if ch := h.commandHandler(); ch != nil {
		ch.Result(ctx, c.AgentID, r)
	}
	return nil
}

// handleMetrics stores a batch of samples and acknowledges it; a batch
// that could not be stored is not acknowledged, so the agent sends it
// again.
func (h *Hub) handleMetrics(ctx context.Context, c *Conn, env protocol.Envelope) error {
	mh := h.metricsHandler()
	if mh == nil {
		h.sendError(ctx, c, protocol.CodeUnknownType, "this server does not store metrics", env.ID)
		return nil
	}
	if env.ID == "" {
		return h.reject(ctx, c, "bad_metrics", env, errors.New("a metrics message needs an id to be acknowledged"))
	}
	batch, err := protocol.DecodeMetricsBatch(env.Data)
	if err != nil {
		return h.reject(ctx, c, "bad_metrics", env, err)
	}
	ack, err := mh.Ingest(ctx, c, batch)
	if err != nil {
		h.log.Error("store metrics", "agent_id", c.AgentID, "err", err)
		return nil
	}
	ack.RefID = env.ID
	if err := h.send(ctx, c, protocol.TypeMetricsAck, "", ack); err != nil {
		return fmt.Errorf("acknowledge metrics: %w", err)
	}
	return nil
}

// handlePolicyAck records the policy revision the agent runs.
func (h *Hub) handlePolicyAck(ctx context.Context, c *Conn, env protocol.Envelope) error {
	ack, err := protocol.DecodePolicyAck(env.Data)
	if err != nil {
		return h.reject(ctx, c, "bad_policy_ack", env, err)
	}
	if ack.Revision == c.policyRev {
		// Reconnecting on an unchanged policy: already stored. A connect
		// storm skips one write per agent.
		return nil
	}
	// A database failure is logged, not fatal to the connection: after a
	// push, a blip would otherwise disconnect every acknowledging agent at
	// once. The dashboard shows the older revision meanwhile.
	if err := h.presence.do(ctx, &presenceOp{agentID: c.AgentID, policyRevision: ack.Revision}); err != nil {
		h.log.Error("record policy revision", "agent_id", c.AgentID, "revision", ack.Revision, "err", err)
		return nil
	}
	// What is stored now: a later acknowledgement of the welcome's revision
	// (a change undone) must be written again.
	c.policyRev = ack.Revision
	return nil
}

// handleHeartbeat answers a heartbeat with the server's time.
func (h *Hub) handleHeartbeat(ctx context.Context, c *Conn, env protocol.Envelope) error {
	if _, err := protocol.DecodeHeartbeat(env.Data); err != nil {
		return h.reject(ctx, c, "bad_heartbeat", env, err)
	}
	if err := h.send(ctx, c, protocol.TypeHeartbeat, env.ID, protocol.Heartbeat{Time: time.Now().UTC()}); err != nil {
		return fmt.Errorf("answer heartbeat: %w", err)
	}
	return nil
}

// handleFacts stores facts the agent reports as changed.
func (h *Hub) handleFacts(ctx context.Context, c *Conn, env protocol.Envelope) error {
	facts, err := protocol.DecodeFacts(env.Data)
	if err != nil {
		return h.reject(ctx, c, "bad_facts", env, err)
	}
	if err := h.db.UpdateFacts(ctx, c.AgentID, facts); err != nil {
		h.log.Error("store facts", "agent_id", c.AgentID, "err", err)
	}
	return nil
}

// codeServerError tells the agent a message was valid but not handled for
// a failure of the server's; it sends the message again later.
const codeServerError = "server_error"

// handleHelpRequest records a help request and acknowledges it with the
// envelope's ID, a duplicate too (its first acknowledgement was lost). One
// that could not be stored is answered with an error and no
// acknowledgement, so the agent sends it again.
func (h *Hub) handleHelpRequest(ctx context.Context, c *Conn, env protocol.Envelope) error {
	hh := h.helpHandler()
	if hh == nil {
		h.sendError(ctx, c, protocol.CodeUnknownType, "this server does not take help requests", env.ID)
		return nil
	}
	if env.ID == "" {
		return h.reject(ctx, c, "bad_help_request", env, errors.New("a help_request message needs an id to be acknowledged"))
	}
	req, err := protocol.DecodeHelpRequest(env.Data)
	if err != nil {
		return h.reject(ctx, c, "bad_help_request", env, err)
	}
	// Counted when taken, taken back when it could not be stored (the
	// agent sends it again).
	if ok, wait := h.helpLimit.Allow(c.AgentID); !ok {
		h.CountRejected("help_rate_limited")
		h.log.Warn("help request refused: too many from this agent", "agent_id", c.AgentID, "request_id", req.ID)
		h.sendError(ctx, c, protocol.CodeRateLimited, fmt.Sprintf(
			"too many help requests from this machine (at most %d per %s); try again in %s", MaxHelpRequests, HelpWindow, wait.Round(time.Second)), env.ID)
		return nil
	}
	h.helpLimit.Fail(c.AgentID)
	if err := hh.HelpRequest(ctx, c, req); err != nil {
		h.helpLimit.Undo(c.AgentID)
		h.log.Error("store help request", "agent_id", c.AgentID, "request_id", req.ID, "err", err)
		h.sendError(ctx, c, codeServerError, "help request not stored because of a server error; send it again", env.ID)
		return nil
	}
	if err := h.send(ctx, c, protocol.TypeHelpRequestAck, env.ID, nil); err != nil {
		return fmt.Errorf("acknowledge help request: %w", err)
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
