//go:build !windows

package winetest

// Detected is false: wine runs Windows programs only.
func Detected() bool { return false }
