//go:build unix && !darwin

package tray

// openCommand is the freedesktop opener, which picks the user's browser,
// mail or phone program for the scheme.
func openCommand(u string) (string, []string) { return "xdg-open", []string{u} }

// fileTarget is what the opener is given for a local file: its path.
func fileTarget(path string) string { return path }
