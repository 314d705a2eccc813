//go:build !windows

package cli

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/steward-rmm/steward/internal/agent/config"
	"github.com/steward-rmm/steward/internal/protocol"
)

// serviceFiles returns the files below root that register a service (the
// systemd units or launchd plists install writes for both roles).
func serviceFiles(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	for _, p := range listFiles(t, root) {
		if strings.HasSuffix(p, ".service") || strings.HasSuffix(p, ".plist") && !strings.Contains(p, "tray") {
			out = append(out, p)
		}
	}
	return out
}

// TestInstallRepairWithoutToken: an enrolled machine whose services are
// gone gets them back from install without any token (what a repair of the
// MSI runs), keeping its enrollment and never asking the server; with
// --server naming another server, or without an enrollment, the token is
// still required.
func TestInstallRepairWithoutToken(t *testing.T) {
	srv, reqs := enrollServer(t, http.StatusCreated, protocol.EnrollResponse{AgentID: "agent-7", AgentSecret: "sekret"})
	path := filepath.Join(t.TempDir(), "agent.json")
	root := t.TempDir()
	if code, _, stderr := runCLI(t, "install", "--server", srv.URL, "--token", "tok-1", "--config", path, "--root", root); code != 0 {
		t.Fatalf("first install exit %d; stderr:\n%s", code, stderr)
	}
	units := serviceFiles(t, root)
	if len(units) < 2 {
		t.Fatalf("install registered %q, want both services", units)
	}
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}

	for _, tt := range []struct {
		name string
		args []string
	}{
		{"no server", nil},
		{"the same server", []string{"--server", srv.URL}},
		{"a server in common", []string{"--server", closedURL(t) + "," + srv.URL}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			for _, u := range units {
				if err := os.Remove(filepath.Join(root, u)); err != nil {
					t.Fatal(err)
				}
			}
			args := append([]string{"install", "--config", path, "--root", root}, tt.args...)
			code, stdout, stderr := runCLI(t, args...)
			if code != exitOK {
				t.Fatalf("install without a token: exit %d; stderr:\n%s", code, stderr)
			}
			if !strings.Contains(stdout, "No enrollment token given: keeping agent agent-7 of "+srv.URL) {
				t.Errorf("stdout does not say the enrollment is kept:\n%s", stdout)
			}
			if diff := cmp.Diff(units, serviceFiles(t, root)); diff != "" {
				t.Errorf("after the repair the service files differ (-want +got):\n%s", diff)
			}
			if after, _ := os.ReadFile(path); string(after) != string(before) {
				t.Errorf("the config changed:\n%s\nwant\n%s", after, before)
			}
		})
	}
	if len(*reqs) != 1 {
		t.Errorf("the server saw %d enrollments, want only the first", len(*reqs))
	}

	// Nothing to repair: it says so.
	code, stdout, _ := runCLI(t, "install", "--config", path, "--root", root)
	if code != exitOK || !strings.Contains(stdout, "already installed; nothing changed") {
		t.Errorf("install without a token, nothing missing: exit %d, stdout:\n%s", code, stdout)
	}

	other := closedURL(t)
	code, _, stderr := runCLI(t, "install", "--server", other, "--config", path, "--root", root)
	if code != exitUsage || !strings.Contains(stderr, "not of "+other+": enrolling with the new server needs an enrollment token") {
		t.Errorf("another server without a token: exit %d, stderr:\n%s\nwant a usage error asking for a token", code, stderr)
	}
	code, _, stderr = runCLI(t, "install", "--force", "--config", path, "--root", root)
	if code != exitUsage || !strings.Contains(stderr, "--force enrolls again: an enrollment token is required") {
		t.Errorf("--force without a token: exit %d, stderr:\n%s", code, stderr)
	}
	code, _, stderr = runCLI(t, "install", "--no-service", "--config", path)
	if code != exitFail || !strings.Contains(stderr, "already enrolled as agent agent-7") {
		t.Errorf("--no-service without a token, enrolled: exit %d, stderr:\n%s", code, stderr)
	}
	if cfg, err := config.Load(path); err != nil || cfg.AgentID != "agent-7" {
		t.Errorf("after the refusals the config is %+v, %v; want agent-7 kept", cfg, err)
	}
	if len(*reqs) != 1 {
		t.Errorf("the server saw %d enrollments, want only the first", len(*reqs))
	}
}

// TestInstallWithoutEnrollmentNeedsToken: with no config to keep, install
// without a token says what enrolling needs and touches nothing.
func TestInstallWithoutEnrollmentNeedsToken(t *testing.T) {
	srv, reqs := enrollServer(t, http.StatusCreated, protocol.EnrollResponse{AgentID: "agent-7", AgentSecret: "sekret"})
	for _, tt := range []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"server only", []string{"--server", srv.URL}, "an enrollment token is required: set STEWARD_TOKEN"},
		{"token only", []string{"--token", "tok-1"}, "--server is required"},
		{"neither", nil, "--server is required, and an enrollment token is required"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "steward", "agent.json")
			root := t.TempDir()
			args := append([]string{"install", "--config", path, "--root", root}, tt.args...)
			code, _, stderr := runCLI(t, args...)
			if code != exitUsage || !strings.Contains(stderr, tt.wantErr) {
				t.Errorf("exit %d, stderr:\n%s\nwant exit %d and %q", code, stderr, exitUsage, tt.wantErr)
			}
			if _, err := os.Stat(filepath.Dir(path)); !os.IsNotExist(err) {
				t.Errorf("the config folder was made: %v", err)
			}
			if got := listFiles(t, root); len(got) != 0 {
				t.Errorf("the root holds %q", got)
			}
		})
	}
	if len(*reqs) != 0 {
		t.Errorf("the server was asked: %+v", *reqs)
	}
}
