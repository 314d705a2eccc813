package ipc

import (
	"strconv"
	"sync"
	"time"
)

// Limiter is a token bucket per caller: Burst calls at once, then one
// more each Every. The caller passes the time, so tests need no clock. It
// keeps, per caller, only the time its bucket is full again (GCRA), in
// whole durations, so there is no rounding.
type Limiter struct {
	Burst int
	Every time.Duration

	mu sync.Mutex
	// full is when each caller's bucket is full again; a caller whose
	// time has passed is forgotten.
	full map[string]time.Time
}

// Take spends one of key's tokens at now. When there is none it returns
// false and how long until there is one.
func (l *Limiter) Take(key string, now time.Time) (ok bool, wait time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.full == nil {
		l.full = make(map[string]time.Time)
	}
	t := now
	if f, ok := l.full[key]; ok && f.After(now) {
		t = f
	}
	slack := time.Duration(l.Burst-1) * l.Every
	if d := t.Sub(now); d > slack {
		return false, d - slack
	}
	l.full[key] = t.Add(l.Every)
	for k, f := range l.full {
		if !f.After(now) {
			delete(l.full, k)
		}
	}
	return true, 0
}

// Refund gives back a token Take spent on a call that did not count (one
// refused as invalid).
func (l *Limiter) Refund(key string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	f, ok := l.full[key]
	if !ok {
		return
	}
	if f = f.Add(-l.Every); f.After(now) {
		l.full[key] = f
	} else {
		delete(l.full, key)
	}
}

// Key names the caller's account, for limits per caller: its SID on
// Windows, its uid on Unix.
func (c Caller) Key() string {
	if c.SID != "" {
		return c.SID
	}
	return "uid:" + strconv.Itoa(c.UID)
}
