package release

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

func TestVersionFromDescribe(t *testing.T) {
	tests := []struct {
		describe string
		want     string
		err      string // part of the error; empty: no error
	}{
		{"v1.4.0\n", "1.4.0", ""},
		{"1.4.0", "1.4.0", ""},
		{"v2.0.0-rc.1", "2.0.0-rc.1", ""},
		{"v1.4.0-3-gabc1234", "", "not a clean, tagged commit"},
		{"v1.4.0-dirty", "", "not a clean, tagged commit"},
		{"v1.4.0-3-gabc1234-dirty", "", "not a clean, tagged commit"},
		{"v1.4", "", "not a semantic version"},
		{"release-7", "", "not a semantic version"},
		{"v1.4.0+build.5", "", "not a semantic version"},
		{"", "", "no tag"},
	}
	for _, tt := range tests {
		t.Run(tt.describe, func(t *testing.T) {
			got, err := VersionFromDescribe(tt.describe)
			if tt.err == "" {
				if err != nil || got != tt.want {
					t.Fatalf("VersionFromDescribe(%q) = %q, %v; want %q", tt.describe, got, err, tt.want)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.err) || !strings.Contains(err.Error(), "--version") {
				t.Fatalf("VersionFromDescribe(%q) = %q, %v; want an error about %q that asks for --version", tt.describe, got, err, tt.err)
			}
		})
	}
}

// TestDetectVersion runs git in a real repository: untagged, tagged,
// tagged with changes.
func TestDetectVersion(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed")
	}
	dir := t.TempDir()
	git := func(args ...string) {
		t.Helper()
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com",
			"GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com", "GIT_CONFIG_GLOBAL=/dev/null")
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, b)
		}
	}
	git("init", "-q")
	os.WriteFile(dir+"/f", []byte("1"), 0o644)
	git("add", "f")
	git("commit", "-q", "-m", "one")
	if v, err := DetectVersion(t.Context(), dir); err == nil || !strings.Contains(err.Error(), "--version") {
		t.Errorf("untagged: DetectVersion = %q, %v; want an error asking for --version", v, err)
	}
	git("tag", "v1.2.3")
	if v, err := DetectVersion(t.Context(), dir); err != nil || v != "1.2.3" {
		t.Errorf("tagged: DetectVersion = %q, %v; want 1.2.3", v, err)
	}
	os.WriteFile(dir+"/f", []byte("2"), 0o644)
	if v, err := DetectVersion(t.Context(), dir); err == nil || !strings.Contains(err.Error(), "dirty") {
		t.Errorf("changed tree: DetectVersion = %q, %v; want a refusal naming dirty", v, err)
	}
}
