//go:build !windows

package update

import (
	"os"
	"path/filepath"
)

func rename(from, to string) error { return os.Rename(from, to) }

// syncDir flushes a directory so that a rename in it survives a crash.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}

func dirOf(path string) string { return filepath.Dir(path) }
