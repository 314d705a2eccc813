package service

import (
	"errors"
	"fmt"

	"golang.org/x/sys/windows/registry"
)

const runKey = `SOFTWARE\Microsoft\Windows\CurrentVersion\Run`

// RemoveTrayAutostart removes the tray's HKLM Run value so that no new
// session starts the tray, and reports whether there was one. Trays already
// running in sessions stop when they lose the agent (the tray's concern).
func (m *Manager) RemoveTrayAutostart() (bool, error) {
	k, err := registry.OpenKey(registry.LOCAL_MACHINE, runKey, registry.SET_VALUE|registry.WOW64_64KEY)
	if errors.Is(err, registry.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("open %s: %w", runKey, err)
	}
	defer k.Close()
	err = k.DeleteValue(TrayRunValue)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, registry.ErrNotExist):
		return false, nil
	default:
		return false, fmt.Errorf("delete %s\\%s: %w", runKey, TrayRunValue, err)
	}
}
