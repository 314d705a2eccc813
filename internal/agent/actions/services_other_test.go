//go:build !windows

package actions

// runAsService: only the Windows tests run the test binary as a service.
func runAsService() {}
