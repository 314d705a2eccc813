//go:build !windows

package service

// RemoveTrayAutostart removes the tray's autostart entry so that no new
// session starts the tray, and reports whether there was one. Trays already
// running in sessions stop when they lose the agent (the tray's concern).
func (m *Manager) RemoveTrayAutostart() (bool, error) {
	return removeIfExists(m.HostPath(trayAutostart))
}
