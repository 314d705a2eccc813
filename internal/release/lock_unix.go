//go:build unix

package release

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// lockFile opens path and flocks it. The lock goes with the open file, so
// it is dropped when the process dies. The file is removed on release; a
// run that opened it just before that would hold a lock on a name that no
// longer exists, so the lock is taken again until it is on the file the
// path names.
func lockFile(path string) (*os.File, error) {
	for {
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
		if err != nil {
			return nil, err
		}
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
			f.Close()
			if errors.Is(err, syscall.EWOULDBLOCK) {
				return nil, ErrLocked
			}
			return nil, fmt.Errorf("flock: %w", err)
		}
		held, err1 := f.Stat()
		named, err2 := os.Stat(path)
		if err1 == nil && err2 == nil && os.SameFile(held, named) {
			return f, nil
		}
		f.Close()
	}
}

// unlockFile removes the file while still holding the lock, then closes
// it (which drops the lock).
func unlockFile(path string, f *os.File) error {
	rmErr := os.Remove(path)
	if err := f.Close(); err != nil {
		return fmt.Errorf("unlock %s: %w", path, err)
	}
	if rmErr != nil && !errors.Is(rmErr, os.ErrNotExist) {
		return fmt.Errorf("unlock %s: %w", path, rmErr)
	}
	return nil
}

func readShared(path string) ([]byte, error) { return os.ReadFile(path) }
