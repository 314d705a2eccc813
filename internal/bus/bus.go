// Package bus carries events and commands between the parts of the server
// and, with several replicas, between replicas. The in-process Local bus is
// the default; a NATS implementation of the same interface joins replicas.
package bus

import (
	"context"
	"sync"
)

// Subjects used on the bus.
const (
	// SubjectPresence carries PresenceEvent JSON when an agent goes online
	// or offline.
	SubjectPresence = "steward.presence"
)

// PresenceEvent says an agent connected or disconnected.
type PresenceEvent struct {
	AgentID  string `json:"agent_id"`
	ClientID string `json:"client_id"`
	Online   bool   `json:"online"`
}

// Handler receives a message. It must not block for long: it runs on the
// publisher's goroutine for the local bus.
type Handler func(data []byte)

// Bus publishes messages to subscribers of a subject.
type Bus interface {
	Publish(ctx context.Context, subject string, data []byte) error
	Subscribe(subject string, h Handler) (unsubscribe func(), err error)
}

// Local is an in-process Bus.
type Local struct {
	mu   sync.RWMutex
	next int
	subs map[string]map[int]Handler
}

var _ Bus = (*Local)(nil)

// NewLocal returns an empty in-process bus.
func NewLocal() *Local { return &Local{subs: map[string]map[int]Handler{}} }

// Publish calls every handler subscribed to subject.
func (b *Local) Publish(_ context.Context, subject string, data []byte) error {
	b.mu.RLock()
	hs := make([]Handler, 0, len(b.subs[subject]))
	for _, h := range b.subs[subject] {
		hs = append(hs, h)
	}
	b.mu.RUnlock()
	for _, h := range hs {
		h(data)
	}
	return nil
}

// Subscribe registers h for subject until unsubscribe is called.
func (b *Local) Subscribe(subject string, h Handler) (func(), error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	id := b.next
	b.next++
	if b.subs[subject] == nil {
		b.subs[subject] = map[int]Handler{}
	}
	b.subs[subject][id] = h
	return func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		delete(b.subs[subject], id)
	}, nil
}
