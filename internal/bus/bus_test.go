package bus_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/steward-rmm/steward/internal/bus"
)

// recorder collects the messages a handler receives.
type recorder struct {
	mu  sync.Mutex
	got []string
}

func (r *recorder) handle(data []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, string(data))
}

func (r *recorder) messages() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.got...)
}

func subscribe(t *testing.T, b bus.Bus, subject string, h bus.Handler) func() {
	t.Helper()
	unsub, err := b.Subscribe(subject, h)
	if err != nil {
		t.Fatalf("Subscribe(%q): %v", subject, err)
	}
	return unsub
}

func publish(t *testing.T, b bus.Bus, subject, data string) {
	t.Helper()
	if err := b.Publish(t.Context(), subject, []byte(data)); err != nil {
		t.Fatalf("Publish(%q, %q): %v", subject, data, err)
	}
}

func TestLocalDeliversToEverySubscriberOfTheSubject(t *testing.T) {
	b := bus.NewLocal()
	var a, c, other recorder
	subscribe(t, b, "s", a.handle)
	subscribe(t, b, "s", c.handle)
	subscribe(t, b, "other", other.handle)

	publish(t, b, "s", "one")
	publish(t, b, "s", "two")
	publish(t, b, "nobody-listens", "lost")

	want := []string{"one", "two"}
	if diff := cmp.Diff(want, a.messages()); diff != "" {
		t.Errorf("first subscriber (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(want, c.messages()); diff != "" {
		t.Errorf("second subscriber (-want +got):\n%s", diff)
	}
	if got := other.messages(); len(got) != 0 {
		t.Errorf("subscriber of another subject got %q, want nothing", got)
	}
}

func TestLocalPublishIsSynchronous(t *testing.T) {
	// The hub relies on a local Publish having run every handler when it
	// returns; the handler doc says it runs on the publisher's goroutine.
	b := bus.NewLocal()
	var n atomic.Int32
	subscribe(t, b, "s", func([]byte) { n.Add(1) })
	publish(t, b, "s", "x")
	if got := n.Load(); got != 1 {
		t.Errorf("handler calls after Publish returned = %d, want 1", got)
	}
}

func TestLocalUnsubscribe(t *testing.T) {
	b := bus.NewLocal()
	var kept, dropped recorder
	subscribe(t, b, "s", kept.handle)
	unsub := subscribe(t, b, "s", dropped.handle)

	publish(t, b, "s", "before")
	unsub()
	unsub() // a second call is harmless
	publish(t, b, "s", "after")

	if diff := cmp.Diff([]string{"before", "after"}, kept.messages()); diff != "" {
		t.Errorf("remaining subscriber (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"before"}, dropped.messages()); diff != "" {
		t.Errorf("unsubscribed handler (-want +got):\n%s", diff)
	}
}

func TestLocalUnsubscribeFromInsideHandler(t *testing.T) {
	// Publish must not hold the lock while handlers run, or a handler that
	// unsubscribes (or subscribes) would deadlock.
	b := bus.NewLocal()
	var (
		unsub func()
		calls int
	)
	unsub = subscribe(t, b, "s", func([]byte) {
		calls++
		unsub()
		subscribe(t, b, "later", func([]byte) {})
	})
	publish(t, b, "s", "1")
	publish(t, b, "s", "2")
	if calls != 1 {
		t.Errorf("handler calls = %d, want 1", calls)
	}
}

func TestLocalPublishWithoutSubscribers(t *testing.T) {
	b := bus.NewLocal()
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := b.Publish(ctx, "empty", nil); err != nil {
		t.Errorf("Publish to a subject without subscribers: got %v, want nil", err)
	}
}

func TestLocalConcurrentUse(t *testing.T) {
	b := bus.NewLocal()
	const (
		publishers = 8
		perPub     = 200
	)
	var total atomic.Int64
	subscribe(t, b, "s", func([]byte) { total.Add(1) })

	var wg sync.WaitGroup
	for i := range publishers {
		wg.Go(func() {
			for j := range perPub {
				if err := b.Publish(t.Context(), "s", fmt.Appendf(nil, "%d-%d", i, j)); err != nil {
					t.Errorf("Publish: %v", err)
					return
				}
			}
		})
		// Churn subscriptions on the same and other subjects meanwhile.
		wg.Go(func() {
			for range perPub {
				unsub, err := b.Subscribe("s", func([]byte) {})
				if err != nil {
					t.Errorf("Subscribe: %v", err)
					return
				}
				unsub()
				unsub2, _ := b.Subscribe(fmt.Sprintf("t%d", i), func([]byte) {})
				unsub2()
			}
		})
	}
	wg.Wait()
	if got, want := total.Load(), int64(publishers*perPub); got != want {
		t.Errorf("messages delivered to the steady subscriber = %d, want %d", got, want)
	}
}

func TestPresenceEventJSON(t *testing.T) {
	// Other replicas (and the dashboard) decode these field names.
	b, err := json.Marshal(bus.PresenceEvent{AgentID: "a1", ClientID: "c1", Online: true})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(b), `{"agent_id":"a1","client_id":"c1","online":true}`; got != want {
		t.Errorf("json.Marshal(PresenceEvent) = %s, want %s", got, want)
	}
}
