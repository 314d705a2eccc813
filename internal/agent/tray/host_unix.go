//go:build unix && !darwin

package tray

import (
	"fmt"

	"github.com/godbus/dbus/v5"
)

// hostReady checks that the session bus systray talks to is there:
// systray only logs a missing bus, and then panics when it quits.
func hostReady() error {
	if _, err := dbus.SessionBus(); err != nil {
		return fmt.Errorf("no DBus session bus for the tray icon: %w", err)
	}
	return nil
}
