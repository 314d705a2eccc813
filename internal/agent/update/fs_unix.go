//go:build !windows

package update

import (
	"os"
	"path/filepath"
)

// nativeStrategy: a rename replaces its target atomically, even a running
// binary, so the installed path never goes empty.
const nativeStrategy = atomicReplace

// rename moves a file, replacing what is at to.
func rename(from, to string) error { return os.Rename(from, to) }

// syncDir flushes a directory so that a rename in it survives a crash.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}

func dirOf(path string) string { return filepath.Dir(path) }
