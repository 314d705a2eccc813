package tray

import "sync"

// mainQueue passes work from the polling goroutine to the thread that
// owns the UI (AppKit may only be touched on the main thread). post
// never waits for the main thread, so the poller cannot deadlock with a
// main thread that is itself waiting (on a click handed to the poller, or
// for the poller to end). It is used by the macOS menu bar item and has
// no build tag so that it is tested on every OS.
type mainQueue struct {
	// wake asks the main thread to call drain soon; it is called from
	// post, outside the lock, when the queue goes from empty to not empty,
	// so the main thread is woken once per batch, not per function.
	wake func()

	mu     sync.Mutex
	fns    []func()
	closed bool
}

// post queues f to run on the main thread, after what is already queued.
// It reports false, and drops f, once the queue is closed.
func (q *mainQueue) post(f func()) bool {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return false
	}
	first := len(q.fns) == 0
	q.fns = append(q.fns, f)
	q.mu.Unlock()
	if first {
		q.wake()
	}
	return true
}

// drain runs, on the calling (main) thread and in order, what was queued;
// what they queue in turn runs in the same call.
func (q *mainQueue) drain() {
	for {
		q.mu.Lock()
		fns := q.fns
		q.fns = nil
		q.mu.Unlock()
		if len(fns) == 0 {
			return
		}
		for _, f := range fns {
			f()
		}
	}
}

// close drops what is still queued and refuses what comes after: the
// main thread no longer runs the loop that would drain it.
func (q *mainQueue) close() {
	q.mu.Lock()
	q.closed = true
	q.fns = nil
	q.mu.Unlock()
}
