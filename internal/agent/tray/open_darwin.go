package tray

// openCommand is Launch Services' opener for the user's default handler.
func openCommand(u string) (string, []string) { return "open", []string{u} }
