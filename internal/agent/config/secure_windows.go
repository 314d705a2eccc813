package config

import (
	"fmt"
	"os"

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
