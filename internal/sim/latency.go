package sim

import (
	"math"
	"sync/atomic"
	"time"
)

// Latencies are counted in logarithmic buckets: bucket 0 holds everything
// under latencyMin, bucket i ≥ 1 holds [latencyMin·2^((i-1)/k), latencyMin·2^(i/k))
// with k = latencyPerOctave, about 9% wide, up to latencyMin·2^(octaves) ≈ 134s.
// Recording is one atomic add; no samples are kept, so memory does not grow
// with the run.
const (
	latencyMin       = time.Microsecond
	latencyPerOctave = 8
	latencyOctaves   = 27
	latencyBuckets   = latencyPerOctave*latencyOctaves + 1
)

// Latency is a distribution of durations. The zero value is empty.
type Latency struct {
	counts [latencyBuckets]uint64
}

// histogram is the concurrent recorder behind a Latency.
type histogram struct {
	counts [latencyBuckets]atomic.Uint64
}

func bucketOf(d time.Duration) int {
	if d < latencyMin {
		return 0
	}
	i := int(math.Log2(float64(d)/float64(latencyMin))*latencyPerOctave) + 1
	return min(i, latencyBuckets-1)
}

// upperBound is the largest duration bucket i holds.
func upperBound(i int) time.Duration {
	return time.Duration(float64(latencyMin) * math.Exp2(float64(i)/latencyPerOctave))
}

func (h *histogram) record(d time.Duration) {
	h.counts[bucketOf(d)].Add(1)
}

func (h *histogram) snapshot() Latency {
	var l Latency
	for i := range h.counts {
		l.counts[i] = h.counts[i].Load()
	}
	return l
}

// Count is the number of recorded durations.
func (l *Latency) Count() uint64 {
	var n uint64
	for _, c := range l.counts {
		n += c
	}
	return n
}

// Quantile returns the upper bound of the bucket holding the q-th quantile
// (0 < q ≤ 1), so it overstates by at most one bucket (~9%). Zero when
// empty.
func (l *Latency) Quantile(q float64) time.Duration {
	n := l.Count()
	if n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(n)))
	rank = max(rank, 1)
	var seen uint64
	for i, c := range l.counts {
		seen += c
		if seen >= rank {
			return upperBound(i)
		}
	}
	return upperBound(latencyBuckets - 1)
}

// Sub returns the durations recorded in l but not in prev, an earlier
// snapshot of the same distribution.
func (l *Latency) Sub(prev *Latency) Latency {
	var d Latency
	for i := range l.counts {
		d.counts[i] = l.counts[i] - prev.counts[i]
	}
	return d
}
