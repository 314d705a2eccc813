// Package backoff computes reconnect delays: exponential growth with full
// jitter, so that thousands of agents cut off at the same moment do not come
// back at the same moment.
package backoff

import (
	"math/rand/v2"
	"time"
)

// Backoff yields delays for successive failed attempts. The delay before
// attempt n (counting from 0) is drawn uniformly from [0, min(Cap, Base·2ⁿ)).
// The zero value is not useful; set Base and Cap. Not safe for concurrent use.
type Backoff struct {
	Base time.Duration
	Cap  time.Duration
	// Rand returns a uniform random number in [0, n). Nil means
	// math/rand/v2.Int64N. Tests inject a deterministic one.
	Rand func(n int64) int64

	attempt int
}

// Next returns the delay before the next attempt and counts the attempt.
func (b *Backoff) Next() time.Duration {
	ceil := b.Ceiling(b.attempt)
	b.attempt++
	if ceil <= 0 {
		return 0
	}
	rnd := b.Rand
	if rnd == nil {
		rnd = rand.Int64N
	}
	return time.Duration(rnd(int64(ceil)))
}

// Reset starts the sequence over, after a connection proved healthy.
func (b *Backoff) Reset() { b.attempt = 0 }

// Attempt is the number of delays handed out since the last Reset.
func (b *Backoff) Attempt() int { return b.attempt }

// Ceiling is the upper bound of the delay before attempt n:
// min(Cap, Base·2ⁿ), computed without overflow.
func (b *Backoff) Ceiling(n int) time.Duration {
	if b.Base <= 0 || b.Cap <= 0 {
		return 0
	}
	d := b.Base
	for range n {
		if d >= b.Cap/2 {
			return b.Cap
		}
		d *= 2
	}
	return min(d, b.Cap)
}
