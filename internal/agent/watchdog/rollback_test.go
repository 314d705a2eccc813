package watchdog

import (
	"context"
	"errors"
	"strings"
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
	swapped  bool

	repairs    int
	repaired   string
	failRepair error
}

func (f *fakeUpdates) RollbackDue(time.Time) (string, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.due, f.due != ""
}

func (f *fakeUpdates) Swapped() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.swapped
}

func (f *fakeUpdates) Repair() (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.repairs++
	return f.repaired, f.failRepair
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

// TestRollbackAfterAgentFailures: a new binary that cannot start is rolled
// back once the watchdog saw it fail often enough, deadline or not; the
// failures of a confirmed version do not count.
func TestRollbackAfterAgentFailures(t *testing.T) {
	u := &fakeUpdates{}
	restarts := 0
	w := &RollbackWatch{Updates: u, Log: discard(), RestartAgent: func(context.Context) error { restarts++; return nil }}
	for range MaxFailuresUnconfirmed {
		w.AgentFailed()
	}
	w.Check(t.Context())
	if restarts != 0 {
		t.Fatal("rolled back with no update pending")
	}
	u.swapped = true
	w.AgentFailed() // the agent's exit to restart on the new binary
	for range MaxFailuresUnconfirmed - 1 {
		w.AgentFailed()
	}
	w.Check(t.Context())
	if restarts != 0 {
		t.Fatal("rolled back before enough failures")
	}
	w.AgentFailed()
	w.Check(t.Context())
	if restarts != 1 || len(u.rolled) != 1 || !strings.Contains(u.rolled[0], "failed to start 4 times") {
		t.Fatalf("restarts %d rolled %v", restarts, u.rolled)
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

// TestSupervisorKickWhileDown: a kick that comes while no agent runs (its
// start failed; the supervisor waits to retry) is answered by the next
// start, which is not stopped at once for it.
func TestSupervisorKickWhileDown(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := &recorder{}
		s := NewSupervisor(nil, nil, time.Second, nil, nil)
		child := newFakeChild(1)
		n := 0
		s.Start = func(context.Context) (Child, error) {
			n++
			if n == 1 {
				return nil, errors.New("no binary")
			}
			return child, nil
		}
		s.Report, s.Log = rec.report, discard()
		background(t, s.Run)
		synctest.Wait() // the first start failed; the supervisor waits
		s.Kick()
		time.Sleep(s.Backoff.Ceiling(0))
		synctest.Wait()
		child.mu.Lock()
		defer child.mu.Unlock()
		if n != 2 || child.terminated {
			t.Fatalf("starts %d, child terminated %v; want the second start running", n, child.terminated)
		}
	})
}
