package ipc

import (
	"context"
	"crypto/rand"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/windows"
)

func testEndpoint(t testing.TB) string {
	t.Helper()
	return `\\.\pipe\steward-test-` + rand.Text()
}

// checkSelf checks the identity the server found for this test process
// against this process's own token.
func checkSelf(t *testing.T, c Caller) {
	t.Helper()
	want, err := processCaller(windows.GetCurrentProcessId())
	if err != nil {
		t.Fatal(err)
	}
	if c.SID == "" || c.SID != want.SID || c.User != want.User || c.Admin != want.Admin || c.UID != -1 {
		t.Errorf("caller got %+v, want %+v", c, want)
	}
	t.Logf("this process as a pipe client: %+v", c)
}

// TestPipeSDDL parses the pipe's security descriptor back and checks that
// it is what the agent means: wine does not enforce it, so this is what CI
// can prove.
func TestPipeSDDL(t *testing.T) {
	sd, err := windows.SecurityDescriptorFromString(pipeSDDL)
	if err != nil {
		t.Fatalf("SecurityDescriptorFromString(%q): %v", pipeSDDL, err)
	}
	if got := sd.String(); got != pipeSDDL {
		t.Errorf("SDDL read back got %q, want %q", got, pipeSDDL)
	}
	checkDACL(t, sd)
}

// TestPipeCreatedWithSDDL reads the descriptor of a live pipe.
func TestPipeCreatedWithSDDL(t *testing.T) {
	ts := startServer(t, nil)
	sd, err := windows.GetNamedSecurityInfo(ts.Endpoint(), windows.SE_KERNEL_OBJECT, windows.DACL_SECURITY_INFORMATION)
	if err != nil {
		t.Fatalf("GetNamedSecurityInfo(%s): %v", ts.Endpoint(), err)
	}
	got := sd.String()
	t.Logf("pipe descriptor read back: %q", got)
	if got == "" {
		// Wine 8 keeps no descriptor on a pipe (and crashes reading
		// the DACL of the empty one it returns); Windows does.
		t.Skip("the pipe's descriptor reads back empty: wine, not checked")
	}
	checkDACL(t, sd)
}

// checkDACL checks a protected, non-NULL DACL with exactly the three
// grants: SYSTEM and Administrators all, interactive users read/write
// without FILE_CREATE_PIPE_INSTANCE.
func checkDACL(t *testing.T, sd *windows.SECURITY_DESCRIPTOR) {
	t.Helper()
	dacl, _, err := sd.DACL()
	if err != nil || dacl == nil {
		t.Fatalf("DACL got %v, %v; want a non-NULL DACL", dacl, err)
	}
	if ctl, _, err := sd.Control(); err != nil || ctl&windows.SE_DACL_PROTECTED == 0 {
		t.Errorf("control got %#x, %v; want SE_DACL_PROTECTED", ctl, err)
	}
	want := map[windows.WELL_KNOWN_SID_TYPE]windows.ACCESS_MASK{
		windows.WinLocalSystemSid:           windows.GENERIC_ALL,
		windows.WinBuiltinAdministratorsSid: windows.GENERIC_ALL,
		windows.WinInteractiveSid:           clientAccess,
	}
	if int(dacl.AceCount) != len(want) {
		t.Errorf("DACL has %d ACEs, want %d", dacl.AceCount, len(want))
	}
	for i := range uint32(dacl.AceCount) {
		var ace *windows.ACCESS_ALLOWED_ACE
		if err := windows.GetAce(dacl, i, &ace); err != nil {
			t.Fatalf("GetAce(%d): %v", i, err)
		}
		if ace.Header.AceType != windows.ACCESS_ALLOWED_ACE_TYPE {
			t.Errorf("ACE %d type %d, want access allowed", i, ace.Header.AceType)
		}
		sid := (*windows.SID)(unsafePointer(&ace.SidStart))
		found := false
		for k, mask := range want {
			if sid.IsWellKnown(k) {
				found = true
				if ace.Mask != mask {
					t.Errorf("ACE for %s grants %#x, want %#x", sid, ace.Mask, mask)
				}
			}
		}
		if !found {
			t.Errorf("ACE %d is for an unexpected SID %s", i, sid)
		}
	}
	const createPipeInstance = 0x4 // FILE_CREATE_PIPE_INSTANCE
	if clientAccess&createPipeInstance != 0 {
		t.Error("interactive users may create pipe instances")
	}
}

func TestPipeInUse(t *testing.T) {
	ts := startServer(t, nil)
	s := NewServer(ts.Endpoint(), slog.New(slog.DiscardHandler))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err := s.Serve(ctx)
	if err == nil && underWine() {
		t.Skip("wine let a second server create the pipe: not checked under wine")
	}
	if !errors.Is(err, ErrInUse) {
		t.Fatalf("second Serve got %v, want ErrInUse", err)
	}
	if !strings.HasPrefix(DefaultEndpoint(), `\\.\pipe\`) {
		t.Errorf("DefaultEndpoint got %q, want a pipe", DefaultEndpoint())
	}
}

// underWine reports whether this runs under wine, whose ntdll exports
// wine_get_version.
func underWine() bool {
	return windows.NewLazySystemDLL("ntdll.dll").NewProc("wine_get_version").Find() == nil
}

func benchEndpoint(b *testing.B) string { return testEndpoint(b) }
