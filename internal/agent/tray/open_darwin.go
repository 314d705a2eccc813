package tray

// openCommand is Launch Services' opener for the user's default handler.
func openCommand(u string) (string, []string) { return "open", []string{u} }

// fileTarget is what the opener is given for a local file: its path.
func fileTarget(path string) string { return path }
