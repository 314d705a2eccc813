//go:build !windows && !darwin

package tray

import "strings"

// menuLabel escapes "_", which dbusmenu takes as the mark of an access
// key.
func menuLabel(s string) string { return strings.ReplaceAll(s, "_", "__") }

// platformIcon: the StatusNotifierItem takes PNG.
func platformIcon(s State) []byte { return iconPNG(s) }
