package sim

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/steward-rmm/steward/internal/agent/backoff"
	"github.com/steward-rmm/steward/internal/protocol"
)

// agent is one simulated agent. Its goroutine (runAgent) owns the fields
// except sess, which the closer reads at the end of the run.
type agent struct {
	index      int
	id, secret string
	// sess is the current connection, nil while not connected.
	sess atomic.Pointer[session]
	// ledger remembers the commands taken, so that one offered again is
	// not run twice.
	ledger ledger
	// restart is set by an update that swapped: the connection it closes
	// ends in a reconnect at once, not a backoff.
	restart atomic.Bool
	mu      sync.Mutex // guards upd, shared with the agent's update goroutine, and power
	upd     agentUpdate
	// power is the reboot or shutdown "pending" (never carried out).
	power protocol.PowerState
}

// session is one established control connection. Its agent's goroutine
// reads from it; heartbeat workers and the closer write to it.
type session struct {
	ws       *websocket.Conn
	server   int // index of the server connected to
	interval time.Duration
	// version is the agent version the hello said.
	version string
	// early holds the commands and policies that came before the
	// welcome (the server registers the connection, where commands can
	// reach it, before it sends the welcome); serve handles them first.
	early []protocol.Envelope
	// seq numbers the messages of this connection, as the real agent does;
	// the server's heartbeat answer carries the heartbeat's number.
	seq      atomic.Uint64
	lastRecv atomic.Int64 // unix nanoseconds
	dead     atomic.Bool  // the connection ended; drop its heartbeats
	// abortErr is why a heartbeat worker dropped the connection, reported
	// instead of the reader's "use of closed connection".
	abortErr atomic.Pointer[error]

	mu     sync.Mutex
	recent [4]sentBeat // last heartbeats sent, for round-trip times
	nbeats uint64
}

type sentBeat struct {
	seq uint64
	at  int64 // unix nanoseconds
}

func (sess *session) abort(err error) {
	sess.abortErr.CompareAndSwap(nil, &err)
	sess.ws.CloseNow()
}

// sentHeartbeat remembers when heartbeat seq was sent.
func (sess *session) sentHeartbeat(seq uint64, at time.Time) {
	sess.mu.Lock()
	sess.recent[sess.nbeats%uint64(len(sess.recent))] = sentBeat{seq: seq, at: at.UnixNano()}
	sess.nbeats++
	sess.mu.Unlock()
}

// answered returns the round trip of the heartbeat the server answered
// with envelope id, if it is one of the recent ones.
func (sess *session) answered(id string, at time.Time) (time.Duration, bool) {
	seq, err := strconv.ParseUint(id, 10, 64)
	if err != nil {
		return 0, false
	}
	sess.mu.Lock()
	defer sess.mu.Unlock()
	for i, b := range sess.recent {
		if b.seq == seq && b.at != 0 {
			sess.recent[i] = sentBeat{}
			return time.Duration(at.UnixNano() - b.at), true
		}
	}
	return 0, false
}

// runAgent keeps one agent connected until ctx ends, reconnecting after
// any failure with exponential backoff and full jitter, and moving to the
// next server each time.
func (s *Sim) runAgent(ctx context.Context, a *agent, client *http.Client) {
	bo := backoff.Backoff{Base: s.cfg.BackoffBase, Cap: s.cfg.BackoffCap}
	server := a.index % len(s.connectURLs)
	everConnected := false
	var timer *time.Timer
	for {
		up, err := s.connectOnce(ctx, a, client, server, &everConnected)
		if ctx.Err() != nil {
			return
		}
		if a.restart.Swap(false) {
			// Restarted on a new version: reconnect at once, to the same
			// server, as the real agent's service does.
			continue
		}
		s.c.fail(err)
		if up >= s.cfg.BackoffCap {
			bo.Reset()
		}
		delay := bo.Next()
		s.cfg.Log.Debug("agent connection failed", "agent", hostname(s.cfg.NamePrefix, a.index),
			"server", s.connectURLs[server], "err", err, "retry_in", delay)
		server = (server + 1) % len(s.connectURLs)
		if timer == nil {
			timer = time.NewTimer(delay)
			defer timer.Stop()
		} else {
			timer.Reset(delay)
		}
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
	}
}

// connectOnce connects and serves the connection until it ends. up is how
// long it was established.
func (s *Sim) connectOnce(ctx context.Context, a *agent, client *http.Client, server int, everConnected *bool) (up time.Duration, err error) {
	sess, err := s.handshake(ctx, a, client, server)
	if err != nil {
		return 0, err
	}
	defer sess.ws.CloseNow()
	welcomed := time.Now()

	if *everConnected {
		s.c.reconnects.Add(1)
	}
	*everConnected = true
	if n := s.c.connected.Add(1); int(n) == s.cfg.Agents {
		s.mu.Lock()
		since := time.Since(s.connectStart)
		s.mu.Unlock()
		s.c.allConnected.CompareAndSwap(0, int64(since))
	}
	a.sess.Store(sess)
	s.flushUpdates(a, sess)
	s.restartIfSwapped(a, sess)
	defer func() {
		sess.dead.Store(true)
		a.sess.CompareAndSwap(sess, nil)
		s.c.connected.Add(-1)
	}()
	// The closer may have looked for this session before it was stored.
	if ctx.Err() != nil {
		sess.ws.Close(websocket.StatusNormalClosure, "simulation over")
		return time.Since(welcomed), ctx.Err()
	}
	// The first heartbeat comes anywhere in the first interval, so a
	// connect storm does not turn into a heartbeat storm.
	s.sched.add(welcomed.Add(time.Duration(rand64(int64(sess.interval)))), sess)

	err = s.serve(ctx, client, a, sess)
	if p := sess.abortErr.Load(); p != nil {
		err = *p
	}
	return time.Since(welcomed), err
}

// handshake dials, says hello and waits for welcome on a goroutine of its
// own. Dialing and encoding go deep into net/http and encoding/json, and a
// goroutine keeps the stack it grew until a later GC shrinks it; on the
// agent's long-lived goroutine that would cost ~8 KiB per agent.
func (s *Sim) handshake(ctx context.Context, a *agent, client *http.Client, server int) (*session, error) {
	type result struct {
		sess *session
		err  error
	}
	done := make(chan result, 1)
	go func() {
		sess, err := s.greet(ctx, a, client, server)
		done <- result{sess, err}
	}()
	r := <-done
	return r.sess, r.err
}

// greet dials, says hello and waits for welcome.
func (s *Sim) greet(ctx context.Context, a *agent, client *http.Client, server int) (*session, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.HandshakeTimeout)
	defer cancel()
	ws, resp, err := websocket.Dial(ctx, s.connectURLs[server], &websocket.DialOptions{
		HTTPClient:      client,
		HTTPHeader:      http.Header{"Authorization": {protocol.FormatCredential(a.id, a.secret)}},
		CompressionMode: websocket.CompressionDisabled,
	})
	if err != nil {
		if resp != nil && resp.StatusCode != http.StatusSwitchingProtocols {
			return nil, fmt.Errorf("connect: server answered %s%s", resp.Status, errorMessage(resp.Body))
		}
		return nil, fmt.Errorf("connect: %w", err)
	}
	ws.SetReadLimit(protocol.MaxMessageBytes)
	sess := &session{ws: ws, server: server}
	sess.lastRecv.Store(time.Now().UnixNano())

	hello := s.hello(a)
	sess.version = hello.AgentVersion
	if err := s.write(sess, protocol.TypeHello, sess.seq.Add(1), hello); err != nil {
		ws.CloseNow()
		return nil, fmt.Errorf("send hello: %w", err)
	}
	w, err := s.awaitWelcome(ctx, sess)
	if err != nil {
		ws.CloseNow()
		return nil, err
	}
	s.welcomed(a, w)
	sess.interval = time.Duration(w.HeartbeatInterval)
	if sess.interval == 0 {
		sess.interval = DefaultHeartbeat
	}
	sess.interval = max(sess.interval, minHeartbeat)
	if w.Policy != nil {
		a.applyPolicy(w.Policy.Policy)
		if err := s.ackPolicy(sess, w.Policy.Revision); err != nil {
			ws.CloseNow()
			return nil, err
		}
	}
	return sess, nil
}

// ackPolicy acknowledges a policy revision, as the real agent does once it
// applied it.
func (s *Sim) ackPolicy(sess *session, revision string) error {
	if err := s.write(sess, protocol.TypePolicyAck, sess.seq.Add(1), protocol.PolicyAck{Revision: revision}); err != nil {
		return fmt.Errorf("send policy_ack: %w", err)
	}
	s.c.policies.Add(1)
	return nil
}

// awaitWelcome reads until the welcome. An error message from the server
// before it (a rejected hello) ends the attempt.
func (s *Sim) awaitWelcome(ctx context.Context, sess *session) (protocol.Welcome, error) {
	for {
		env, err := s.read(ctx, sess)
		if err != nil {
			if ctx.Err() != nil {
				return protocol.Welcome{}, errors.New("no welcome from server in time")
			}
			return protocol.Welcome{}, fmt.Errorf("await welcome: %w", err)
		}
		switch env.Type {
		case protocol.TypeWelcome:
			w, err := protocol.DecodeWelcome(env.Data)
			if err != nil {
				sess.ws.Close(protocol.CloseProtocol, "bad welcome")
				return protocol.Welcome{}, err
			}
			return w, nil
		case protocol.TypeError:
			s.c.serverErrors.Add(1)
			e, _ := protocol.DecodeError(env.Data)
			return protocol.Welcome{}, fmt.Errorf("server rejected hello: %s: %s", e.Code, e.Message)
		case protocol.TypeCommand, protocol.TypePolicy:
			// The real agent handles them whenever they come; a server
			// sending more before its welcome is not one to serve.
			if len(sess.early) == maxEarly {
				return protocol.Welcome{}, errors.New("await welcome: too many messages before the welcome")
			}
			sess.early = append(sess.early, env)
		}
	}
}

// serve handles the server's messages until the connection ends, first
// those that came before the welcome. An inventory command is answered
// from a goroutine of its own (owned by the Sim's uploads group), so the
// upload never holds up reading.
func (s *Sim) serve(ctx context.Context, client *http.Client, a *agent, sess *session) error {
	early := sess.early
	sess.early = nil
	for _, env := range early {
		if err := s.handle(ctx, client, a, sess, env); err != nil {
			return err
		}
	}
	for {
		// No deadline: a read with a context that can end costs a timer
		// per message, and a dead server is noticed by the heartbeat
		// workers instead.
		env, err := s.read(context.Background(), sess)
		if err != nil {
			return err
		}
		if err := s.handle(ctx, client, a, sess, env); err != nil {
			return err
		}
	}
}

// handle handles one message from the server; an error ends the
// connection.
func (s *Sim) handle(ctx context.Context, client *http.Client, a *agent, sess *session, env protocol.Envelope) error {
	switch env.Type {
	case protocol.TypeHeartbeat:
		if rtt, ok := sess.answered(env.ID, time.Unix(0, sess.lastRecv.Load())); ok {
			s.c.rtt.record(rtt)
		}
	case protocol.TypeCommand:
		res, run := answer(env.Data), true
		if cmd, err := protocol.DecodeCommand(env.Data); err == nil {
			if done, seen := a.ledger.take(cmd, time.Now()); seen {
				// Offered again: its result is sent again, or, while
				// it runs, left to its answer.
				s.c.repeated.Add(1)
				if done == nil {
					return nil
				}
				res, run = *done, false
			} else if cmd.Name == protocol.CommandInventory {
				s.uploads.Go(func() { s.answerInventory(ctx, client, a, sess, cmd) })
				return nil
			} else if cmd.Name == protocol.CommandUpdate {
				res = s.takeOffer(ctx, s.downloads, a, cmd)
				a.ledger.finish(res)
			} else if r, ok := s.quickAction(a, cmd); ok {
				res = r
				a.ledger.finish(res)
			} else if cmd.Name == protocol.CommandScript {
				var err error
				if res, err = s.runScript(sess, cmd); err != nil {
					return err
				}
				a.ledger.finish(res)
			} else {
				a.ledger.finish(res)
			}
		}
		if err := s.write(sess, protocol.TypeResult, sess.seq.Add(1), res); err != nil {
			return fmt.Errorf("send result: %w", err)
		}
		if run {
			s.c.commands.Add(1)
		}
	case protocol.TypePolicy:
		p, err := protocol.DecodePolicyUpdate(env.Data)
		if err != nil {
			s.c.serverErrors.Add(1)
			return nil
		}
		a.applyPolicy(p.Policy)
		if err := s.ackPolicy(sess, p.Revision); err != nil {
			return err
		}
	case protocol.TypeError:
		s.c.serverErrors.Add(1)
	}
	// Anything else (a repeated welcome, types newer than this simulator)
	// is ignored, as the real agent does.
	return nil
}

// maxEarly bounds the messages kept from before the welcome.
const maxEarly = 64

var readBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// read reads and decodes one message, skipping malformed ones.
func (s *Sim) read(ctx context.Context, sess *session) (protocol.Envelope, error) {
	for {
		_, r, err := sess.ws.Reader(ctx)
		if err != nil {
			return protocol.Envelope{}, err
		}
		// Take a buffer only once a message is there: an agent waiting
		// for the next message holds none.
		buf := readBuffers.Get().(*bytes.Buffer)
		buf.Reset()
		_, err = buf.ReadFrom(r)
		if err != nil {
			readBuffers.Put(buf)
			return protocol.Envelope{}, err
		}
		sess.lastRecv.Store(time.Now().UnixNano())
		s.c.msgsIn.Add(1)
		// DecodeEnvelope copies what it keeps, so buf can be reused.
		env, err := protocol.DecodeEnvelope(buf.Bytes())
		readBuffers.Put(buf)
		if err != nil {
			s.c.serverErrors.Add(1)
			continue
		}
		return env, nil
	}
}

// write sends one message. Writes use their own timeout rather than the
// run's context: ending a write's context drops the connection without a
// close handshake.
func (s *Sim) write(sess *session, typ string, seq uint64, payload any) error {
	b, err := protocol.Encode(typ, strconv.FormatUint(seq, 10), payload)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.WriteTimeout)
	defer cancel()
	if err := sess.ws.Write(ctx, websocket.MessageText, b); err != nil {
		return err
	}
	s.c.msgsOut.Add(1)
	return nil
}

// beat sends sess's heartbeat and schedules the next one. A server silent
// for three intervals is taken for dead, as the real agent does.
func (s *Sim) beat(sess *session) {
	if sess.dead.Load() {
		return
	}
	now := time.Now()
	if silent := now.Sub(time.Unix(0, sess.lastRecv.Load())); silent > 3*sess.interval {
		sess.abort(fmt.Errorf("nothing received from server for %s", silent.Round(time.Millisecond)))
		return
	}
	seq := sess.seq.Add(1)
	sess.sentHeartbeat(seq, now)
	if err := s.write(sess, protocol.TypeHeartbeat, seq, protocol.Heartbeat{Time: now.UTC()}); err != nil {
		sess.abort(fmt.Errorf("send heartbeat: %w", err))
		return
	}
	s.sched.add(now.Add(jittered(sess.interval)), sess)
}

// answer builds the result of a command: ping as the real agent answers
// it, anything else a canned success.
func answer(data json.RawMessage) protocol.Result {
	cmd, err := protocol.DecodeCommand(data)
	if err != nil {
		var partial struct {
			CommandID string `json:"command_id"`
		}
		json.Unmarshal(data, &partial)
		return protocol.Result{CommandID: partial.CommandID, Status: protocol.ResultError, Error: err.Error()}
	}
	if cmd.Name == protocol.CommandPing {
		out, _ := json.Marshal(protocol.PingOutput{AgentTime: time.Now().UTC()})
		return protocol.Result{CommandID: cmd.CommandID, Status: protocol.ResultOK, Output: out}
	}
	return protocol.Result{CommandID: cmd.CommandID, Status: protocol.ResultOK, Output: simulatedOutput}
}

var simulatedOutput = json.RawMessage(`{"simulated":true}`)

// errorMessage reads protocol.ErrorResponse from a refused request's body,
// as ": message", or "" when there is none.
func errorMessage(body io.Reader) string {
	if body == nil {
		return ""
	}
	var er protocol.ErrorResponse
	if json.NewDecoder(io.LimitReader(body, 4<<10)).Decode(&er) != nil || er.Error == "" {
		return ""
	}
	return ": " + strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, er.Error)
}
