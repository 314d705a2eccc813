//go:build !windows

package service

// MSIProduct returns "": only Windows has MSI installs.
func MSIProduct() string { return "" }

// RunByMSI reports false: only Windows has Windows Installer.
func RunByMSI() bool { return false }
