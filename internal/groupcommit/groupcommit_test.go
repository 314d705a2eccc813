package groupcommit

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"testing"
)

// Every item is committed exactly once, callers that arrive while a write
// is under way are batched into the next one, and each gets its own error.
func TestGroup(t *testing.T) {
	var (
		mu      sync.Mutex
		seen    = map[int]int{}
		batches [][]int
	)
	// The first write holds until every other caller has queued, so the
	// second batch must hold all of them.
	const callers = 50
	release := make(chan struct{})
	first := true
	g := New(func(ctx context.Context, batch []int) []error {
		if ctx.Err() != nil {
			t.Errorf("write got a cancelled context: %v", ctx.Err())
		}
		mu.Lock()
		wasFirst := first
		first = false
		mu.Unlock()
		if wasFirst {
			<-release
		}
		mu.Lock()
		defer mu.Unlock()
		batches = append(batches, append([]int(nil), batch...))
		errs := make([]error, len(batch))
		for i, v := range batch {
			seen[v]++
			if v%7 == 0 {
				errs[i] = fmt.Errorf("item %d refused", v)
			}
		}
		return errs
	})

	var wg sync.WaitGroup
	errs := make([]error, callers+1)
	started := make(chan struct{})
	ctx, cancel := context.WithCancel(t.Context())
	wg.Go(func() {
		close(started)
		// The writer's own context ends at once: it still writes for all.
		errs[callers] = g.Do(ctx, callers)
	})
	<-started
	for i := range callers {
		wg.Go(func() { errs[i] = g.Do(t.Context(), i) })
	}
	// Wait until all others are queued behind the first write.
	for {
		g.mu.Lock()
		n := len(g.pending)
		g.mu.Unlock()
		if n == callers {
			break
		}
		// Still arriving; yield to them.
		runtime.Gosched()
	}
	cancel()
	close(release)
	wg.Wait()

	for i := 0; i <= callers; i++ {
		if seen[i] != 1 {
			t.Errorf("item %d committed %d times, want once", i, seen[i])
		}
		wantErr := i%7 == 0
		if (errs[i] != nil) != wantErr {
			t.Errorf("Do(%d) = %v, want an error: %v", i, errs[i], wantErr)
		}
	}
	if len(batches) != 2 || len(batches[1]) != callers {
		t.Errorf("batch sizes: %d batches %v, want 2 with %d in the second", len(batches), lens(batches), callers)
	}
}

func TestSame(t *testing.T) {
	if Same(nil, 3) != nil {
		t.Error("Same(nil, 3) is not nil")
	}
	boom := errors.New("boom")
	if errs := Same(boom, 2); len(errs) != 2 || errs[0] != boom || errs[1] != boom {
		t.Errorf("Same(boom, 2) = %v", errs)
	}
}

func lens(bs [][]int) []int {
	out := make([]int, len(bs))
	for i, b := range bs {
		out[i] = len(b)
	}
	return out
}
