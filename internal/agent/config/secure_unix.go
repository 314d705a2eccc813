//go:build !windows

package config

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

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

// Privileged reports whether this process runs as root: the agent service
// does, and only then do a config's owner and mode decide whom it obeys.
func Privileged() bool { return os.Geteuid() == 0 }

// checkTrusted requires path (a symbolic link is followed, and the link's
// target directory is checked too) to be owned by root or by this
// process's user, and not writable by its group or others.
func checkTrusted(path string, isDir bool) error {
	if !isDir {
		if real, err := filepath.EvalSymlinks(path); err == nil && real != path {
			if err := checkTrusted(filepath.Dir(real), true); err != nil {
				return err
			}
			path = real
		}
	}
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("check %s: %w", path, err)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fmt.Errorf("check %s: no owner information", path)
	}
	if uid := int(st.Uid); uid != 0 && uid != os.Geteuid() {
		return untrusted(path, "is owned by uid %d, not root", uid)
	}
	if perm := fi.Mode().Perm(); perm&0o022 != 0 {
		return untrusted(path, "is writable by users other than its owner (mode %04o)", perm)
	}
	return nil
}

// SecureDir makes dir, the directory of the default config, root's only.
// On Unix only root can create it (below /etc or /Library): nothing else
// can have been planted inside, so the files keep their own modes.
func SecureDir(dir string) ([]string, error) {
	if err := mkdirSecure(dir); err != nil {
		return nil, fmt.Errorf("secure %s: %w", dir, err)
	}
	return nil, nil
}
