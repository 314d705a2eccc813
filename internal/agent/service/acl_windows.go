package service

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"unsafe"

	"golang.org/x/sys/windows"

	"github.com/steward-rmm/steward/internal/agent/config"
)

// Security descriptors of what install owns. Owner SYSTEM; a protected DACL
// (P: nothing inherited from %ProgramFiles% or %ProgramData%, whose ACLs
// let Users create files) with auto-inheritance (AI).
const (
	// DirSDDL: the install directory and %ProgramData%\Steward. SYSTEM and
	// Administrators have full control, inherited by what is created
	// inside (OICI); nobody else has any access.
	DirSDDL = "O:SYG:SYD:PAI(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)"
	// BinarySDDL: the binary, which the tray runs as each logged-in user:
	// SYSTEM and Administrators full, Users read and execute (FR|FX =
	// 0x1200a9), nobody may write it. Users reach it without any right on
	// the directory, through the traverse-checking bypass every account
	// has.
	BinarySDDL = "O:SYG:SYD:PAI(A;;FA;;;SY)(A;;FA;;;BA)(A;;0x1200a9;;;BU)"
)

// Protect applies sddl (owner and protected DACL) to path, taking
// ownership when the path exists with another owner, and says what it
// changed ("" when the path already had this owner and these ACEs). A file
// system that takes the descriptor but does not keep it (FAT, or wine's
// view of the host's) yields ErrACLNotKept.
//
// A directory's (DirSDDL's) contents are secured too (config.SecureDir), first: files
// and folders someone else put there before install took the directory
// get owner SYSTEM, and the protected DACL unless theirs lets only SYSTEM
// and Administrators write; links and junctions in it are removed, as is a
// link in place of the directory itself, whose target would otherwise get
// the descriptor.
func Protect(path, sddl string) (string, error) {
	var inside []string
	if sddl == DirSDDL {
		changes, err := config.SecureDir(path)
		if err != nil && !errors.Is(err, ErrACLNotKept) {
			return "", err
		}
		inside = changes
	}
	changed, err := protectOne(path, sddl)
	if len(inside) > 0 {
		changed = strings.TrimPrefix(changed+"; "+strings.Join(inside, "; "), "; ")
	}
	return changed, err
}

// protectOne applies sddl to path itself.
func protectOne(path, sddl string) (string, error) {
	want, err := windows.SecurityDescriptorFromString(sddl)
	if err != nil {
		return "", fmt.Errorf("parse security descriptor %s: %w", sddl, err)
	}
	wantKey := SecurityKey(want)
	cur, err := readSecurity(path)
	if err != nil {
		return "", err
	}
	if SecurityKey(cur) == wantKey {
		return "", nil
	}
	owner, _, err := want.Owner()
	if err != nil {
		return "", fmt.Errorf("security descriptor owner: %w", err)
	}
	dacl, _, err := want.DACL()
	if err != nil {
		return "", fmt.Errorf("security descriptor dacl: %w", err)
	}
	// Making SYSTEM the owner of a directory someone else owns needs the
	// restore privilege (an owner other than oneself) and the take-ownership
	// one; an elevated Administrator holds both, disabled.
	config.EnablePrivileges("SeRestorePrivilege", "SeTakeOwnershipPrivilege")
	err = windows.SetNamedSecurityInfo(path, windows.SE_FILE_OBJECT,
		windows.OWNER_SECURITY_INFORMATION|windows.DACL_SECURITY_INFORMATION|windows.PROTECTED_DACL_SECURITY_INFORMATION,
		owner, nil, dacl, nil)
	if err != nil {
		return "", fmt.Errorf("set owner and acl on %s: %w", path, err)
	}
	after, err := readSecurity(path)
	if err != nil {
		return "", err
	}
	if SecurityKey(after) != wantKey {
		return "", fmt.Errorf("%w: %s still reads %s", ErrACLNotKept, path, after.String())
	}
	return "set owner SYSTEM and a protected ACL (was " + cur.String() + ")", nil
}

// ErrACLNotKept says that a file system took a security descriptor without
// error but does not return it (wine, FAT): the caller decides whether that
// is fatal.
var ErrACLNotKept = config.ErrACLNotKept

// ReadSecurity returns path's owner and DACL as SDDL, as Windows renders it.
func ReadSecurity(path string) (string, error) {
	sd, err := readSecurity(path)
	if err != nil {
		return "", err
	}
	return sd.String(), nil
}

func readSecurity(path string) (*windows.SECURITY_DESCRIPTOR, error) {
	sd, err := windows.GetNamedSecurityInfo(path, windows.SE_FILE_OBJECT,
		windows.OWNER_SECURITY_INFORMATION|windows.DACL_SECURITY_INFORMATION)
	if err != nil {
		return nil, fmt.Errorf("read the acl of %s: %w", path, err)
	}
	return sd, nil
}

// SecurityKey renders what Protect compares of a descriptor: the owner,
// whether the DACL is protected, and its explicit ACEs (type, flags, access
// mask, SID) in order. Inherited ACEs, the group and the AI bit are left
// out: Windows manages them, and they would differ in rendering only.
func SecurityKey(sd *windows.SECURITY_DESCRIPTOR) string {
	var b strings.Builder
	if owner, _, err := sd.Owner(); err == nil && owner != nil {
		b.WriteString("O:" + owner.String())
	}
	if ctl, _, err := sd.Control(); err == nil && ctl&windows.SE_DACL_PROTECTED != 0 {
		b.WriteString(" protected")
	}
	dacl, _, err := sd.DACL()
	if err != nil || dacl == nil {
		b.WriteString(" no-dacl")
		return b.String()
	}
	for i := range uint32(dacl.AceCount) {
		var ace *windows.ACCESS_ALLOWED_ACE
		if err := windows.GetAce(dacl, i, &ace); err != nil {
			fmt.Fprintf(&b, " bad-ace-%d", i)
			continue
		}
		if ace.Header.AceFlags&windows.INHERITED_ACE != 0 {
			continue
		}
		sid := (*windows.SID)(unsafe.Pointer(&ace.SidStart))
		fmt.Fprintf(&b, " (%d;%#x;%#x;%s)", ace.Header.AceType, ace.Header.AceFlags, ace.Mask, sid.String())
	}
	return b.String()
}

// programData is %ProgramData%.
func programData() string {
	dir, err := windows.KnownFolderPath(windows.FOLDERID_ProgramData, 0)
	if err != nil || dir == "" {
		dir = os.Getenv("ProgramData")
	}
	if dir == "" {
		dir = `C:\ProgramData`
	}
	return dir
}
