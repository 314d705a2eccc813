package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"testing"
	"time"
)

// TestMakePackagesIncremental dry-runs `make packages`: every installer
// is built when missing, none when all are newer than their binaries, and
// only the ones of a binary rebuilt since.
func TestMakePackagesIncremental(t *testing.T) {
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
	// Files are dated one after the other so make sees their order.
	stamp := time.Now().Add(time.Hour)
	touch := func(names ...string) {
		t.Helper()
		for _, n := range names {
			p := filepath.Join(dir, n)
			if err := os.WriteFile(p, []byte(n), 0o755); err != nil {
				t.Fatal(err)
			}
			stamp = stamp.Add(time.Second)
			if err := os.Chtimes(p, stamp, stamp); err != nil {
				t.Fatal(err)
			}
		}
	}
	// The binaries and a packager newer than every source.
	touch("steward-package")
	for _, b := range []string{"linux-amd64", "linux-arm64", "windows-amd64.exe", "windows-arm64.exe", "darwin-amd64", "darwin-arm64"} {
		touch("steward-agent-" + b)
	}
	packageLine := regexp.MustCompile(`steward-package (msi|deb|rpm) .*--out ` + regexp.QuoteMeta(dir) + `/(\S+)`)
	builds := func() []string {
		t.Helper()
		cmd := exec.Command(mk, "-n", "packages", "AGENT_DIR="+dir, "PACKAGER="+filepath.Join(dir, "steward-package"))
		cmd.Dir = root
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("make -n packages: %v\n%s", err, out)
		}
		var got []string
		for _, m := range packageLine.FindAllStringSubmatch(string(out), -1) {
			got = append(got, m[2])
		}
		slices.Sort(got)
		return got
	}
	all := []string{
		"steward-agent-linux-amd64.deb", "steward-agent-linux-amd64.rpm", "steward-agent-linux-arm64.deb", "steward-agent-linux-arm64.rpm",
		"steward-agent-windows-amd64.msi", "steward-agent-windows-arm64.msi",
	}
	if got := builds(); !slices.Equal(got, all) {
		t.Errorf("from scratch, make packages builds %q, want %q", got, all)
	}
	touch(all...)
	touch("SHA256SUMS")
	if got := builds(); len(got) != 0 {
		t.Errorf("with every package up to date, make packages builds %q", got)
	}
	touch("steward-agent-windows-arm64.exe")
	if got, want := builds(), []string{"steward-agent-windows-arm64.msi"}; !slices.Equal(got, want) {
		t.Errorf("after the windows/arm64 binary changed, make packages builds %q, want %q", got, want)
	}
}
