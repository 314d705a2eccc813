package groupcommit

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"
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

// hung is a write against a database that never answers: it returns only
// when its context ends, with that context's error for every item.
func hung(ctx context.Context, batch []int) []error {
	<-ctx.Done()
	return Same(ctx.Err(), len(batch))
}

// A write keeps the deadline of the caller whose turn it is: against a
// hung database its batch fails when that deadline passes, not never; the
// batch it then writes for a caller queued behind gets the group's bound.
// On synctest's clock, so "when it passes" is exact.
func TestDoKeepsCallerDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		var ended []time.Duration // when each write's context ended
		g := NewBounded(time.Hour, func(ctx context.Context, batch []int) []error {
			errs := hung(ctx, batch)
			ended = append(ended, time.Since(start))
			return errs
		})
		ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
		defer cancel()
		var first, queued error
		var wg sync.WaitGroup
		wg.Go(func() { first = g.Do(ctx, 1) })
		synctest.Wait() // the first write is under way
		wg.Go(func() { queued = g.Do(t.Context(), 2) })
		wg.Wait()
		if !errors.Is(first, context.DeadlineExceeded) || !errors.Is(queued, context.DeadlineExceeded) {
			t.Errorf("Do on a hung database = %v (3 s deadline), %v (queued, none); want deadline errors", first, queued)
		}
		if want := []time.Duration{3 * time.Second, 3*time.Second + time.Hour}; !slices.Equal(ended, want) {
			t.Errorf("writes ended at %v, want %v (the caller's deadline, then the bound)", ended, want)
		}
	})
}

// A caller without a deadline (a connection's presence, a background
// flush) gets the group's bound.
func TestDoBoundsWriteWithoutDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := NewBounded(5*time.Second, hung)
		start := time.Now()
		if err := g.Do(context.Background(), 1); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Do on a hung database = %v, want the bound's deadline error", err)
		}
		if d := time.Since(start); d != 5*time.Second {
			t.Errorf("Do returned after %v, want after the bound (5s)", d)
		}
		// The group is free again: the next write is attempted.
		g.write = func(context.Context, []int) []error { return nil }
		if err := g.Do(context.Background(), 2); err != nil {
			t.Errorf("Do after the hung write: %v", err)
		}
	})
}
