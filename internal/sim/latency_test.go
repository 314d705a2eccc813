package sim

import (
	"testing"
	"time"
)

func TestLatency(t *testing.T) {
	var h histogram
	var empty Latency
	if got := empty.Quantile(0.5); got != 0 {
		t.Errorf("empty Quantile(0.5) = %s, want 0", got)
	}
	for i := 1; i <= 100; i++ {
		h.record(time.Duration(i) * time.Millisecond)
	}
	l := h.snapshot()
	if got := l.Count(); got != 100 {
		t.Errorf("Count() = %d, want 100", got)
	}
	for _, tt := range []struct {
		q    float64
		want time.Duration
	}{{0.01, time.Millisecond}, {0.5, 50 * time.Millisecond}, {0.99, 99 * time.Millisecond}, {1, 100 * time.Millisecond}} {
		got := l.Quantile(tt.q)
		// A bucket is 2^(1/8) ≈ 9% wide and Quantile returns its upper bound.
		if got < tt.want || float64(got) > float64(tt.want)*1.1 {
			t.Errorf("Quantile(%g) = %s, want within 10%% above %s", tt.q, got, tt.want)
		}
	}

	// Extremes land in the first and last buckets instead of panicking.
	h.record(0)
	h.record(-time.Second)
	h.record(time.Hour)
	l2 := h.snapshot()
	if got := l2.Quantile(1); got < 100*time.Second {
		t.Errorf("Quantile(1) with an hour recorded = %s, want the top bucket (>100s)", got)
	}
	d := l2.Sub(&l)
	if got := d.Count(); got != 3 {
		t.Errorf("Sub().Count() = %d, want the 3 durations recorded since", got)
	}
	if got := d.Quantile(0.5); got > latencyMin {
		t.Errorf("Sub().Quantile(0.5) = %s, want the bottom bucket", got)
	}
}
