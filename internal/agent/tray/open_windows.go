package tray

// openCommand asks the shell to open u with the user's default handler,
// without cmd.exe (whose "start" would parse & and ^ in the URL).
func openCommand(u string) (string, []string) {
	return "rundll32", []string{"url.dll,FileProtocolHandler", u}
}
