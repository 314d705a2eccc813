//go:build !unix || darwin

package tray

// hostReady: Windows and macOS always have a notification area in a
// user's session.
func hostReady() error { return nil }
