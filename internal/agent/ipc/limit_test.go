package ipc

import (
	"testing"
	"time"
)

func TestLimiter(t *testing.T) {
	l := &Limiter{Burst: 2, Every: 200 * time.Second}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	steps := []struct {
		key  string
		at   time.Duration // after t0
		ok   bool
		wait time.Duration // when refused
	}{
		{"alice", 0, true, 0},
		{"alice", time.Second, true, 0},
		{"alice", 2 * time.Second, false, 198 * time.Second}, // burst spent
		{"bob", 2 * time.Second, true, 0},                    // per caller
		{"alice", 100 * time.Second, false, 100 * time.Second},
		{"alice", 200 * time.Second, true, 0}, // one back after Every
		{"alice", 201 * time.Second, false, 199 * time.Second},
		{"alice", 2000 * time.Second, true, 0}, // full again, not more than Burst
		{"alice", 2000 * time.Second, true, 0},
		{"alice", 2000 * time.Second, false, 200 * time.Second},
	}
	for i, s := range steps {
		ok, wait := l.Take(s.key, t0.Add(s.at))
		if ok != s.ok || (!ok && wait != s.wait) {
			t.Errorf("step %d: Take(%s, +%s) got %v, %s; want %v, %s", i, s.key, s.at, ok, wait, s.ok, s.wait)
		}
	}
	l.Refund("alice", t0.Add(2000*time.Second))
	if ok, _ := l.Take("alice", t0.Add(2000*time.Second)); !ok {
		t.Error("Take after Refund got false, want true")
	}
	// Callers whose bucket is full again are forgotten.
	l.Take("carol", t0.Add(5000*time.Second))
	l.mu.Lock()
	n := len(l.full)
	l.mu.Unlock()
	if n != 1 {
		t.Errorf("buckets kept got %d, want 1 (carol)", n)
	}
}
