package tray

// menuLabel: macOS menus show titles as they are.
func menuLabel(s string) string { return s }

// platformIcon: the macOS status item takes PNG.
func platformIcon(s State) []byte { return iconPNG(s) }
