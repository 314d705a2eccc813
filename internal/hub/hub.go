// Package hub keeps the control connections of the agents this replica
// holds: who is connected, presence in the database, and the timers that
// flush last-seen and mark silent agents offline. Heartbeats never write to
// the database; a flush updates every held agent in one statement.
package hub

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gobwas/ws"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/steward-rmm/steward/internal/access"
	"github.com/steward-rmm/steward/internal/bus"
	"github.com/steward-rmm/steward/internal/protocol"
	"github.com/steward-rmm/steward/internal/store"
)

// Options configure a Hub.
type Options struct {
	// ReplicaID identifies this server process in the agents table.
	ReplicaID string
	// Heartbeat is the interval agents are told to send heartbeats at. An
	// agent silent for MissedHeartbeats intervals is offline.
	Heartbeat time.Duration
	// Registerer receives the hub's Prometheus metrics; nil skips them.
	Registerer prometheus.Registerer
	// ServerVersion is reported to agents in welcome.
	ServerVersion string
}

// MissedHeartbeats is how many intervals of silence make an agent offline.
const MissedHeartbeats = 3

// An agent may send MaxHelpRequests help requests per HelpWindow; more are
// refused with protocol.CodeRateLimited. Its own limit per local user is
// lower; this one is for the machine, several users together.
const (
	MaxHelpRequests = 20
	HelpWindow      = time.Hour
)

// Hub tracks the agents connected to this replica.
type Hub struct {
	db        *store.DB
	bus       bus.Bus
	log       *slog.Logger
	replicaID string
	heartbeat time.Duration
	metrics   metrics
	// serverVersion is sent to agents in welcome.
	serverVersion string

	mu    sync.Mutex
	conns map[string]*Conn
	// closing is set by Shutdown; no connection starts or registers after.
	closing bool
	// commands delivers queued commands and records results.
	commands CommandHandler
	// policies gives connecting agents their effective policy.
	policies PolicyHandler
	// metricsIn stores the samples agents send.
	metricsIn MetricsHandler
	// help records the help requests agents send.
	help HelpHandler
	// updates confirms agent updates and records their steps.
	updates   UpdateHandler
	scripts   ScriptHandler
	schedules ScheduleHandler
	// helpLimit bounds each agent's help requests: a local user who gets
	// past the agent's own limit (or a tampered agent) cannot flood the
	// dashboard with tickets.
	helpLimit *access.Limiter
	// presence records connects and disconnects in batches.
	presence *presenceWriter
	// departed holds, by agent ID, the connections that ended while their
	// offline mark could not be written; Run writes them again each tick
	// until it succeeds. The mark is conditional on the connection ID, so
	// a later connection of the agent is never undone.
	departed map[string]departure
	// presenceErr is the last failure to record presence, nil once a tick
	// succeeds: the replica cannot write.
	presenceErr atomic.Pointer[error]
	// base is the context of connections served with Go; it carries no
	// deadline and is never cancelled: Shutdown ends them.
	base context.Context
	// serving counts open connections and the goroutines serving them, so
	// shutdown can wait for them; active counts connections for Active.
	serving sync.WaitGroup
	active  atomic.Int64
	// poller watches idle connections (Linux); started on first use.
	pollOnce sync.Once
	poller   *epoller
	pollDone chan struct{}
}

// Conn is one agent's control connection. It holds no context, timer or
// buffer while idle: an idle agent is this struct, its socket and one
// goroutine blocked reading.
type Conn struct {
	AgentID  string
	ClientID string
	SiteID   string
	ConnID   string
	link     link
	// cause, once set, ends the connection with its close code.
	cause atomic.Pointer[closeCause]
	// state is connBusy or connArmed (watch.go).
	state atomic.Int32
	// bad counts malformed messages in a row.
	bad int
	// forgotten is set, under the poller's lock, once the connection has
	// ended, so a late arm does not add it back to the poller.
	forgotten bool
	// policyRev is the policy revision stored for the agent when it equals
	// the one its welcome carried, so acknowledging it needs no write.
	policyRev string
}

// Send writes one message to the agent, giving up at ctx's deadline (10
// seconds without one). Writes are safe from any goroutine.
func (c *Conn) Send(ctx context.Context, typ, id string, payload any) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	b, err := protocol.Encode(typ, id, payload)
	if err != nil {
		return err
	}
	deadline, _ := ctx.Deadline()
	return c.link.write(b, deadline)
}

// kick ends the connection with a close code: the first cause wins. A
// deadline in the past wakes whoever waits on the socket.
func (h *Hub) kick(c *Conn, cause closeCause) {
	c.cause.CompareAndSwap(nil, &cause)
	c.link.expire()
	h.poke(h.base, c, false)
}

// kicked returns the cause the connection was kicked with, if any.
func (c *Conn) kicked() error {
	if cc := c.cause.Load(); cc != nil {
		return *cc
	}
	return nil
}

// closeCause tells the serve loop which close code to send.
type closeCause struct {
	code   ws.StatusCode
	reason string
}

func (c closeCause) Error() string { return c.reason }

type metrics struct {
	connected prometheus.Gauge
	messages  *prometheus.CounterVec
	connects  prometheus.Counter
	rejected  *prometheus.CounterVec
	// restored counts held agents a flush marked online again; departing
	// counts offline marks waiting to be written again.
	restored  prometheus.Counter
	departing prometheus.Gauge
}

// New returns a Hub.
func New(db *store.DB, b bus.Bus, log *slog.Logger, opts Options) *Hub {
	h := &Hub{db: db, bus: b, log: log, replicaID: opts.ReplicaID, heartbeat: opts.Heartbeat,
		serverVersion: opts.ServerVersion, conns: map[string]*Conn{}, departed: map[string]departure{}, base: context.Background(),
		helpLimit: access.NewLimiter(MaxHelpRequests, HelpWindow)}
	// A presence write that outlives the bound Flush has too fails, and
	// shows on /readyz until a flush succeeds.
	h.presence = newPresenceWriter(db, h.flushBound(), func(err error) {
		err = fmt.Errorf("presence write: %w", err)
		h.presenceErr.Store(&err)
	})
	h.metrics = metrics{
		connected: prometheus.NewGauge(prometheus.GaugeOpts{Name: "steward_agents_connected", Help: "Agents connected to this replica."}),
		messages: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "steward_agent_messages_total",
			Help: "Control-channel messages by direction (in, out) and type."}, []string{"direction", "type"}),
		connects: prometheus.NewCounter(prometheus.CounterOpts{Name: "steward_agent_connects_total", Help: "Accepted agent control connections."}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "steward_agent_rejected_total",
			Help: "Rejected agent requests and messages by reason."}, []string{"reason"}),
		restored: prometheus.NewCounter(prometheus.CounterOpts{Name: "steward_presence_restored_total",
			Help: "Agents held by this replica that a sweep had marked offline (while it could not write) and it marked online again."}),
		departing: prometheus.NewGauge(prometheus.GaugeOpts{Name: "steward_presence_offline_pending",
			Help: "Agents that left this replica whose offline mark failed and waits to be written again."}),
	}
	if opts.Registerer != nil {
		opts.Registerer.MustRegister(h.metrics.connected, h.metrics.messages, h.metrics.connects, h.metrics.rejected,
			h.metrics.restored, h.metrics.departing)
	}
	return h
}

// CommandHandler delivers the open commands of an agent when it connects
// and records the results agents send. The command service implements it;
// the hub only carries messages.
type CommandHandler interface {
	// Connected delivers the agent's open (queued or sent, unanswered)
	// commands, read when it connected.
	Connected(ctx context.Context, c *Conn, queued []store.Command)
	Result(ctx context.Context, agentID string, r protocol.Result)
}

// PolicyHandler resolves a connecting agent's effective policy for its
// welcome. The push service implements it.
type PolicyHandler interface {
	Effective(ctx context.Context, c *Conn) (*protocol.PolicyUpdate, error)
	// Welcomed is told the revision the welcome carried once it is sent
	// ("" for none), so that a change pushed between the welcome's
	// resolution and its sending, which may have reached the agent first,
	// is sent again after it.
	Welcomed(ctx context.Context, c *Conn, revision string)
}

// MetricsHandler stores the samples an agent sends and returns the
// acknowledgement; it returns after the samples are committed.
type MetricsHandler interface {
	Ingest(ctx context.Context, c *Conn, b protocol.MetricsBatch) (protocol.MetricsAck, error)
}

// HelpHandler records a help request a user sent from an agent's tray. It
// returns once the request is stored; a request recorded before (sent
// again after a lost acknowledgement) is no error.
type HelpHandler interface {
	HelpRequest(ctx context.Context, c *Conn, h protocol.HelpRequest) error
}

// SetHelpHandler installs the help request handler. Call it before serving.
func (h *Hub) SetHelpHandler(hh HelpHandler) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.help = hh
}

func (h *Hub) helpHandler() HelpHandler {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.help
}

// SetMetricsHandler installs the metrics handler. Call it before serving.
func (h *Hub) SetMetricsHandler(mh MetricsHandler) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.metricsIn = mh
}

func (h *Hub) metricsHandler() MetricsHandler {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.metricsIn
}

// SetPolicyHandler installs the policy handler. Call it before serving.
func (h *Hub) SetPolicyHandler(ph PolicyHandler) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.policies = ph
}

func (h *Hub) policyHandler() PolicyHandler {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.policies
}

// Snapshot returns the connections this replica holds now.
func (h *Hub) Snapshot() []*Conn {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]*Conn, 0, len(h.conns))
	for _, c := range h.conns {
		out = append(out, c)
	}
	return out
}

// SetCommandHandler installs the command handler. Call it before serving.
func (h *Hub) SetCommandHandler(ch CommandHandler) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.commands = ch
}

func (h *Hub) commandHandler() CommandHandler {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.commands
}

// Heartbeat returns the heartbeat interval agents are told to use.
func (h *Hub) Heartbeat() time.Duration { return h.heartbeat }

// OfflineAfter is the silence after which an agent counts as offline.
func (h *Hub) OfflineAfter() time.Duration { return MissedHeartbeats * h.heartbeat }

// CountMessage records one message for metrics.
func (h *Hub) CountMessage(direction, typ string) {
	h.metrics.messages.WithLabelValues(direction, typ).Inc()
}

// CountRejected records one rejected request or message.
func (h *Hub) CountRejected(reason string) {
	h.metrics.rejected.WithLabelValues(reason).Inc()
}

// register makes c the agent's current connection, closing any older one
// (the newer wins), records the agent online, and returns the commands
// queued for it.
func (h *Hub) register(ctx context.Context, c *Conn, remoteAddr string, facts protocol.Facts) ([]store.Command, error) {
	h.mu.Lock()
	if h.closing {
		h.mu.Unlock()
		return nil, closeCause{protocol.CloseShutdown, "server shutting down"}
	}
	old := h.conns[c.AgentID]
	h.conns[c.AgentID] = c
	h.mu.Unlock()
	if old != nil {
		h.log.Warn("agent connected again; closing the older connection", "agent_id", c.AgentID, "old_conn", old.ConnID, "new_conn", c.ConnID)
		h.kick(old, closeCause{protocol.CloseReplaced, "replaced by a newer connection"})
	} else {
		h.metrics.connected.Inc()
	}
	h.metrics.connects.Inc()
	op := &presenceOp{connect: &store.Connection{
		AgentID: c.AgentID, ConnID: c.ConnID, ReplicaID: h.replicaID, RemoteAddr: remoteAddr, Facts: facts,
	}}
	if err := h.presence.do(ctx, op); err != nil {
		h.unregister(context.WithoutCancel(ctx), c)
		return nil, err
	}
	h.publish(ctx, c, true)
	if op.queuedErr != nil {
		h.log.Error("load queued commands", "agent_id", c.AgentID, "err", op.queuedErr)
	}
	return op.queued, nil
}

// unregister forgets c if it is still the agent's current connection and
// marks the agent offline.
func (h *Hub) unregister(ctx context.Context, c *Conn) {
	h.mu.Lock()
	current := h.conns[c.AgentID] == c
	if current {
		delete(h.conns, c.AgentID)
	}
	h.mu.Unlock()
	if !current {
		return
	}
	h.metrics.connected.Dec()
	h.markOffline(ctx, c.AgentID, c.ClientID, c.ConnID)
}

// markOffline records that the agent's connection connID ended. A failed
// write is kept for Run to try again: until it succeeds the agent would
// look online, and nothing else would ever correct it while this replica
// lives and keeps its other agents fresh.
func (h *Hub) markOffline(ctx context.Context, agentID, clientID, connID string) {
	op := &presenceOp{agentID: agentID, connID: connID}
	if err := h.presence.do(ctx, op); err != nil {
		h.log.Warn("mark agent offline failed; trying again every heartbeat", "agent_id", agentID, "conn_id", connID, "err", err)
		h.mu.Lock()
		h.departed[agentID] = departure{connID: connID, clientID: clientID}
		h.metrics.departing.Set(float64(len(h.departed)))
		h.mu.Unlock()
		return
	}
	if op.changed {
		h.publishPresence(ctx, agentID, clientID, false)
	}
}

// Active returns how many connections are served, including ones still
// closing after their agent was replaced or left.
func (h *Hub) Active() int { return int(h.active.Load()) }

// Connected returns how many agents this replica holds.
func (h *Hub) Connected() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.conns)
}

// Lookup returns the agent's connection on this replica, if any.
func (h *Hub) Lookup(agentID string) (*Conn, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	c, ok := h.conns[agentID]
	return c, ok
}

func (h *Hub) publish(ctx context.Context, c *Conn, online bool) {
	h.publishPresence(ctx, c.AgentID, c.ClientID, online)
}

func (h *Hub) publishPresence(ctx context.Context, agentID, clientID string, online bool) {
	b, _ := json.Marshal(bus.PresenceEvent{AgentID: agentID, ClientID: clientID, Online: online})
	if err := h.bus.Publish(ctx, bus.SubjectPresence, b); err != nil {
		h.log.Warn("publish presence", "agent_id", agentID, "err", err)
	}
}

// SubjectRevoked carries the ID of an agent whose credentials stopped
// working (it was uninstalled): the replica holding it closes its
// connection.
const SubjectRevoked = "steward.agents.revoked"

// Revoke closes the agent's control connection, on whichever replica holds
// it, with CloseUnauthorized. Call it after its credentials were revoked in
// the database, so that its next connection is refused.
func (h *Hub) Revoke(ctx context.Context, agentID string) error {
	h.revoked(agentID)
	if err := h.bus.Publish(ctx, SubjectRevoked, []byte(agentID)); err != nil {
		return fmt.Errorf("announce revoked agent %s: %w", agentID, err)
	}
	return nil
}

// revoked closes the agent's connection if this replica holds it.
func (h *Hub) revoked(agentID string) {
	if c, ok := h.Lookup(agentID); ok {
		h.log.Info("agent credentials revoked; closing its connection", "agent_id", agentID, "conn_id", c.ConnID)
		h.kick(c, closeCause{protocol.CloseUnauthorized, "agent uninstalled"})
	}
}

// Run records this replica's presence every heartbeat interval, and closes
// the connections of agents revoked on any replica, until ctx ends (see
// Flush).
func (h *Hub) Run(ctx context.Context) {
	unsub, err := h.bus.Subscribe(SubjectRevoked, func(data []byte) { h.revoked(string(data)) })
	if err != nil {
		// Revoke still closes connections held here; only other
		// replicas' revocations wait for the agent's next reconnection.
		h.log.Error("subscribe to revoked agents", "err", err)
	} else {
		defer unsub()
	}
	t := time.NewTicker(h.heartbeat)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := h.Flush(ctx); err != nil && ctx.Err() == nil {
				h.log.Error("record presence", "err", err)
			}
		}
	}
}

// Flush makes the database say what this replica holds: every connection
// held is asserted by its ID, online and last seen together, in one
// statement per chunk; then the offline marks that failed earlier are
// written. Asserting rather than refreshing is what heals an outage: while
// this replica could not write, another one's sweep (or its own, first
// thing after) may have marked its agents offline, and no new connection
// will come to set them online again. A flush gives up after the offline
// window, against a database that hangs rather than fails.
func (h *Hub) Flush(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, h.flushBound())
	defer cancel()
	err := h.assert(ctx)
	if err == nil {
		// Not while the database fails: each mark would wait it out in
		// turn.
		err = h.flushDeparted(ctx)
	}
	if err != nil {
		h.presenceErr.Store(&err)
	} else {
		h.presenceErr.Store(nil)
	}
	return err
}

// flushBound limits one presence write: the offline window, at least 5 s.
func (h *Hub) flushBound() time.Duration { return max(h.OfflineAfter(), 5*time.Second) }

// assert asserts the connections held now.
func (h *Hub) assert(ctx context.Context) error {
	held := h.Snapshot()
	list := make([]store.Held, len(held))
	for i, c := range held {
		list[i] = store.Held{AgentID: c.AgentID, ConnID: c.ConnID}
	}
	restored, err := h.db.AssertPresence(ctx, list)
	for _, id := range restored {
		c, ok := h.Lookup(id)
		if !ok || !slices.Contains(held, c) {
			// It ended between the snapshot and the write, whose online
			// mark may have landed after the offline one.
			for _, old := range held {
				if old.AgentID == id {
					h.markOffline(ctx, id, old.ClientID, old.ConnID)
				}
			}
			continue
		}
		h.log.Info("agent held by this replica was marked offline; marked online again", "agent_id", id, "conn_id", c.ConnID)
		h.metrics.restored.Inc()
		h.publish(ctx, c, true)
	}
	return err
}

// flushDeparted writes the offline marks that failed before, until one
// fails again.
func (h *Hub) flushDeparted(ctx context.Context) error {
	h.mu.Lock()
	departed := maps.Clone(h.departed)
	h.mu.Unlock()
	if len(departed) == 0 {
		return nil
	}
	// All at once, so group commit writes them in one transaction rather
	// than one each after an outage left many.
	type mark struct {
		agentID string
		d       departure
		op      *presenceOp
		err     error
	}
	marks := make([]*mark, 0, len(departed))
	var wg sync.WaitGroup
	for agentID, d := range departed {
		m := &mark{agentID: agentID, d: d, op: &presenceOp{agentID: agentID, connID: d.connID}}
		marks = append(marks, m)
		wg.Go(func() { m.err = h.presence.do(ctx, m.op) })
	}
	wg.Wait()
	var errs []error
	for _, m := range marks {
		if m.err != nil {
			errs = append(errs, m.err)
			continue
		}
		h.mu.Lock()
		if h.departed[m.agentID] == m.d {
			delete(h.departed, m.agentID)
		}
		h.metrics.departing.Set(float64(len(h.departed)))
		h.mu.Unlock()
		if m.op.changed {
			h.log.Info("agent marked offline after an earlier failure", "agent_id", m.agentID, "conn_id", m.d.connID)
			h.publishPresence(ctx, m.agentID, m.d.clientID, false)
		}
	}
	if len(errs) > 0 {
		// The same failure, usually, once per agent: say it once.
		return fmt.Errorf("mark %d departed agents offline: %w", len(errs), errs[0])
	}
	return nil
}

// departure is a connection whose offline mark is still to be written.
type departure struct{ connID, clientID string }

// PresenceErr returns why the last Flush failed, or nil if it succeeded:
// while it fails, the database does not show who is connected here.
func (h *Hub) PresenceErr() error {
	if p := h.presenceErr.Load(); p != nil {
		return *p
	}
	return nil
}

// Sweep marks offline every agent not seen for OfflineAfter: agents of a
// replica that died without cleaning up, whose last_seen nobody refreshes.
// It is a singleton job: one replica runs it for all.
func (h *Hub) Sweep(ctx context.Context) error {
	ids, err := h.db.MarkStaleOffline(ctx, time.Now().Add(-h.OfflineAfter()))
	if err != nil {
		return err
	}
	for _, id := range ids {
		h.log.Info("agent missed heartbeats; marked offline", "agent_id", id)
		b, _ := json.Marshal(bus.PresenceEvent{AgentID: id, Online: false})
		if err := h.bus.Publish(ctx, bus.SubjectPresence, b); err != nil {
			h.log.Warn("publish presence", "agent_id", id, "err", err)
		}
	}
	return nil
}

// Shutdown closes every connection with CloseShutdown, waits for their
// serve loops, and marks this replica's agents offline. Call it after the
// HTTP server stopped accepting connections; any that still reach Serve
// are closed with CloseShutdown.
func (h *Hub) Shutdown() {
	h.mu.Lock()
	h.closing = true
	conns := make([]*Conn, 0, len(h.conns))
	for _, c := range h.conns {
		conns = append(conns, c)
	}
	h.mu.Unlock()
	for _, c := range conns {
		h.kick(c, closeCause{protocol.CloseShutdown, "server shutting down"})
	}
	// Connections mark their agents offline as they end; wait for them so
	// the final sweep below sees no stragglers.
	h.serving.Wait()
	h.stopPoller()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := h.db.MarkReplicaOffline(ctx, h.replicaID); err != nil {
		h.log.Error("mark agents offline at shutdown", "err", err)
	}
}
