package config

import (
	"errors"
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/windows"
)

// protectedSDDL grants full control to SYSTEM and Administrators only, with
// inheritance to files and subdirectories, and a protected DACL so that the
// permissive ACEs of %ProgramData% are not inherited.
const protectedSDDL = "D:P(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)"

// restrictFile applies the protected DACL to f before anything is written
// to it.
func restrictFile(f *os.File) error { return protect(f.Name()) }

// restrictDir applies the protected DACL to dir.
func restrictDir(dir string) error { return protect(dir) }

// syncDir is a no-op: NTFS renames are journaled and Windows cannot open a
// directory for flushing through os.
func syncDir(string) {}

func protect(path string) error {
	sd, err := windows.SecurityDescriptorFromString(protectedSDDL)
	if err != nil {
		return fmt.Errorf("parse security descriptor: %w", err)
	}
	dacl, _, err := sd.DACL()
	if err != nil {
		return fmt.Errorf("security descriptor dacl: %w", err)
	}
	err = windows.SetNamedSecurityInfo(path, windows.SE_FILE_OBJECT,
		windows.DACL_SECURITY_INFORMATION|windows.PROTECTED_DACL_SECURITY_INFORMATION,
		nil, nil, dacl, nil)
	if err != nil {
		return fmt.Errorf("set acl on %s: %w", path, err)
	}
	return nil
}

// replaceFile renames tmp over path. While another process reads path
// (steward-agent status, the tray, an antivirus scan) Windows refuses to
// replace it, with access denied or a sharing violation: readers hold it
// for a moment only, so try again for up to about five seconds.
func replaceFile(tmp, path string) error {
	wait := 5 * time.Millisecond
	for attempt := 0; ; attempt++ {
		err := os.Rename(tmp, path)
		if err == nil || attempt == 10 ||
			!(errors.Is(err, windows.ERROR_ACCESS_DENIED) || errors.Is(err, windows.ERROR_SHARING_VIOLATION)) {
			return err
		}
		time.Sleep(wait) // a real wait: another process holds the file
		wait *= 2
	}
}
