package control

import (
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/steward-rmm/steward/internal/protocol"
)

// memOutbox is an Outbox in memory. Sample i has cpu.percent i; a batch's
// id is the number of its last sample.
type memOutbox struct {
	mu      sync.Mutex
	samples []protocol.Sample
	dropped int64
	ready   chan struct{}
}

func newMemOutbox() *memOutbox { return &memOutbox{ready: make(chan struct{}, 1)} }

func testSample(i int, values int) protocol.Sample {
	s := protocol.Sample{Time: time.Unix(int64(1e9+i), 0).UTC(), Values: map[string]float64{"cpu.percent": float64(i)}}
	for c := 1; c < values; c++ {
		s.Values[fmt.Sprintf("cpu.core_percent:%d", c)] = 12.3456789
	}
	return s
}

func (o *memOutbox) add(from, to, values int) {
	o.mu.Lock()
	for i := from; i < to; i++ {
		o.samples = append(o.samples, testSample(i, values))
	}
	o.mu.Unlock()
	select {
	case o.ready <- struct{}{}:
	default:
	}
}

func (o *memOutbox) Next(max int) (string, protocol.MetricsBatch, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	n := min(max, len(o.samples))
	if n == 0 {
		return "", protocol.MetricsBatch{}, false
	}
	b := protocol.MetricsBatch{Samples: append([]protocol.Sample(nil), o.samples[:n]...), Dropped: o.dropped}
	return strconv.Itoa(int(b.Samples[n-1].Values["cpu.percent"])), b, true
}

func (o *memOutbox) Acked(id string) error {
	last, err := strconv.Atoi(id)
	if err != nil {
		return err
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	for len(o.samples) > 0 && int(o.samples[0].Values["cpu.percent"]) <= last {
		o.samples = o.samples[1:]
	}
	o.dropped = 0
	return nil
}

func (o *memOutbox) Ready() <-chan struct{} { return o.ready }

func (o *memOutbox) left() []int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return numbers(o.samples)
}

func numbers(samples []protocol.Sample) []int {
	var out []int
	for _, s := range samples {
		out = append(out, int(s.Values["cpu.percent"]))
	}
	return out
}

func ints(from, to int) []int {
	var out []int
	for i := from; i < to; i++ {
		out = append(out, i)
	}
	return out
}

// expectMetrics reads a metrics batch with samples want and dropped count.
func (sc *serverConn) expectMetrics(t *testing.T, want []int, dropped int64) protocol.Envelope {
	t.Helper()
	env := sc.expect(t, protocol.TypeMetrics)
	if env.ID == "" {
		t.Error("metrics batch without an envelope id")
	}
	b, err := protocol.DecodeMetricsBatch(env.Data)
	if err != nil {
		t.Fatalf("metrics batch: %v", err)
	}
	if diff := cmp.Diff(want, numbers(b.Samples)); diff != "" {
		t.Errorf("batch samples (-want +got):\n%s", diff)
	}
	if b.Dropped != dropped {
		t.Errorf("batch dropped got %d, want %d", b.Dropped, dropped)
	}
	return env
}

func (sc *serverConn) ackMetrics(t *testing.T, env protocol.Envelope) {
	t.Helper()
	sc.send(t, protocol.TypeMetricsAck, protocol.MetricsAck{RefID: env.ID, Stored: 1})
}

func waitLeft(t *testing.T, box *memOutbox, want []int) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for !cmp.Equal(want, box.left()) {
		if time.Now().After(deadline) {
			t.Fatalf("outbox holds %v, want %v", box.left(), want)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestMetricsDelivery(t *testing.T) {
	fs := newFakeServer(t, nil)
	box := newMemOutbox()
	box.add(0, 3, 1) // buffered while disconnected
	box.dropped = 5
	startAgent(t, fs, func(o *Options) { o.Metrics = box })

	sc := fs.next(t)
	sc.handshake(t, quiet)
	env := sc.expectMetrics(t, ints(0, 3), 5)
	sc.ackMetrics(t, env)
	waitLeft(t, box, nil)

	box.add(3, 5, 1)
	env = sc.expectMetrics(t, ints(3, 5), 0)
	// One batch in flight at a time: a new sample waits for the ack.
	box.add(5, 6, 1)
	sc.ping(t, "c1")
	sc.expectNothing(t)
	// An ack for another message changes nothing.
	sc.send(t, protocol.TypeMetricsAck, protocol.MetricsAck{RefID: env.ID + "0"})
	sc.ping(t, "c2")
	if diff := cmp.Diff(ints(3, 6), box.left()); diff != "" {
		t.Errorf("outbox after a foreign ack (-want +got):\n%s", diff)
	}

	// Unacknowledged when the connection ends: sent again on the next.
	sc.conn.CloseNow()
	sc = fs.next(t)
	sc.handshake(t, quiet)
	env = sc.expectMetrics(t, ints(3, 6), 0)
	sc.ackMetrics(t, env)
	waitLeft(t, box, nil)
	sc.ping(t, "c3")
	sc.expectNothing(t)
}

func TestMetricsAckTimeout(t *testing.T) {
	fs := newFakeServer(t, nil)
	box := newMemOutbox()
	box.add(0, 2, 1)
	startAgent(t, fs, func(o *Options) {
		o.Metrics = box
		o.MetricsAckWait = 50 * time.Millisecond
	})
	sc := fs.next(t)
	sc.handshake(t, quiet)
	first := sc.expectMetrics(t, ints(0, 2), 0)
	second := sc.expectMetrics(t, ints(0, 2), 0) // no ack: sent again
	if first.ID == second.ID {
		t.Errorf("resent batch reuses envelope id %q", first.ID)
	}
	sc.ackMetrics(t, first) // late: ignored
	sc.ackMetrics(t, second)
	waitLeft(t, box, nil)
	if n := fs.dials.Load(); n != 1 {
		t.Errorf("agent dialed %d times, want 1", n)
	}
}

// TestMetricsSplit: batches stay under the message limit however large
// the samples.
func TestMetricsSplit(t *testing.T) {
	fs := newFakeServer(t, nil)
	box := newMemOutbox()
	box.add(0, 40, 300) // about 10 KB each
	startAgent(t, fs, func(o *Options) { o.Metrics = box })
	sc := fs.next(t)
	sc.handshake(t, quiet)
	var got []int
	batches := 0
	for len(got) < 40 && batches < 40 {
		env := sc.expect(t, protocol.TypeMetrics) // decoded within MaxMessageBytes
		b, err := protocol.DecodeMetricsBatch(env.Data)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, numbers(b.Samples)...)
		batches++
		sc.ackMetrics(t, env)
	}
	if diff := cmp.Diff(ints(0, 40), got); diff != "" {
		t.Errorf("samples received (-want +got):\n%s", diff)
	}
	if batches < 2 {
		t.Errorf("sent in %d batch, want it split", batches)
	}
	waitLeft(t, box, nil)
}

func TestMetricsRefused(t *testing.T) {
	fs := newFakeServer(t, nil)
	box := newMemOutbox()
	box.add(0, 1, 1)
	startAgent(t, fs, func(o *Options) { o.Metrics = box })

	// A server that does not know metrics: kept for the next connection.
	sc := fs.next(t)
	sc.handshake(t, quiet)
	env := sc.expectMetrics(t, ints(0, 1), 0)
	sc.send(t, protocol.TypeError, protocol.Error{Code: protocol.CodeUnknownType, RefID: env.ID})
	box.add(1, 2, 1)
	sc.ping(t, "c1")
	sc.expectNothing(t)
	if diff := cmp.Diff(ints(0, 2), box.left()); diff != "" {
		t.Errorf("outbox (-want +got):\n%s", diff)
	}

	// A batch the server calls malformed is discarded.
	sc.conn.CloseNow()
	sc = fs.next(t)
	sc.handshake(t, quiet)
	env = sc.expectMetrics(t, ints(0, 2), 0)
	box.add(2, 3, 1)
	sc.send(t, protocol.TypeError, protocol.Error{Code: protocol.CodeBadMessage, RefID: env.ID})
	env = sc.expectMetrics(t, ints(2, 3), 0)
	sc.ackMetrics(t, env)
	waitLeft(t, box, nil)
}
