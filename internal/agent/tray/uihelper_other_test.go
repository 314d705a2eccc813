//go:build !linux

package tray

import "os"

// runUIHelper: the DBus tray test runs on Linux only.
func runUIHelper() { os.Exit(2) }
