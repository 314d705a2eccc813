package web

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/steward-rmm/steward/internal/access"
	"github.com/steward-rmm/steward/internal/bus"
)

// Live updates: the hub holds one bus subscription for the whole process
// and fans presence changes out to every open /events stream. Each stream
// only learns "something changed" and the page re-fetches what it shows,
// so a browser never receives rows it did not ask for, and a burst of
// thousands of agents reconnecting costs each browser one refresh a second.
const (
	// eventGap is the minimum time between two events on one stream.
	eventGap = time.Second
	// pingInterval keeps proxies from closing an idle stream.
	pingInterval = 25 * time.Second
	// writeTimeout bounds one write to a stalled browser.
	writeTimeout = 10 * time.Second
)

// hub fans bus presence events out to event streams.
type hub struct {
	log         *slog.Logger
	unsubscribe func()
	gap, ping   time.Duration

	mu      sync.Mutex
	streams map[chan struct{}]struct{}
	closed  bool
	done    chan struct{}
	wg      sync.WaitGroup // open streams
}

func newHub(b bus.Bus, log *slog.Logger) (*hub, error) {
	h := &hub{
		log: log, gap: eventGap, ping: pingInterval,
		streams: map[chan struct{}]struct{}{}, done: make(chan struct{}),
	}
	unsub, err := b.Subscribe(bus.SubjectPresence, h.publish)
	if err != nil {
		return nil, fmt.Errorf("web: subscribe to %s: %w", bus.SubjectPresence, err)
	}
	h.unsubscribe = unsub
	return h, nil
}

// publish runs on the publisher's goroutine, so it never blocks: each
// stream has a one-slot channel, and a full slot already means "refresh".
func (h *hub) publish(data []byte) {
	var ev bus.PresenceEvent
	if err := json.Unmarshal(data, &ev); err != nil || ev.AgentID == "" {
		h.log.Warn("ignoring malformed presence event", "subject", bus.SubjectPresence, "size", len(data))
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for ch := range h.streams {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// join registers a stream; ok is false once the hub is closed.
func (h *hub) join() (ch chan struct{}, ok bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, false
	}
	ch = make(chan struct{}, 1)
	h.streams[ch] = struct{}{}
	h.wg.Add(1)
	return ch, true
}

func (h *hub) leave(ch chan struct{}) {
	h.mu.Lock()
	delete(h.streams, ch)
	h.mu.Unlock()
	h.wg.Done()
}

// close stops the subscription, tells every stream to end and waits for
// them. The bus is called outside the lock: an implementation may wait for
// a running handler, which takes the lock.
func (h *hub) close() {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return
	}
	h.closed = true
	close(h.done)
	h.mu.Unlock()
	h.unsubscribe()
	h.wg.Wait()
}

// eventStream serves GET /events: a text/event-stream that sends a
// "presence" event when agents go online or offline, at most one per
// eventGap, and a comment every pingInterval. It ends with the request or
// when the Handler closes.
func (h *Handler) eventStream(w http.ResponseWriter, r *http.Request, _ access.Principal) error {
	ch, ok := h.events.join()
	if !ok {
		http.Error(w, "server is shutting down", http.StatusServiceUnavailable)
		return nil
	}
	defer h.events.leave(ch)

	rc := http.NewResponseController(w)
	send := func(msg string) bool {
		_ = rc.SetWriteDeadline(time.Now().Add(writeTimeout)) // unsupported by some writers; best effort
		if _, err := io.WriteString(w, msg); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	hd := w.Header()
	hd.Set("Content-Type", "text/event-stream")
	hd.Set("Cache-Control", "no-store")
	hd.Set("X-Accel-Buffering", "no") // tell nginx not to buffer the stream
	w.WriteHeader(http.StatusOK)
	if !send("retry: 5000\n: connected\n\n") {
		return nil
	}

	ping := time.NewTicker(h.events.ping)
	defer ping.Stop()
	var (
		last    time.Time
		delay   *time.Timer
		delayed <-chan time.Time // non-nil while an event waits for the gap
	)
	defer func() {
		if delay != nil {
			delay.Stop()
		}
	}()
	const event = "event: presence\ndata: {}\n\n"
	for {
		select {
		case <-r.Context().Done():
			return nil
		case <-h.events.done:
			return nil
		case <-ch:
			if delayed != nil {
				continue // already due
			}
			if wait := h.events.gap - time.Since(last); wait > 0 {
				delay = time.NewTimer(wait)
				delayed = delay.C
				continue
			}
			if !send(event) {
				return nil
			}
			last = time.Now()
		case <-delayed:
			delayed = nil
			if !send(event) {
				return nil
			}
			last = time.Now()
		case <-ping.C:
			if !send(": ping\n\n") {
				return nil
			}
		}
	}
}
