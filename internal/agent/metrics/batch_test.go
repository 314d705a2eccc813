package metrics

import (
	"fmt"
	"testing"

	"github.com/steward-rmm/steward/internal/protocol"
)

// backlog fills buf with n samples of a typical host's 45 values.
func backlog(tb testing.TB, buf *Buffer, n int) {
	tb.Helper()
	for i := range n {
		s := sample(i)
		for k := range 44 {
			s.Values[fmt.Sprintf("disk.percent:/mnt/volume%02d", k)] = float64(i*k) / 7
		}
		if err := buf.Append(s); err != nil {
			tb.Fatal(err)
		}
	}
}

// BenchmarkBacklogBatch measures encoding one batch after an outage the
// way the control connection's sender does: take up to
// protocol.MaxSamplesPerBatch samples, and halve while the message is over
// protocol.MaxMessageBytes.
func BenchmarkBacklogBatch(b *testing.B) {
	buf, err := OpenBuffer(b.TempDir(), 10000, 16<<20)
	if err != nil {
		b.Fatal(err)
	}
	defer buf.Close()
	backlog(b, buf, protocol.MaxSamplesPerBatch)
	b.ReportAllocs()
	for b.Loop() {
		n, tries := protocol.MaxSamplesPerBatch, 0
		for {
			tries++
			_, batch, ok := buf.Next(n)
			if !ok {
				b.Fatal("empty buffer")
			}
			if _, err := protocol.Encode(protocol.TypeMetrics, "e1", batch); err != nil {
				n = len(batch.Samples) / 2
				continue
			}
			b.ReportMetric(float64(len(batch.Samples)), "samples")
			b.ReportMetric(float64(tries), "tries")
			break
		}
	}
}

// TestNextFitsOneMessage: a backlog of large samples comes out in batches
// that each fit one message, so the sender never has to shrink them, and
// in order.
func TestNextFitsOneMessage(t *testing.T) {
	buf := openBuffer(t, t.TempDir(), 10000, 16<<20)
	backlog(t, buf, protocol.MaxSamplesPerBatch)
	next := 0
	for next < protocol.MaxSamplesPerBatch {
		id, batch, ok := buf.Next(protocol.MaxSamplesPerBatch)
		if !ok {
			t.Fatalf("buffer empty after %d samples", next)
		}
		msg, err := protocol.Encode(protocol.TypeMetrics, "agent-1.123456", batch)
		if err != nil {
			t.Fatalf("batch of %d samples from %d: %v", len(batch.Samples), next, err)
		}
		// Full batches use most of the message.
		if left := protocol.MaxSamplesPerBatch - next; len(batch.Samples) < left && len(msg) < protocol.MaxMessageBytes*3/4 {
			t.Errorf("batch of %d samples from %d is %d bytes, want close to %d", len(batch.Samples), next, len(msg), protocol.MaxMessageBytes)
		}
		if got := int(batch.Samples[0].Values["cpu.percent"]); got != next {
			t.Fatalf("batch starts at sample %d, want %d", got, next)
		}
		next += len(batch.Samples)
		if err := buf.Acked(id); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, ok := buf.Next(protocol.MaxSamplesPerBatch); ok {
		t.Errorf("buffer not empty after every batch was acknowledged")
	}
}

// TestNextOversizedSample: a sample larger than a batch still comes out,
// alone, for the sender to discard.
func TestNextOversizedSample(t *testing.T) {
	buf := openBuffer(t, t.TempDir(), 10, 16<<20)
	s := sample(0)
	for k := range 3000 {
		s.Values[fmt.Sprintf("disk.percent:/mnt/volume%04d", k)] = float64(k)
	}
	if err := buf.Append(s); err != nil {
		t.Fatal(err)
	}
	appendN(t, buf, 1, 3)
	if _, batch, ok := buf.Next(protocol.MaxSamplesPerBatch); !ok || len(batch.Samples) != 1 {
		t.Errorf("Next got %d samples (ok %v), want the oversized one alone", len(batch.Samples), ok)
	}
}
