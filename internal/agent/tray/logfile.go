package tray

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
)

// The tray has no console: its log and its UI child's output (a panic's
// stack included) go to a file in the user's cache directory, kept to
// two files of at most maxLogSize.
const maxLogSize = 1 << 20

// DefaultLogPath is the tray's log file: os.UserCacheDir()/Steward/tray.log
// (~/.cache on Linux, %LocalAppData% on Windows, ~/Library/Caches on
// macOS).
func DefaultLogPath() (string, error) {
	dir, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("find the user cache directory: %w", err)
	}
	return filepath.Join(dir, "Steward", "tray.log"), nil
}

// LogFile is an io.Writer that appends to a file and moves it aside to
// path+".1" (replacing the older one) when it would grow past its limit.
// It is safe for concurrent use.
type LogFile struct {
	path  string
	limit int64

	mu   sync.Mutex
	f    *os.File
	size int64
}

// OpenLog opens (creating its directory) the log file at path, bounded to
// limit bytes (maxLogSize when limit <= 0).
func OpenLog(path string, limit int64) (*LogFile, error) {
	if limit <= 0 {
		limit = maxLogSize
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("create the log directory: %w", err)
	}
	l := &LogFile{path: path, limit: limit}
	if err := l.open(); err != nil {
		return nil, err
	}
	return l, nil
}

func (l *LogFile) open() error {
	f, err := os.OpenFile(l.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("open the log: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("stat the log: %w", err)
	}
	l.f, l.size = f, fi.Size()
	return nil
}

// Write appends p, rotating first when p would take the file past the
// limit. A single write larger than the limit is cut to it.
func (l *LogFile) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := len(p)
	if int64(len(p)) > l.limit {
		p = p[len(p)-int(l.limit):]
	}
	if l.f == nil || l.size+int64(len(p)) > l.limit {
		if err := l.rotate(); err != nil {
			return 0, err
		}
	}
	w, err := l.f.Write(p)
	l.size += int64(w)
	if err != nil {
		return w, fmt.Errorf("write the log: %w", err)
	}
	return n, nil
}

func (l *LogFile) rotate() error {
	if l.f != nil {
		l.f.Close()
		l.f = nil
		// Windows cannot rename over an existing file.
		_ = os.Remove(l.path + ".1")
		if err := os.Rename(l.path, l.path+".1"); err != nil {
			return fmt.Errorf("rotate the log: %w", err)
		}
	}
	return l.open()
}

// Close closes the file.
func (l *LogFile) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	return err
}
