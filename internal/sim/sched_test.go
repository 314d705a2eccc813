package sim

import (
	"context"
	"testing"
	"time"
)

func TestScheduler(t *testing.T) {
	s := newScheduler()
	ctx, cancel := context.WithCancel(context.Background())
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

	now := time.Now()
	late, early, dead, past := &session{}, &session{}, &session{}, &session{}
	dead.dead.Store(true)
	s.add(now.Add(300*time.Millisecond), late)
	s.add(now.Add(100*time.Millisecond), early) // earlier than the timer: wakes the loop
	s.add(now.Add(50*time.Millisecond), dead)
	s.add(now.Add(-time.Second), past)

	want := []*session{past, early, late}
	for i, w := range want {
		select {
		case got := <-out:
			if got != w {
				t.Fatalf("session #%d handed out is not the one due next", i)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("session #%d never handed out", i)
		}
	}
	if since := time.Since(now); since < 300*time.Millisecond {
		t.Errorf("last session handed out after %s, before it was due", since)
	}
	select {
	case <-out:
		t.Error("a dead session was handed out")
	case <-time.After(100 * time.Millisecond):
	}
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
