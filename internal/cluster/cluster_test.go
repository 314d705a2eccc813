package cluster

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/steward-rmm/steward/internal/store"
	"github.com/steward-rmm/steward/internal/store/storetest"
)

// ttl is short so leases move within a fraction of a second; members
// renew every ttl/3.
const ttl = 300 * time.Millisecond

// syncBuffer is a log sink safe for the member's goroutine and the test.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// member is a Member under test with its own log and lifetime.
type member struct {
	*Member
	id     string
	log    *syncBuffer
	cancel context.CancelFunc
	done   chan struct{}
}

func newMember(t *testing.T, db *store.DB, id string, jobs ...Job) *member {
	t.Helper()
	logs := &syncBuffer{}
	m := New(db, slog.New(slog.NewTextHandler(logs, nil)), store.Replica{
		ID: id, Hostname: "host-" + id, Version: "test", StartedAt: time.Now(),
	}, ttl, jobs)
	return &member{Member: m, id: id, log: logs}
}

// start joins and runs the member until stop or the end of the test.
func (m *member) start(t *testing.T) {
	t.Helper()
	if err := m.Join(t.Context()); err != nil {
		t.Fatalf("Join(%s): %v", m.id, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	m.cancel, m.done = cancel, make(chan struct{})
	go func() {
		defer close(m.done)
		m.Run(ctx)
	}()
	t.Cleanup(m.stop)
}

// stop cancels Run and waits for it to return.
func (m *member) stop() {
	m.cancel()
	<-m.done
}

// The tests run in synctest bubbles (storetest.EachInBubble): leases
// expire and renew on the bubble's clock, so lease lifetimes and job counts
// are exact however loaded the machine is.

// tick lets n renew intervals pass and every member handle them.
func tick(n int) {
	time.Sleep(time.Duration(n) * ttl / 3)
	synctest.Wait()
}

func holder(t *testing.T, db *store.DB) string {
	t.Helper()
	h, err := db.LeaseHolder(t.Context(), JobsLease)
	if err != nil {
		t.Fatalf("LeaseHolder: %v", err)
	}
	return h
}

func liveIDs(t *testing.T, db *store.DB) []string {
	t.Helper()
	rs, err := db.LiveReplicas(t.Context())
	if err != nil {
		t.Fatalf("LiveReplicas: %v", err)
	}
	var ids []string
	for _, r := range rs {
		ids = append(ids, r.ID)
	}
	return ids
}

func contains(ids []string, id string) bool {
	for _, x := range ids {
		if x == id {
			return true
		}
	}
	return false
}

// counter is a job body that counts its runs.
func counter(n *atomic.Int64) func(context.Context) error {
	return func(context.Context) error { n.Add(1); return nil }
}

func TestLeaderRunsJobsAtTheirInterval(t *testing.T) {
	storetest.EachInBubble(t, func(t *testing.T, db *store.DB) {
		var fast, slow atomic.Int64
		m := newMember(t, db, "a",
			Job{Name: "fast", Every: ttl / 3, Run: counter(&fast)},
			Job{Name: "slow", Every: time.Hour, Run: counter(&slow)},
		)
		if err := m.Join(t.Context()); err != nil {
			t.Fatalf("Join: %v", err)
		}
		if got := liveIDs(t, db); !contains(got, "a") {
			t.Fatalf("LiveReplicas after Join = %q, want it to hold a", got)
		}
		if m.Leader() {
			t.Fatal("Leader() before Run = true, want false")
		}
		m.start(t)
		synctest.Wait() // the first renew runs at once
		if !m.Leader() {
			t.Fatal("a does not lead after its first renew")
		}
		if got := holder(t, db); got != "a" {
			t.Errorf("LeaseHolder = %q, want a", got)
		}
		tick(3)
		if got := fast.Load(); got != 4 {
			t.Errorf("job due every renew ran %d times in 3 renew intervals, want 4", got)
		}
		if got := slow.Load(); got != 1 {
			t.Errorf("hourly job ran %d times, want 1", got)
		}
		if !strings.Contains(m.log.String(), "now runs the background jobs") {
			t.Errorf("log lacks the leadership message:\n%s", m.log)
		}
	})
}

// TestJobsDueMoreOftenThanRenewals: a job due more often than the lease
// is renewed runs at its own interval, while the lease is still renewed
// every ttl/3 and no more often.
func TestJobsDueMoreOftenThanRenewals(t *testing.T) {
	storetest.EachInBubble(t, func(t *testing.T, db *store.DB) {
		var fast atomic.Int64
		every := ttl / 12
		m := newMember(t, db, "a", Job{Name: "fast", Every: every, Run: counter(&fast)})
		m.start(t)
		synctest.Wait()
		lease := func() time.Time {
			rs, err := db.LiveReplicas(t.Context())
			if err != nil || len(rs) != 1 {
				t.Fatalf("LiveReplicas = %v, %v", rs, err)
			}
			return rs[0].LeaseExpiresAt
		}
		first := lease()
		time.Sleep(ttl / 3)
		synctest.Wait()
		if got := fast.Load(); got != 5 {
			t.Errorf("job due every %v ran %d times in %v, want 5", every, got, ttl/3)
		}
		if got := lease(); !got.After(first) {
			t.Errorf("lease not renewed after %v: expires %v, then %v", ttl/3, first, got)
		}
	})
}

func TestTwoMembersElectOneLeader(t *testing.T) {
	storetest.EachInBubble(t, func(t *testing.T, db *store.DB) {
		var runsA, runsB atomic.Int64
		a := newMember(t, db, "a", Job{Name: "count", Every: time.Millisecond, Run: counter(&runsA)})
		b := newMember(t, db, "b", Job{Name: "count", Every: time.Millisecond, Run: counter(&runsB)})
		a.start(t)
		b.start(t)
		synctest.Wait()
		// Check after every renew for two lease lifetimes: leadership
		// never splits or moves while both renew.
		leader := a
		if b.Leader() {
			leader = b
		}
		for range 6 {
			if a.Leader() == b.Leader() {
				t.Fatalf("a.Leader() = %v, b.Leader() = %v, want exactly one", a.Leader(), b.Leader())
			}
			if !leader.Leader() {
				t.Fatalf("leadership moved from %s while both renew", leader.id)
			}
			tick(1)
		}
		if got := holder(t, db); got != leader.id {
			t.Errorf("LeaseHolder = %q, want %s", got, leader.id)
		}
		follower := &runsB
		if leader == b {
			follower = &runsA
		}
		if got := follower.Load(); got != 0 {
			t.Errorf("the follower ran jobs %d times, want 0", got)
		}
		if got := liveIDs(t, db); !contains(got, "a") || !contains(got, "b") {
			t.Errorf("LiveReplicas = %q, want a and b", got)
		}
	})
}

func TestCancelledLeaderHandsOver(t *testing.T) {
	storetest.EachInBubble(t, func(t *testing.T, db *store.DB) {
		a := newMember(t, db, "a")
		a.start(t)
		synctest.Wait()
		if !a.Leader() {
			t.Fatal("a does not lead after its first renew")
		}
		b := newMember(t, db, "b")
		b.start(t)
		synctest.Wait() // b renewed once and lost
		if b.Leader() {
			t.Fatal("b leads while a still renews")
		}

		a.stop()
		if a.Leader() {
			t.Error("a.Leader() after Run returned = true, want false")
		}
		// a released the lease rather than letting it expire.
		if got := holder(t, db); got == "a" {
			t.Errorf("LeaseHolder after a left = a, want the lease released")
		}
		if got := liveIDs(t, db); contains(got, "a") {
			t.Errorf("LiveReplicas after a left = %q, want a removed", got)
		}
		// b renews every ttl/3; a released lease is free at b's next tick,
		// long before it would have expired.
		tick(1)
		if !b.Leader() {
			t.Fatal("b does not lead one renew after a released the lease")
		}
		if got := holder(t, db); got != "b" {
			t.Errorf("LeaseHolder = %q, want b", got)
		}
	})
}

func TestStaleLeaseIsTakenOverAfterExpiry(t *testing.T) {
	storetest.EachInBubble(t, func(t *testing.T, db *store.DB) {
		a := newMember(t, db, "a")
		a.start(t)
		synctest.Wait()
		if !a.Leader() {
			t.Fatal("a does not lead after its first renew")
		}
		a.stop()
		// Put a's lease back as if a had died without releasing it.
		expires := time.Now().Add(2 * ttl)
		if ok, err := db.AcquireLease(t.Context(), JobsLease, "a", expires); err != nil || !ok {
			t.Fatalf("AcquireLease(a) = %v, %v; want true, nil", ok, err)
		}

		b := newMember(t, db, "b")
		b.start(t)
		synctest.Wait()
		for !b.Leader() {
			if time.Now().After(expires) {
				t.Fatalf("b does not lead %s after a's lease expired", time.Since(expires))
			}
			tick(1)
		}
		if early := time.Until(expires); early > 0 {
			t.Errorf("b took over %s before a's lease expired", early)
		}
		if got := holder(t, db); got != "b" {
			t.Errorf("LeaseHolder = %q, want b", got)
		}
	})
}

func TestFailingJobDoesNotStopTheLoop(t *testing.T) {
	storetest.EachInBubble(t, func(t *testing.T, db *store.DB) {
		var failed, ok atomic.Int64
		m := newMember(t, db, "a",
			Job{Name: "broken", Every: ttl / 3, Run: func(context.Context) error {
				failed.Add(1)
				return errors.New("disk on fire")
			}},
			Job{Name: "healthy", Every: ttl / 3, Run: counter(&ok)},
		)
		m.start(t)
		tick(2)
		if failed.Load() != 3 || ok.Load() != 3 {
			t.Errorf("in 3 renews the failing job ran %d times and the healthy one %d, want 3 each", failed.Load(), ok.Load())
		}
		logs := m.log.String()
		for _, want := range []string{"background job failed", "job=broken", "disk on fire"} {
			if !strings.Contains(logs, want) {
				t.Errorf("log lacks %q:\n%s", want, logs)
			}
		}
		if strings.Contains(logs, "job=healthy") {
			t.Errorf("log reports the healthy job as failed:\n%s", logs)
		}
	})
}

// A leader cancelled while a job is still running must release the lease
// too, even when its renew tick fires before it sees the cancellation.
func TestLeaderCancelledMidJobReleasesLease(t *testing.T) {
	storetest.EachInBubble(t, func(t *testing.T, db *store.DB) {
		for i := range 4 {
			started := make(chan struct{}, 1)
			m := newMember(t, db, "a", Job{Name: "slow", Every: time.Hour, Run: func(ctx context.Context) error {
				started <- struct{}{}
				<-ctx.Done()
				time.Sleep(ttl / 2) // outlast a renew tick while winding down
				return ctx.Err()
			}})
			m.start(t)
			<-started
			m.stop()
			if got := holder(t, db); got != "" {
				t.Fatalf("run %d: LeaseHolder after the leader stopped = %q, want none", i, got)
			}
			if got := liveIDs(t, db); contains(got, "a") {
				t.Fatalf("run %d: LiveReplicas after the leader stopped = %q, want a removed", i, got)
			}
		}
	})
}
