package access

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeClock is a settable clock for Limiter.now.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func newTestLimiter(max int, window time.Duration) (*Limiter, *fakeClock) {
	clock := &fakeClock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	l := NewLimiter(max, window)
	l.now = clock.now
	return l, clock
}

func wantAllow(t *testing.T, l *Limiter, key string, wantOK bool, wantWait time.Duration) {
	t.Helper()
	ok, wait := l.Allow(key)
	if ok != wantOK || wait != wantWait {
		t.Errorf("Allow(%q) = %v, %v; want %v, %v", key, ok, wait, wantOK, wantWait)
	}
}

func TestLimiterSlidingWindow(t *testing.T) {
	l, clock := newTestLimiter(3, time.Minute)

	wantAllow(t, l, "ip", true, 0)
	l.Fail("ip") // t=0
	clock.advance(10 * time.Second)
	l.Fail("ip") // t=10s
	wantAllow(t, l, "ip", true, 0)
	clock.advance(10 * time.Second)
	l.Fail("ip") // t=20s: the limit is reached

	// Refused until the oldest failure (t=0) leaves the window at t=60s.
	wantAllow(t, l, "ip", false, 40*time.Second)
	clock.advance(39 * time.Second)
	wantAllow(t, l, "ip", false, time.Second)
	clock.advance(time.Second) // t=60s
	wantAllow(t, l, "ip", true, 0)

	// One more failure fills the window again; now t=10s is the oldest.
	l.Fail("ip")
	wantAllow(t, l, "ip", false, 10*time.Second)

	// After a whole quiet window everything has aged out.
	clock.advance(time.Minute)
	wantAllow(t, l, "ip", true, 0)
}

func TestLimiterKeysAreIndependent(t *testing.T) {
	l, _ := newTestLimiter(2, time.Hour)
	l.Fail("a")
	l.Fail("a")
	wantAllow(t, l, "a", false, time.Hour)
	wantAllow(t, l, "b", true, 0)
	wantAllow(t, l, "", true, 0)
}

func TestLimiterReset(t *testing.T) {
	l, _ := newTestLimiter(1, time.Hour)
	l.Fail("user@example.com")
	wantAllow(t, l, "user@example.com", false, time.Hour)
	l.Reset("user@example.com")
	wantAllow(t, l, "user@example.com", true, 0)
	l.Reset("never-seen") // harmless
}

func TestLimiterFailuresBeyondMaxKeepCounting(t *testing.T) {
	// Failing while refused still records, so a client that keeps
	// hammering stays locked out for a window after its last failure.
	l, clock := newTestLimiter(2, time.Minute)
	for range 5 {
		l.Fail("k")
		clock.advance(10 * time.Second)
	}
	// Failures at 0,10,20,30,40s; now 50s. The oldest, t=0, leaves at 60s.
	wantAllow(t, l, "k", false, 10*time.Second)
	clock.advance(35 * time.Second) // 85s: failures at 30s and 40s remain
	wantAllow(t, l, "k", false, 5*time.Second)
	clock.advance(5 * time.Second) // 90s: the one at 30s ages out
	wantAllow(t, l, "k", true, 0)
}

func TestLimiterForgetsIdleKeys(t *testing.T) {
	l, clock := newTestLimiter(5, time.Minute)
	const n = 100_001
	for i := range n {
		l.Fail(fmt.Sprint("spray-", i))
	}
	if got := len(l.failures); got != n {
		t.Fatalf("tracked keys after %d fresh failures = %d, want %d", n, got, n)
	}
	clock.advance(time.Minute)
	l.Fail("new")
	if got := len(l.failures); got != 1 {
		t.Errorf("tracked keys after the spray aged out = %d, want 1", got)
	}
	// Allow on an aged-out key also drops it.
	l2, clock2 := newTestLimiter(5, time.Minute)
	l2.Fail("old")
	clock2.advance(time.Minute)
	wantAllow(t, l2, "old", true, 0)
	if got := len(l2.failures); got != 0 {
		t.Errorf("tracked keys after Allow on an aged-out key = %d, want 0", got)
	}
}

func TestLimiterConcurrentUse(t *testing.T) {
	l := NewLimiter(1000, time.Hour)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			key := strings.Repeat("k", i%2+1)
			for range 100 {
				l.Allow(key)
				l.Fail(key)
			}
			l.Reset("other")
		})
	}
	wg.Wait()
	// 400 failures for each of the two keys, under the limit of 1000.
	for _, key := range []string{"k", "kk"} {
		if ok, _ := l.Allow(key); !ok {
			t.Errorf("Allow(%q) after 400 failures with limit 1000 = false, want true", key)
		}
		if got := len(l.failures[key]); got != 400 {
			t.Errorf("failures recorded for %q = %d, want 400", key, got)
		}
	}
}
