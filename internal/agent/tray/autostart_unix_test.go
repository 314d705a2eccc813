//go:build linux || darwin

package tray

import (
	"os"
	"testing"
)

func TestAutostartFile(t *testing.T) {
	a := Autostart{Root: t.TempDir()}
	bin := "/usr/local/bin/steward-agent"
	checkTwice(t, "install", func() (bool, error) { return a.Install(bin) })
	fi, err := os.Stat(a.path())
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o644 {
		t.Errorf("%s has mode %v, want 0644 (every user's session reads it)", a.path(), fi.Mode().Perm())
	}
	if changed, err := a.Install("/usr/bin/steward-agent"); err != nil || !changed {
		t.Errorf("install with another binary: changed %v, %v; want a change", changed, err)
	}
	checkTwice(t, "remove", a.Remove)
	if _, err := os.Stat(a.path()); !os.IsNotExist(err) {
		t.Errorf("after remove: %v, want the file gone", err)
	}
}
