package service

import (
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// golden compares got with testdata/name, rewriting it under -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to write it)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s (-want +got):\n%s", name, diff)
	}
}

var linuxSpec = Spec{Binary: "/usr/local/bin/steward-agent", Config: "/etc/steward-agent/agent.json"}

func TestSystemdUnitGolden(t *testing.T) {
	for _, r := range Roles() {
		golden(t, SystemdName(r), SystemdUnit(r, linuxSpec))
	}
}

// TestSystemdUnitOptions checks the options the issue asks for, and that
// the agent's unit carries none of the sandboxing that would break scripts.
func TestSystemdUnitOptions(t *testing.T) {
	for _, r := range Roles() {
		unit := SystemdUnit(r, linuxSpec)
		for _, want := range []string{"\nRestart=always\n", "\nRestartSec=10\n", "\nLimitNOFILE=", "\nStartLimitIntervalSec=0\n", "\nWantedBy=multi-user.target\n"} {
			if !strings.Contains(unit, want) {
				t.Errorf("%s lacks %q", SystemdName(r), want)
			}
		}
	}
	agent := SystemdUnit(Agent, linuxSpec)
	for _, bad := range []string{"NoNewPrivileges", "ProtectSystem", "PrivateTmp", "ProtectHome", "RestrictSUIDSGID"} {
		if strings.Contains(agent, bad+"=") {
			t.Errorf("the agent's unit sets %s, which breaks the scripts it runs", bad)
		}
	}
}

func TestExecStartRoundTrip(t *testing.T) {
	tests := []Spec{
		linuxSpec,
		{Binary: "/opt/my tools/steward-agent", Config: "/etc/steward agent/a%h.json"},
		{Binary: `/opt/back\slash/steward-agent`, Config: "/etc/it's/agent.json"},
		{Binary: "/opt/$HOME/steward-agent", Config: "/etc/${x}$$/agent.json"},
	}
	for _, s := range tests {
		for _, r := range Roles() {
			line := systemdCommand(s.Binary, s.Args(r))
			got, err := ParseExecStart(line)
			if err != nil {
				t.Fatal(err)
			}
			want := append([]string{s.Binary}, s.Args(r)...)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("ParseExecStart(%q) (-want +got):\n%s", line, diff)
			}
		}
	}
}

// TestSystemdAnalyzeVerify runs systemd's own checker on both units; it
// needs no running systemd when given the unit files' paths. Any output
// (an unknown option, a bad quote, a missing binary) fails the test.
func TestSystemdAnalyzeVerify(t *testing.T) {
	if _, err := exec.LookPath("systemd-analyze"); err != nil {
		t.Skip("systemd-analyze is not installed")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin dir", "steward-agent")
	if err := os.MkdirAll(filepath.Dir(bin), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	spec := Spec{Binary: bin, Config: "/etc/steward-agent/agent.json"}
	var paths []string
	for _, r := range Roles() {
		p := filepath.Join(dir, SystemdName(r))
		if err := os.WriteFile(p, []byte(SystemdUnit(r, spec)), 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	out, err := exec.Command("systemd-analyze", append([]string{"verify"}, paths...)...).CombinedOutput()
	if err != nil || len(out) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}

	// The checker is not lenient: a unit with an unknown option fails.
	bad := filepath.Join(dir, "bad.service")
	os.WriteFile(bad, []byte(strings.Replace(SystemdUnit(Agent, spec), "Restart=always", "Restart=always\nRestartSeconds=10", 1)), 0o644)
	if out, _ := exec.Command("systemd-analyze", "verify", bad).CombinedOutput(); !strings.Contains(string(out), "RestartSeconds") {
		t.Errorf("systemd-analyze verify accepted an unknown option: %q", out)
	}
}

// FuzzExecStartRoundTrip: whatever path Spec.Validate accepts comes back
// from the unit's ExecStart as it went in, so systemd runs what install
// meant; ParseExecStart never panics on any line.
func FuzzExecStartRoundTrip(f *testing.F) {
	f.Add("/usr/local/bin/steward-agent", "/etc/steward-agent/agent.json")
	f.Add("/opt/my tools/a%h", `/etc/it's/a\b;$x`)
	f.Fuzz(func(t *testing.T, bin, cfg string) {
		ParseExecStart(bin + " " + cfg)
		s := Spec{Binary: bin, Config: cfg}
		if s.Validate() != nil {
			return
		}
		line := systemdCommand(s.Binary, s.Args(Agent))
		got, err := ParseExecStart(line)
		if err != nil {
			t.Fatalf("ParseExecStart(%q): %v", line, err)
		}
		if want := append([]string{bin}, s.Args(Agent)...); !slices.Equal(got, want) {
			t.Fatalf("ParseExecStart(%q) = %q, want %q", line, got, want)
		}
	})
}
