package web

import (
	"net"
	"net/url"
	"strings"
)

// installCommand is one OS's copy-and-paste agent install, with the
// installers offered for it.
type installCommand struct {
	ID    string // linux, darwin, windows
	Label string
	Shell string // where to paste it
	Text  string
	// Downloads are the files offered for this OS: the binaries the
	// one-liner fetches and the packages, each with its SHA-256.
	Downloads []agentDownload
}

// agentDownload is one file of the install page.
type agentDownload struct {
	ID     string // element id of its command
	Label  string // "MSI, x64"
	Name   string // file name
	URL    string // path on this server
	SHA256 string // empty when the file is not on this server
	// Then is the command to run where the file was downloaded (packages
	// only), and ThenShell where to run it.
	Then, ThenShell string
}

// installCommands returns the commands that download the agent, check it
// against the SHA-256 in sums (by file name: see agentSums), enroll it
// with token and install it as the agent and watchdog services, and the packages with the
// command that follows each. The token never is an argument of a program,
// which every local user could read while it runs (ps, /proc/PID/cmdline):
// the shell's printf builtin pipes it to "install --token -", and
// PowerShell hands it over in STEWARD_TOKEN. The MSI takes it as a
// property: msiexec's and its custom action's command lines are shown to
// administrators only. Both values are quoted for their shell: they
// are normally URL-safe, but a PublicURL is operator input and nothing
// here relies on that.
func installCommands(publicURL, token string, sums map[string]string) []installCommand {
	// sudo only when not root already: a root shell (a container, a
	// rescue console) often has no sudo at all.
	const sudo = `S=; [ "$(id -u)" -eq 0 ] || S=sudo; `
	posix := func(goos, check string) string {
		return sudo + shArchSums(goos, sums) +
			"curl -fsSL -o steward-agent " + shDownloadURL(publicURL+"/download/agent/"+goos+"/") +
			` && echo "$H  steward-agent" | ` + check +
			" && chmod +x steward-agent" +
			" && " + shToken(token) + "$S ./steward-agent install --server " + shQuote(publicURL) + " --token -"
	}
	const exe = `"$env:TEMP\steward-agent.exe"`
	windows := psArchSums(sums) +
		"Invoke-WebRequest -UseBasicParsing -Uri " + psDownloadURL(publicURL+"/download/agent/windows/") +
		` -OutFile ` + exe + `; ` +
		`if ((Get-FileHash -Algorithm SHA256 ` + exe + `).Hash -ne $h) { Write-Error 'steward-agent.exe does not match the SHA-256 on the install page: not running it' } ` +
		`else { $env:STEWARD_TOKEN=` + psString(token) + `; & ` + exe + ` install --server ` + psQuote(publicURL) +
		`; Remove-Item Env:STEWARD_TOKEN }`

	// After a package is downloaded: install it, then enroll, which
	// registers the services from the packaged units.
	enroll := shToken(token) + "$S steward-agent install --server " + shQuote(publicURL) + " --token -"
	then := map[string]func(name string) (string, string){
		"msi": func(name string) (string, string) {
			return "msiexec /i " + name + " /qn SERVER=" + msiQuote(publicURL) + " TOKEN=" + msiQuote(token),
				"a command prompt (cmd.exe) as Administrator, or the command line of a GPO or Intune deployment"
		},
		"deb": func(name string) (string, string) {
			return sudo + "$S dpkg -i ./" + name + " && " + enroll, "a shell as root or a user who may sudo"
		},
		"rpm": func(name string) (string, string) {
			return sudo + "$S rpm -U ./" + name + " && " + enroll, "a shell as root or a user who may sudo"
		},
	}
	downloads := func(goos string) []agentDownload {
		var out []agentDownload
		for _, kind := range append([]string{""}, packageKinds[goos]...) {
			for _, a := range agentArches {
				name := agentFileName(goos, a.goarch, kind)
				arch := a.goarch // as Linux and macOS name it
				if goos == "windows" {
					arch = a.label
				}
				d := agentDownload{
					ID: strings.TrimPrefix(name, "steward-agent-"), Name: name, SHA256: sums[name],
					URL:   "/download/agent/" + goos + "/" + strings.TrimPrefix(name, "steward-agent-"+goos+"-"),
					Label: "binary, " + arch,
				}
				if kind != "" {
					d.Label = strings.ToUpper(kind) + ", " + arch
					d.Then, d.ThenShell = then[kind](name)
				}
				out = append(out, d)
			}
		}
		return out
	}
	return []installCommand{
		{ID: "linux", Label: "Linux", Shell: "a shell as root or a user who may sudo", Text: posix("linux", "sha256sum -c -"), Downloads: downloads("linux")},
		{ID: "windows", Label: "Windows", Shell: "PowerShell as Administrator", Text: windows, Downloads: downloads("windows")},
		{ID: "darwin", Label: "macOS", Shell: "Terminal (asks for sudo unless root)", Text: posix("darwin", "shasum -a 256 -c -"), Downloads: downloads("darwin")},
	}
}

// shArchSums sets H to the SHA-256 of goos's binary for the machine's
// architecture, as uname -m names it; H stays empty, and the check fails,
// for a binary this server does not have.
func shArchSums(goos string, sums map[string]string) string {
	uname := map[string]string{"amd64": "x86_64|amd64", "arm64": "aarch64|arm64"}
	var cases []string
	for _, a := range agentArches {
		if sum := sums[agentFileName(goos, a.goarch, "")]; sum != "" {
			cases = append(cases, uname[a.goarch]+") H="+sum+";;")
		}
	}
	if len(cases) == 0 {
		return "H=; "
	}
	return `H=; case "$(uname -m)" in ` + strings.Join(cases, " ") + " esac; "
}

// psArchSums sets $h to the SHA-256 of the Windows binary for
// PROCESSOR_ARCHITECTURE (AMD64 or ARM64); $null when there is none.
func psArchSums(sums map[string]string) string {
	var entries []string
	for _, a := range agentArches {
		if sum := sums[agentFileName("windows", a.goarch, "")]; sum != "" {
			entries = append(entries, strings.ToUpper(a.goarch)+"='"+sum+"'")
		}
	}
	return "$h=@{" + strings.Join(entries, ";") + "}[$env:PROCESSOR_ARCHITECTURE]; "
}

// msiQuote quotes a property value on an msiexec command line: as is when
// plainly safe, else in double quotes, where a double quote is doubled.
func msiQuote(s string) string {
	if shSafe(s) {
		return s
	}
	return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
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
	return psString(s)
}

// psString is s as a PowerShell single-quoted string, always quoted: the
// value of an assignment, where a bare word would be run as a command.
func psString(s string) string {
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

// shToken starts a pipeline that writes token to the standard input of
// the command that follows ("install --token -"). printf is a builtin of
// the shells in use (bash, dash, zsh, ash, ksh): no process is started with the token in its
// arguments, and sudo passes standard input on (it asks for a password on
// the terminal).
func shToken(token string) string {
	return "printf '%s\\n' " + shQuote(token) + " | "
}
