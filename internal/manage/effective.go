package manage

import (
	"context"
	"fmt"

	"github.com/steward-rmm/steward/internal/policy"
	"github.com/steward-rmm/steward/internal/store"
)

// snapshotResolver resolves effective policies from one read of every
// assignment. An agent's policy depends only on which policies its
// default, client, site and agent levels hold, so results are memoized by
// that combination and a fleet costs one resolution per combination.
type snapshotResolver struct {
	byTarget map[string]store.PolicyAssignment // "level/target" → assignment
	docs     map[string]policy.Document        // policy ID → document
	memo     map[[4]string]policy.Effective
}

func (s *Service) snapshotResolver(ctx context.Context) (*snapshotResolver, error) {
	snap, err := s.db.PolicySnapshot(ctx)
	if err != nil {
		return nil, err
	}
	r := &snapshotResolver{
		byTarget: make(map[string]store.PolicyAssignment, len(snap.Assignments)),
		docs:     make(map[string]policy.Document, len(snap.Policies)),
		memo:     map[[4]string]policy.Effective{},
	}
	for _, a := range snap.Assignments {
		r.byTarget[a.Level+"/"+a.TargetID] = a
	}
	for id, p := range snap.Policies {
		doc, err := policy.Decode(p.Document)
		if err != nil {
			return nil, fmt.Errorf("stored policy %s: %w", id, err)
		}
		r.docs[id] = doc
	}
	return r, nil
}

// resolve returns the effective policy under the given client, site and
// agent; an empty ID leaves that level out.
func (r *snapshotResolver) resolve(clientID, siteID, agentID string) policy.Effective {
	keys := [4]string{store.LevelDefault + "/", store.LevelClient + "/" + clientID, store.LevelSite + "/" + siteID, store.LevelAgent + "/" + agentID}
	var (
		combo       [4]string
		assignments []policy.Assignment
	)
	for i, k := range keys {
		a, ok := r.byTarget[k]
		if !ok {
			continue // an empty ID finds nothing: no assignment has an empty client, site or agent
		}
		combo[i] = a.PolicyID
		assignments = append(assignments, policy.Assignment{Level: levels[a.Level], PolicyID: a.PolicyID, PolicyName: a.PolicyName, Document: r.docs[a.PolicyID]})
	}
	if eff, ok := r.memo[combo]; ok {
		return eff
	}
	eff := policy.Resolve(assignments...)
	r.memo[combo] = eff
	return eff
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
	r, err := s.snapshotResolver(ctx)
	if err != nil {
		return policy.Effective{}, err
	}
	return r.resolve(clientID, siteID, agentID), nil
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
	r, err := s.snapshotResolver(ctx)
	if err != nil {
		return nil, err
	}
	var out []OutdatedAgent
	for _, a := range revs {
		if want := r.resolve(a.ClientID, a.SiteID, a.ID).Revision(); want != a.PolicyRevision {
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
	r, err := s.snapshotResolver(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, g := range groups {
		if r.resolve(g.ClientID, g.SiteID, g.AgentID).Revision() != g.PolicyRevision {
			n += g.N
		}
	}
	return n, nil
}
