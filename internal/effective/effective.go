// Package effective resolves agents' effective policies from one snapshot
// of the stored assignments. An agent's policy depends only on which
// policies its default, client, site and agent levels hold, so results
// are memoized by that combination: a client of 10,000 agents in 10 sites
// costs 10 resolutions. The push service and the policy pages share it.
package effective

import (
	"fmt"
	"sync"

	"github.com/steward-rmm/steward/internal/policy"
	"github.com/steward-rmm/steward/internal/store"
)

var levels = map[string]policy.Level{
	store.LevelDefault: policy.LevelDefault,
	store.LevelClient:  policy.LevelClient,
	store.LevelSite:    policy.LevelSite,
	store.LevelAgent:   policy.LevelAgent,
}

// Assignment is a stored assignment with its policy's decoded document,
// as policy.Resolve takes it.
func Assignment(a store.PolicyAssignment, doc policy.Document) policy.Assignment {
	return policy.Assignment{Level: levels[a.Level], PolicyID: a.PolicyID, PolicyName: a.PolicyName, Document: doc}
}

// Resolver resolves effective policies from one snapshot. It is safe for
// concurrent use.
type Resolver struct {
	byTarget   map[string]store.PolicyAssignment // "level/target" → assignment
	docs       map[string]policy.Document        // policy ID → decoded document
	decodeErrs map[string]error                  // policy ID → why its stored document is unusable

	mu    sync.Mutex
	memo  map[[4]string]policy.Effective
	count int
}

// New returns a Resolver over snap. A stored document that no longer
// decodes fails only the agents it is assigned to.
func New(snap store.PolicySnapshot) *Resolver {
	r := &Resolver{
		byTarget: make(map[string]store.PolicyAssignment, len(snap.Assignments)), docs: make(map[string]policy.Document, len(snap.Policies)),
		decodeErrs: map[string]error{}, memo: map[[4]string]policy.Effective{},
	}
	for _, a := range snap.Assignments {
		r.byTarget[a.Level+"/"+a.TargetID] = a
	}
	for id, p := range snap.Policies {
		doc, err := policy.Decode(p.Document)
		if err != nil {
			r.decodeErrs[id] = err
			continue
		}
		r.docs[id] = doc
	}
	return r
}

// Resolve returns the effective policy of an agent with the given client,
// site and agent IDs; an empty ID leaves that level out (no assignment has
// an empty client, site or agent).
func (r *Resolver) Resolve(clientID, siteID, agentID string) (policy.Effective, error) {
	keys := [4]string{store.LevelDefault + "/", store.LevelClient + "/" + clientID, store.LevelSite + "/" + siteID, store.LevelAgent + "/" + agentID}
	var (
		combo       [4]string
		assignments []policy.Assignment
	)
	for i, k := range keys {
		a, ok := r.byTarget[k]
		if !ok {
			continue
		}
		if err := r.decodeErrs[a.PolicyID]; err != nil {
			return policy.Effective{}, fmt.Errorf("stored policy %s: %w", a.PolicyID, err)
		}
		combo[i] = a.PolicyID
		assignments = append(assignments, Assignment(a, r.docs[a.PolicyID]))
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if eff, ok := r.memo[combo]; ok {
		return eff, nil
	}
	eff := policy.Resolve(assignments...)
	r.memo[combo] = eff
	r.count++
	return eff, nil
}

// Resolutions counts the distinct combinations resolved so far.
func (r *Resolver) Resolutions() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.count
}
