package push

import (
	"sync"

	"github.com/steward-rmm/steward/internal/effective"
	"github.com/steward-rmm/steward/internal/policy"
	"github.com/steward-rmm/steward/internal/protocol"
	"github.com/steward-rmm/steward/internal/store"
)

// resolver adds to effective.Resolver the wire form of each distinct
// effective policy, built once rather than once per agent it is sent to.
type resolver struct {
	*effective.Resolver

	mu      sync.Mutex
	updates map[string]*protocol.PolicyUpdate // revision → update
}

// resolved is one agent's effective policy and its wire form.
type resolved struct {
	eff    policy.Effective
	update *protocol.PolicyUpdate
}

func newResolver(snap store.PolicySnapshot) *resolver {
	return &resolver{Resolver: effective.New(snap), updates: map[string]*protocol.PolicyUpdate{}}
}

// update returns the policy update for an agent.
func (r *resolver) update(agentID, clientID, siteID string) (*protocol.PolicyUpdate, error) {
	res, err := r.resolve(agentID, clientID, siteID)
	return res.update, err
}

// resolve returns the effective policy of an agent and its wire form.
func (r *resolver) resolve(agentID, clientID, siteID string) (resolved, error) {
	eff, err := r.Resolve(clientID, siteID, agentID)
	if err != nil {
		return resolved{}, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	up, ok := r.updates[eff.Revision()]
	if !ok {
		up = &protocol.PolicyUpdate{Revision: eff.Revision(), Policy: eff.CanonicalJSON()}
		r.updates[eff.Revision()] = up
	}
	return resolved{eff: eff, update: up}, nil
}

func (r *resolver) resolutions() int { return r.Resolutions() }
