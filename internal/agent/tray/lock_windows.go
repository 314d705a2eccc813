package tray

import (
	"errors"
	"fmt"

	"golang.org/x/sys/windows"
)

// Lock is the held one-instance lock.
type Lock struct{ h windows.Handle }

// lockName is a mutex in the session's own namespace (Local\), so each
// logged-in user, and each session of one user, runs one tray.
func lockName() (string, error) { return `Local\StewardTray`, nil }

func acquire(name string) (*Lock, error) {
	p, err := windows.UTF16PtrFromString(name)
	if err != nil {
		return nil, fmt.Errorf("mutex name %q: %w", name, err)
	}
	h, err := windows.CreateMutex(nil, false, p)
	if errors.Is(err, windows.ERROR_ALREADY_EXISTS) {
		windows.CloseHandle(h)
		return nil, ErrRunning
	}
	if err != nil {
		return nil, fmt.Errorf("create mutex %s: %w", name, err)
	}
	return &Lock{h: h}, nil
}

// Release drops the lock.
func (l *Lock) Release() error { return windows.CloseHandle(l.h) }
