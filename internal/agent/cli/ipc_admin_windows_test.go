package cli

import "golang.org/x/sys/windows"

// isAdmin reports whether this test runs with the role health needs
// (wine gives an elevated administrator).
func isAdmin() bool { return windows.GetCurrentProcessToken().IsElevated() }
