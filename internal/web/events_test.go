package web

import (
	"bufio"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/steward-rmm/steward/internal/access"
	"github.com/steward-rmm/steward/internal/bus"
)

// streamServer serves the event stream of a Handler that has nothing but
// its hub on a bus of the test's: the stream's coalescing and closing are
// tested here with short intervals; events_server_test.go checks it
// through the real server, signed in.
func streamServer(t *testing.T) (*Handler, bus.Bus, string) {
	t.Helper()
	b := bus.NewLocal()
	ev, err := newHub(b, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	h := &Handler{events: ev}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := h.eventStream(w, r, access.Principal{}); err != nil {
			t.Errorf("eventStream: %v", err)
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(h.Close) // runs first: ends the streams so srv.Close can finish
	return h, b, srv.URL
}

// stream opens the event stream at url and returns its lines on a channel
// that closes when the stream ends.
func stream(t *testing.T, ctx context.Context, url string) (<-chan string, *http.Response) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET /events: %v", err)
	}
	lines := make(chan string, 100)
	go func() {
		defer close(lines)
		defer res.Body.Close()
		sc := bufio.NewScanner(res.Body)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	return lines, res
}

// waitLine waits for a line with prefix, failing after timeout.
func waitLine(t *testing.T, lines <-chan string, prefix string, timeout time.Duration) {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("stream ended while waiting for %q", prefix)
			}
			if strings.HasPrefix(l, prefix) {
				return
			}
		case <-deadline:
			t.Fatalf("no %q line within %v", prefix, timeout)
		}
	}
}

// countUpTo counts "event:" lines until there are want of them or
// timeout passes.
func countUpTo(lines <-chan string, want int, timeout time.Duration) int {
	n := 0
	deadline := time.After(timeout)
	for n < want {
		select {
		case l, ok := <-lines:
			if !ok {
				return n
			}
			if strings.HasPrefix(l, "event: presence") {
				n++
			}
		case <-deadline:
			return n
		}
	}
	return n
}

// countEvents counts "event:" lines during d.
func countEvents(lines <-chan string, d time.Duration) int {
	n := 0
	deadline := time.After(d)
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				return n
			}
			if strings.HasPrefix(l, "event: presence") {
				n++
			}
		case <-deadline:
			return n
		}
	}
}

func publishPresence(t *testing.T, b bus.Bus, online bool) {
	t.Helper()
	data, _ := json.Marshal(bus.PresenceEvent{AgentID: "agent-1", ClientID: "client-1", Online: online})
	if err := b.Publish(context.Background(), bus.SubjectPresence, data); err != nil {
		t.Fatal(err)
	}
}

func TestEventStream(t *testing.T) {
	t.Parallel()
	h, events, url := streamServer(t)
	h.events.ping = 50 * time.Millisecond
	h.events.gap = 300 * time.Millisecond

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	lines, res := stream(t, ctx, url)
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("GET /events: status %d, Content-Type %q", res.StatusCode, res.Header.Get("Content-Type"))
	}
	waitLine(t, lines, ": connected", 5*time.Second)

	publishPresence(t, events, true)
	waitLine(t, lines, "event: presence", 5*time.Second)
	waitLine(t, lines, ": ping", 5*time.Second)

	// A burst coalesces: at most one event now and one after the gap.
	time.Sleep(h.events.gap)
	for range 200 {
		publishPresence(t, events, false)
	}
	// The first goes out at once, the other 199 together after the gap
	// (or all 200 together, when a loaded machine sent the previous event
	// so late that the burst falls in its gap): wait for up to two, then
	// make sure no third follows.
	if n := countUpTo(lines, 2, 10*time.Second); n < 1 {
		t.Errorf("events after a burst of 200: %d, want 1 or 2", n)
	}
	if n := countEvents(lines, 2*h.events.gap); n != 0 {
		t.Errorf("%d more events after the burst's two", n)
	}
	// Malformed messages are ignored.
	if err := events.Publish(context.Background(), bus.SubjectPresence, []byte("{not json")); err != nil {
		t.Fatal(err)
	}
	if n := countEvents(lines, 2*h.events.gap); n != 0 {
		t.Errorf("events after a malformed message: %d, want 0", n)
	}

	// The stream ends with the request…
	cancel()
	for range lines {
	}
	waitStreams(t, h, 0)

	// …and when the handler closes, which then refuses new streams.
	lines, _ = stream(t, t.Context(), url)
	waitLine(t, lines, ": connected", 5*time.Second)
	h.Close()
	select {
	case <-drain(lines):
	case <-time.After(5 * time.Second):
		t.Fatal("stream still open after Close")
	}
	res2, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	res2.Body.Close()
	if res2.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("GET /events after Close: status %d, want 503", res2.StatusCode)
	}
}

// drain reads lines until the stream ends.
func drain(lines <-chan string) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		for range lines {
		}
		close(done)
	}()
	return done
}

func waitStreams(t *testing.T, h *Handler, want int) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		h.events.mu.Lock()
		n := len(h.events.streams)
		h.events.mu.Unlock()
		if n == want {
			return
		}
	}
	t.Fatalf("open streams did not drop to %d", want)
}
