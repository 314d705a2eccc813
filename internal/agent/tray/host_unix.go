//go:build unix && !darwin

package tray

import (
	"fmt"

	"github.com/godbus/dbus/v5"
)

// hostReady checks that the session bus the icon is served on is there.
func hostReady() error {
	conn, err := dbus.ConnectSessionBus()
	if err != nil {
		return fmt.Errorf("no DBus session bus for the tray icon: %w", err)
	}
	return conn.Close()
}
