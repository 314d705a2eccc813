//go:build windows

package release

import (
	"errors"
	"os"

	"golang.org/x/sys/windows"
)

// lockFile opens path for writing, sharing reads only: a second writer
// gets a sharing violation for as long as the handle is open, and Windows
// closes every handle of a process that ends. FILE_FLAG_DELETE_ON_CLOSE
// takes the file away with the last handle, crash or not.
func lockFile(path string) (*os.File, error) {
	p, err := windows.UTF16PtrFromString(path)
	if err != nil {
		return nil, err
	}
	h, err := windows.CreateFile(p, windows.GENERIC_READ|windows.GENERIC_WRITE,
		windows.FILE_SHARE_READ|windows.FILE_SHARE_DELETE, nil, windows.OPEN_ALWAYS,
		windows.FILE_ATTRIBUTE_NORMAL|windows.FILE_FLAG_DELETE_ON_CLOSE, 0)
	if errors.Is(err, windows.ERROR_SHARING_VIOLATION) || errors.Is(err, windows.ERROR_ACCESS_DENIED) {
		return nil, ErrLocked
	}
	if err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(h), path), nil
}

// unlockFile closes the handle; the file goes with it.
func unlockFile(_ string, f *os.File) error { return f.Close() }

// readShared opens the lock file as the holder allows (read, delete
// sharing) to read its PID.
func readShared(path string) ([]byte, error) {
	p, err := windows.UTF16PtrFromString(path)
	if err != nil {
		return nil, err
	}
	h, err := windows.CreateFile(p, windows.GENERIC_READ,
		windows.FILE_SHARE_READ|windows.FILE_SHARE_WRITE|windows.FILE_SHARE_DELETE, nil, windows.OPEN_EXISTING, windows.FILE_ATTRIBUTE_NORMAL, 0)
	if err != nil {
		return nil, err
	}
	f := os.NewFile(uintptr(h), path)
	defer f.Close()
	b := make([]byte, 32)
	n, err := f.Read(b)
	return b[:n], err
}
