package web

import "strings"

// installCommand is one OS's copy-and-paste agent install.
type installCommand struct {
	ID    string // linux, darwin, windows
	Label string
	Shell string // where to paste it
	Text  string
}

// installCommands returns the commands that download the agent, enroll it
// with token and start it in the foreground. Both values are quoted for
// their shell: they are normally URL-safe, but a PublicURL is operator
// input and nothing here relies on that.
func installCommands(publicURL, token string) []installCommand {
	posix := func(goos string) string {
		return "curl -fsSL -o steward-agent " + shDownloadURL(publicURL+"/download/agent/"+goos+"/") +
			" && chmod +x steward-agent" +
			" && sudo ./steward-agent install --no-service --server " + shQuote(publicURL) + " --token " + shQuote(token) +
			" && sudo ./steward-agent run"
	}
	const exe = `"$env:TEMP\steward-agent.exe"`
	windows := "Invoke-WebRequest -UseBasicParsing -Uri " + psDownloadURL(publicURL+"/download/agent/windows/") +
		` -OutFile ` + exe + `; ` +
		`& ` + exe + ` install --no-service --server ` + psQuote(publicURL) + ` --token ` + psQuote(token) + `; ` +
		`& ` + exe + ` run`
	return []installCommand{
		{ID: "linux", Label: "Linux", Shell: "a root-capable shell (uses sudo)", Text: posix("linux")},
		{ID: "windows", Label: "Windows", Shell: "PowerShell as Administrator", Text: windows},
		{ID: "darwin", Label: "macOS", Shell: "Terminal (uses sudo)", Text: posix("darwin")},
	}
}

// shSafe reports whether s needs no quoting in a POSIX shell, even inside
// double quotes.
func shSafe(s string) bool {
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("_@%+=:,./-", c)) {
			return false
		}
	}
	return s != ""
}

// shQuote quotes s for a POSIX shell: as is when plainly safe, else in
// single quotes, where only the single quote itself needs care.
func shQuote(s string) string {
	if shSafe(s) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// shDownloadURL is prefix followed by the machine's architecture from
// uname -m, which must stay outside single quotes to be expanded.
func shDownloadURL(prefix string) string {
	if shSafe(prefix) {
		return `"` + prefix + `$(uname -m)"`
	}
	return shQuote(prefix) + `"$(uname -m)"`
}

// psSafe reports whether s needs no quoting as a PowerShell argument.
func psSafe(s string) bool {
	for i, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || i > 0 && strings.ContainsRune("_:/.-", c)) {
			return false
		}
	}
	return s != ""
}

// psQuote quotes s for PowerShell in a single-quoted string, where a quote
// is escaped by doubling it. PowerShell also takes the typographic single
// quotes as quote characters, so those are doubled too.
func psQuote(s string) string {
	if psSafe(s) {
		return s
	}
	var b strings.Builder
	b.WriteByte('\'')
	for _, c := range s {
		switch c {
		case '\'', '\u2018', '\u2019', '\u201a', '\u201b':
			b.WriteRune(c)
		}
		b.WriteRune(c)
	}
	b.WriteByte('\'')
	return b.String()
}

// psDownloadURL is prefix followed by the processor architecture.
func psDownloadURL(prefix string) string {
	if psSafe(prefix) {
		return `"` + prefix + `$env:PROCESSOR_ARCHITECTURE"`
	}
	return "(" + psQuote(prefix) + " + $env:PROCESSOR_ARCHITECTURE)"
}
