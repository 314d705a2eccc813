package sim

import (
	"context"
	"testing"
	"testing/synctest"
	"time"
)

// TestScheduler runs on a synctest clock, so that "handed out when due,
// never before" is exact.
func TestScheduler(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newScheduler()
		ctx, cancel := context.WithCancel(t.Context())
		out := make(chan *session)
		done := make(chan struct{})
		go func() {
			defer close(done)
			s.run(ctx, out)
		}()
		defer func() {
			cancel()
			<-done
		}()

		start := time.Now()
		late, early, dead, past := &session{}, &session{}, &session{}, &session{}
		dead.dead.Store(true)
		s.add(start.Add(300*time.Millisecond), late)
		s.add(start.Add(100*time.Millisecond), early) // earlier than the timer: wakes the loop
		s.add(start.Add(50*time.Millisecond), dead)
		s.add(start.Add(-time.Second), past)

		want := []struct {
			sess *session
			at   time.Duration
		}{{past, 0}, {early, 100 * time.Millisecond}, {late, 300 * time.Millisecond}}
		for i, w := range want {
			select {
			case got := <-out:
				if got != w.sess {
					t.Fatalf("session #%d handed out is not the one due next", i)
				}
				if at := time.Since(start); at != w.at {
					t.Errorf("session #%d handed out at +%v, want +%v", i, at, w.at)
				}
			case <-time.After(time.Minute):
				t.Fatalf("session #%d never handed out", i)
			}
		}
		select {
		case <-out:
			t.Error("a dead session was handed out")
		case <-time.After(time.Minute):
		}
	})
}

func TestJittered(t *testing.T) {
	lo, hi := time.Hour, time.Duration(0)
	for range 10000 {
		d := jittered(10 * time.Second)
		lo, hi = min(lo, d), max(hi, d)
	}
	if lo < 9*time.Second || hi > 11*time.Second || hi-lo < 1900*time.Millisecond {
		t.Errorf("jittered(10s) ranged over [%s, %s], want spread over [9s, 11s]", lo, hi)
	}
}
