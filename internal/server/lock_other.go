//go:build !unix

package server

// lockDataDir is a no-op where flock is unavailable; the server is built
// for Unix-like systems, and this keeps other builds compiling.
func lockDataDir(string) (func(), error) { return func() {}, nil }
