package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/steward-rmm/steward/packaging"
)

// buildTestPackage builds a package of a fake binary.
func buildTestPackage(t *testing.T, format, version string) string {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "steward-agent")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\necho agent\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	v, err := parseVersion(version)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "steward-agent."+format)
	if err := buildLinux(linuxOptions{Format: format, Bin: bin, Arch: "arm64", Out: out, Version: v}); err != nil {
		t.Fatalf("buildLinux %s: %v", format, err)
	}
	return out
}

func embedded(t *testing.T, name string) string {
	t.Helper()
	b, err := packaging.Files.ReadFile("linux/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestBuildDeb(t *testing.T) {
	t.Parallel()
	needTools(t, "dpkg-deb")
	deb := buildTestPackage(t, "deb", "v1.2.3-rc.1")
	field := func(name string) string {
		out, err := exec.Command("dpkg-deb", "-f", deb, name).Output()
		if err != nil {
			t.Fatalf("dpkg-deb -f %s: %v", name, err)
		}
		return strings.TrimSpace(string(out))
	}
	for name, want := range map[string]string{"Package": "steward-agent", "Version": "1.2.3~rc.1", "Architecture": "arm64"} {
		if got := field(name); got != want {
			t.Errorf("%s: got %q, want %q", name, got, want)
		}
	}
	out, err := exec.Command("dpkg-deb", "-c", deb).Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"-rwxr-xr-x root/root", "./usr/bin/steward-agent",
		"./lib/systemd/system/steward-agent.service", "./lib/systemd/system/steward-agent-watchdog.service",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("dpkg-deb -c lacks %q:\n%s", want, out)
		}
	}
	x := t.TempDir()
	if b, err := exec.Command("dpkg-deb", "-R", deb, x).CombinedOutput(); err != nil {
		t.Fatalf("dpkg-deb -R: %v: %s", err, b)
	}
	for path, src := range map[string]string{
		"lib/systemd/system/steward-agent.service":          "steward-agent.service",
		"lib/systemd/system/steward-agent-watchdog.service": "steward-agent-watchdog.service",
		"DEBIAN/postinst": "postinstall.sh", "DEBIAN/prerm": "preremove.sh", "DEBIAN/postrm": "postremove.sh",
	} {
		b, err := os.ReadFile(filepath.Join(x, path))
		if err != nil {
			t.Errorf("%s: %v", path, err)
			continue
		}
		if string(b) != embedded(t, src) {
			t.Errorf("%s differs from packaging/linux/%s", path, src)
		}
	}
}

func TestBuildRPM(t *testing.T) {
	t.Parallel()
	needTools(t, "rpm")
	r := buildTestPackage(t, "rpm", "v1.2.3-4-gabcdef0")
	q := func(args ...string) string {
		out, err := exec.Command("rpm", append([]string{"-qp"}, append(args, r)...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("rpm -qp %q: %v: %s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	if got, want := q("--queryformat", "%{NAME} %{VERSION} %{ARCH}"), "steward-agent 1.2.3+4.gabcdef0 aarch64"; got != want {
		t.Errorf("rpm name version arch %q, want %q", got, want)
	}
	files := strings.Split(q("-l"), "\n")
	for _, want := range []string{"/usr/bin/steward-agent", "/usr/lib/systemd/system/steward-agent.service", "/usr/lib/systemd/system/steward-agent-watchdog.service"} {
		if !slices.Contains(files, want) {
			t.Errorf("rpm -qlp %q lacks %s", files, want)
		}
	}
	scripts := q("--scripts")
	for _, want := range []string{"run: steward-agent install --server URL --token TOKEN", "systemctl stop", "preuninstall scriptlet", "postuninstall scriptlet"} {
		if !strings.Contains(scripts, want) {
			t.Errorf("rpm --scripts lacks %q:\n%s", want, scripts)
		}
	}
}

// TestUnits checks the units against the agent's contract: the paths of
// the packaged binary and config, restart always after 10 s.
func TestUnits(t *testing.T) {
	t.Parallel()
	for unit, cmd := range map[string]string{
		"steward-agent.service":          "run",
		"steward-agent-watchdog.service": "watchdog",
	} {
		text := embedded(t, unit)
		for _, want := range []string{
			"ExecStart=/usr/bin/steward-agent " + cmd + " --config /etc/steward-agent/agent.json\n",
			"Restart=always\n", "RestartSec=10\n", "WantedBy=multi-user.target\n",
		} {
			if !strings.Contains(text, want) {
				t.Errorf("%s lacks %q", unit, want)
			}
		}
	}
	if _, err := exec.LookPath("systemd-analyze"); err == nil {
		dir := t.TempDir()
		for _, unit := range linuxUnits {
			// ExecStart must exist for verify: point it at a real binary.
			text := strings.ReplaceAll(embedded(t, unit), "/usr/bin/steward-agent", "/bin/true")
			if err := os.WriteFile(filepath.Join(dir, unit), []byte(text), 0o644); err != nil {
				t.Fatal(err)
			}
			if out, err := exec.Command("systemd-analyze", "verify", filepath.Join(dir, unit)).CombinedOutput(); err != nil {
				t.Errorf("systemd-analyze verify %s: %v: %s", unit, err, out)
			}
		}
	}
}

// TestPackageScripts runs the maintainer scripts with a stub systemctl: no
// enrollment after install, the services stopped before removal but not
// before an upgrade.
func TestPackageScripts(t *testing.T) {
	t.Parallel()
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	runScript := func(name string, enrolled bool, args ...string) string {
		t.Helper()
		dir := t.TempDir()
		// The scripts call systemctl when /run/systemd/system exists: it is
		// pointed at a directory that does, and systemctl at a stub that
		// logs its calls; the config at one that exists when enrolled.
		cfg := filepath.Join(dir, "agent.json")
		if enrolled {
			if err := os.WriteFile(cfg, []byte("{}"), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		text := strings.NewReplacer("/run/systemd/system", dir, "/etc/steward-agent/agent.json", cfg).Replace(embedded(t, name))
		stub := "#!/bin/sh\necho \"systemctl $*\" >>" + filepath.Join(dir, "calls") + "\ncase \"$1\" in is-active|is-enabled) exit 0;; esac\n"
		if err := os.WriteFile(filepath.Join(dir, "systemctl"), []byte(stub), 0o755); err != nil {
			t.Fatal(err)
		}
		script := filepath.Join(dir, name)
		if err := os.WriteFile(script, []byte(text), 0o755); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(sh, append([]string{script}, args...)...)
		cmd.Env = append(os.Environ(), "PATH="+dir+":"+os.Getenv("PATH"))
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s %q: %v: %s", name, args, err, out)
		}
		calls, _ := os.ReadFile(filepath.Join(dir, "calls"))
		return string(out) + string(calls)
	}
	got := runScript("postinstall.sh", false, "configure")
	if !strings.Contains(got, "run: steward-agent install --server URL --token TOKEN") || strings.Contains(got, "restart") {
		t.Errorf("postinst on an unenrolled machine: %q", got)
	}
	got = runScript("postinstall.sh", true, "configure", "1.2.3")
	if strings.Contains(got, "run: steward-agent install") ||
		!strings.Contains(got, "systemctl try-restart steward-agent.service") || !strings.Contains(got, "systemctl try-restart steward-agent-watchdog.service") {
		t.Errorf("postinst upgrading an enrolled machine: %q", got)
	}
	for _, args := range [][]string{{"upgrade", "1.2.4"}, {"1"}} { // deb, rpm
		if got := runScript("preremove.sh", true, args...); strings.Contains(got, "stop") {
			t.Errorf("prerm %q (an upgrade) stopped the services: %q", args, got)
		}
	}
	for _, args := range [][]string{{"remove"}, {"0"}} {
		got := runScript("preremove.sh", true, args...)
		if !strings.Contains(got, "systemctl stop steward-agent-watchdog.service\nsystemctl disable steward-agent-watchdog.service\nsystemctl is-active --quiet steward-agent.service\nsystemctl stop steward-agent.service") {
			t.Errorf("prerm %q did not stop the watchdog, then the agent: %q", args, got)
		}
	}
}
