package control

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/steward-rmm/steward/internal/agent/facts"
	"github.com/steward-rmm/steward/internal/protocol"
)

// serve runs one established WebSocket: hello, wait for welcome, then
// heartbeats, facts updates, commands, policies and metrics until the connection
// fails, the server goes silent for three heartbeat intervals, or ctx is
// cancelled. It returns how long the connection was up after the welcome.
//
// One goroutine reads and hands decoded messages over; this goroutine owns
// every write and every timer, so no locking is needed. The reader is
// stopped and waited for before serve returns.
func (c *Client) serve(ctx context.Context, conn *websocket.Conn, serverURL string, hello protocol.Facts, rep *reporter) (time.Duration, error) {
	// The reader does not use ctx: cancelling a Read's context tears the
	// connection down, and on shutdown we want a close handshake instead.
	readCtx, cancelRead := context.WithCancel(context.WithoutCancel(ctx))
	msgs := make(chan protocol.Envelope)
	readErr := make(chan error, 1)
	var wg sync.WaitGroup
	wg.Go(func() { readErr <- c.readLoop(readCtx, conn, msgs) })
	defer func() {
		conn.CloseNow() // no-op after a close handshake
		cancelRead()
		wg.Wait()
	}()

	s := &session{
		c: c, conn: conn, serverURL: serverURL, rep: rep, lastFacts: hello,
		metrics: newMetricsSender(c.opts.Metrics, c.opts.Log, c.opts.MetricsAckWait),
		silence: time.NewTimer(c.opts.HandshakeTimeout),
	}
	defer s.stop()
	err := s.run(ctx, msgs, readErr)
	return s.upFor(), err
}

// session is the state of one control connection, owned by the goroutine
// that runs it.
type session struct {
	c         *Client
	conn      *websocket.Conn
	serverURL string
	rep       *reporter
	seq       int
	lastFacts protocol.Facts
	metrics   *metricsSender

	welcomed  time.Time     // zero until welcome
	deadAfter time.Duration // silence that counts as a dead connection
	silence   *time.Timer
	heartbeat *time.Ticker // nil until welcome
	// metricsReady, resultsReady, helpReady, updatesReady and liveReady
	// are nil until welcome.
	metricsReady, resultsReady, helpReady, updatesReady, liveReady <-chan struct{}
	// helpSent holds the help requests sent on this connection.
	helpSent map[string]bool
	// duesReady is nil until welcome; duesSent holds the scheduled runs'
	// dues sent on this connection.
	duesReady <-chan struct{}
	duesSent  map[string]bool
}

func (s *session) stop() {
	s.c.live.setOnline(false)
	s.metrics.stop()
	s.silence.Stop()
	if s.heartbeat != nil {
		s.heartbeat.Stop()
	}
}

// upFor is how long the connection has been up since the welcome.
func (s *session) upFor() time.Duration {
	if s.welcomed.IsZero() {
		return 0
	}
	return time.Since(s.welcomed)
}

func (s *session) nextID() string {
	s.seq++
	return strconv.Itoa(s.seq)
}

func (s *session) write(ctx context.Context, typ string, b []byte) error {
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.c.opts.WriteTimeout)
	defer cancel()
	if err := s.conn.Write(wctx, websocket.MessageText, b); err != nil {
		return fmt.Errorf("send %s: %w", typ, err)
	}
	return nil
}

func (s *session) send(ctx context.Context, typ string, payload any) error {
	b, err := protocol.Encode(typ, s.nextID(), payload)
	if err != nil {
		return err
	}
	return s.write(ctx, typ, b)
}

// sendFunc is send bound to ctx, for helpers that only send.
func (s *session) sendFunc(ctx context.Context) func(typ string, payload any) error {
	return func(typ string, payload any) error { return s.send(ctx, typ, payload) }
}

// sendMetrics sends what the metrics outbox allows now.
func (s *session) sendMetrics(ctx context.Context) error {
	return s.metrics.send(ctx, s.nextID, func(typ string, b []byte) error { return s.write(ctx, typ, b) })
}

// heartbeats is the heartbeat ticker's channel, nil (never ready) until the
// welcome.
func (s *session) heartbeats() <-chan time.Time {
	if s.heartbeat == nil {
		return nil
	}
	return s.heartbeat.C
}

// run says hello and serves the connection until it must end.
func (s *session) run(ctx context.Context, msgs <-chan protocol.Envelope, readErr <-chan error) error {
	if err := s.send(ctx, protocol.TypeHello, s.lastFacts); err != nil {
		return err
	}
	factsTick := time.NewTicker(s.c.opts.FactsInterval)
	defer factsTick.Stop()
	aliveTick := time.NewTicker(s.c.opts.AliveInterval)
	defer aliveTick.Stop()
	for {
		s.c.beat()
		var err error
		select {
		case <-aliveTick.C:
		case <-s.helpReady:
			err = s.sendHelp(ctx)
		case <-s.updatesReady:
			err = s.c.updates.send(s.sendFunc(ctx))
		case <-s.liveReady:
			err = s.c.live.send(s.sendFunc(ctx))
		case <-s.duesReady:
			err = s.sendDues(ctx)
		case <-ctx.Done():
			if err := s.conn.Close(websocket.StatusNormalClosure, "agent shutting down"); err != nil {
				s.c.opts.Log.DebugContext(ctx, "close control connection", "err", err)
			}
			return ctx.Err()
		case err := <-readErr:
			return fmt.Errorf("read: %w", err)
		case <-s.silence.C:
			if s.welcomed.IsZero() {
				return fmt.Errorf("no welcome from server within %s", s.c.opts.HandshakeTimeout)
			}
			return fmt.Errorf("nothing received from server for %s", s.deadAfter)
		case env := <-msgs:
			err = s.onMessage(ctx, env)
		case <-s.resultsReady:
			err = s.c.sendResults(s.sendFunc(ctx))
		case <-s.metricsReady:
			err = s.sendMetrics(ctx)
		case <-s.metrics.timer.C:
			s.metrics.timedOut(ctx)
			err = s.sendMetrics(ctx)
		case <-s.heartbeats():
			err = s.send(ctx, protocol.TypeHeartbeat, protocol.Heartbeat{Time: time.Now().UTC()})
		case <-factsTick.C:
			err = s.onFactsTick(ctx)
		case <-s.c.factsNow:
			err = s.onFactsTick(ctx)
		}
		if err != nil {
			return err
		}
	}
}

// onMessage handles one message from the server. It returns an error only
// when the connection must end.
func (s *session) onMessage(ctx context.Context, env protocol.Envelope) error {
	if !s.welcomed.IsZero() {
		s.silence.Reset(s.deadAfter)
	}
	switch env.Type {
	case protocol.TypeWelcome:
		return s.onWelcome(ctx, env)
	case protocol.TypeMetricsAck:
		if s.metrics.acked(ctx, env.Data) {
			return s.sendMetrics(ctx)
		}
	case protocol.TypeHeartbeat:
		s.c.opts.Log.DebugContext(ctx, "heartbeat from server")
	case protocol.TypeError:
		return s.onError(ctx, env)
	case protocol.TypePolicy:
		return s.c.handlePolicy(ctx, env.Data, s.sendFunc(ctx))
	case protocol.TypeCommand:
		return s.onCommand(ctx, env)
	case protocol.TypeHelpRequestAck:
		s.onHelpAck(ctx, env)
	case protocol.TypeScheduleAck:
		s.onScheduleAck(ctx, env)
	default:
		// Newer servers may send types this agent does not know yet.
		s.c.opts.Log.DebugContext(ctx, "ignoring unknown message type", "type", env.Type)
	}
	return nil
}

// onWelcome starts heartbeats and the silence watch at the server's
// interval, applies the welcome's policy, and sends the results and
// metrics that waited for a connection.
func (s *session) onWelcome(ctx context.Context, env protocol.Envelope) error {
	c := s.c
	if !s.welcomed.IsZero() {
		c.opts.Log.DebugContext(ctx, "ignoring repeated welcome")
		return nil
	}
	w, err := protocol.DecodeWelcome(env.Data)
	if err != nil {
		s.conn.Close(protocol.CloseProtocol, "bad welcome")
		return err
	}
	interval := c.heartbeatInterval(w)
	s.deadAfter = 3 * interval
	s.silence.Reset(s.deadAfter)
	s.heartbeat = time.NewTicker(interval)
	s.welcomed = time.Now()
	s.rep.report(Status{Connected: true, ServerURL: s.serverURL})
	if c.inv != nil {
		c.inv.connected(s.serverURL)
	}
	c.opts.Log.InfoContext(ctx, "connected to server", "server", s.serverURL,
		"server_version", w.ServerVersion, "heartbeat_interval", interval)
	if w.AgentID != c.opts.AgentID {
		c.opts.Log.WarnContext(ctx, "server welcomed a different agent id", "want", c.opts.AgentID, "got", w.AgentID)
	}
	if w.ProtocolVersion != protocol.Version {
		c.opts.Log.WarnContext(ctx, "server speaks another protocol version", "agent", protocol.Version, "server", w.ProtocolVersion)
	}
	if w.UpdateConfirmed != "" && c.opts.Updates != nil {
		c.opts.Updates.Confirmed(ctx, w.UpdateConfirmed)
	}
	if w.Policy != nil {
		// Decoded again from the raw field, exactly as a policy message is.
		var raw struct {
			Policy json.RawMessage `json:"policy"`
		}
		json.Unmarshal(env.Data, &raw) // DecodeWelcome accepted it
		if err := c.handlePolicy(ctx, raw.Policy, s.sendFunc(ctx)); err != nil {
			return err
		}
	}
	// Results that finished while no connection could take them.
	s.resultsReady = c.ledger.ready
	if err := c.sendResults(s.sendFunc(ctx)); err != nil {
		return err
	}
	// Help requests made while no connection could take them.
	s.helpReady = c.help.ready
	if err := s.sendHelp(ctx); err != nil {
		return err
	}
	// Update steps reported while no connection could take them.
	s.updatesReady = c.updates.ready
	if err := c.updates.send(s.sendFunc(ctx)); err != nil {
		return err
	}
	// Scheduled runs due while no connection could take them.
	s.duesReady = c.schedulesReady()
	if err := s.sendDues(ctx); err != nil {
		return err
	}
	// Scripts' live output from now on.
	c.live.setOnline(true)
	s.liveReady = c.live.ready
	s.metricsReady = s.metrics.ready()
	return s.sendMetrics(ctx)
}

// onError logs an error the server reports; a refused metrics batch is
// dropped and the next one sent.
func (s *session) onError(ctx context.Context, env protocol.Envelope) error {
	e, err := protocol.DecodeError(env.Data)
	if err != nil {
		s.c.opts.Log.WarnContext(ctx, "malformed error message from server", "err", err)
		return nil
	}
	if s.helpRefused(ctx, e) {
		return nil
	}
	s.c.opts.Log.WarnContext(ctx, "server reported an error", "code", e.Code, "message", e.Message, "ref_id", e.RefID)
	if s.metrics.refused(ctx, e) {
		return s.sendMetrics(ctx)
	}
	return nil
}

// onCommand runs or starts a command and sends what results are ready.
func (s *session) onCommand(ctx context.Context, env protocol.Envelope) error {
	if res, ok := s.c.command(ctx, env.Data, s.sendFunc(ctx)); ok {
		if err := s.send(ctx, protocol.TypeResult, res); err != nil {
			return err
		}
	}
	return s.c.sendResults(s.sendFunc(ctx))
}

// onFactsTick sends the host's facts when they changed since last sent.
func (s *session) onFactsTick(ctx context.Context) error {
	if s.welcomed.IsZero() {
		return nil
	}
	f, err := s.c.opts.Facts(ctx)
	if err != nil {
		s.c.opts.Log.WarnContext(ctx, "collect facts", "err", err)
		return nil
	}
	if facts.Equal(f, s.lastFacts) {
		return nil
	}
	if err := s.send(ctx, protocol.TypeFacts, f); err != nil {
		return err
	}
	s.lastFacts = f
	s.c.opts.Log.InfoContext(ctx, "sent changed facts")
	return nil
}

// handlePolicy applies a policy update through Options.OnPolicy and
// acknowledges it. A revision already in force is acknowledged without
// applying it again. A malformed or refused policy is logged and not
// acknowledged; only a failed send is returned, as it ends the connection.
func (c *Client) handlePolicy(ctx context.Context, data json.RawMessage, send func(typ string, payload any) error) error {
	p, err := protocol.DecodePolicyUpdate(data)
	if err != nil {
		c.opts.Log.WarnContext(ctx, "ignoring malformed policy from server", "err", err)
		return nil
	}
	if p.Revision != c.policyRev {
		if c.opts.OnPolicy != nil {
			if err := c.opts.OnPolicy(ctx, p); err != nil {
				c.opts.Log.ErrorContext(ctx, "cannot apply policy; the server will show the previous revision",
					"revision", p.Revision, "err", err)
				return nil
			}
		}
		c.policyRev = p.Revision
	}
	return send(protocol.TypePolicyAck, protocol.PolicyAck{Revision: p.Revision})
}

// readLoop reads and decodes messages until the connection fails. Messages
// that do not decode are logged and skipped.
func (c *Client) readLoop(ctx context.Context, conn *websocket.Conn, msgs chan<- protocol.Envelope) error {
	for {
		_, b, err := conn.Read(ctx)
		if err != nil {
			return err
		}
		env, err := protocol.DecodeEnvelope(b)
		if err != nil {
			c.opts.Log.WarnContext(ctx, "ignoring malformed message from server", "err", err)
			continue
		}
		select {
		case msgs <- env:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// heartbeatInterval is the server's interval, defaulted and floored.
func (c *Client) heartbeatInterval(w protocol.Welcome) time.Duration {
	d := time.Duration(w.HeartbeatInterval)
	if d == 0 {
		d = c.opts.DefaultHeartbeat
	}
	return max(d, c.opts.MinHeartbeat)
}
