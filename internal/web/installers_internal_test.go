package web

import (
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// sha256Hex is the hex SHA-256 of s (installers_test.go has its twin for
// the external tests).
func sha256Hex(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

func TestAgentSums(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, body string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("steward-agent-linux-amd64", "linux")
	write("steward-agent-windows-amd64.msi", "msi")
	names := []string{"steward-agent-linux-amd64", "steward-agent-windows-amd64.msi", "steward-agent-linux-arm64.deb"}
	log := slog.New(slog.DiscardHandler)

	// Without SHA256SUMS every file present is hashed; a missing one has no entry.
	got := agentSums(dir, names, log)
	want := map[string]string{"steward-agent-linux-amd64": sha256Hex("linux"), "steward-agent-windows-amd64.msi": sha256Hex("msi")}
	if len(got) != 2 || got["steward-agent-linux-amd64"] != want["steward-agent-linux-amd64"] || got["steward-agent-windows-amd64.msi"] != want["steward-agent-windows-amd64.msi"] {
		t.Errorf("agentSums without a list got %v, want %v", got, want)
	}

	// A list newer than a file is trusted for it (a made-up sum proves it
	// is read); a file rebuilt after the list is hashed again.
	const listed = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	write(sumsFile, listed+"  steward-agent-linux-amd64\n"+listed+" *steward-agent-windows-amd64.msi\nnot a line\n")
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(filepath.Join(dir, "steward-agent-linux-amd64"), old, old); err != nil {
		t.Fatal(err)
	}
	later := time.Now().Add(time.Hour)
	if err := os.Chtimes(filepath.Join(dir, "steward-agent-windows-amd64.msi"), later, later); err != nil {
		t.Fatal(err)
	}
	got = agentSums(dir, names, log)
	if got["steward-agent-linux-amd64"] != listed {
		t.Errorf("file older than SHA256SUMS: sum %q, want the listed %q", got["steward-agent-linux-amd64"], listed)
	}
	if got["steward-agent-windows-amd64.msi"] != sha256Hex("msi") {
		t.Errorf("file newer than SHA256SUMS: sum %q, want its own %q", got["steward-agent-windows-amd64.msi"], sha256Hex("msi"))
	}
	if len(agentSums("", names, log)) != 0 {
		t.Error("agentSums without a directory found files")
	}
}

func TestInstallCommandChecksSHA256(t *testing.T) {
	t.Parallel()
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh on this system")
	}
	// The stand-in agent says how it ran and which token its standard
	// input carried.
	const agent = "#!/bin/sh\nread -r tok; echo \"ran $* with $tok\"\n"
	for _, tc := range []struct {
		goos, tool string
	}{{"linux", "sha256sum"}, {"darwin", "shasum"}} {
		if _, err := exec.LookPath(tc.tool); err != nil {
			t.Logf("%s missing: the %s command is not run", tc.tool, tc.goos)
			continue
		}
		sums := map[string]string{agentFileName(tc.goos, "arm64", ""): sha256Hex(agent)}
		var cmd string
		for _, c := range installCommands("https://rmm.example.com", "ste_x", sums) {
			if c.ID == tc.goos {
				cmd = c.Text
			}
		}
		for _, run := range []struct {
			name, served, arch string
			runs               bool
		}{
			{"genuine download", agent, "aarch64", true},
			{"tampered download", agent + "echo evil\n", "aarch64", false},
			{"architecture without a build", agent, "x86_64", false},
		} {
			dir := t.TempDir()
			served := filepath.Join(dir, "served")
			if err := os.WriteFile(served, []byte(run.served), 0o644); err != nil {
				t.Fatal(err)
			}
			// Stand-ins: root (no sudo), the architecture, and a curl that
			// writes the served file to its -o argument.
			stubs := `id() { echo 0; }; uname() { echo ` + run.arch + `; }; curl() { cp "` + served + `" "$3"; }; `
			c := exec.Command(sh, "-c", stubs+cmd)
			c.Dir = dir
			out, _ := c.CombinedOutput()
			ran := strings.Contains(string(out), "ran install --server https://rmm.example.com --token - with ste_x")
			if ran != run.runs {
				t.Errorf("%s, %s: agent ran %v, want %v; output:\n%s", tc.goos, run.name, ran, run.runs, out)
			}
		}
	}
}
