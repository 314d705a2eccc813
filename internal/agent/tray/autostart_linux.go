package tray

import "path/filepath"

// desktopFile is the XDG autostart entry every desktop (GNOME, KDE, Xfce,
// Cinnamon, MATE, LXQt) runs at login.
const desktopFile = "/etc/xdg/autostart/steward-agent-tray.desktop"

func (a Autostart) path() string { return filepath.Join(a.Root, desktopFile) }

// Install writes the autostart entry for binary.
func (a Autostart) Install(binary string) (bool, error) {
	data, err := desktopEntry(binary)
	if err != nil {
		return false, err
	}
	return writeFileIfChanged(a.path(), data)
}

// Remove deletes the autostart entry.
func (a Autostart) Remove() (bool, error) { return removeFile(a.path()) }
