package tray

import "strings"

// menuLabel escapes "&", which a Windows menu takes as the mark of an
// access key.
func menuLabel(s string) string { return strings.ReplaceAll(s, "&", "&&") }

// platformIcon: Windows loads icons from .ico files.
func platformIcon(s State) []byte { return iconICO(s) }
