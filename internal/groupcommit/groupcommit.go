// Package groupcommit batches writes without timers: the first caller to
// arrive writes everything queued in one go while later callers wait for
// it, and whoever is writing keeps going until the queue is empty. Under
// load (a connect storm, thousands of agents sending samples) thousands of
// small transactions become a few large ones; at rest every write goes out
// at once, alone.
package groupcommit

import (
	"context"
	"sync"
)

// Group commits items of type T in batches.
type Group[T any] struct {
	// write commits a batch and returns one error per item (nil or a
	// shorter slice for none). It gets a context that outlives the caller
	// whose turn it is: that caller writes for the others too.
	write func(ctx context.Context, batch []T) []error

	mu      sync.Mutex
	pending []*entry[T]
	writing bool
}

type entry[T any] struct {
	item T
	err  error
	done chan struct{}
}

// New returns a Group that commits with write.
func New[T any](write func(ctx context.Context, batch []T) []error) *Group[T] {
	return &Group[T]{write: write}
}

// Do queues item and returns its error once the batch that holds it is
// committed.
func (g *Group[T]) Do(ctx context.Context, item T) error {
	e := &entry[T]{item: item, done: make(chan struct{})}
	g.mu.Lock()
	g.pending = append(g.pending, e)
	if g.writing {
		g.mu.Unlock()
		<-e.done
		return e.err
	}
	g.writing = true
	g.mu.Unlock()
	wctx := context.WithoutCancel(ctx)
	for {
		g.mu.Lock()
		batch := g.pending
		g.pending = nil
		if len(batch) == 0 {
			g.writing = false
			g.mu.Unlock()
			break
		}
		g.mu.Unlock()
		items := make([]T, len(batch))
		for i, b := range batch {
			items[i] = b.item
		}
		errs := g.write(wctx, items)
		for i, b := range batch {
			if i < len(errs) {
				b.err = errs[i]
			}
			close(b.done)
		}
	}
	<-e.done
	return e.err
}

// Same returns n copies of err: the errors of a batch that succeeded or
// failed as one.
func Same(err error, n int) []error {
	if err == nil {
		return nil
	}
	errs := make([]error, n)
	for i := range errs {
		errs[i] = err
	}
	return errs
}
