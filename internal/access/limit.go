package access

import (
	"sync"
	"time"
)

// Limiter counts failures per key (an IP, an email) in a sliding window and
// refuses a key once it reaches the limit, until old failures age out.
type Limiter struct {
	max    int
	window time.Duration
	now    func() time.Time

	mu       sync.Mutex
	failures map[string][]time.Time
}

// NewLimiter allows max failures per key per window.
func NewLimiter(max int, window time.Duration) *Limiter {
	return &Limiter{max: max, window: window, now: time.Now, failures: map[string][]time.Time{}}
}

// Allow reports whether key may try again, and if not, how long to wait.
func (l *Limiter) Allow(key string) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	f := l.prune(key, now)
	if len(f) < l.max {
		return true, 0
	}
	return false, f[0].Add(l.window).Sub(now)
}

// Fail records a failure for key.
func (l *Limiter) Fail(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	l.failures[key] = append(l.prune(key, now), now)
	// Bound memory under a spray of distinct keys.
	if len(l.failures) > 100_000 {
		for k := range l.failures {
			if len(l.prune(k, now)) == 0 {
				delete(l.failures, k)
			}
		}
	}
}

// Undo takes back the most recent failure of key: an attempt is counted
// when it starts, so parallel guesses count at once, and taken back when
// it succeeds.
func (l *Limiter) Undo(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	f := l.failures[key]
	if len(f) <= 1 {
		delete(l.failures, key)
		return
	}
	l.failures[key] = f[:len(f)-1]
}

// Reset forgets key's failures (after a success).
func (l *Limiter) Reset(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.failures, key)
}

func (l *Limiter) prune(key string, now time.Time) []time.Time {
	f := l.failures[key]
	i := 0
	for i < len(f) && now.Sub(f[i]) >= l.window {
		i++
	}
	f = f[i:]
	if len(f) == 0 {
		delete(l.failures, key)
		return nil
	}
	l.failures[key] = f
	return f
}
