//go:build !windows

package cli

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// recordVersion does nothing: the OS lists installed software from its
// package database, which the package manager keeps.
func recordVersion(io.Writer) {}

// removeBinary removes the installed binary, and its directory when that
// is ours and empty (/Library/Steward); a running binary can be deleted.
func removeBinary(path string) (string, error) {
	err := os.Remove(path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("remove %s: %w", path, err)
	}
	if dir := filepath.Dir(path); filepath.Base(dir) == "Steward" {
		os.Remove(dir)
	}
	return "Removed " + path + ".", nil
}
