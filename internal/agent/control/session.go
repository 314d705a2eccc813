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
// cancelled.
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

	seq := 0
	nextID := func() string {
		seq++
		return strconv.Itoa(seq)
	}
	write := func(typ string, b []byte) error {
		wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.opts.WriteTimeout)
		defer cancel()
		if err := conn.Write(wctx, websocket.MessageText, b); err != nil {
			return fmt.Errorf("send %s: %w", typ, err)
		}
		return nil
	}
	send := func(typ string, payload any) error {
		b, err := protocol.Encode(typ, nextID(), payload)
		if err != nil {
			return err
		}
		return write(typ, b)
	}
	metrics := newMetricsSender(c.opts.Metrics, c.opts.Log, c.opts.MetricsAckWait)
	defer metrics.stop()
	var (
		metricsReady <-chan struct{} // nil until welcome
		resultsReady <-chan struct{} // nil until welcome
	)

	if err := send(protocol.TypeHello, hello); err != nil {
		return 0, err
	}
	lastFacts := hello

	var (
		welcomed  time.Time     // zero until welcome
		deadAfter time.Duration // silence that counts as a dead connection
		heartbeat <-chan time.Time
	)
	upFor := func() time.Duration {
		if welcomed.IsZero() {
			return 0
		}
		return time.Since(welcomed)
	}
	silence := time.NewTimer(c.opts.HandshakeTimeout)
	defer silence.Stop()
	factsTick := time.NewTicker(c.opts.FactsInterval)
	defer factsTick.Stop()

	for {
		select {
		case <-ctx.Done():
			if err := conn.Close(websocket.StatusNormalClosure, "agent shutting down"); err != nil {
				c.opts.Log.DebugContext(ctx, "close control connection", "err", err)
			}
			return upFor(), ctx.Err()

		case err := <-readErr:
			return upFor(), fmt.Errorf("read: %w", err)

		case <-silence.C:
			if welcomed.IsZero() {
				return 0, fmt.Errorf("no welcome from server within %s", c.opts.HandshakeTimeout)
			}
			return upFor(), fmt.Errorf("nothing received from server for %s", deadAfter)

		case env := <-msgs:
			if !welcomed.IsZero() {
				silence.Reset(deadAfter)
			}
			switch env.Type {
			case protocol.TypeWelcome:
				if !welcomed.IsZero() {
					c.opts.Log.DebugContext(ctx, "ignoring repeated welcome")
					continue
				}
				w, err := protocol.DecodeWelcome(env.Data)
				if err != nil {
					conn.Close(protocol.CloseProtocol, "bad welcome")
					return 0, err
				}
				interval := c.heartbeatInterval(w)
				deadAfter = 3 * interval
				silence.Reset(deadAfter)
				t := time.NewTicker(interval)
				defer t.Stop()
				heartbeat = t.C
				welcomed = time.Now()
				rep.report(Status{Connected: true, ServerURL: serverURL})
				if c.inv != nil {
					c.inv.connected(serverURL)
				}
				c.opts.Log.InfoContext(ctx, "connected to server", "server", serverURL,
					"server_version", w.ServerVersion, "heartbeat_interval", interval)
				if w.AgentID != c.opts.AgentID {
					c.opts.Log.WarnContext(ctx, "server welcomed a different agent id", "want", c.opts.AgentID, "got", w.AgentID)
				}
				if w.ProtocolVersion != protocol.Version {
					c.opts.Log.WarnContext(ctx, "server speaks another protocol version", "agent", protocol.Version, "server", w.ProtocolVersion)
				}
				if w.Policy != nil {
					// Decoded again from the raw field, exactly as a policy
					// message is.
					var raw struct {
						Policy json.RawMessage `json:"policy"`
					}
					json.Unmarshal(env.Data, &raw) // DecodeWelcome accepted it
					if err := c.handlePolicy(ctx, raw.Policy, send); err != nil {
						return upFor(), err
					}
				}
				// Results that finished while no connection could take them.
				resultsReady = c.ledger.ready
				if err := c.sendResults(send); err != nil {
					return upFor(), err
				}
				metricsReady = metrics.ready()
				if err := metrics.send(ctx, nextID, write); err != nil {
					return upFor(), err
				}
			case protocol.TypeMetricsAck:
				if metrics.acked(ctx, env.Data) {
					if err := metrics.send(ctx, nextID, write); err != nil {
						return upFor(), err
					}
				}
			case protocol.TypeHeartbeat:
				c.opts.Log.DebugContext(ctx, "heartbeat from server")
			case protocol.TypeError:
				e, err := protocol.DecodeError(env.Data)
				if err != nil {
					c.opts.Log.WarnContext(ctx, "malformed error message from server", "err", err)
					continue
				}
				c.opts.Log.WarnContext(ctx, "server reported an error", "code", e.Code, "message", e.Message, "ref_id", e.RefID)
				if metrics.refused(ctx, e) {
					if err := metrics.send(ctx, nextID, write); err != nil {
						return upFor(), err
					}
				}
			case protocol.TypePolicy:
				if err := c.handlePolicy(ctx, env.Data, send); err != nil {
					return upFor(), err
				}
			case protocol.TypeCommand:
				if res, ok := c.command(ctx, env.Data); ok {
					if err := send(protocol.TypeResult, res); err != nil {
						return upFor(), err
					}
				}
				if err := c.sendResults(send); err != nil {
					return upFor(), err
				}
			default:
				// Newer servers may send types this agent does not know yet.
				c.opts.Log.DebugContext(ctx, "ignoring unknown message type", "type", env.Type)
			}

		case <-resultsReady:
			if err := c.sendResults(send); err != nil {
				return upFor(), err
			}

		case <-metricsReady:
			if err := metrics.send(ctx, nextID, write); err != nil {
				return upFor(), err
			}

		case <-metrics.timer.C:
			metrics.timedOut(ctx)
			if err := metrics.send(ctx, nextID, write); err != nil {
				return upFor(), err
			}

		case <-heartbeat:
			if err := send(protocol.TypeHeartbeat, protocol.Heartbeat{Time: time.Now().UTC()}); err != nil {
				return upFor(), err
			}

		case <-factsTick.C:
			if welcomed.IsZero() {
				continue
			}
			f, err := c.opts.Facts(ctx)
			if err != nil {
				c.opts.Log.WarnContext(ctx, "collect facts", "err", err)
				continue
			}
			if facts.Equal(f, lastFacts) {
				continue
			}
			if err := send(protocol.TypeFacts, f); err != nil {
				return upFor(), err
			}
			lastFacts = f
			c.opts.Log.InfoContext(ctx, "sent changed facts")
		}
	}
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
