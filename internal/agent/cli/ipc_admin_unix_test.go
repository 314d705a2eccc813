//go:build !windows

package cli

import "os"

// isAdmin reports whether this test runs with the role health needs.
func isAdmin() bool { return os.Geteuid() == 0 }
