package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestMakeAgentsIncremental dry-runs "make agents": it builds every agent
// binary that is missing, none when all are newer than their sources, and
// just the one older than them.
func TestMakeAgentsIncremental(t *testing.T) {
	t.Parallel()
	mk, err := exec.LookPath("make")
	if err != nil {
		t.Skip("no make on this system")
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	builds := func() []string {
		t.Helper()
		cmd := exec.Command(mk, "-n", "agents", "AGENT_DIR="+dir)
		cmd.Dir = root
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("make -n agents: %v\n%s", err, out)
		}
		var got []string
		for _, line := range strings.Split(string(out), "\n") {
			if i := strings.Index(line, "-o "+dir+"/"); i >= 0 && strings.Contains(line, "go build") {
				got = append(got, strings.Fields(line[i+len("-o "+dir+"/"):])[0])
			}
		}
		return got
	}
	if got := builds(); len(got) != 6 {
		t.Fatalf("with no binaries, make would build %v, want all 6", got)
	}
	future := time.Now().Add(time.Hour)
	for _, name := range []string{"linux-amd64", "linux-arm64", "windows-amd64.exe", "windows-arm64.exe", "darwin-amd64", "darwin-arm64"} {
		p := filepath.Join(dir, "steward-agent-"+name)
		if err := os.WriteFile(p, nil, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, future, future); err != nil {
			t.Fatal(err)
		}
	}
	if got := builds(); len(got) != 0 {
		t.Errorf("with every binary newer than its sources, make would build %v, want none", got)
	}
	old := time.Unix(0, 0)
	if err := os.Chtimes(filepath.Join(dir, "steward-agent-windows-arm64.exe"), old, old); err != nil {
		t.Fatal(err)
	}
	if got := builds(); len(got) != 1 || got[0] != "steward-agent-windows-arm64.exe" {
		t.Errorf("with one binary older than the sources, make would build %v, want just that one", got)
	}
}
