package tray

import "errors"

// ErrRunning is returned by AcquireLock when another tray runs in this
// session.
var ErrRunning = errors.New("the tray already runs in this session")

// AcquireLock takes the one-tray-per-session lock: a locked file in the
// user's runtime directory on Unix, a Local\ named mutex (per session) on
// Windows. The OS drops it when the process dies, so a crash never leaves
// a stale lock. Release it with Lock.Release.
func AcquireLock() (*Lock, error) {
	name, err := lockName()
	if err != nil {
		return nil, err
	}
	return acquire(name)
}
