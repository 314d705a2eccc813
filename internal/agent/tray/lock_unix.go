//go:build unix

package tray

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
)

// Lock is the held one-instance lock.
type Lock struct{ f *os.File }

// lockName is the lock file: in $XDG_RUNTIME_DIR (per user, on tmpfs,
// emptied at logout) or else in a private directory of the temporary
// directory (per user on macOS already).
func lockName() (string, error) {
	if dir := os.Getenv("XDG_RUNTIME_DIR"); dir != "" {
		return filepath.Join(dir, "steward-tray.lock"), nil
	}
	dir := filepath.Join(os.TempDir(), "steward-tray-"+strconv.Itoa(os.Getuid()))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("create the lock directory: %w", err)
	}
	// Another user could have made the directory first to hold our lock.
	fi, err := os.Lstat(dir)
	if err != nil {
		return "", fmt.Errorf("check the lock directory: %w", err)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); !fi.IsDir() || (ok && int(st.Uid) != os.Getuid()) {
		return "", fmt.Errorf("lock directory %s is not a directory of this user", dir)
	}
	return filepath.Join(dir, "steward-tray.lock"), nil
}

func acquire(path string) (*Lock, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open the lock file: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, ErrRunning
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return &Lock{f: f}, nil
}

// Release drops the lock.
func (l *Lock) Release() error { return l.f.Close() }
