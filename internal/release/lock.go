package release

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// LockFile is the name of the lock a release build holds in its output
// directory.
const LockFile = ".release-build.lock"

// ErrLocked is the refusal of a second build while one holds the lock.
var ErrLocked = errors.New("another release build is running")

// Lock is a held build lock: a file holding the owner's PID, locked with
// flock (Unix) or opened exclusively (Windows). The operating system
// releases it when the process ends, however it ends, so a crashed build
// never blocks the next one; a file left behind is only a name.
type Lock struct {
	path string
	f    *os.File
}

// AcquireLock takes the lock at path without waiting. When another process
// holds it, the error wraps ErrLocked and names that process's PID.
func AcquireLock(path string) (*Lock, error) {
	f, err := lockFile(path)
	if errors.Is(err, ErrLocked) {
		return nil, fmt.Errorf("%w (PID %s holds %s): wait for it to finish, or stop it", ErrLocked, holder(path), path)
	}
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if err := f.Truncate(0); err == nil {
		_, err = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("write %s: %w", path, err)
	}
	return &Lock{path: path, f: f}, nil
}

// Release gives the lock up.
func (l *Lock) Release() error {
	return unlockFile(l.path, l.f)
}

// holder reads the PID a lock file names, for the refusal's message.
func holder(path string) string {
	b, err := readShared(path)
	if err != nil || strings.TrimSpace(string(b)) == "" {
		return "unknown"
	}
	return strings.TrimSpace(string(b))
}
