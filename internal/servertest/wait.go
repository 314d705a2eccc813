package servertest

import (
	"context"
	"testing"
	"time"
)

// Eventually polls cond until it holds, failing the test after Wait.
func Eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	Poll(t, what, func() bool { return cond() }, func(ok bool) bool { return ok })
}

// Poll calls get until done holds for its value and returns that value,
// failing the test with the last value after Wait.
func Poll[T any](t testing.TB, what string, get func() T, done func(T) bool) T {
	t.Helper()
	deadline := time.Now().Add(Wait)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		v := get()
		if done(v) {
			return v
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s; last: %+v", Wait, what, v)
		}
		<-tick.C
	}
}

// testContext is the test's context without its cancellation: the
// helpers also run in cleanups (to wait for a disconnect to be recorded,
// say), after t.Context is done; Wait bounds what they wait for.
func testContext(t testing.TB) context.Context {
	return context.WithoutCancel(t.Context())
}
