package web

import (
	"os/exec"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestInstallCommands(t *testing.T) {
	t.Parallel()
	const tok = "ste_AbC-12_x"
	got := map[string]string{}
	for _, c := range installCommands("https://rmm.example.com:8443", tok) {
		got[c.ID] = c.Text
	}
	want := map[string]string{
		"linux": `curl -fsSL -o steward-agent "https://rmm.example.com:8443/download/agent/linux/$(uname -m)" && chmod +x steward-agent && ` +
			`sudo ./steward-agent install --no-service --server https://rmm.example.com:8443 --token ste_AbC-12_x && sudo ./steward-agent run`,
		"darwin": `curl -fsSL -o steward-agent "https://rmm.example.com:8443/download/agent/darwin/$(uname -m)" && chmod +x steward-agent && ` +
			`sudo ./steward-agent install --no-service --server https://rmm.example.com:8443 --token ste_AbC-12_x && sudo ./steward-agent run`,
		"windows": `Invoke-WebRequest -UseBasicParsing -Uri "https://rmm.example.com:8443/download/agent/windows/$env:PROCESSOR_ARCHITECTURE" ` +
			`-OutFile "$env:TEMP\steward-agent.exe"; & "$env:TEMP\steward-agent.exe" install --no-service --server https://rmm.example.com:8443 ` +
			`--token ste_AbC-12_x; & "$env:TEMP\steward-agent.exe" run`,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("installCommands (-want +got):\n%s", diff)
	}

	// A hostile base URL stays one inert argument in each shell.
	evil := "http://x/'$(touch pwned)`id`\"; rm -rf ~ #"
	cmds := installCommands(evil, "ste_'x")
	wantLinux := `curl -fsSL -o steward-agent 'http://x/'\''$(touch pwned)` + "`id`" + `"; rm -rf ~ #/download/agent/linux/'"$(uname -m)" && chmod +x steward-agent && ` +
		`sudo ./steward-agent install --no-service --server 'http://x/'\''$(touch pwned)` + "`id`" + `"; rm -rf ~ #' --token 'ste_'\''x' && sudo ./steward-agent run`
	if cmds[0].Text != wantLinux {
		t.Errorf("hostile linux command:\n got %s\nwant %s", cmds[0].Text, wantLinux)
	}
	wantWindows := `Invoke-WebRequest -UseBasicParsing -Uri ('http://x/''$(touch pwned)` + "`id`" + `"; rm -rf ~ #/download/agent/windows/' + $env:PROCESSOR_ARCHITECTURE) ` +
		`-OutFile "$env:TEMP\steward-agent.exe"; & "$env:TEMP\steward-agent.exe" install --no-service --server 'http://x/''$(touch pwned)` + "`id`" +
		`"; rm -rf ~ #' --token 'ste_''x'; & "$env:TEMP\steward-agent.exe" run`
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
