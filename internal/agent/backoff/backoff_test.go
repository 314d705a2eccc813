package backoff

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestCeiling(t *testing.T) {
	b := Backoff{Base: time.Second, Cap: time.Minute}
	tests := []struct {
		n    int
		want time.Duration
	}{
		{0, time.Second},
		{1, 2 * time.Second},
		{2, 4 * time.Second},
		{5, 32 * time.Second},
		{6, time.Minute},
		{7, time.Minute},
		{1000, time.Minute}, // no overflow
	}
	for _, tt := range tests {
		if got := b.Ceiling(tt.n); got != tt.want {
			t.Errorf("Ceiling(%d) got %v, want %v", tt.n, got, tt.want)
		}
	}
}

func TestNextBoundsAndJitter(t *testing.T) {
	b := Backoff{Base: time.Second, Cap: time.Minute}
	seen := map[time.Duration]bool{}
	for i := range 200 {
		ceil := b.Ceiling(b.Attempt())
		d := b.Next()
		if d < 0 || d >= ceil {
			t.Fatalf("attempt %d: delay %v outside [0, %v)", i, d, ceil)
		}
		if i >= 6 {
			seen[d] = true
		}
	}
	// Full jitter: at the cap, delays must spread, not repeat one value.
	if len(seen) < 50 {
		t.Errorf("got %d distinct delays at the cap, want widely spread delays", len(seen))
	}
}

func TestNextUsesInjectedRandAndReset(t *testing.T) {
	var asked []int64
	b := Backoff{Base: time.Second, Cap: 10 * time.Second, Rand: func(n int64) int64 {
		asked = append(asked, n)
		return n - 1
	}}
	var got []time.Duration
	for range 5 {
		got = append(got, b.Next())
	}
	b.Reset()
	got = append(got, b.Next())

	s := int64(time.Second)
	if diff := cmp.Diff([]int64{s, 2 * s, 4 * s, 8 * s, 10 * s, s}, asked); diff != "" {
		t.Errorf("ceilings passed to Rand (-want +got):\n%s", diff)
	}
	want := []time.Duration{time.Second - 1, 2*time.Second - 1, 4*time.Second - 1, 8*time.Second - 1, 10*time.Second - 1, time.Second - 1}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("delays (-want +got):\n%s", diff)
	}
}

func TestZeroBase(t *testing.T) {
	b := Backoff{}
	if got := b.Next(); got != 0 {
		t.Errorf("Next() with zero Base got %v, want 0", got)
	}
}
