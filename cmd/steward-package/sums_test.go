package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

func TestSums(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for name, body := range map[string]string{
		"steward-agent-linux-amd64":       "elf",
		"steward-agent-windows-amd64.msi": "msi",
		"steward-agent-linux-arm64.deb":   "deb",
		"README":                          "not a download",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, "steward-agent-dir"), 0o755); err != nil {
		t.Fatal(err)
	}
	var stdout bytes.Buffer
	if code := run(t.Context(), []string{"sums", dir}, &stdout, &stdout, os.Getenv); code != 0 {
		t.Fatalf("sums exited %d: %s", code, stdout.String())
	}
	got, err := os.ReadFile(filepath.Join(dir, "SHA256SUMS"))
	if err != nil {
		t.Fatal(err)
	}
	lines := bytes.Split(bytes.TrimSpace(got), []byte("\n"))
	if len(lines) != 3 || !bytes.HasSuffix(lines[0], []byte("  steward-agent-linux-amd64")) ||
		!bytes.HasSuffix(lines[1], []byte("  steward-agent-linux-arm64.deb")) || !bytes.HasSuffix(lines[2], []byte("  steward-agent-windows-amd64.msi")) {
		t.Errorf("SHA256SUMS:\n%s", got)
	}
	// The file is what sha256sum -c reads, and it agrees.
	if _, err := exec.LookPath("sha256sum"); err == nil {
		cmd := exec.Command("sha256sum", "--strict", "-c", "SHA256SUMS")
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("sha256sum -c: %v: %s", err, out)
		}
	}
}
