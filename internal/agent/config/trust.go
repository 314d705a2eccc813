package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// ErrUntrusted marks a config, or its directory, that a user who is not
// root/SYSTEM/an administrator could have written: whoever can write the
// config chooses the server the privileged agent obeys. Install moves such
// a config aside and enrolls afresh; run refuses it.
var ErrUntrusted = errors.New("not trusted")

// ErrACLNotKept says that a file system took a security descriptor without
// error but does not return it (wine, FAT): the caller decides whether that
// is fatal.
var ErrACLNotKept = errors.New("the file system did not keep the security descriptor")

// CheckTrusted reports, as an error matching ErrUntrusted that says why,
// whether the config at path or its directory could have been written by
// someone other than root/SYSTEM, the Administrators, or this process's own
// user. A missing file is not an error (only the directory is checked
// then, if it exists); the rules are per OS (secure_*.go).
func CheckTrusted(path string) error {
	dir := filepath.Dir(path)
	if _, err := os.Lstat(dir); errors.Is(err, fs.ErrNotExist) {
		return nil // install creates it
	}
	if err := checkTrusted(dir, true); err != nil {
		return err
	}
	if _, err := os.Lstat(path); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return checkTrusted(path, false)
}

// untrusted wraps a reason as an ErrUntrusted error.
func untrusted(path, format string, a ...any) error {
	return fmt.Errorf("%s %s: %w", path, fmt.Sprintf(format, a...), ErrUntrusted)
}

// AsideSuffix names files moved aside at t: ".untrusted-20260501T100000Z".
func AsideSuffix(t time.Time) string {
	return ".untrusted-" + t.UTC().Format("20060102T150405Z")
}
