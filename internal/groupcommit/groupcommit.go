// Package groupcommit batches writes without timers: the first caller to
// arrive writes everything queued in one go while later callers wait for
// it, and whoever is writing keeps going until the queue is empty. Under
// load (a connect storm, thousands of agents sending samples) thousands of
// small transactions become a few large ones; at rest every write goes out
// at once, alone.
//
// Every write has a deadline: the batch holding the writing caller's own
// item gets that caller's deadline, or the Group's bound when it has none;
// the batches it then writes for later callers get the bound. A database
// that hangs then fails each batch after the bound instead of holding its
// writer, and everyone queued behind it, forever.
package groupcommit

import (
	"context"
	"sync"
	"time"
)

// DefaultBound limits a write whose caller gave no deadline.
const DefaultBound = 30 * time.Second

// Group commits items of type T in batches.
type Group[T any] struct {
	// write commits a batch and returns one error per item (nil or a
	// shorter slice for none). Its context outlives the cancellation of
	// the caller whose turn it is (that caller writes for the others too)
	// but keeps its deadline, or gets bound.
	write func(ctx context.Context, batch []T) []error
	bound time.Duration

	mu      sync.Mutex
	pending []*entry[T]
	writing bool
}

type entry[T any] struct {
	item T
	err  error
	done chan struct{}
}

// New returns a Group that commits with write, bounding a write whose
// caller gave no deadline by DefaultBound.
func New[T any](write func(ctx context.Context, batch []T) []error) *Group[T] {
	return NewBounded(DefaultBound, write)
}

// NewBounded is New with its own bound for writes whose caller gave no
// deadline.
func NewBounded[T any](bound time.Duration, write func(ctx context.Context, batch []T) []error) *Group[T] {
	return &Group[T]{write: write, bound: bound}
}

// writeContext is the context of one write by the caller of ctx: its own
// batch keeps its deadline, batches for later callers get the bound.
func (g *Group[T]) writeContext(ctx context.Context, own bool) (context.Context, context.CancelFunc) {
	wctx := context.WithoutCancel(ctx)
	if d, ok := ctx.Deadline(); ok && own {
		return context.WithDeadline(wctx, d)
	}
	return context.WithTimeout(wctx, g.bound)
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
	own := true
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
		wctx, cancel := g.writeContext(ctx, own)
		errs := g.write(wctx, items)
		cancel()
		own = false
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
