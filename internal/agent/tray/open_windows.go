package tray

import (
	"net/url"
	"path/filepath"
)

// openCommand asks the shell to open u with the user's default handler,
// without cmd.exe (whose "start" would parse & and ^ in the URL).
func openCommand(u string) (string, []string) {
	return "rundll32", []string{"url.dll,FileProtocolHandler", u}
}

// fileTarget is what the opener is given for a local file: a file URL,
// which has no spaces for rundll32 to split or quote
// (C:\Users\John Smith\... becomes file:///C:/Users/John%20Smith/...).
func fileTarget(path string) string {
	return (&url.URL{Scheme: "file", Path: "/" + filepath.ToSlash(path)}).String()
}
