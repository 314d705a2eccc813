package metrics

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/steward-rmm/steward/internal/agent/config"
)

// fakePolicy is a PolicySource the test changes.
type fakePolicy struct {
	mu      sync.Mutex
	cur     config.Policy
	changed chan struct{}
}

func (f *fakePolicy) Current() config.Policy {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.cur
}

func (f *fakePolicy) Changed() <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.changed
}

func (f *fakePolicy) set(rev, doc string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cur = config.Policy{Revision: rev, Policy: json.RawMessage(doc)}
	close(f.changed)
	f.changed = make(chan struct{})
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestSamplerFollowsPolicy(t *testing.T) {
	// Only uptime: cheap, and present everywhere.
	const slow = `{"metrics":{"interval":"1h","enabled":{"cpu":false,"memory":false,"swap":false,"disk":false,"disk_io":false,
		"network":false,"load":false,"uptime":true,"processes":false,"users":false,"temperature":false}}}`
	const fast = `{"metrics":{"interval":"1s","enabled":{"cpu":false,"memory":false,"swap":false,"disk":false,"disk_io":false,
		"network":false,"load":false,"uptime":true,"processes":false,"users":false,"temperature":false},
		"buffer":{"max_samples":2,"max_bytes":1000000}}}`
	src := &fakePolicy{changed: make(chan struct{})}
	src.set("r1", slow)
	buf := openBuffer(t, t.TempDir(), 100, 1<<20)
	s := NewSampler(src, NewCollector(discardLog()), buf, discardLog())

	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	wg.Go(func() { s.Run(ctx) })
	t.Cleanup(func() {
		cancel()
		wg.Wait()
	})

	// A sample at once, and no other for an hour.
	waitFor(t, "the first sample", func() bool { n, _ := buf.Len(); return n == 1 })
	_, batch, _ := buf.Next(10)
	if _, ok := batch.Samples[0].Values["uptime.seconds"]; !ok || len(batch.Samples[0].Values) != 1 {
		t.Errorf("sample got %v, want uptime.seconds only", batch.Samples[0].Values)
	}
	time.Sleep(100 * time.Millisecond)
	if n, _ := buf.Len(); n != 1 {
		t.Fatalf("buffer holds %d samples before the policy change, want 1", n)
	}

	// The new interval applies without a restart, and so do the bounds.
	src.set("r2", fast)
	waitFor(t, "samples at the new interval", func() bool { _, d := buf.Len(); return d >= 1 })
	if n, _ := buf.Len(); n != 2 {
		t.Errorf("buffer holds %d samples, want the new bound 2", n)
	}
}
