// Package push delivers effective policies to agents: in the welcome of
// every connection, and at once to every connected agent a change
// affects. A change is announced on the bus; each replica resolves the
// policy for the agents it holds, once per distinct combination of
// assigned policies rather than once per agent, and sends it.
package push

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/steward-rmm/steward/internal/bus"
	"github.com/steward-rmm/steward/internal/effective"
	"github.com/steward-rmm/steward/internal/hub"
	"github.com/steward-rmm/steward/internal/protocol"
	"github.com/steward-rmm/steward/internal/store"
)

// reloadTimeout bounds the read of the assignments after a change.
const reloadTimeout = 30 * time.Second

// SubjectPolicyChanged carries a Change to every replica.
const SubjectPolicyChanged = "steward.policy.changed"

// Change names the assignments whose agents must get their policy again.
// An empty TargetID at the default level means every agent.
type Change struct {
	Scopes []Scope `json:"scopes"`
}

// Scope is one level and target.
type Scope struct {
	Level    string `json:"level"`
	TargetID string `json:"target_id"`
}

// Conns is what the pusher needs from the hub.
type Conns interface {
	Snapshot() []*hub.Conn
}

// Service pushes policies. It only delivers: what an agent's policy is
// comes from the replica's effective.Policies.
type Service struct {
	policies *effective.Policies
	conns    Conns
	bus      bus.Bus
	log      *slog.Logger
	// writers bounds concurrent sends during a push.
	writers int

	// mu serialises pushes on this replica so an older resolution can
	// never overtake a newer one, and guards wire.
	mu sync.Mutex
	// wire holds the encoded policies of the current snapshot.
	wire *wireCache
}

// New returns a Service delivering what policies resolves.
func New(policies *effective.Policies, conns Conns, b bus.Bus, log *slog.Logger) *Service {
	return &Service{policies: policies, conns: conns, bus: b, log: log, writers: 16}
}

var _ hub.PolicyHandler = (*Service)(nil)

// Effective returns the effective policy of a connecting agent for its
// welcome.
func (s *Service) Effective(ctx context.Context, c *hub.Conn) (*protocol.PolicyUpdate, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.updateLocked(ctx, c)
}

// Welcomed implements hub.PolicyHandler. It resolves the agent's policy
// again under the push lock and sends it when it differs from what the
// welcome carried: a push that ran between the welcome's resolution and
// its sending reached the agent before the welcome, which then replaced
// the newer policy. Holding the lock orders this send with every push.
func (s *Service) Welcomed(ctx context.Context, c *hub.Conn, revision string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	up, err := s.updateLocked(ctx, c)
	if err != nil {
		s.log.Error("resolve policy after welcome", "agent_id", c.AgentID, "err", err)
		return
	}
	if up.Revision == revision {
		return
	}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := c.Send(wctx, protocol.TypePolicy, "", up); err != nil {
		s.log.Debug("send policy after welcome", "agent_id", c.AgentID, "err", err)
	}
}

// updateLocked returns the wire form of a connection's policy from the
// current snapshot, with s.mu held.
func (s *Service) updateLocked(ctx context.Context, c *hub.Conn) (*protocol.PolicyUpdate, error) {
	r, err := s.policies.Resolver(ctx)
	if err != nil {
		return nil, err
	}
	if s.wire == nil || s.wire.Resolver != r {
		s.wire = newWireCache(r)
	}
	return s.wire.update(c.AgentID, c.ClientID, c.SiteID)
}

// Notify announces a change to every replica, this one included.
func (s *Service) Notify(ctx context.Context, ch Change) error {
	b, err := json.Marshal(ch)
	if err != nil {
		return fmt.Errorf("encode policy change: %w", err)
	}
	if err := s.bus.Publish(ctx, SubjectPolicyChanged, b); err != nil {
		return fmt.Errorf("announce policy change: %w", err)
	}
	return nil
}

// Run applies announced changes to the agents this replica holds until
// ctx ends.
func (s *Service) Run(ctx context.Context) error {
	changes := make(chan Change, 64)
	unsub, err := s.bus.Subscribe(SubjectPolicyChanged, func(data []byte) {
		var ch Change
		if err := json.Unmarshal(data, &ch); err != nil {
			s.log.Warn("malformed policy change on the bus", "err", err)
			return
		}
		select {
		case changes <- ch:
		case <-ctx.Done():
		}
	})
	if err != nil {
		return fmt.Errorf("subscribe to policy changes: %w", err)
	}
	defer unsub()
	for {
		select {
		case <-ctx.Done():
			return nil
		case ch := <-changes:
			// Changes that arrived meanwhile are folded into one push.
			for more := true; more; {
				select {
				case next := <-changes:
					ch.Scopes = append(ch.Scopes, next.Scopes...)
				default:
					more = false
				}
			}
			if n, err := s.Push(ctx, ch); err != nil {
				s.log.Error("push policy change", "err", err)
			} else {
				s.log.Info("pushed policy change", "agents", n)
			}
		}
	}
}

// Push resolves and sends the effective policy to every agent on this
// replica that the change affects. It returns how many it sent to.
func (s *Service) Push(ctx context.Context, ch Change) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	start := time.Now()
	// Whatever changed, welcomes and reads from now on resolve afresh. The
	// read holds the policies' lock, which every page and welcome waits
	// for: a database that hangs must not hold it past a request's life.
	rctx, cancel := context.WithTimeout(ctx, reloadTimeout)
	res, err := s.policies.Reload(rctx)
	cancel()
	if err != nil {
		s.policies.Invalidate()
		return 0, err
	}
	s.wire = newWireCache(res)
	r := s.wire
	var targets []*hub.Conn
	for _, c := range s.conns.Snapshot() {
		if affected(ch, c) {
			targets = append(targets, c)
		}
	}
	if len(targets) == 0 {
		return 0, nil
	}
	work := make(chan *hub.Conn)
	var wg sync.WaitGroup
	for range min(s.writers, len(targets)) {
		wg.Go(func() {
			for c := range work {
				up, err := r.update(c.AgentID, c.ClientID, c.SiteID)
				if err != nil {
					s.log.Error("resolve policy", "agent_id", c.AgentID, "err", err)
					continue
				}
				wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				if err := c.Send(wctx, protocol.TypePolicy, "", up); err != nil {
					s.log.Debug("send policy", "agent_id", c.AgentID, "err", err)
				}
				cancel()
			}
		})
	}
	for _, c := range targets {
		work <- c
	}
	close(work)
	wg.Wait()
	s.log.Debug("policy push", "agents", len(targets), "resolutions", r.Resolutions(), "duration", time.Since(start))
	return len(targets), nil
}

func affected(ch Change, c *hub.Conn) bool {
	for _, sc := range ch.Scopes {
		switch sc.Level {
		case store.LevelDefault:
			return true
		case store.LevelClient:
			if sc.TargetID == c.ClientID {
				return true
			}
		case store.LevelSite:
			if sc.TargetID == c.SiteID {
				return true
			}
		case store.LevelAgent:
			if sc.TargetID == c.AgentID {
				return true
			}
		}
	}
	return false
}

// PolicyChanged drops this replica's snapshot at once, so the writer's
// next read sees its change, and announces that the agents under these
// assignments need their policy again. Failures are logged: the agents
// still get the new policy when they next connect.
func (s *Service) PolicyChanged(ctx context.Context, scopes []store.PolicyAssignment) {
	s.policies.Invalidate()
	if len(scopes) == 0 {
		return
	}
	ch := Change{Scopes: make([]Scope, len(scopes))}
	for i, a := range scopes {
		ch.Scopes[i] = Scope{Level: a.Level, TargetID: a.TargetID}
	}
	if err := s.Notify(context.WithoutCancel(ctx), ch); err != nil {
		s.log.Error("announce policy change", "err", err)
	}
}
