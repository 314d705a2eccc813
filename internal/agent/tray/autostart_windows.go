package tray

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"

	"golang.org/x/sys/windows/registry"
)

// runKey is the machine-wide Run key under SOFTWARE: Explorer starts its
// values in every user's session at logon.
const (
	runKey   = `Microsoft\Windows\CurrentVersion\Run`
	runValue = "StewardTray"
)

func (a Autostart) key() string {
	root := a.Root
	if root == "" {
		root = "SOFTWARE"
	}
	return root + `\` + runKey
}

// Install sets the Run value to `"<binary>" tray`; the quotes keep a path
// with spaces from being split (the unquoted-path attack).
func (a Autostart) Install(binary string) (bool, error) {
	if !filepath.IsAbs(binary) {
		return false, fmt.Errorf("tray autostart: binary %q is not an absolute path", binary)
	}
	want := `"` + binary + `" tray`
	k, _, err := registry.CreateKey(registry.LOCAL_MACHINE, a.key(), registry.QUERY_VALUE|registry.SET_VALUE|registry.WOW64_64KEY)
	if err != nil {
		return false, fmt.Errorf("open HKLM\\%s: %w", a.key(), err)
	}
	defer k.Close()
	if old, _, err := k.GetStringValue(runValue); err == nil && old == want {
		return false, nil
	}
	if err := k.SetStringValue(runValue, want); err != nil {
		return false, fmt.Errorf("set HKLM\\%s\\%s: %w", a.key(), runValue, err)
	}
	return true, nil
}

// Remove deletes the Run value.
func (a Autostart) Remove() (bool, error) {
	k, err := registry.OpenKey(registry.LOCAL_MACHINE, a.key(), registry.SET_VALUE|registry.WOW64_64KEY)
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, registry.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("open HKLM\\%s: %w", a.key(), err)
	}
	defer k.Close()
	err = k.DeleteValue(runValue)
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, registry.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("delete HKLM\\%s\\%s: %w", a.key(), runValue, err)
	}
	return true, nil
}
