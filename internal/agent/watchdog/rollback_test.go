package watchdog

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

type fakeUpdates struct {
	mu       sync.Mutex
	due      string
	rolled   []string
	failRoll error
}

func (f *fakeUpdates) RollbackDue(time.Time) (string, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.due, f.due != ""
}

func (f *fakeUpdates) Rollback(reason string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failRoll != nil {
		return f.failRoll
	}
	f.rolled = append(f.rolled, reason)
	f.due = ""
	return nil
}

func TestRollbackWatch(t *testing.T) {
	u := &fakeUpdates{}
	restarts := 0
	w := &RollbackWatch{Updates: u, Log: discard(), RestartAgent: func(context.Context) error { restarts++; return nil }}
	w.Check(t.Context())
	if restarts != 0 || len(u.rolled) != 0 {
		t.Fatal("acted without a due rollback")
	}
	u.due = "not confirmed"
	w.Check(t.Context())
	if restarts != 1 || len(u.rolled) != 1 || u.rolled[0] != "not confirmed" {
		t.Fatalf("restarts %d, rolled %v", restarts, u.rolled)
	}
	// A rollback that fails does not restart the agent onto a binary
	// that may be half moved.
	u.due, u.failRoll = "again", errors.New("disk gone")
	w.Check(t.Context())
	if restarts != 1 {
		t.Fatal("restarted after a failed rollback")
	}
}

// TestSupervisorKick: a kick stops the running child and the supervisor
// starts the next one.
func TestSupervisorKick(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := &recorder{}
		s := NewSupervisor(nil, nil, time.Second, nil, nil)
		children := []*fakeChild{newFakeChild(1), newFakeChild(2)}
		startSupervisor(t, s, rec, func(n int) *fakeChild { return children[min(n, 1)] })
		synctest.Wait()
		s.Kick()
		synctest.Wait()
		time.Sleep(s.Backoff.Ceiling(0)) // the supervisor's restart delay, in the bubble's clock
		synctest.Wait()
		children[0].mu.Lock()
		terminated := children[0].terminated
		children[0].mu.Unlock()
		rec.mu.Lock()
		starts := len(rec.starts)
		rec.mu.Unlock()
		if !terminated || starts != 2 {
			t.Fatalf("terminated %v, starts %d; want the first child stopped and a second started", terminated, starts)
		}
	})
}
