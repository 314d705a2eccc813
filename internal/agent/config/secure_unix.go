//go:build !windows

package config

import "os"

// restrictFile makes f readable and writable by its owner (root) only.
func restrictFile(f *os.File) error { return f.Chmod(0o600) }

// restrictDir makes dir accessible by its owner (root) only.
func restrictDir(dir string) error { return os.Chmod(dir, 0o700) }

// syncDir makes a rename durable. Best effort: not every file system
// supports syncing a directory.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}

// replaceFile renames tmp over path; on Unix that never waits for readers.
func replaceFile(tmp, path string) error { return os.Rename(tmp, path) }
