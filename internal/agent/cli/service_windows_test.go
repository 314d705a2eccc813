package cli

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/windows/registry"
)

// TestRemoveBinary: a file not in use is deleted; the running executable
// cannot be, so it is scheduled for deletion at restart, which Windows
// keeps in PendingFileRenameOperations.
func TestRemoveBinary(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "Steward")
	os.Mkdir(dir, 0o755)
	idle := filepath.Join(dir, "steward-agent.exe")
	os.WriteFile(idle, []byte("MZ"), 0o755)
	if msg, err := removeBinary(idle); err != nil || !strings.HasPrefix(msg, "Removed ") {
		t.Errorf("removeBinary(idle) = %q, %v", msg, err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("empty install directory left: %v", err)
	}
	if msg, err := removeBinary(idle); err != nil || msg != "" {
		t.Errorf("removeBinary(missing) = %q, %v; want nothing", msg, err)
	}

	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	msg, err := removeBinary(self)
	if err != nil {
		t.Skipf("cannot schedule a deletion (not elevated?): %v", err)
	}
	if !strings.Contains(msg, "deleted at the next restart") {
		t.Fatalf("removeBinary(running exe) = %q; want a deletion at restart", msg)
	}
	k, err := registry.OpenKey(registry.LOCAL_MACHINE, `SYSTEM\CurrentControlSet\Control\Session Manager`, registry.QUERY_VALUE|registry.SET_VALUE)
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	pending, _, err := k.GetStringsValue("PendingFileRenameOperations")
	if err != nil {
		t.Fatalf("read PendingFileRenameOperations: %v", err)
	}
	// The running exe was moved aside and that name scheduled, so that a
	// reinstall before the restart is not deleted by it.
	aside := func(s string) bool {
		s = strings.ToLower(strings.TrimPrefix(s, `\??\`))
		return strings.HasPrefix(s, strings.ToLower(self)+".") && strings.HasSuffix(s, ".removed")
	}
	if !slices.ContainsFunc(pending, aside) {
		t.Errorf("PendingFileRenameOperations %q lacks %s moved aside", pending, self)
	}
	if slices.ContainsFunc(pending, func(s string) bool { return strings.EqualFold(strings.TrimPrefix(s, `\??\`), self) }) {
		t.Errorf("PendingFileRenameOperations %q deletes %s itself: a reinstall there would be lost at restart", pending, self)
	}
	if _, err := os.Stat(self); !os.IsNotExist(err) {
		t.Errorf("the running exe is still at %s (%v); want it moved aside", self, err)
	}
	// Leave the test runner's files alone at the next wine restart.
	k.DeleteValue("PendingFileRenameOperations")
}
