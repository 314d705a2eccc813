// Package settings holds the agent's effective policy: the one the server
// last sent and the agent applied, kept in memory for the agent's consumers
// (metrics collection and the like) and on disk (config.PolicyFile) so that
// a restarted agent runs with it before it reaches the server again.
//
// Consumers read Current and wait on Changed to reconfigure live:
//
//	for {
//		changed := s.Changed()
//		reconfigure(s.Current())
//		select {
//		case <-changed:
//		case <-ctx.Done():
//			return
//		}
//	}
package settings

import (
	"fmt"
	"sync"
	"time"

	"github.com/steward-rmm/steward/internal/agent/config"
	"github.com/steward-rmm/steward/internal/protocol"
)

// Store holds the effective policy. It is safe for concurrent use.
type Store struct {
	path  string     // the policy file
	apply sync.Mutex // serializes Apply, so file and memory agree

	mu      sync.Mutex
	cur     config.Policy
	changed chan struct{} // closed and replaced on every change
}

// New returns an empty Store that persists to path (see config.PolicyPath).
// Call Load to pick up the policy saved by a previous run.
func New(path string) *Store {
	return &Store{path: path, changed: make(chan struct{})}
}

// Load reads the saved policy into s. A missing file yields an error
// matching fs.ErrNotExist and leaves s empty, as does a corrupt one.
func (s *Store) Load() error {
	s.apply.Lock()
	defer s.apply.Unlock()
	p, err := config.LoadPolicy(s.path)
	if err != nil {
		return err
	}
	s.set(p)
	return nil
}

// Current returns the effective policy; its Revision is empty until the
// agent has one.
func (s *Store) Current() config.Policy {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cur
}

// Changed returns a channel that is closed at the next change of the
// policy. Take it before reading Current so that no change is missed.
func (s *Store) Changed() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.changed
}

// Apply saves p and then makes it the effective policy. It saves first so
// that the revision the agent acknowledges is the one it comes back with
// after a restart; if saving fails, the policy is not applied and the
// server keeps showing the agent on its previous revision.
func (s *Store) Apply(p protocol.PolicyUpdate) error {
	s.apply.Lock()
	defer s.apply.Unlock()
	next := config.Policy{Revision: p.Revision, Policy: p.Policy, AppliedAt: time.Now().UTC()}
	if err := config.SavePolicy(s.path, next); err != nil {
		return fmt.Errorf("apply policy %s: %w", p.Revision, err)
	}
	s.set(next)
	return nil
}

func (s *Store) set(p config.Policy) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cur = p
	close(s.changed)
	s.changed = make(chan struct{})
}
