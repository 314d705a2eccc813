package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
	"unsafe"

	"golang.org/x/sys/windows"
)

// protectedSDDL grants full control to SYSTEM and Administrators only, with
// inheritance to files and subdirectories, and a protected DACL so that the
// permissive ACEs of %ProgramData% are not inherited.
const protectedSDDL = "D:P(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)"

// ownedSDDL is protectedSDDL with owner SYSTEM: what SecureDir gives the
// config directory and whatever in it is not already safe.
const ownedSDDL = "O:SY" + protectedSDDL

// trustedInstaller is the NT SERVICE\TrustedInstaller SID, which owns
// Windows' own files.
const trustedInstaller = "S-1-5-80-956008885-3418522649-1831038044-1853292631-2271478464"

// writeRights are the access rights that let a holder change a file or a
// directory's entries, or its security: data, append (for a directory: add
// a file or a subdirectory), delete a child, delete, write the DACL, take
// ownership, and the generic write and all.
const writeRights = windows.FILE_WRITE_DATA | windows.FILE_APPEND_DATA | fileDeleteChild |
	windows.DELETE | windows.WRITE_DAC | windows.WRITE_OWNER | windows.GENERIC_WRITE | windows.GENERIC_ALL

// fileDeleteChild is FILE_DELETE_CHILD, which x/sys/windows does not name.
const fileDeleteChild = 0x40

// restrictFile applies the protected DACL to f before anything is written
// to it.
func restrictFile(f *os.File) error { return protect(f.Name()) }

// restrictDir applies the protected DACL to dir.
func restrictDir(dir string) error { return protect(dir) }

// syncDir is a no-op: NTFS renames are journaled and Windows cannot open a
// directory for flushing through os.
func syncDir(string) {}

// protect gives path owner SYSTEM and the protected DACL. Making SYSTEM
// the owner takes the restore privilege, which an elevated administrator
// and SYSTEM hold; anyone else (a --config of their own) sets the DACL
// only, and keeps owning what they wrote.
func protect(path string) error {
	sd, err := windows.SecurityDescriptorFromString(ownedSDDL)
	if err != nil {
		return fmt.Errorf("parse security descriptor: %w", err)
	}
	owner, _, err := sd.Owner()
	if err != nil {
		return fmt.Errorf("security descriptor owner: %w", err)
	}
	dacl, _, err := sd.DACL()
	if err != nil {
		return fmt.Errorf("security descriptor dacl: %w", err)
	}
	const daclOnly = windows.DACL_SECURITY_INFORMATION | windows.PROTECTED_DACL_SECURITY_INFORMATION
	EnablePrivileges("SeRestorePrivilege")
	err = windows.SetNamedSecurityInfo(path, windows.SE_FILE_OBJECT, daclOnly|windows.OWNER_SECURITY_INFORMATION, owner, nil, dacl, nil)
	if errors.Is(err, windows.ERROR_INVALID_OWNER) || errors.Is(err, windows.ERROR_PRIVILEGE_NOT_HELD) || errors.Is(err, windows.ERROR_ACCESS_DENIED) {
		err = windows.SetNamedSecurityInfo(path, windows.SE_FILE_OBJECT, daclOnly, nil, nil, dacl, nil)
	}
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

// Privileged reports whether this process runs as SYSTEM (the service) or
// as an elevated administrator (install): then a config's owner and DACL
// decide whom the agent obeys.
func Privileged() bool {
	tok := windows.GetCurrentProcessToken()
	if u, err := tok.GetTokenUser(); err == nil && u.User.Sid.IsWellKnown(windows.WinLocalSystemSid) {
		return true
	}
	return tok.IsElevated()
}

// checkTrusted opens path itself (never a link's target) and checks its
// owner and DACL with checkSecurity, for this process's user.
func checkTrusted(path string, isDir bool) error {
	h, err := openNoFollow(path, windows.READ_CONTROL|windows.FILE_READ_ATTRIBUTES)
	if errors.Is(err, windows.ERROR_ACCESS_DENIED) {
		// Administrators and SYSTEM may read any ACL this install or the
		// agent set: someone else chose this one.
		return untrusted(path, "has an ACL that shuts out administrators")
	}
	if err != nil {
		return fmt.Errorf("check %s: %w", path, err)
	}
	defer windows.CloseHandle(h)
	if err := checkObject(path, h, isDir); err != nil {
		return err
	}
	sd, err := windows.GetSecurityInfo(h, windows.SE_FILE_OBJECT,
		windows.OWNER_SECURITY_INFORMATION|windows.DACL_SECURITY_INFORMATION)
	if err != nil {
		return fmt.Errorf("check %s: read its security descriptor: %w", path, err)
	}
	var self *windows.SID
	if u, err := windows.GetCurrentProcessToken().GetTokenUser(); err == nil {
		self = u.User.Sid
	}
	if reason := checkSecurity(sd, self); reason != "" {
		return untrusted(path, "%s", reason)
	}
	return nil
}

// checkObject refuses a reparse point (a link or junction: whatever it
// points to is not what was checked) and a file with other hard links
// (they share its security descriptor with a path elsewhere).
func checkObject(path string, h windows.Handle, isDir bool) error {
	var info windows.ByHandleFileInformation
	if err := windows.GetFileInformationByHandle(h, &info); err != nil {
		return fmt.Errorf("check %s: %w", path, err)
	}
	if info.FileAttributes&windows.FILE_ATTRIBUTE_REPARSE_POINT != 0 {
		return untrusted(path, "is a link or junction (a reparse point)")
	}
	if gotDir := info.FileAttributes&windows.FILE_ATTRIBUTE_DIRECTORY != 0; gotDir != isDir {
		if isDir {
			return untrusted(path, "is not a directory")
		}
		return untrusted(path, "is a directory")
	}
	if !isDir && info.NumberOfLinks > 1 {
		return untrusted(path, "has %d hard links", info.NumberOfLinks)
	}
	return nil
}

// openNoFollow opens path itself, file or directory, even one whose DACL
// shuts administrators out (backup semantics, with the backup and restore
// privileges enabled where the token holds them).
func openNoFollow(path string, access uint32) (windows.Handle, error) {
	p, err := windows.UTF16PtrFromString(path)
	if err != nil {
		return windows.InvalidHandle, err
	}
	return windows.CreateFile(p, access,
		windows.FILE_SHARE_READ|windows.FILE_SHARE_WRITE|windows.FILE_SHARE_DELETE, nil,
		windows.OPEN_EXISTING, windows.FILE_FLAG_BACKUP_SEMANTICS|windows.FILE_FLAG_OPEN_REPARSE_POINT, 0)
}

// checkSecurity returns why a security descriptor lets someone other than
// SYSTEM, Administrators, TrustedInstaller or self (this process's user;
// nil for none) write the object or change its security, or "" when it
// does not: the owner may always rewrite the DACL, so it must be one of
// them; a missing DACL grants everyone everything; and no allow ACE, even
// an inherit-only one that would reach files created later, may grant
// writeRights to anyone else. CREATOR OWNER's inherit-only ACEs stand for
// the creator of a child, which in a directory nobody else may write to is
// one of them. Deny ACEs only take rights away.
func checkSecurity(sd *windows.SECURITY_DESCRIPTOR, self *windows.SID) string {
	owner, _, err := sd.Owner()
	if err != nil || owner == nil {
		return "has no owner"
	}
	if !trustedSID(owner, self) {
		return "is owned by " + account(owner) + ", not SYSTEM or Administrators"
	}
	return checkDACL(sd, self)
}

// trustedSID reports whether sid is SYSTEM, Administrators,
// TrustedInstaller or self.
func trustedSID(sid, self *windows.SID) bool {
	return sid.IsWellKnown(windows.WinLocalSystemSid) || sid.IsWellKnown(windows.WinBuiltinAdministratorsSid) ||
		sid.String() == trustedInstaller || (self != nil && sid.Equals(self))
}

// checkDACL is the DACL half of checkSecurity.
func checkDACL(sd *windows.SECURITY_DESCRIPTOR, self *windows.SID) string {
	dacl, _, err := sd.DACL()
	if err != nil || dacl == nil {
		return "has no DACL, which gives everyone full access"
	}
	for i := range uint32(dacl.AceCount) {
		var ace *windows.ACCESS_ALLOWED_ACE
		if err := windows.GetAce(dacl, i, &ace); err != nil {
			return fmt.Sprintf("has an unreadable ACE %d", i)
		}
		switch ace.Header.AceType {
		case windows.ACCESS_ALLOWED_ACE_TYPE, 9: // 9: ACCESS_ALLOWED_CALLBACK_ACE_TYPE, same layout
		case windows.ACCESS_DENIED_ACE_TYPE, 6, 10, 12: // the deny types
			continue
		case 4, 5, 11: // compound and object allow ACEs: not used on files, not parsed here
			return fmt.Sprintf("has an allow ACE of type %d", ace.Header.AceType)
		default: // audit, alarm and label ACEs do not grant access
			continue
		}
		if ace.Mask&writeRights == 0 {
			continue
		}
		sid := (*windows.SID)(unsafe.Pointer(&ace.SidStart))
		if trustedSID(sid, self) || (sid.IsWellKnown(windows.WinCreatorOwnerSid) && ace.Header.AceFlags&windows.INHERIT_ONLY_ACE != 0) {
			continue
		}
		return fmt.Sprintf("lets %s write it (access mask %#x)", account(sid), ace.Mask)
	}
	return ""
}

// account renders a SID with its account name where Windows knows it.
func account(sid *windows.SID) string {
	if name, domain, _, err := sid.LookupAccount(""); err == nil && name != "" {
		if domain != "" {
			name = domain + `\` + name
		}
		return name + " (" + sid.String() + ")"
	}
	return sid.String()
}

// SecureDir creates dir, the directory of the default config, and makes
// sure that it and everything in it is owned by SYSTEM (or Administrators)
// and writable by SYSTEM and Administrators only: a standard user may
// create %ProgramData%\Steward, and put files in it, before the agent is
// installed. It works top down, so each directory is shut before its
// entries are looked at; a link or junction found in the tree is removed
// (securing it would secure its target), and so is a file with other hard
// links. It returns what it changed. A file system that takes a security
// descriptor without keeping it (FAT, wine) yields an error matching
// ErrACLNotKept, after the whole tree was done.
func SecureDir(dir string) ([]string, error) {
	var changes []string
	if fi, err := os.Lstat(dir); err == nil && fi.Mode()&(fs.ModeSymlink|fs.ModeIrregular) != 0 {
		if err := os.Remove(dir); err != nil {
			return changes, fmt.Errorf("remove the link %s found in place of the folder: %w", dir, err)
		}
		changes = append(changes, "removed the link "+dir+" found in place of the folder")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return changes, fmt.Errorf("create %s: %w", dir, err)
	}
	EnablePrivileges("SeBackupPrivilege", "SeRestorePrivilege", "SeTakeOwnershipPrivilege")
	var notKept error
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p != dir && d.Type()&(fs.ModeSymlink|fs.ModeIrregular) != 0 {
			if err := os.Remove(p); err != nil {
				return fmt.Errorf("remove the link %s: %w", p, err)
			}
			changes = append(changes, "removed the link "+p)
			return nil
		}
		change, err := secureOne(p, d.IsDir() || p == dir)
		switch {
		case errors.Is(err, errHardLinked):
			if err := os.Remove(p); err != nil {
				return fmt.Errorf("remove %s, which has other hard links: %w", p, err)
			}
			changes = append(changes, "removed "+p+", which had other hard links")
			return nil
		case errors.Is(err, ErrACLNotKept):
			notKept = err // go on: the rest of the tree may keep it
			change += " (not kept by the file system)"
		case err != nil:
			return err
		}
		if change != "" {
			changes = append(changes, p+": "+change)
		}
		return nil
	})
	if err != nil {
		return changes, fmt.Errorf("secure %s: %w", dir, err)
	}
	return changes, notKept
}

var errHardLinked = errors.New("file has other hard links")

// secureOne gives one file or directory owner SYSTEM and, unless its DACL
// already lets only SYSTEM and Administrators write, the protected DACL,
// through a handle on the object itself. An object owned by SYSTEM,
// Administrators or TrustedInstaller with such a DACL is left as it is.
func secureOne(path string, isDir bool) (string, error) {
	h, err := openNoFollow(path, windows.READ_CONTROL|windows.WRITE_DAC|windows.WRITE_OWNER|windows.FILE_READ_ATTRIBUTES)
	if err != nil {
		return "", fmt.Errorf("open %s: %w", path, err)
	}
	defer windows.CloseHandle(h)
	var info windows.ByHandleFileInformation
	if err := windows.GetFileInformationByHandle(h, &info); err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	if !isDir && info.NumberOfLinks > 1 {
		return "", errHardLinked
	}
	const what = windows.OWNER_SECURITY_INFORMATION | windows.DACL_SECURITY_INFORMATION
	cur, err := windows.GetSecurityInfo(h, windows.SE_FILE_OBJECT, what)
	if err != nil {
		return "", fmt.Errorf("read the acl of %s: %w", path, err)
	}
	if checkSecurity(cur, nil) == "" {
		return "", nil
	}
	want, err := windows.SecurityDescriptorFromString(ownedSDDL)
	if err != nil {
		return "", fmt.Errorf("parse security descriptor: %w", err)
	}
	owner, _, _ := want.Owner()
	dacl, _, _ := want.DACL()
	info2 := windows.SECURITY_INFORMATION(windows.OWNER_SECURITY_INFORMATION)
	var setDACL *windows.ACL
	if checkDACL(cur, nil) != "" {
		// The DACL itself lets others in: replace it, too.
		info2 |= windows.DACL_SECURITY_INFORMATION | windows.PROTECTED_DACL_SECURITY_INFORMATION
		setDACL = dacl
	}
	if err := windows.SetSecurityInfo(h, windows.SE_FILE_OBJECT, info2, owner, nil, setDACL, nil); err != nil {
		return "", fmt.Errorf("set owner and acl on %s: %w", path, err)
	}
	change := "set owner SYSTEM and a protected ACL (was " + cur.String() + ")"
	after, err := windows.GetSecurityInfo(h, windows.SE_FILE_OBJECT, what)
	if err != nil {
		return change, fmt.Errorf("read the acl of %s: %w", path, err)
	}
	if reason := checkSecurity(after, nil); reason != "" {
		return change, fmt.Errorf("%w: %s %s", ErrACLNotKept, path, reason)
	}
	return change, nil
}

// EnablePrivileges enables what it can of privs in the process token; a
// privilege the token lacks shows later as access denied, with the path.
func EnablePrivileges(privs ...string) {
	var tok windows.Token
	if err := windows.OpenProcessToken(windows.CurrentProcess(), windows.TOKEN_ADJUST_PRIVILEGES|windows.TOKEN_QUERY, &tok); err != nil {
		return
	}
	defer tok.Close()
	for _, p := range privs {
		var luid windows.LUID
		if err := windows.LookupPrivilegeValue(nil, windows.StringToUTF16Ptr(p), &luid); err != nil {
			continue
		}
		tp := windows.Tokenprivileges{PrivilegeCount: 1}
		tp.Privileges[0] = windows.LUIDAndAttributes{Luid: luid, Attributes: windows.SE_PRIVILEGE_ENABLED}
		_ = windows.AdjustTokenPrivileges(tok, false, &tp, 0, nil, nil)
	}
}
