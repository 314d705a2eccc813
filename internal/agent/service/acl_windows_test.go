package service

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unsafe"

	"golang.org/x/sys/windows"

	"github.com/steward-rmm/steward/internal/agent/winetest"
)

// TestProtectContents: Protect of a directory reaches what someone put in
// it before install took it, not only the directory itself. A child whose
// DACL lets everyone write gets the protected one; the binary, whose DACL
// lets users read only, keeps it. (Wine keeps DACLs as Unix permissions
// and no owner but this process's user: there the DACLs are checked.)
func TestProtectContents(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "Steward")
	logs := filepath.Join(dir, "logs")
	planted := filepath.Join(logs, "agent.log")
	bin := filepath.Join(dir, "steward-agent.exe")
	if err := os.MkdirAll(logs, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{planted, bin} {
		if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := Protect(bin, BinarySDDL); err != nil && !(errors.Is(err, ErrACLNotKept) && winetest.Detected()) {
		t.Fatal(err)
	}
	binBefore, err := ReadSecurity(bin)
	if err != nil {
		t.Fatal(err)
	}
	open := "D:(A;OICI;FA;;;WD)"
	for _, p := range []string{planted, logs} {
		sd, err := windows.SecurityDescriptorFromString(open)
		if err != nil {
			t.Fatal(err)
		}
		dacl, _, _ := sd.DACL()
		if err := windows.SetNamedSecurityInfo(p, windows.SE_FILE_OBJECT, windows.DACL_SECURITY_INFORMATION, nil, nil, dacl, nil); err != nil {
			t.Fatal(err)
		}
		if got, _ := ReadSecurity(p); !everyoneWrites(t, got) {
			t.Skipf("%s does not keep a DACL for everyone here (reads %s)", p, got)
		}
	}

	changed, err := Protect(dir, DirSDDL)
	if err != nil && !(errors.Is(err, ErrACLNotKept) && winetest.Detected()) {
		t.Fatal(err)
	}
	for _, p := range []string{logs, planted} {
		if !strings.Contains(changed, p+": set owner SYSTEM and a protected ACL") {
			t.Errorf("Protect(%s) = %q, want %s named", dir, changed, p)
		}
		got, err := ReadSecurity(p)
		if err != nil {
			t.Fatal(err)
		}
		if everyoneWrites(t, got) {
			t.Errorf("%s still lets everyone in after Protect: %s", p, got)
		}
	}
	if binAfter, _ := ReadSecurity(bin); binAfter != binBefore {
		t.Errorf("the binary's ACL changed from %s to %s", binBefore, binAfter)
	}
}

// everyoneWrites reports whether the descriptor sddl lets Everyone write.
func everyoneWrites(t *testing.T, sddl string) bool {
	t.Helper()
	sd, err := windows.SecurityDescriptorFromString(sddl)
	if err != nil {
		t.Fatal(err)
	}
	dacl, _, err := sd.DACL()
	if err != nil || dacl == nil {
		return true
	}
	for i := range uint32(dacl.AceCount) {
		var ace *windows.ACCESS_ALLOWED_ACE
		if err := windows.GetAce(dacl, i, &ace); err != nil {
			t.Fatal(err)
		}
		sid := (*windows.SID)(unsafe.Pointer(&ace.SidStart))
		if ace.Header.AceType == windows.ACCESS_ALLOWED_ACE_TYPE && sid.IsWellKnown(windows.WinWorldSid) &&
			ace.Mask&(windows.FILE_WRITE_DATA|windows.GENERIC_WRITE|windows.GENERIC_ALL) != 0 {
			return true
		}
	}
	return false
}
