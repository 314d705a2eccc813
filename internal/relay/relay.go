// Package relay brokers remote sessions between a user's browser and an
// agent. The browser asks for a session (Open); the agent is told over its
// control connection to dial the relay with a single-use token; the
// browser dials its side with its own. Once both are in, the relay splices
// the two WebSockets, one bounded message at a time in each direction, so
// a slow reader slows the writer and memory stays bounded. A session ends
// when either side leaves, on idle timeout, when an admin ends it or when
// the server stops; every start and end is audited.
//
// This replica holds the sessions it brokers in memory and mirrors each in
// the remote_sessions table. Both sides must reach the replica that holds
// the agent's control connection (see docs/remote-access.md for how other
// replicas will take part).
package relay

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/steward-rmm/steward/internal/access"
	"github.com/steward-rmm/steward/internal/input"
	"github.com/steward-rmm/steward/internal/protocol"
	"github.com/steward-rmm/steward/internal/store"
)

// Defaults for Options.
const (
	DefaultIdleTimeout = 15 * time.Minute
	DefaultOpenTimeout = 30 * time.Second
	DefaultMaxSessions = 256
)

// Errors Open returns for expected refusals.
var (
	// ErrOffline means this replica holds no control connection for the
	// agent.
	ErrOffline = errors.New("the agent is not connected")
	// ErrBusy means the replica relays as many sessions as it may.
	ErrBusy = errors.New("too many remote sessions on this server; try again later")
)

// Agents sends commands over the control connections this replica holds.
type Agents interface {
	// SendCommand writes cmd to the agent's control connection; it returns
	// ErrOffline when this replica holds none.
	SendCommand(ctx context.Context, agentID string, cmd protocol.Command) error
}

// Options tune a Relay; zero values take the defaults.
type Options struct {
	// ReplicaID names this replica in remote_sessions.
	ReplicaID string
	// IdleTimeout ends a session with no data either way for this long.
	IdleTimeout time.Duration
	// OpenTimeout is how long the tokens are valid: both sides must be in
	// by then.
	OpenTimeout time.Duration
	// MaxSessions bounds the sessions pending or live on this replica.
	MaxSessions int
}

// Relay brokers the remote sessions of one replica.
type Relay struct {
	db     *store.DB
	agents Agents
	log    *slog.Logger
	opts   Options

	mu       sync.Mutex
	sessions map[string]*session
	closed   bool
}

// New returns a Relay.
func New(db *store.DB, agents Agents, log *slog.Logger, opts Options) *Relay {
	if opts.IdleTimeout <= 0 {
		opts.IdleTimeout = DefaultIdleTimeout
	}
	if opts.OpenTimeout <= 0 {
		opts.OpenTimeout = DefaultOpenTimeout
	}
	if opts.MaxSessions <= 0 {
		opts.MaxSessions = DefaultMaxSessions
	}
	return &Relay{db: db, agents: agents, log: log, opts: opts, sessions: map[string]*session{}}
}

// Request is what a browser asks for.
type Request struct {
	AgentID string
	Kind    string
	// Cols and Rows are the terminal's first size; zero means 80x24.
	Cols, Rows int
}

// Opened answers Open.
type Opened struct {
	ID string `json:"id"`
	// BrowserURL is the path the browser dials, with its single-use token.
	BrowserURL string    `json:"browser_url"`
	Expires    time.Time `json:"expires"`
}

// Open checks p's permission, records and audits a new session and tells
// the agent to dial the relay.
func (rl *Relay) Open(ctx context.Context, p access.Principal, req Request) (Opened, error) {
	if req.Kind != protocol.SessionTerminal {
		return Opened{}, input.Errorf("kind", "must be %q (file sessions come later)", protocol.SessionTerminal)
	}
	if err := access.Require(p, access.RemoteTerminal); err != nil {
		return Opened{}, err
	}
	if req.Cols == 0 && req.Rows == 0 {
		req.Cols, req.Rows = 80, 24
	}
	if req.Cols < 1 || req.Cols > protocol.MaxTermSize || req.Rows < 1 || req.Rows > protocol.MaxTermSize {
		return Opened{}, input.Errorf("cols", "cols and rows must be 1 to %d", protocol.MaxTermSize)
	}
	agent, err := rl.db.Agent(ctx, req.AgentID)
	if err != nil {
		return Opened{}, err
	}
	id := store.NewID()
	agentToken, browserToken := newToken(), newToken()
	s := &session{
		principal: p, agentHash: tokenHash(req.Kind, id, agent.ID, agentToken),
		browserHash: tokenHash(req.Kind, id, p.User.ID, browserToken),
		row: store.RemoteSession{ID: id, AgentID: agent.ID, UserID: p.User.ID, UserName: p.ActorName(), Kind: req.Kind,
			ReplicaID: rl.opts.ReplicaID},
		expires: time.Now().Add(rl.opts.OpenTimeout),
		quit:    make(chan struct{}), paired: make(chan struct{}), done: make(chan struct{}),
	}
	err = rl.db.WithTx(ctx, func(tx *store.Tx) error {
		if _, err := tx.CreateRemoteSession(ctx, s.row); err != nil {
			return err
		}
		return tx.AddAudit(ctx, p.Audit("session.start", "agent", agent.ID, map[string]string{
			"session_id": id, "kind": req.Kind, "hostname": agent.Hostname,
		}))
	})
	if err != nil {
		return Opened{}, fmt.Errorf("record remote session: %w", err)
	}
	rl.mu.Lock()
	refused := rl.closed || len(rl.sessions) >= rl.opts.MaxSessions
	if !refused {
		rl.sessions[id] = s
		s.timer = time.AfterFunc(rl.opts.OpenTimeout, func() { rl.stop(s, "", "not both sides connected within "+rl.opts.OpenTimeout.String()) })
	}
	rl.mu.Unlock()
	if refused {
		// Recorded and audited all the same: the attempt is history too.
		rl.stop(s, "", ErrBusy.Error())
		return Opened{}, ErrBusy
	}

	args, _ := json.Marshal(protocol.SessionOpen{SessionID: id, Kind: req.Kind, Path: protocol.RelayPath + id,
		Token: agentToken, Expires: s.expires.UTC(), Cols: req.Cols, Rows: req.Rows})
	err = rl.agents.SendCommand(ctx, agent.ID, protocol.Command{CommandID: sessionCommandPrefix + id, Name: protocol.CommandSessionOpen,
		Args: args, Deadline: s.expires.UTC()})
	if err != nil {
		reason := "the agent could not be told: " + err.Error()
		if errors.Is(err, ErrOffline) {
			reason = "the agent is not connected"
		}
		rl.stop(s, "", reason)
		<-s.done
		if errors.Is(err, ErrOffline) {
			return Opened{}, ErrOffline
		}
		return Opened{}, fmt.Errorf("tell agent %s to open session %s: %w", agent.ID, id, err)
	}
	rl.log.Info("remote session opened", "session_id", id, "agent_id", agent.ID, "user", p.ActorName(), "kind", req.Kind)
	return Opened{ID: id, BrowserURL: "/api/v1/sessions/" + id + "/connect?token=" + browserToken, Expires: s.expires.UTC()}, nil
}

// sessionCommandPrefix starts the command ID of a session_open: the
// session's ID follows.
const sessionCommandPrefix = "session-"

// AgentAnswered takes an agent's result and reports whether it answered a
// session_open (the command service has no record of those). A refusal
// (too many sessions, an agent too old to know the command) ends the
// session at once with the agent's reason, rather than at the open
// timeout.
func (rl *Relay) AgentAnswered(agentID string, r protocol.Result) bool {
	id, ok := strings.CutPrefix(r.CommandID, sessionCommandPrefix)
	if !ok {
		return false
	}
	rl.mu.Lock()
	s, live := rl.sessions[id]
	rl.mu.Unlock()
	if live && s.row.AgentID == agentID && r.Status != protocol.ResultOK {
		rl.stop(s, "", "the agent refused the session: "+r.Error)
	}
	return true
}

// End ends a live session of this replica on an admin's request.
func (rl *Relay) End(ctx context.Context, p access.Principal, id string) error {
	if err := access.Require(p, access.ManageSessions); err != nil {
		return err
	}
	rl.mu.Lock()
	s, ok := rl.sessions[id]
	rl.mu.Unlock()
	if !ok {
		row, err := rl.db.RemoteSession(ctx, id)
		if err != nil {
			return err
		}
		if row.EndedAt.IsZero() {
			return fmt.Errorf("session %s is relayed by replica %s: %w", id, row.ReplicaID, store.ErrConflict)
		}
		return fmt.Errorf("session %s already ended: %w", id, store.ErrNotFound)
	}
	rl.stop(s, p.ActorName(), "ended by "+p.ActorName())
	select {
	case <-s.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// List returns the live sessions of every replica, newest first.
func (rl *Relay) List(ctx context.Context, p access.Principal, pg store.Page) ([]store.RemoteSession, error) {
	if err := access.Require(p, access.ManageSessions); err != nil {
		return nil, err
	}
	return rl.db.RemoteSessions(ctx, "", pg)
}

// Live is how many sessions this replica holds, pending or spliced.
func (rl *Relay) Live() int {
	rl.mu.Lock()
	defer rl.mu.Unlock()
	return len(rl.sessions)
}

// Close ends every session ("the server is stopping") and waits for them
// to be recorded, at most until ctx ends. Open refuses new ones after.
func (rl *Relay) Close(ctx context.Context) {
	rl.mu.Lock()
	rl.closed = true
	live := make([]*session, 0, len(rl.sessions))
	for _, s := range rl.sessions {
		live = append(live, s)
	}
	rl.mu.Unlock()
	for _, s := range live {
		rl.stop(s, "", "the server is stopping")
	}
	for _, s := range live {
		select {
		case <-s.done:
		case <-ctx.Done():
			return
		}
	}
}

// ServeAgent takes the agent's side of a session: agentID is the agent the
// gateway authenticated, token the one it carried. A request that matches
// no pending session of that agent, or a token wrong, used or expired, is
// refused with 403 before the upgrade.
func (rl *Relay) ServeAgent(w http.ResponseWriter, r *http.Request, agentID, sessionID, token string) {
	s, ok := rl.take(sessionID, func(s *session) bool {
		return s.row.AgentID == agentID && s.consume(&s.agentHash, tokenHash(s.row.Kind, sessionID, agentID, token))
	})
	if !ok {
		rl.log.Info("relay connection refused", "side", "agent", "agent_id", agentID, "session_id", sessionID)
		http.Error(w, "no pending session matches this connection", http.StatusForbidden)
		return
	}
	rl.serve(w, r, s, sideAgent)
}

// ServeBrowser takes the browser's side of a session for the user p, with
// the token of Opened.BrowserURL. Refusals are as in ServeAgent.
func (rl *Relay) ServeBrowser(w http.ResponseWriter, r *http.Request, p access.Principal, sessionID, token string) {
	s, ok := rl.take(sessionID, func(s *session) bool {
		return s.row.UserID == p.User.ID && s.consume(&s.browserHash, tokenHash(s.row.Kind, sessionID, p.User.ID, token))
	})
	if !ok {
		rl.log.Info("relay connection refused", "side", "browser", "user", p.ActorName(), "session_id", sessionID)
		http.Error(w, "no pending session matches this connection", http.StatusForbidden)
		return
	}
	rl.serve(w, r, s, sideBrowser)
}

// take finds a pending session and checks (and spends) a token with match
// under the session's lock.
func (rl *Relay) take(id string, match func(*session) bool) (*session, bool) {
	rl.mu.Lock()
	s, ok := rl.sessions[id]
	rl.mu.Unlock()
	if !ok {
		return nil, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state != statePending || time.Now().After(s.expires) || !match(s) {
		return nil, false
	}
	return s, true
}

// serve upgrades one side and either splices (the second side in) or
// waits for the session to be spliced or to end.
func (rl *Relay) serve(w http.ResponseWriter, r *http.Request, s *session, side int) {
	conn, err := websocket.Accept(w, r, nil)
	if err != nil {
		rl.stop(s, "", "a side's WebSocket upgrade failed")
		return
	}
	conn.SetReadLimit(protocol.MaxFrameBytes)
	s.mu.Lock()
	if s.state != statePending {
		s.mu.Unlock()
		conn.CloseNow()
		return
	}
	s.conns[side] = conn
	both := s.conns[sideAgent] != nil && s.conns[sideBrowser] != nil
	if both {
		s.state = statePaired
		// Open set the timer before the session could be taken.
		s.timer.Stop()
		close(s.paired)
	}
	s.mu.Unlock()
	if both {
		rl.splice(s)
		return
	}
	select {
	case <-s.paired:
		// The other side's handler splices and closes this conn.
		<-s.done
	case <-s.quit:
		s.mu.Lock()
		paired := s.state == statePaired
		if !paired {
			s.state = stateEnded
		}
		s.mu.Unlock()
		if paired {
			<-s.done
			return
		}
		closeWith(conn, s.reason)
		rl.finish(s)
	}
}

// splice copies frames both ways until a side leaves, the session idles
// out or is stopped; then it closes both sides with the reason and records
// the end.
func (rl *Relay) splice(s *session) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s.touch()
	var wg sync.WaitGroup
	wg.Go(func() { rl.pump(ctx, s, s.conns[sideBrowser], s.conns[sideAgent], &s.toAgent, "the browser") })
	wg.Go(func() { rl.pump(ctx, s, s.conns[sideAgent], s.conns[sideBrowser], &s.toBrowser, "the agent") })

	idle := time.NewTimer(rl.opts.IdleTimeout)
	defer idle.Stop()
wait:
	for {
		select {
		case <-s.quit:
			break wait
		case <-idle.C:
			if left := rl.opts.IdleTimeout - time.Since(s.lastActive()); left > 0 {
				idle.Reset(left)
				continue
			}
			rl.stop(s, "", "idle for "+rl.opts.IdleTimeout.String())
		}
	}
	var closing sync.WaitGroup
	for _, c := range s.conns {
		closing.Go(func() { closeWith(c, s.reason) })
	}
	closing.Wait()
	cancel()
	wg.Wait()
	s.mu.Lock()
	s.state = stateEnded
	s.mu.Unlock()
	rl.finish(s)
}

// pump copies frames from src to dst one at a time: while dst does not
// take a frame, src is not read, and TCP pushes back on its sender.
func (rl *Relay) pump(ctx context.Context, s *session, src, dst *websocket.Conn, count *int64, name string) {
	for {
		typ, b, err := src.Read(ctx)
		if err != nil {
			rl.stop(s, "", name+" closed the connection")
			return
		}
		f, err := protocol.DecodeFrame(b)
		if err == nil && typ != websocket.MessageBinary {
			err = errors.New("relay frames are binary messages")
		}
		if err == nil && f.Type == protocol.FrameResize && src != s.conns[sideBrowser] {
			err = errors.New("only the browser resizes")
		}
		if err != nil {
			rl.stop(s, "", name+" broke the relay protocol: "+err.Error())
			return
		}
		if f.Type == protocol.FrameClose {
			rl.stop(s, "", name+" ended the session: "+f.Reason)
			return
		}
		if err := dst.Write(ctx, websocket.MessageBinary, b); err != nil {
			rl.stop(s, "", "write failed: "+err.Error())
			return
		}
		s.mu.Lock()
		*count += int64(len(f.Data))
		s.mu.Unlock()
		s.touch()
	}
}

// closeWith tells a side why the session ends, then closes it; both are
// bounded by the library's own timeouts.
func closeWith(c *websocket.Conn, reason string) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if c.Write(ctx, websocket.MessageBinary, protocol.CloseFrame(reason)) != nil {
		c.CloseNow()
		return
	}
	c.Close(websocket.StatusNormalClosure, "")
}

// stop asks a session to end; the first reason wins. A session nobody
// dialed yet ends here; otherwise its handler ends it.
func (rl *Relay) stop(s *session, endedBy, reason string) {
	s.mu.Lock()
	if s.reason == "" {
		s.reason, s.endedBy = reason, endedBy
		close(s.quit)
	}
	alone := s.state == statePending && s.conns[sideAgent] == nil && s.conns[sideBrowser] == nil
	if alone {
		s.state = stateEnded
	}
	s.mu.Unlock()
	if alone {
		rl.finish(s)
	}
}

// finish records a session's end and audits it, once.
func (rl *Relay) finish(s *session) {
	rl.mu.Lock()
	if s.timer != nil {
		s.timer.Stop()
	}
	delete(rl.sessions, s.row.ID)
	rl.mu.Unlock()
	defer close(s.done)
	s.mu.Lock()
	toAgent, toBrowser, reason, endedBy := s.toAgent, s.toBrowser, s.reason, s.endedBy
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := rl.db.WithTx(ctx, func(tx *store.Tx) error {
		row, err := tx.EndRemoteSession(ctx, s.row.ID, toAgent, toBrowser, reason)
		if err != nil {
			return err
		}
		detail := map[string]string{
			"session_id": row.ID, "kind": row.Kind, "reason": reason,
			"duration":       row.EndedAt.Sub(row.StartedAt).Round(time.Millisecond).String(),
			"bytes_to_agent": strconv.FormatInt(toAgent, 10), "bytes_to_browser": strconv.FormatInt(toBrowser, 10),
		}
		if endedBy != "" {
			detail["ended_by"] = endedBy
		}
		return tx.AddAudit(ctx, s.principal.Audit("session.end", "agent", row.AgentID, detail))
	})
	if err != nil {
		rl.log.Error("record the end of a remote session", "session_id", s.row.ID, "err", err)
		return
	}
	rl.log.Info("remote session ended", "session_id", s.row.ID, "agent_id", s.row.AgentID, "reason", reason,
		"bytes_to_agent", toAgent, "bytes_to_browser", toBrowser)
}

// Session states.
const (
	statePending = iota // waiting for its sides
	statePaired         // spliced
	stateEnded
)

const (
	sideAgent = iota
	sideBrowser
)

// session is one brokered session.
type session struct {
	principal access.Principal
	row       store.RemoteSession
	expires   time.Time
	// timer ends the session when its sides are not both in by expires;
	// set under the relay's lock.
	timer *time.Timer
	// quit is closed by stop; paired once both sides are in; done once
	// the end is recorded.
	quit, paired, done chan struct{}
	// active is when data last went either way, in Unix nanoseconds.
	active int64

	mu sync.Mutex
	// agentHash and browserHash are the tokens' hashes, nil once used.
	agentHash, browserHash []byte
	state                  int
	conns                  [2]*websocket.Conn
	reason, endedBy        string
	toAgent, toBrowser     int64
}

// consume checks a token against *hash and spends it: a token is good
// for one attempt, right or wrong. Called with s.mu held.
func (s *session) consume(hash *[]byte, got []byte) bool {
	want := *hash
	*hash = nil
	return want != nil && subtle.ConstantTimeCompare(want, got) == 1
}

func (s *session) touch() {
	s.mu.Lock()
	s.active = time.Now().UnixNano()
	s.mu.Unlock()
}

func (s *session) lastActive() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return time.Unix(0, s.active)
}

func newToken() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// tokenHash binds a token to the session, its kind and the party it was
// issued to: the same token presented for anything else does not match.
func tokenHash(kind, sessionID, party, token string) []byte {
	h := sha256.Sum256([]byte(kind + "\x00" + sessionID + "\x00" + party + "\x00" + token))
	return h[:]
}
