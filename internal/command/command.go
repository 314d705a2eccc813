// Package command sends commands to agents and stores their answers. A
// request for many agents becomes one batch: the rows are written in one
// transaction, each command goes straight to the agent's connection when
// this replica holds it, over the bus to the replica that does otherwise,
// and waits in the database for agents that are offline. Answers are
// written in batches so that a fan-out to ten thousand agents costs a
// handful of statements, not ten thousand.
package command

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/steward-rmm/steward/internal/access"
	"github.com/steward-rmm/steward/internal/bus"
	"github.com/steward-rmm/steward/internal/hub"
	"github.com/steward-rmm/steward/internal/input"
	"github.com/steward-rmm/steward/internal/protocol"
	"github.com/steward-rmm/steward/internal/store"
)

// spec is what the server knows of a command: how long it waits for the
// answer by default, who may send it, and how its args are checked (nil:
// no args are taken).
type spec struct {
	timeout time.Duration
	action  access.Action
	// args checks the request's args and returns them as sent; p is who
	// asks, for the args that name them.
	args func(args json.RawMessage, p access.Principal, now time.Time) (json.RawMessage, error)
}

// specs are the commands the server can send.
var specs = map[string]spec{
	protocol.CommandPing: {timeout: time.Minute, action: access.RunCommands},
	// Collecting software can take minutes on a slow Windows machine, and
	// the agent answers only once the upload is stored.
	protocol.CommandInventory: {timeout: 10 * time.Minute, action: access.RunCommands},
	// Listing processes samples CPU use over a moment; a Windows machine
	// with thousands of processes takes longer.
	protocol.CommandProcesses: {timeout: 2 * time.Minute, action: access.InspectSystem},
	protocol.CommandProcessEnd: {timeout: time.Minute, action: access.EndProcesses,
		args: checked(protocol.DecodeProcessEnd)},
	protocol.CommandServices: {timeout: 2 * time.Minute, action: access.InspectSystem},
	// A service may take a while to stop before it starts again.
	protocol.CommandServiceControl: {timeout: 5 * time.Minute, action: access.ControlServices,
		args: checked(protocol.DecodeServiceControl)},
	protocol.CommandEventLog: {timeout: 2 * time.Minute, action: access.InspectSystem,
		args: optional(checked(protocol.DecodeEventLogQuery))},
	protocol.CommandPower: {timeout: 5 * time.Minute, action: access.ControlPower, args: powerArgs},
}

// checked turns a protocol decoder into an args check.
func checked[T any](decode func(json.RawMessage) (T, error)) func(json.RawMessage, access.Principal, time.Time) (json.RawMessage, error) {
	return func(args json.RawMessage, _ access.Principal, _ time.Time) (json.RawMessage, error) {
		if _, err := decode(args); err != nil {
			return nil, &input.Error{Field: "args", Message: strings.TrimPrefix(err.Error(), "decode ")}
		}
		return args, nil
	}
}

// optional lets a command go without args.
func optional(check func(json.RawMessage, access.Principal, time.Time) (json.RawMessage, error)) func(json.RawMessage, access.Principal, time.Time) (json.RawMessage, error) {
	return func(args json.RawMessage, p access.Principal, now time.Time) (json.RawMessage, error) {
		if len(args) == 0 || string(args) == "null" {
			return nil, nil
		}
		return check(args, p, now)
	}
}

// powerArgs checks a power request and signs it with who asked, which the
// agent shows the logged-in user.
func powerArgs(args json.RawMessage, p access.Principal, now time.Time) (json.RawMessage, error) {
	req, err := protocol.DecodePowerRequest(args, now)
	if err != nil {
		return nil, &input.Error{Field: "args", Message: strings.TrimPrefix(err.Error(), "decode ")}
	}
	req.By = p.ActorName()
	return json.Marshal(req)
}

// Known reports whether name is a command the server can send.
func Known(name string) bool {
	_, ok := specs[name]
	return ok
}

// Action is the permission that sending the command named name needs.
func Action(name string) (access.Action, bool) {
	sp, ok := specs[name]
	return sp.action, ok
}

// Bounds on a request.
const (
	MaxTimeout  = 24 * time.Hour
	MinTimeout  = time.Second
	maxArgBytes = 32 << 10
)

// Request asks for a command on every agent matching Filter (and, when
// set, in AgentIDs).
type Request struct {
	Name     string
	Args     json.RawMessage
	Timeout  time.Duration
	Filter   store.AgentFilter
	AgentIDs []string
	// Target describes the selection for the batch record and audit log.
	Target string
}

// Locator finds the connections this replica holds.
type Locator interface {
	Lookup(agentID string) (*hub.Conn, bool)
}

// Service creates, delivers and records commands.
type Service struct {
	db        *store.DB
	conns     Locator
	bus       bus.Bus
	replicaID string
	log       *slog.Logger

	writes chan write
	// redeliverEvery is how often commands still queued for agents this
	// replica holds are offered again (see Run).
	redeliverEvery time.Duration

	mu sync.Mutex
	// written records, for each open command this replica wrote to an
	// agent, the connection it went to. When an agent connects just as a
	// command for it is created, Create and Connected both see the command
	// queued; this keeps them from both writing it. Run drops entries past
	// their deadline.
	written map[string]writtenTo
}

type writtenTo struct {
	connID   string
	deadline time.Time
}

// write is one pending database update for the batching writer.
type write struct {
	sentID string
	result *store.CommandResult
}

// New returns a Service. Run must be running for results to be stored.
func New(db *store.DB, conns Locator, b bus.Bus, replicaID string, log *slog.Logger) *Service {
	return &Service{db: db, conns: conns, bus: b, replicaID: replicaID, log: log, writes: make(chan write, 16384),
		written: map[string]writtenTo{}, redeliverEvery: DefaultRedeliverEvery}
}

// DefaultRedeliverEvery is how often, by default, commands still queued
// for the agents a replica holds are offered again.
const DefaultRedeliverEvery = 5 * time.Second

// SetRedeliverEvery sets how often commands still queued for the agents
// this replica holds are offered again. Call it before Run.
func (s *Service) SetRedeliverEvery(d time.Duration) {
	if d > 0 {
		s.redeliverEvery = d
	}
}

var _ hub.CommandHandler = (*Service)(nil)

// Create stores a batch of commands and sends them. It returns the batch
// with its commands counted by state, and the IDs of its commands.
func (s *Service) Create(ctx context.Context, p access.Principal, req Request) (store.BatchStatus, []string, error) {
	sp, ok := specs[req.Name]
	if !ok {
		return store.BatchStatus{}, nil, &input.Error{Field: "name",
			Message: fmt.Sprintf("unknown command %q (known: %s)", req.Name, strings.Join(slices.Sorted(maps.Keys(specs)), ", "))}
	}
	if err := access.Require(p, sp.action); err != nil {
		return store.BatchStatus{}, nil, err
	}
	timeout := req.Timeout
	if timeout == 0 {
		timeout = sp.timeout
	}
	if timeout < MinTimeout || timeout > MaxTimeout {
		return store.BatchStatus{}, nil, &input.Error{Field: "timeout", Message: "must be between 1s and 24h"}
	}
	if len(req.Args) > maxArgBytes {
		return store.BatchStatus{}, nil, &input.Error{Field: "args", Message: "must be at most 32 KiB"}
	}
	if len(req.Args) > 0 && !json.Valid(req.Args) {
		return store.BatchStatus{}, nil, &input.Error{Field: "args", Message: "must be JSON"}
	}
	if sp.args != nil {
		args, err := sp.args(req.Args, p, time.Now())
		if err != nil {
			return store.BatchStatus{}, nil, err
		}
		req.Args = args
	}
	targets, err := s.db.CommandTargets(ctx, req.Filter, req.AgentIDs)
	if err != nil {
		return store.BatchStatus{}, nil, err
	}
	if len(targets) == 0 {
		return store.BatchStatus{}, nil, &input.Error{Field: "target", Message: "no agent matches"}
	}
	now := time.Now().UTC().Truncate(time.Millisecond)
	batch := store.CommandBatch{ID: store.NewID(), Name: req.Name, Target: req.Target, CreatedBy: p.ActorName(), CreatedAt: now, Agents: len(targets)}
	cmds := make([]store.Command, len(targets))
	for i, t := range targets {
		cmds[i] = store.Command{
			ID: store.NewID(), BatchID: batch.ID, AgentID: t.AgentID, Name: req.Name, Args: req.Args,
			State: store.CommandQueued, CreatedBy: batch.CreatedBy, CreatedAt: now, ExpiresAt: now.Add(timeout),
		}
	}
	err = s.db.WithTx(ctx, func(tx *store.Tx) error {
		if err := tx.CreateCommands(ctx, batch, cmds); err != nil {
			return err
		}
		return tx.AddAudit(ctx, p.Audit("command.create", "command_batch", batch.ID, map[string]string{
			"name": req.Name, "agents": fmt.Sprint(len(targets)), "target": req.Target, "summary": Summary(req.Name, req.Args),
		}))
	})
	if err != nil {
		return store.BatchStatus{}, nil, err
	}
	// Delivery must not stop when the API caller hangs up: a command left
	// queued would wait for the agent's next connection.
	s.dispatch(context.WithoutCancel(ctx), targets, cmds)
	status, err := s.db.CommandBatch(ctx, batch.ID)
	ids := make([]string, len(cmds))
	for i, c := range cmds {
		ids[i] = c.ID
	}
	return status, ids, err
}

// dispatch sends each command to its agent: directly when this replica
// holds the connection, over the bus to the holding replica otherwise.
// Offline agents get theirs when they connect.
func (s *Service) dispatch(ctx context.Context, targets []store.CommandTarget, cmds []store.Command) {
	var local []store.Command
	for i, t := range targets {
		_, held := s.conns.Lookup(t.AgentID)
		switch {
		case held:
			// Held here whatever the database says: it may still show the
			// agent offline after an outage this replica has not yet
			// corrected.
			local = append(local, cmds[i])
		case !t.Online, t.ReplicaID == s.replicaID:
			// Offline, or it just left this replica: it gets the command
			// when it connects.
		default:
			b, _ := json.Marshal(delivery{AgentID: t.AgentID, Command: wire(cmds[i])})
			if err := s.bus.Publish(ctx, deliverSubject(t.ReplicaID), b); err != nil {
				s.log.Warn("route command to replica", "replica_id", t.ReplicaID, "agent_id", t.AgentID, "err", err)
			}
		}
	}
	s.sendLocal(ctx, local)
}

// sendLocal writes commands to local connections with a few writers in
// parallel, so one slow agent does not hold up the rest.
func (s *Service) sendLocal(ctx context.Context, cmds []store.Command) {
	const writers = 8
	work := make(chan store.Command)
	var wg sync.WaitGroup
	for range min(writers, len(cmds)) {
		wg.Go(func() {
			for c := range work {
				s.deliver(ctx, c.AgentID, wire(c))
			}
		})
	}
	for _, c := range cmds {
		work <- c
	}
	close(work)
	wg.Wait()
}

// deliver writes one command to the agent's connection on this replica,
// if it is here, and records it sent. It reports whether it wrote it.
func (s *Service) deliver(ctx context.Context, agentID string, cmd protocol.Command) bool {
	c, ok := s.conns.Lookup(agentID)
	if !ok {
		return false // it left; the command waits for the next connection
	}
	if !s.claim(c.ConnID, cmd) {
		return false // the other path wrote it to this connection already
	}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := c.Send(wctx, protocol.TypeCommand, "", cmd); err != nil {
		s.log.Debug("send command", "agent_id", agentID, "command_id", cmd.CommandID, "err", err)
		s.unclaim(c.ConnID, cmd.CommandID)
		return false
	}
	s.enqueue(ctx, write{sentID: cmd.CommandID})
	return true
}

// unclaim forgets that cmd went to connID, whose write failed.
func (s *Service) unclaim(connID, commandID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if w, ok := s.written[commandID]; ok && w.connID == connID {
		delete(s.written, commandID)
	}
}

// claim records that cmd goes to connection connID and reports whether it
// should: it did not go there yet and its deadline has not passed. The
// deadline check under mu keeps forgetWritten from dropping a record that
// a claim still needs.
func (s *Service) claim(connID string, cmd protocol.Command) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if w, ok := s.written[cmd.CommandID]; ok && w.connID == connID {
		return false
	}
	if time.Now().After(cmd.Deadline) {
		return false // nobody waits for the answer any more
	}
	s.written[cmd.CommandID] = writtenTo{connID: connID, deadline: cmd.Deadline}
	return true
}

// forgetWritten drops the records of commands past their deadline, which
// are no longer delivered.
func (s *Service) forgetWritten(now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, w := range s.written {
		if now.After(w.deadline) {
			delete(s.written, id)
		}
	}
}

func wire(c store.Command) protocol.Command {
	return protocol.Command{CommandID: c.ID, Name: c.Name, Args: c.Args, Deadline: c.ExpiresAt}
}

// delivery is a command routed over the bus to the replica holding the
// agent.
type delivery struct {
	AgentID string           `json:"agent_id"`
	Command protocol.Command `json:"command"`
}

func deliverSubject(replicaID string) string { return "steward.deliver." + replicaID }

// Connected sends an agent its open commands: those queued while it was
// away, and those sent before without a stored answer (the agent answers
// one it already ran with its result again).
func (s *Service) Connected(ctx context.Context, c *hub.Conn, queued []store.Command) {
	for _, cmd := range queued {
		s.deliver(ctx, c.AgentID, wire(cmd))
	}
}

// Result queues an agent's answer for the batching writer.
func (s *Service) Result(ctx context.Context, agentID string, r protocol.Result) {
	output := string(r.Output)
	s.enqueue(ctx, write{result: &store.CommandResult{
		CommandID: r.CommandID, AgentID: agentID, Status: r.Status, Output: output, Error: r.Error, At: time.Now(),
	}})
}

func (s *Service) enqueue(ctx context.Context, w write) {
	select {
	case s.writes <- w:
	case <-ctx.Done():
	}
}

// Expire marks commands past their deadline expired. It is a singleton
// job: one replica runs it for all.
func (s *Service) Expire(ctx context.Context) error {
	n, err := s.db.ExpireCommands(ctx)
	if err != nil {
		return err
	}
	if n > 0 {
		s.log.Info("commands expired without an answer", "count", n)
	}
	return nil
}

// Run writes sent marks and results in batches, routes commands that
// other replicas send to this one, and offers again the commands still
// queued for agents this replica holds, until ctx ends; then it flushes
// what is pending.
func (s *Service) Run(ctx context.Context) error {
	unsub, err := s.bus.Subscribe(deliverSubject(s.replicaID), func(data []byte) {
		var d delivery
		if err := json.Unmarshal(data, &d); err != nil {
			s.log.Warn("malformed command delivery on the bus", "err", err)
			return
		}
		s.deliver(ctx, d.AgentID, d.Command)
	})
	if err != nil {
		return fmt.Errorf("subscribe to command deliveries: %w", err)
	}
	defer unsub()
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() { s.redeliverLoop(ctx) })
	s.writeLoop(ctx)
	return nil
}

// Bounds of the batching writer.
const (
	maxBatch = 2000
	maxDelay = 20 * time.Millisecond
	// retryDelay spaces writes again after one failed.
	retryDelay = time.Second
	// maxPending bounds the writes kept across failures; past it the
	// oldest are dropped (their commands are offered again when the agent
	// reconnects, and the agent answers with the same result).
	maxPending = 100000
)

// applyEach stores results one at a time after their batch failed, so that
// one the database refuses (PostgreSQL takes no NUL byte in text, say)
// cannot hold up every other agent's. When some are stored and others
// not, the others are refused for what they hold and are dropped, logged;
// when none is stored the database is failing and all are kept for the
// next try.
func (s *Service) applyEach(ctx context.Context, results *[]store.CommandResult) (int, error) {
	var (
		applied int
		kept    []store.CommandResult
		lastErr error
	)
	for _, r := range *results {
		n, err := s.db.ApplyResults(ctx, []store.CommandResult{r})
		if err != nil {
			kept, lastErr = append(kept, r), err
			continue
		}
		applied += n
	}
	if len(kept) == len(*results) {
		return 0, lastErr
	}
	if len(kept) > 0 {
		s.log.Error("dropped command results the database refuses", "count", len(kept),
			"first_command_id", kept[0].CommandID, "agent_id", kept[0].AgentID, "err", lastErr)
	}
	*results = (*results)[:0]
	return applied, nil
}

// writeLoop stores sent marks and results in batches until ctx ends. A
// failed write is kept and tried again: an answer taken off the queue must
// not be lost to a database blip.
func (s *Service) writeLoop(ctx context.Context) {
	forget := time.NewTicker(time.Minute)
	defer forget.Stop()
	var (
		sent    []string
		results []store.CommandResult
		timer   *time.Timer
		timerC  <-chan time.Time
		failing bool
	)
	arm := func(d time.Duration) {
		if timer == nil {
			timer = time.NewTimer(d)
			timerC = timer.C
		}
	}
	// A flush under way when ctx ends still finishes, so that no answer
	// taken off the queue is lost; the timeout bounds it instead.
	flush := func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if timer != nil {
			timer.Stop()
			timer, timerC = nil, nil
		}
		// Every pending send happened before now. Results go first: a
		// command answered in this batch takes its answer's time as sent_at
		// and is no longer queued, so the sent mark cannot put sent_at
		// after finished_at. After a failure both wait, in that order.
		now := time.Now()
		if len(results) > 0 {
			n, err := s.db.ApplyResults(ctx, results)
			if err != nil && len(results) > 1 {
				n, err = s.applyEach(ctx, &results)
			}
			if err != nil {
				if !failing {
					s.log.Error("store command results; trying again", "count", len(results), "err", err)
				}
				failing = true
				arm(retryDelay)
				return
			}
			if n < len(results) {
				s.log.Info("ignored results for unknown, foreign or finished commands", "count", len(results)-n)
			}
			results = results[:0]
		}
		if len(sent) > 0 {
			if err := s.db.MarkCommandsSent(ctx, sent, now); err != nil {
				if !failing {
					s.log.Error("record commands sent; trying again", "count", len(sent), "err", err)
				}
				failing = true
				arm(retryDelay)
				return
			}
			sent = sent[:0]
		}
		if failing {
			s.log.Info("command results and sent marks stored again")
			failing = false
		}
	}
	add := func(w write) {
		if w.result != nil {
			results = append(results, *w.result)
		} else {
			sent = append(sent, w.sentID)
		}
		if n := len(results) - maxPending; n > 0 {
			s.log.Error("too many command results waiting for the database; dropping the oldest", "count", n)
			results = slices.Delete(results, 0, n)
		}
		if n := len(sent) - maxPending; n > 0 {
			sent = slices.Delete(sent, 0, n)
		}
		arm(maxDelay)
	}
	for {
		select {
		case <-ctx.Done():
			// Drain what is already queued so no answer is lost.
			for {
				select {
				case w := <-s.writes:
					add(w)
					continue
				default:
				}
				break
			}
			// The last try says what it could not store, even while
			// failing: nothing tries again after it.
			failing = false
			flush()
			return
		case w := <-s.writes:
			add(w)
			if !failing && len(sent)+len(results) >= maxBatch {
				flush()
			}
		case <-timerC:
			timer, timerC = nil, nil
			flush()
		case now := <-forget.C:
			s.forgetWritten(now)
		}
	}
}

// maxRedeliver bounds the commands offered again per round.
const maxRedeliver = 5000

// redeliverLoop offers again, every redeliverEvery, the commands still
// queued for agents this replica holds, until ctx ends.
func (s *Service) redeliverLoop(ctx context.Context) {
	t := time.NewTicker(s.redeliverEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := s.Redeliver(ctx); err != nil && ctx.Err() == nil {
				s.log.Warn("offer queued commands again", "err", err)
			}
		}
	}
}

// Redeliver offers again the commands still queued, for longer than the
// redelivery interval, for agents this replica holds. A command is routed
// to the holding replica over the bus, which drops messages while it is
// cut off (and a publish buffered during a reconnect is flushed before the
// other replica subscribes again): the database, not the bus, decides
// what is still to deliver. A command already written to the agent's
// current connection is not written again; the agent ignores one it has
// seen.
func (s *Service) Redeliver(ctx context.Context) error {
	cmds, err := s.db.QueuedForReplica(ctx, s.replicaID, time.Now().Add(-s.redeliverEvery), maxRedeliver)
	if err != nil {
		return err
	}
	var wrote []string
	for _, c := range cmds {
		if s.deliver(ctx, c.AgentID, wire(c)) {
			wrote = append(wrote, c.ID)
		}
	}
	if len(wrote) > 0 {
		s.log.Warn("commands for agents held here were still queued; offered again", "count", len(wrote), "first_command_id", wrote[0])
	}
	return nil
}
