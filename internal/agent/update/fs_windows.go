package update

import (
	"path/filepath"

	"golang.org/x/sys/windows"
)

// nativeStrategy: a running executable can be renamed, not replaced.
const nativeStrategy = renameAside

// rename moves a file with write-through, so that the move is on disk when
// it returns; it never replaces an existing file. Windows lets a running
// executable be renamed (not deleted or written).
func rename(from, to string) error {
	f, err := windows.UTF16PtrFromString(from)
	if err != nil {
		return err
	}
	t, err := windows.UTF16PtrFromString(to)
	if err != nil {
		return err
	}
	return windows.MoveFileEx(f, t, windows.MOVEFILE_WRITE_THROUGH)
}

// syncDir: NTFS journals renames; write-through already flushed them.
func syncDir(string) {}

func dirOf(path string) string { return filepath.Dir(path) }
