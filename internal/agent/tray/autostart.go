package tray

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Autostart is the entry that starts `steward-agent tray` at every user's
// login: the HKLM Run value StewardTray on Windows, the XDG autostart file
// /etc/xdg/autostart/steward-agent-tray.desktop on Linux, the LaunchAgent
// com.steward.agent.tray in /Library/LaunchAgents on macOS. Install and
// uninstall call it as root/SYSTEM; both are idempotent and report whether
// they changed anything.
type Autostart struct {
	// Root replaces the machine's root for tests: a directory that stands
	// for "/" on Linux and macOS; on Windows a registry path under HKLM
	// that stands for SOFTWARE. Empty means the real machine.
	Root string
}

// InstallAutostart makes the tray at binary start at every user's login.
func InstallAutostart(binary string) error {
	_, err := Autostart{}.Install(binary)
	return err
}

// RemoveAutostart removes the tray's autostart entry, if any.
func RemoveAutostart() error {
	_, err := Autostart{}.Remove()
	return err
}

// writeFileIfChanged writes data to path (creating its directory) unless it
// already holds exactly that, through a temporary file so that a crash
// never leaves half an entry.
func writeFileIfChanged(path string, data []byte) (bool, error) {
	if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, data) {
		return false, nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return false, fmt.Errorf("create %s: %w", filepath.Dir(path), err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return false, fmt.Errorf("write %s: %w", tmp, err)
	}
	if err := os.Chmod(tmp, 0o644); err != nil { // whatever the umask
		os.Remove(tmp)
		return false, fmt.Errorf("chmod %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return false, fmt.Errorf("install %s: %w", path, err)
	}
	return true, nil
}

// removeFile removes path; a missing file is no change.
func removeFile(path string) (bool, error) {
	err := os.Remove(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("remove %s: %w", path, err)
	}
	return true, nil
}
