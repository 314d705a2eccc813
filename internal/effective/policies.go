package effective

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/steward-rmm/steward/internal/policy"
	"github.com/steward-rmm/steward/internal/store"
)

// Policies is a replica's one owner of effective policies: it holds one
// snapshot of the stored assignments, resolves every read from it, and
// drops it when told that policies changed. Writers (manage) tell it
// through the policy notifier; the push service reloads it when a change
// arrives from any replica.
type Policies struct {
	db *store.DB

	// mu guards cur and is held while a snapshot is read, so a connect
	// storm reads the assignments once, and an invalidation waits for a
	// read in flight rather than letting it install stale data after.
	mu  sync.Mutex
	cur *Resolver
}

// NewPolicies returns an owner with no snapshot yet.
func NewPolicies(db *store.DB) *Policies { return &Policies{db: db} }

// Resolver returns the resolver of the current snapshot, reading one when
// there is none.
func (p *Policies) Resolver(ctx context.Context) (*Resolver, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cur != nil {
		return p.cur, nil
	}
	return p.loadLocked(ctx)
}

// Reload reads a fresh snapshot now, makes it current and returns it.
func (p *Policies) Reload(ctx context.Context) (*Resolver, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.loadLocked(ctx)
}

func (p *Policies) loadLocked(ctx context.Context) (*Resolver, error) {
	p.cur = nil
	snap, err := p.db.PolicySnapshot(ctx)
	if err != nil {
		return nil, err
	}
	p.cur = New(snap)
	return p.cur, nil
}

// Invalidate drops the snapshot: the next read takes a fresh one.
func (p *Policies) Invalidate() {
	p.mu.Lock()
	p.cur = nil
	p.mu.Unlock()
}

// For returns the effective policy of an agent with the given client,
// site and agent IDs (empty IDs leave levels out).
func (p *Policies) For(ctx context.Context, clientID, siteID, agentID string) (policy.Effective, error) {
	r, err := p.Resolver(ctx)
	if err != nil {
		return policy.Effective{}, err
	}
	return r.Resolve(clientID, siteID, agentID)
}

// Agent returns an agent's effective policy.
func (p *Policies) Agent(ctx context.Context, agentID string) (policy.Effective, error) {
	a, err := p.db.Agent(ctx, agentID)
	if err != nil {
		return policy.Effective{}, err
	}
	return p.For(ctx, a.ClientID, a.SiteID, a.ID)
}

// ErrBadLevel is returned for a level other than default, client, site or
// agent.
var ErrBadLevel = errors.New("level must be default, client, site or agent")

// At resolves the policy an agent would get if it sat directly at a
// level: the default level (targetID empty), a client, a site or an agent.
// It is what the policy editor shows beside each field.
func (p *Policies) At(ctx context.Context, level, targetID string) (policy.Effective, error) {
	var clientID, siteID, agentID string
	switch level {
	case store.LevelDefault:
	case store.LevelClient:
		c, err := p.db.Client(ctx, targetID)
		if err != nil {
			return policy.Effective{}, err
		}
		clientID = c.ID
	case store.LevelSite:
		st, err := p.db.Site(ctx, targetID)
		if err != nil {
			return policy.Effective{}, err
		}
		clientID, siteID = st.ClientID, st.ID
	case store.LevelAgent:
		a, err := p.db.Agent(ctx, targetID)
		if err != nil {
			return policy.Effective{}, err
		}
		clientID, siteID, agentID = a.ClientID, a.SiteID, a.ID
	default:
		return policy.Effective{}, fmt.Errorf("%w, not %q", ErrBadLevel, level)
	}
	return p.For(ctx, clientID, siteID, agentID)
}

// Duration returns a duration field of an effective policy.
func Duration(eff policy.Effective, field string) (time.Duration, error) {
	v, ok := eff.Get(field)
	if !ok {
		return 0, fmt.Errorf("policy has no %s", field)
	}
	d, ok := v.Value.(time.Duration)
	if !ok || d <= 0 {
		return 0, fmt.Errorf("%s is %v, want a positive duration", field, v.Value)
	}
	return d, nil
}

// Retention is how long raw metric samples and hourly rollups are kept:
// what the default level's effective policy says.
func (p *Policies) Retention(ctx context.Context) (raw, rollup time.Duration, err error) {
	eff, err := p.For(ctx, "", "", "")
	if err != nil {
		return 0, 0, err
	}
	if raw, err = Duration(eff, "metrics.retention.raw"); err != nil {
		return 0, 0, err
	}
	if rollup, err = Duration(eff, "metrics.retention.rollup"); err != nil {
		return 0, 0, err
	}
	return raw, rollup, nil
}

// MetricsInterval is how often an agent collects samples under its
// effective policy; charts and the series API size their buckets by it.
func (p *Policies) MetricsInterval(ctx context.Context, agentID string) (time.Duration, error) {
	eff, err := p.Agent(ctx, agentID)
	if err != nil {
		return 0, err
	}
	return Duration(eff, "metrics.interval")
}

// OutdatedAgent is an agent whose acknowledged policy revision is not its
// effective one: a change is on its way, or the agent is offline.
type OutdatedAgent struct {
	store.AgentRevision
	// Want is the effective revision the agent should run.
	Want string
}

// Outdated lists the agents still on an older policy revision (or none
// acknowledged yet), by hostname.
func (p *Policies) Outdated(ctx context.Context) ([]OutdatedAgent, error) {
	revs, err := p.db.AgentRevisions(ctx)
	if err != nil {
		return nil, err
	}
	r, err := p.Resolver(ctx)
	if err != nil {
		return nil, err
	}
	var out []OutdatedAgent
	for _, a := range revs {
		eff, err := r.Resolve(a.ClientID, a.SiteID, a.ID)
		if err != nil {
			return nil, err
		}
		if want := eff.Revision(); want != a.PolicyRevision {
			out = append(out, OutdatedAgent{AgentRevision: a, Want: want})
		}
	}
	return out, nil
}

// CountOutdated counts the agents on an older policy revision, as
// Outdated lists them, from the fleet grouped by what decides its policy:
// cheap enough for the home page's live refresh.
func (p *Policies) CountOutdated(ctx context.Context) (int, error) {
	groups, err := p.db.AgentRevisionCounts(ctx)
	if err != nil {
		return 0, err
	}
	r, err := p.Resolver(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, g := range groups {
		eff, err := r.Resolve(g.ClientID, g.SiteID, g.AgentID)
		if err != nil {
			return 0, err
		}
		if eff.Revision() != g.PolicyRevision {
			n += g.N
		}
	}
	return n, nil
}
