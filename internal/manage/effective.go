package manage

import (
	"context"

	"github.com/steward-rmm/steward/internal/effective"
	"github.com/steward-rmm/steward/internal/policy"
	"github.com/steward-rmm/steward/internal/store"
)

// resolver reads every assignment once for a resolution of many agents.
func (s *Service) resolver(ctx context.Context) (*effective.Resolver, error) {
	snap, err := s.db.PolicySnapshot(ctx)
	if err != nil {
		return nil, err
	}
	return effective.New(snap), nil
}

// EffectiveAt resolves the policy an agent would get if it sat directly at
// a level: the default level (targetID empty), a client, a site or an
// agent. It is what the policy editor shows beside each field.
func (s *Service) EffectiveAt(ctx context.Context, level, targetID string) (policy.Effective, error) {
	var clientID, siteID, agentID string
	switch level {
	case store.LevelDefault:
	case store.LevelClient:
		c, err := s.db.Client(ctx, targetID)
		if err != nil {
			return policy.Effective{}, err
		}
		clientID = c.ID
	case store.LevelSite:
		st, err := s.db.Site(ctx, targetID)
		if err != nil {
			return policy.Effective{}, err
		}
		clientID, siteID = st.ClientID, st.ID
	case store.LevelAgent:
		a, err := s.db.Agent(ctx, targetID)
		if err != nil {
			return policy.Effective{}, err
		}
		clientID, siteID, agentID = a.ClientID, a.SiteID, a.ID
	default:
		return policy.Effective{}, invalid("level", "must be default, client, site or agent")
	}
	r, err := s.resolver(ctx)
	if err != nil {
		return policy.Effective{}, err
	}
	return r.Resolve(clientID, siteID, agentID)
}

// OutdatedAgent is an agent whose acknowledged policy revision is not its
// effective one: a change is on its way, or the agent is offline.
type OutdatedAgent struct {
	store.AgentRevision
	// Want is the effective revision the agent should run.
	Want string
}

// OutdatedAgents lists the agents still on an older policy revision (or
// none acknowledged yet), by hostname.
func (s *Service) OutdatedAgents(ctx context.Context) ([]OutdatedAgent, error) {
	revs, err := s.db.AgentRevisions(ctx)
	if err != nil {
		return nil, err
	}
	r, err := s.resolver(ctx)
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
// OutdatedAgents lists them, from the fleet grouped by what decides its
// policy: cheap enough for the home page's live refresh.
func (s *Service) CountOutdated(ctx context.Context) (int, error) {
	groups, err := s.db.AgentRevisionCounts(ctx)
	if err != nil {
		return 0, err
	}
	r, err := s.resolver(ctx)
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
