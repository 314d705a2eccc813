package metrics

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"testing/synctest"
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

// TestSamplerFollowsPolicy runs in a synctest bubble: the intervals are
// the subject, and the bubble's clock makes "none for an hour" and "one a
// second" exact.
func TestSamplerFollowsPolicy(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
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
		synctest.Wait()
		if n, _ := buf.Len(); n != 1 {
			t.Fatalf("buffer holds %d samples after start, want 1", n)
		}
		_, batch, _ := buf.Next(10)
		if _, ok := batch.Samples[0].Values["uptime.seconds"]; !ok || len(batch.Samples[0].Values) != 1 {
			t.Errorf("sample got %v, want uptime.seconds only", batch.Samples[0].Values)
		}
		time.Sleep(time.Hour - time.Second)
		synctest.Wait()
		if n, _ := buf.Len(); n != 1 {
			t.Fatalf("buffer holds %d samples just before the hour, want 1", n)
		}

		// The new interval applies without a restart, and so do the bounds.
		src.set("r2", fast)
		synctest.Wait()
		time.Sleep(time.Second)
		synctest.Wait()
		if n, d := buf.Len(); n != 2 || d != 0 {
			t.Errorf("one second after the change: %d samples, %d dropped; want 2, 0", n, d)
		}
		time.Sleep(time.Second)
		synctest.Wait()
		if n, d := buf.Len(); n != 2 || d != 1 {
			t.Errorf("two seconds after the change: %d samples, %d dropped; want the new bound 2, 1 dropped", n, d)
		}
	})
}
