package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/windows"

	"github.com/steward-rmm/steward/internal/agent/winetest"
)

// otherUser is a SID of no account on the machine, standing for a standard
// user who got to the config first.
const otherUser = "S-1-5-21-1111111111-2222222222-3333333333-1001"

// TestCheckSecurity reads descriptors as Windows' own parser builds them:
// which owners and ACEs make a config untrusted.
func TestCheckSecurity(t *testing.T) {
	self, err := windows.StringToSid(otherUser)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, sddl string
		self       *windows.SID
		want       string // "" for trusted, else a part of the reason
	}{
		{"what install sets", ownedSDDL, nil, ""},
		{"the service's folder", "O:SYG:SYD:PAI(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)", nil, ""},
		{"owned by Administrators", "O:BAD:P(A;;FA;;;SY)(A;;FA;;;BA)", nil, ""},
		{"owned by TrustedInstaller", "O:" + trustedInstaller + "D:(A;;FA;;;" + trustedInstaller + ")", nil, ""},
		{"users may read and execute", "O:SYD:P(A;;FA;;;SY)(A;;0x1200a9;;;BU)", nil, ""},
		{"a deny for everyone", "O:SYD:(D;;FA;;;WD)(A;;FA;;;SY)", nil, ""},
		{"creator owner, inherit only", "O:SYD:P(A;;FA;;;SY)(A;OICIIO;FA;;;CO)", nil, ""},
		{"self may write", "O:" + otherUser + "D:(A;;FA;;;" + otherUser + ")", self, ""},

		{"owned by a user", "O:" + otherUser + "D:P(A;;FA;;;SY)", nil, "is owned by " + otherUser + ", not SYSTEM or Administrators"},
		{"owned by Users", "O:BUD:P(A;;FA;;;SY)", nil, "is owned by"},
		{"no DACL", "O:SY", nil, "has no DACL, which gives everyone full access"},
		{"users full control", "O:SYD:(A;;FA;;;BU)", nil, "write it (access mask 0x1f01ff)"},
		{"everyone generic write", "O:SYD:(A;;GW;;;WD)", nil, "write it (access mask 0x40000000)"},
		{"authenticated users modify", "O:SYD:(A;;0x1301bf;;;AU)", nil, "write it (access mask 0x1301bf)"},
		{"users may add files, as in ProgramData", "O:BAD:(A;OICI;FA;;;SY)(A;CI;0x116;;;BU)", nil, "write it (access mask 0x116)"},
		{"users may take ownership", "O:SYD:(A;;WO;;;BU)", nil, "write it (access mask 0x80000)"},
		{"users may change the DACL", "O:SYD:(A;;WD;;;BU)", nil, "write it (access mask 0x40000)"},
		{"users may delete", "O:SYD:(A;;SD;;;BU)", nil, "write it (access mask 0x10000)"},
		{"inherited by files made later", "O:SYD:P(A;;FA;;;SY)(A;OICIIO;FA;;;BU)", nil, "write it"},
		{"creator owner, effective", "O:SYD:P(A;;FA;;;SY)(A;;FA;;;CO)", nil, "write it"},
		{"a user, when not self", "O:SYD:(A;;FA;;;" + otherUser + ")", nil, otherUser + " write it"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sd, err := windows.SecurityDescriptorFromString(tt.sddl)
			if err != nil {
				t.Fatalf("parse %s: %v", tt.sddl, err)
			}
			got := checkSecurity(sd, tt.self)
			if (tt.want == "") != (got == "") || !strings.Contains(got, tt.want) {
				t.Errorf("checkSecurity(%s) = %q, want %q", tt.sddl, got, tt.want)
			}
		})
	}
}

// TestCheckSecurityNullDACL: a NULL DACL (SDDL "D:NO_ACCESS_CONTROL",
// which wine parses as an empty one) lets everyone do everything.
func TestCheckSecurityNullDACL(t *testing.T) {
	sd, err := windows.NewSecurityDescriptor()
	if err != nil {
		t.Fatal(err)
	}
	system, err := windows.CreateWellKnownSid(windows.WinLocalSystemSid)
	if err != nil {
		t.Fatal(err)
	}
	if err := sd.SetOwner(system, false); err != nil {
		t.Fatal(err)
	}
	if err := sd.SetDACL(nil, true, false); err != nil {
		t.Fatal(err)
	}
	if got := checkSecurity(sd, nil); !strings.Contains(got, "has no DACL, which gives everyone full access") {
		t.Errorf("checkSecurity(NULL DACL) = %q, want no DACL", got)
	}
}

// setSecurity sets path's owner and DACL from sddl, as the user who got to
// the file first would have; it skips the test where the file system does
// not keep what was set (wine without extended attributes).
func setSecurity(t *testing.T, path, sddl string) {
	t.Helper()
	sd, err := windows.SecurityDescriptorFromString(sddl)
	if err != nil {
		t.Fatal(err)
	}
	info := windows.SECURITY_INFORMATION(windows.DACL_SECURITY_INFORMATION | windows.UNPROTECTED_DACL_SECURITY_INFORMATION)
	owner, _, _ := sd.Owner()
	if owner != nil {
		info |= windows.OWNER_SECURITY_INFORMATION
	}
	dacl, _, _ := sd.DACL()
	EnablePrivileges("SeRestorePrivilege", "SeTakeOwnershipPrivilege")
	if err := windows.SetNamedSecurityInfo(path, windows.SE_FILE_OBJECT, info, owner, nil, dacl, nil); err != nil {
		t.Skipf("cannot set %s on %s (%v): not testable here", sddl, path, err)
	}
	got, err := windows.GetNamedSecurityInfo(path, windows.SE_FILE_OBJECT, windows.OWNER_SECURITY_INFORMATION|windows.DACL_SECURITY_INFORMATION)
	if err != nil {
		t.Fatal(err)
	}
	if checkSecurity(got, selfSID(t)) == "" {
		// Wine keeps no owner but this process's user, and maps a DACL to
		// Unix permissions: only what those can hold is testable there.
		if winetest.Detected() {
			t.Skipf("wine did not keep %s on %s (reads %s)", sddl, path, got)
		}
		t.Fatalf("%s reads %s after setting %s", path, got, sddl)
	}
}

// selfSID is this process's user.
func selfSID(t *testing.T) *windows.SID {
	t.Helper()
	u, err := windows.GetCurrentProcessToken().GetTokenUser()
	if err != nil {
		t.Fatal(err)
	}
	return u.User.Sid
}

// TestCheckTrustedFiles: a config install wrote is trusted; one owned by
// another user, or whose DACL lets users write, is not, and neither is a
// config in a folder they own.
func TestCheckTrustedFiles(t *testing.T) {
	tests := []struct {
		name     string
		spoil    func(t *testing.T, dir, path string)
		wantPath string // "dir" or "file"; "" for trusted
		want     string
	}{
		{"as written", func(*testing.T, string, string) {}, "", ""},
		{"file owned by a user", func(t *testing.T, _, path string) {
			setSecurity(t, path, "O:"+otherUser+"D:P(A;;FA;;;SY)(A;;FA;;;BA)")
		}, "file", "is owned by " + otherUser},
		{"file writable by users", func(t *testing.T, _, path string) {
			setSecurity(t, path, "O:SYD:P(A;;FA;;;SY)(A;;FA;;;BU)")
		}, "file", "write it (access mask 0x1f01ff)"},
		{"file writable by everyone", func(t *testing.T, _, path string) {
			setSecurity(t, path, "D:(A;;FA;;;SY)(A;;FA;;;WD)")
		}, "file", "Everyone"},
		{"folder writable by everyone", func(t *testing.T, dir, _ string) {
			setSecurity(t, dir, "D:(A;OICI;FA;;;SY)(A;OICI;FA;;;WD)")
		}, "dir", "Everyone"},
		{"folder owned by a user", func(t *testing.T, dir, _ string) {
			setSecurity(t, dir, "O:"+otherUser+"D:P(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)")
		}, "dir", "is owned by " + otherUser},
		{"folder users may add to", func(t *testing.T, dir, _ string) {
			setSecurity(t, dir, "O:SYD:P(A;OICI;FA;;;SY)(A;CI;0x116;;;BU)")
		}, "dir", "write it (access mask 0x116)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "Steward")
			path := filepath.Join(dir, "agent.json")
			if err := Save(path, validConfig()); err != nil {
				t.Fatal(err)
			}
			tt.spoil(t, dir, path)
			err := CheckTrusted(path)
			if tt.wantPath == "" {
				if err != nil {
					t.Errorf("CheckTrusted = %v, want nil", err)
				}
				return
			}
			wantPath := path
			if tt.wantPath == "dir" {
				wantPath = dir
			}
			if !errors.Is(err, ErrUntrusted) || !strings.Contains(err.Error(), wantPath+" ") || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("CheckTrusted = %v, want ErrUntrusted naming %s and %q", err, wantPath, tt.want)
			}
		})
	}
}

// TestSecureDir: a folder a user made, with files and a subfolder of
// theirs, ends up owned by SYSTEM all through with the protected DACL; a
// second run changes nothing. (Wine does not enforce DACLs: this checks
// what is set, read back.)
func TestSecureDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "Steward")
	sub := filepath.Join(dir, "metrics-buffer")
	file := filepath.Join(dir, "agent.json")
	deep := filepath.Join(sub, "0001.json")
	if err := os.MkdirAll(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{file, deep} {
		if err := os.WriteFile(p, []byte("{}"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// Inner ones first: they stay reachable while the user's owner and
	// DACL are set.
	userDir := "O:" + otherUser + "D:(A;OICI;FA;;;" + otherUser + ")(A;OICI;FA;;;WD)"
	userFile := "O:" + otherUser + "D:(A;;FA;;;WD)"
	setSecurity(t, deep, userFile)
	setSecurity(t, sub, userDir)
	setSecurity(t, file, userFile)
	setSecurity(t, dir, userDir)

	changes, err := SecureDir(dir)
	// Wine keeps no owner but this process's user: there, only the DACLs
	// (held as Unix permissions) can be checked.
	wine := winetest.Detected()
	if err != nil && !(wine && errors.Is(err, ErrACLNotKept)) {
		t.Fatal(err)
	}
	if len(changes) != 4 {
		t.Errorf("SecureDir changed %d objects, want 4:\n%s", len(changes), strings.Join(changes, "\n"))
	}
	for _, p := range []string{dir, sub, file, deep} {
		sd, err := windows.GetNamedSecurityInfo(p, windows.SE_FILE_OBJECT, windows.OWNER_SECURITY_INFORMATION|windows.DACL_SECURITY_INFORMATION)
		if err != nil {
			t.Fatal(err)
		}
		if wine {
			if reason := checkDACL(sd, selfSID(t)); reason != "" {
				t.Errorf("%s after SecureDir %s (%s)", p, reason, sd)
			}
			continue
		}
		if owner, _, _ := sd.Owner(); owner == nil || !owner.IsWellKnown(windows.WinLocalSystemSid) {
			t.Errorf("%s is owned by %v, want SYSTEM", p, owner)
		}
		if reason := checkSecurity(sd, nil); reason != "" {
			t.Errorf("%s after SecureDir %s (%s)", p, reason, sd)
		}
		if ctl, _, _ := sd.Control(); ctl&windows.SE_DACL_PROTECTED == 0 {
			t.Errorf("%s: DACL not protected (%s)", p, sd)
		}
	}
	if err := CheckTrusted(file); err != nil {
		t.Errorf("CheckTrusted after SecureDir: %v", err)
	}
	if wine {
		return // the owner is never SYSTEM there: every run tries again
	}
	if again, err := SecureDir(dir); err != nil || len(again) != 0 {
		t.Errorf("second SecureDir = %q, %v; want no change", again, err)
	}
}

// TestSecureDirLinks: a link planted in the folder is removed, not
// followed: securing it would hand its target to SYSTEM.
func TestSecureDirLinks(t *testing.T) {
	outside := filepath.Join(t.TempDir(), "outside.txt")
	if err := os.WriteFile(outside, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	before, err := windows.GetNamedSecurityInfo(outside, windows.SE_FILE_OBJECT, windows.OWNER_SECURITY_INFORMATION|windows.DACL_SECURITY_INFORMATION)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "Steward")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "agent.json")
	if err := os.Symlink(outside, link); err != nil {
		t.Skipf("cannot make a symbolic link here: %v", err)
	}
	if _, err := os.Lstat(link); err != nil {
		t.Skipf("the symbolic link made is not there (wine): %v", err)
	}
	if err := CheckTrusted(link); !errors.Is(err, ErrUntrusted) || !strings.Contains(err.Error(), "reparse point") {
		t.Errorf("CheckTrusted(link) = %v, want a reparse point refused", err)
	}
	changes, err := SecureDir(dir)
	if err != nil && !(errors.Is(err, ErrACLNotKept) && winetest.Detected()) {
		t.Fatal(err)
	}
	if !strings.Contains(strings.Join(changes, "\n"), "removed the link "+link) {
		t.Errorf("changes %q do not say the link was removed", changes)
	}
	if _, err := os.Lstat(link); !os.IsNotExist(err) {
		t.Errorf("the link is still there: %v", err)
	}
	after, err := windows.GetNamedSecurityInfo(outside, windows.SE_FILE_OBJECT, windows.OWNER_SECURITY_INFORMATION|windows.DACL_SECURITY_INFORMATION)
	if err != nil {
		t.Fatal(err)
	}
	if before.String() != after.String() {
		t.Errorf("the link's target changed from %s to %s", before, after)
	}
}
