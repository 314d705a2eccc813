package web

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestInstallCommands(t *testing.T) {
	t.Parallel()
	const tok = "ste_AbC-12_x"
	const a, b, c = "aaaa1111", "bbbb2222", "cccc3333" // stand-ins for SHA-256 sums
	sums := map[string]string{
		"steward-agent-linux-amd64": a, "steward-agent-linux-arm64": b,
		"steward-agent-darwin-arm64":      c, // no darwin/amd64 build
		"steward-agent-windows-amd64.exe": a, "steward-agent-windows-arm64.exe": b,
	}
	got := map[string]string{}
	for _, c := range installCommands("https://rmm.example.com:8443", tok, sums) {
		got[c.ID] = c.Text
	}
	want := map[string]string{
		"linux": `S=; [ "$(id -u)" -eq 0 ] || S=sudo; H=; case "$(uname -m)" in x86_64|amd64) H=aaaa1111;; aarch64|arm64) H=bbbb2222;; esac; ` +
			`curl -fsSL -o steward-agent "https://rmm.example.com:8443/download/agent/linux/$(uname -m)" && echo "$H  steward-agent" | sha256sum -c - && chmod +x steward-agent && ` +
			`printf '%s\n' ste_AbC-12_x | $S ./steward-agent install --server https://rmm.example.com:8443 --token -`,
		"darwin": `S=; [ "$(id -u)" -eq 0 ] || S=sudo; H=; case "$(uname -m)" in aarch64|arm64) H=cccc3333;; esac; ` +
			`curl -fsSL -o steward-agent "https://rmm.example.com:8443/download/agent/darwin/$(uname -m)" && echo "$H  steward-agent" | shasum -a 256 -c - && chmod +x steward-agent && ` +
			`printf '%s\n' ste_AbC-12_x | $S ./steward-agent install --server https://rmm.example.com:8443 --token -`,
		"windows": `$h=@{AMD64='aaaa1111';ARM64='bbbb2222'}[$env:PROCESSOR_ARCHITECTURE]; ` +
			`Invoke-WebRequest -UseBasicParsing -Uri "https://rmm.example.com:8443/download/agent/windows/$env:PROCESSOR_ARCHITECTURE" ` +
			`-OutFile "$env:TEMP\steward-agent.exe"; if ((Get-FileHash -Algorithm SHA256 "$env:TEMP\steward-agent.exe").Hash -ne $h) ` +
			`{ Write-Error 'steward-agent.exe does not match the SHA-256 on the install page: not running it' } else ` +
			`{ $env:STEWARD_TOKEN='ste_AbC-12_x'; & "$env:TEMP\steward-agent.exe" install --server https://rmm.example.com:8443; ` +
			`Remove-Item Env:STEWARD_TOKEN }`,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("installCommands (-want +got):\n%s", diff)
	}

	// A hostile base URL stays one inert argument in each shell.
	evil := "http://x/'$(touch pwned)`id`\"; rm -rf ~ #"
	cmds := installCommands(evil, "ste_'x", nil)
	wantLinux := `S=; [ "$(id -u)" -eq 0 ] || S=sudo; H=; curl -fsSL -o steward-agent 'http://x/'\''$(touch pwned)` + "`id`" + `"; rm -rf ~ #/download/agent/linux/'"$(uname -m)" && ` +
		`echo "$H  steward-agent" | sha256sum -c - && chmod +x steward-agent && ` +
		`printf '%s\n' 'ste_'\''x' | $S ./steward-agent install --server 'http://x/'\''$(touch pwned)` + "`id`" + `"; rm -rf ~ #' --token -`
	if cmds[0].Text != wantLinux {
		t.Errorf("hostile linux command:\n got %s\nwant %s", cmds[0].Text, wantLinux)
	}
	wantWindows := `$h=@{}[$env:PROCESSOR_ARCHITECTURE]; Invoke-WebRequest -UseBasicParsing -Uri ('http://x/''$(touch pwned)` + "`id`" + `"; rm -rf ~ #/download/agent/windows/' + $env:PROCESSOR_ARCHITECTURE) ` +
		`-OutFile "$env:TEMP\steward-agent.exe"; if ((Get-FileHash -Algorithm SHA256 "$env:TEMP\steward-agent.exe").Hash -ne $h) ` +
		`{ Write-Error 'steward-agent.exe does not match the SHA-256 on the install page: not running it' } else ` +
		`{ $env:STEWARD_TOKEN='ste_''x'; & "$env:TEMP\steward-agent.exe" install --server 'http://x/''$(touch pwned)` + "`id`" +
		`"; rm -rf ~ #'; Remove-Item Env:STEWARD_TOKEN }`
	if cmds[1].Text != wantWindows {
		t.Errorf("hostile windows command:\n got %s\nwant %s", cmds[1].Text, wantWindows)
	}
	if got := psQuote("a\u2019b"); got != "'a\u2019\u2019b'" {
		t.Errorf("psQuote with a typographic quote got %q", got)
	}
}

// TestShQuoteRoundTrip runs quoted strings through a real POSIX shell.
func TestShQuoteRoundTrip(t *testing.T) {
	t.Parallel()
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh on this system")
	}
	for _, s := range []string{
		"plain", "http://host:8080/x", "it's", `a"b`, "$(id)", "`id`", "a b\tc", "~root", "x;y|z&w", "\\", "'", "''", "*", "line\nbreak", "ünï",
	} {
		out, err := exec.Command(sh, "-c", "printf %s "+shQuote(s)).Output()
		if err != nil {
			t.Fatalf("sh -c with %q: %v", s, err)
		}
		if string(out) != s {
			t.Errorf("shQuote(%q) through sh printed %q", s, out)
		}
		// The download URL keeps uname -m expandable after any prefix.
		out, err = exec.Command(sh, "-c", "uname() { echo ARCH; }; printf %s "+shDownloadURL(s)).Output()
		if err != nil || string(out) != s+"ARCH" {
			t.Errorf("shDownloadURL(%q) through sh printed %q, %v", s, out, err)
		}
	}
}

// TestInstallSudo runs the Linux command's privilege prefix in a real
// shell: empty for root, sudo for anyone else.
func TestInstallSudo(t *testing.T) {
	t.Parallel()
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh on this system")
	}
	cmd := installCommands("https://rmm.example.com", "ste_x", nil)[0].Text
	prefix, _, _ := strings.Cut(cmd, "curl ")
	for _, tt := range []struct{ uid, want string }{{"0", "[]"}, {"1000", "[sudo]"}} {
		// A stand-in id answers as the given user.
		script := "id() { echo " + tt.uid + "; }; " + prefix + `echo "[$S]"`
		out, err := exec.Command(sh, "-c", script).Output()
		if err != nil {
			t.Fatalf("run %q: %v", script, err)
		}
		if got := strings.TrimSpace(string(out)); got != tt.want {
			t.Errorf("uid %s: S=%s, want %s", tt.uid, got, tt.want)
		}
	}
}

func TestPublicURLWarnings(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		url  string
		want []string // a word of each warning
	}{
		{"https://rmm.example.com", nil},
		{"http://localhost:8080", []string{"loopback", "plain http"}},
		{"https://127.0.0.1:8443", []string{"loopback"}},
		{"https://[::1]", []string{"loopback"}},
		{"http://0.0.0.0:8080", []string{"loopback", "plain http"}},
		{"http://rmm.lan", []string{"plain http"}},
	} {
		got := PublicURLWarnings(tt.url)
		if len(got) != len(tt.want) {
			t.Errorf("PublicURLWarnings(%q) got %q, want %d warnings", tt.url, got, len(tt.want))
			continue
		}
		for i, w := range tt.want {
			if !strings.Contains(got[i], w) {
				t.Errorf("PublicURLWarnings(%q)[%d] = %q, want it to say %q", tt.url, i, got[i], w)
			}
		}
	}
}
