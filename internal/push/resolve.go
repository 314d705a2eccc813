package push

import (
	"sync"

	"github.com/steward-rmm/steward/internal/effective"
	"github.com/steward-rmm/steward/internal/protocol"
)

// wireCache holds the wire form of each distinct effective policy, built
// once rather than once per agent it is sent to. It lives as long as one
// snapshot of the assignments.
type wireCache struct {
	*effective.Resolver

	mu      sync.Mutex
	updates map[string]*protocol.PolicyUpdate // revision → update
}

func newWireCache(r *effective.Resolver) *wireCache {
	return &wireCache{Resolver: r, updates: map[string]*protocol.PolicyUpdate{}}
}

// update returns the policy update for an agent.
func (w *wireCache) update(agentID, clientID, siteID string) (*protocol.PolicyUpdate, error) {
	eff, err := w.Resolve(clientID, siteID, agentID)
	if err != nil {
		return nil, err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	up, ok := w.updates[eff.Revision()]
	if !ok {
		up = &protocol.PolicyUpdate{Revision: eff.Revision(), Policy: eff.CanonicalJSON()}
		w.updates[eff.Revision()] = up
	}
	return up, nil
}
