//go:build !linux && !darwin && !windows

package tray

import (
	"errors"
	"fmt"
	"runtime"
)

// Install: the agent ships for Linux, macOS and Windows only.
func (a Autostart) Install(string) (bool, error) {
	return false, fmt.Errorf("tray autostart on %s: %w", runtime.GOOS, errors.ErrUnsupported)
}

// Remove: the agent ships for Linux, macOS and Windows only.
func (a Autostart) Remove() (bool, error) { return false, nil }
