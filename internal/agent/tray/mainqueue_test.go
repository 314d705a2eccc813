package tray

import (
	"slices"
	"sync"
	"testing"
)

// TestMainQueueOrderAndWake: functions run on the draining goroutine in
// the order each poster posted them, none is lost, and the main thread
// is woken once per batch (when the queue goes from empty to not empty),
// never for a function already covered by a pending wake.
func TestMainQueueOrderAndWake(t *testing.T) {
	wakes := make(chan struct{}, 1000)
	q := &mainQueue{wake: func() { wakes <- struct{}{} }}

	const posters, each = 4, 200
	var ran [posters][]int // touched by the "main thread" only
	var wg sync.WaitGroup
	for p := range posters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				if !q.post(func() { ran[p] = append(ran[p], i) }) {
					t.Errorf("post %d/%d refused on an open queue", p, i)
				}
			}
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()

	// The "main thread": drain on every wake until the posters are done,
	// then for the wakes still pending.
	for {
		select {
		case <-wakes:
			q.drain()
			continue
		case <-done:
		}
		break
	}
	for len(wakes) > 0 {
		<-wakes
		q.drain()
	}

	for p := range posters {
		if len(ran[p]) != each {
			t.Fatalf("poster %d: %d functions ran, want %d", p, len(ran[p]), each)
		}
		if !slices.IsSorted(ran[p]) {
			t.Errorf("poster %d: ran out of order: %v", p, ran[p])
		}
	}
}

func TestMainQueueWakesOncePerBatch(t *testing.T) {
	wakes := 0
	q := &mainQueue{wake: func() { wakes++ }}
	var got []string
	q.post(func() { got = append(got, "a") })
	q.post(func() { got = append(got, "b") })
	if wakes != 1 {
		t.Fatalf("two posts before a drain woke %d times, want 1", wakes)
	}
	// What a queued function posts runs in the same drain.
	q.post(func() {
		got = append(got, "c")
		q.post(func() { got = append(got, "d") })
	})
	q.drain()
	if want := []string{"a", "b", "c", "d"}; !slices.Equal(got, want) {
		t.Fatalf("drain ran %v, want %v", got, want)
	}
	if wakes != 2 {
		t.Errorf("a post during the drain woke %d times in all, want 2 (one batch each)", wakes)
	}
	q.post(func() { got = append(got, "e") })
	if wakes != 3 {
		t.Errorf("a post after the drain woke %d times in all, want 3", wakes)
	}
}

func TestMainQueueClosed(t *testing.T) {
	wakes := 0
	q := &mainQueue{wake: func() { wakes++ }}
	ran := false
	q.post(func() { ran = true })
	q.close()
	q.drain()
	if ran {
		t.Error("a function queued before close ran after it")
	}
	if q.post(func() { ran = true }) {
		t.Error("post on a closed queue reported true")
	}
	q.drain()
	if ran || wakes != 1 {
		t.Errorf("after close: ran %v, %d wakes; want false, 1", ran, wakes)
	}
}
