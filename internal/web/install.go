package web

import (
	"net"
	"net/url"
	"strings"
)

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
	// sudo only when not root already: a root shell (a container, a
	// rescue console) often has no sudo at all.
	posix := func(goos string) string {
		return `S=; [ "$(id -u)" -eq 0 ] || S=sudo; ` +
			"curl -fsSL -o steward-agent " + shDownloadURL(publicURL+"/download/agent/"+goos+"/") +
			" && chmod +x steward-agent" +
			" && $S ./steward-agent install --no-service --server " + shQuote(publicURL) + " --token " + shQuote(token) +
			" && $S ./steward-agent run"
	}
	const exe = `"$env:TEMP\steward-agent.exe"`
	windows := "Invoke-WebRequest -UseBasicParsing -Uri " + psDownloadURL(publicURL+"/download/agent/windows/") +
		` -OutFile ` + exe + `; ` +
		`& ` + exe + ` install --no-service --server ` + psQuote(publicURL) + ` --token ` + psQuote(token) + `; ` +
		`& ` + exe + ` run`
	return []installCommand{
		{ID: "linux", Label: "Linux", Shell: "a shell as root or a user who may sudo", Text: posix("linux")},
		{ID: "windows", Label: "Windows", Shell: "PowerShell as Administrator", Text: windows},
		{ID: "darwin", Label: "macOS", Shell: "Terminal (asks for sudo unless root)", Text: posix("darwin")},
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

// PublicURLWarnings says why install commands built on publicURL would
// not serve other machines well: a loopback host they cannot reach, or
// plain http that carries the agents' secrets in the clear. Empty when
// neither applies.
func PublicURLWarnings(publicURL string) []string {
	u, err := url.Parse(publicURL)
	if err != nil {
		return nil
	}
	var out []string
	if loopback(u.Hostname()) {
		out = append(out, "The server's public URL is "+publicURL+", a loopback address: agents on other machines cannot reach it. "+
			"Start the server with --public-url (or STEWARD_PUBLIC_URL) set to the address they use, e.g. https://rmm.example.com.")
	}
	if u.Scheme == "http" {
		out = append(out, "The server's public URL uses plain http: enrollment tokens and agent secrets travel unencrypted. "+
			"Put the server behind TLS and give --public-url an https:// address.")
	}
	return out
}

// loopback reports whether host names this machine only.
func loopback(host string) bool {
	if strings.EqualFold(host, "localhost") || strings.HasSuffix(strings.ToLower(host), ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && (ip.IsLoopback() || ip.IsUnspecified())
}

// installWarnings are the public URL's warnings for the install pages.
func (h *Handler) installWarnings() []string { return PublicURLWarnings(h.publicURL) }
