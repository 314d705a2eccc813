package sim

import (
	"container/heap"
	"context"
	"math/rand/v2"
	"sync"
	"time"
)

// scheduler drives the heartbeats of every connection from one goroutine
// and one timer, instead of a ticker and a goroutine per agent: a min-heap
// of due times. Sessions that ended stay in the heap until they come due
// and are then dropped, so removal costs nothing.
type scheduler struct {
	mu   sync.Mutex
	due  beatHeap
	wake chan struct{} // an earlier due time than the timer's was added
}

type beat struct {
	at   int64 // unix nanoseconds
	sess *session
}

type beatHeap []beat

func (h beatHeap) Len() int           { return len(h) }
func (h beatHeap) Less(i, j int) bool { return h[i].at < h[j].at }
func (h beatHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *beatHeap) Push(x any)        { *h = append(*h, x.(beat)) }
func (h *beatHeap) Pop() any {
	old := *h
	b := old[len(old)-1]
	old[len(old)-1] = beat{}
	*h = old[:len(old)-1]
	return b
}

func newScheduler() *scheduler {
	return &scheduler{wake: make(chan struct{}, 1)}
}

// add schedules sess's next heartbeat at at.
func (s *scheduler) add(at time.Time, sess *session) {
	ns := at.UnixNano()
	s.mu.Lock()
	earliest := len(s.due) == 0 || ns < s.due[0].at
	heap.Push(&s.due, beat{at: ns, sess: sess})
	s.mu.Unlock()
	if earliest {
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
}

// run hands each session to out when its heartbeat is due, until ctx
// ends. Sending blocks while every worker is busy, which delays the
// following heartbeats rather than piling them up.
func (s *scheduler) run(ctx context.Context, out chan<- *session) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	var ready []*session
	for {
		now := time.Now().UnixNano()
		next := int64(-1)
		s.mu.Lock()
		for len(s.due) > 0 && s.due[0].at <= now {
			b := heap.Pop(&s.due).(beat)
			if !b.sess.dead.Load() {
				ready = append(ready, b.sess)
			}
		}
		if len(s.due) > 0 {
			next = s.due[0].at
		}
		s.mu.Unlock()

		for i, sess := range ready {
			select {
			case out <- sess:
			case <-ctx.Done():
				return
			}
			ready[i] = nil
		}
		ready = ready[:0]

		wait := time.Hour
		if next >= 0 {
			// Zero or negative when more came due while handing out:
			// the timer fires at once.
			wait = time.Duration(next - time.Now().UnixNano())
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		case <-s.wake:
		}
	}
}

// jittered spreads an interval uniformly over ±heartbeatJitter, so agents
// that connected together drift apart instead of beating in lockstep.
func jittered(d time.Duration) time.Duration {
	f := 1 - heartbeatJitter + 2*heartbeatJitter*rand.Float64()
	return time.Duration(float64(d) * f)
}

// rand64 returns a uniform random number in [0, n), or 0 when n ≤ 0.
func rand64(n int64) int64 {
	if n <= 0 {
		return 0
	}
	return rand.Int64N(n)
}
