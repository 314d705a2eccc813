//go:build linux || darwin

package service

import (
	"fmt"
	"os"
)

// Available reports whether the service manager runs here (systemd as
// PID 1, or launchctl); an offline Root needs none.
func (m *Manager) Available() error {
	if m.Offline() {
		return nil
	}
	if _, err := os.Stat(m.running); err != nil {
		return fmt.Errorf("%w: "+missingManager, ErrNoServiceManager, m.running)
	}
	return nil
}
