//go:build !windows

package cli

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/steward-rmm/steward/internal/agent/config"
	"github.com/steward-rmm/steward/internal/protocol"
)

// needRoot skips a test of what only root does: the checks of a config's
// owner and mode apply when the agent runs as root.
func needRoot(t *testing.T) {
	t.Helper()
	if !config.Privileged() {
		t.Skip("the config checks apply as root only; run the tests as root")
	}
}

// plantConfig writes an enrollment with another server, as someone who
// could write the config would, and a saved policy beside it.
func plantConfig(t *testing.T, path string) {
	t.Helper()
	if err := config.Save(path, config.Config{ServerURLs: []string{"https://evil.example"}, AgentID: "planted", AgentSecret: "x"}); err != nil {
		t.Fatal(err)
	}
	if err := config.SavePolicy(config.PolicyPath(path), config.Policy{Revision: "r1", Policy: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}
}

// TestInstallUntrustedConfig: a config that others could have written is
// moved aside with the files beside it, said so, and the machine enrolls
// afresh with the server given, even when the planted config names it.
func TestInstallUntrustedConfig(t *testing.T) {
	needRoot(t)
	tests := []struct {
		name   string
		spoil  func(t *testing.T, path string)
		reason string
	}{
		{"world-writable", func(t *testing.T, path string) { mustChmod(t, path, 0o666) }, "is writable by users other than its owner (mode 0666)"},
		{"owned by a user", func(t *testing.T, path string) {
			if err := os.Chown(path, 4242, 4242); err != nil {
				t.Fatal(err)
			}
		}, "is owned by uid 4242, not root"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, reqs := enrollServer(t, http.StatusCreated, protocol.EnrollResponse{AgentID: "agent-7", AgentSecret: "sekret"})
			path := filepath.Join(t.TempDir(), "steward-agent", "agent.json")
			plantConfig(t, path)
			// The planted config even names the right server: it would
			// otherwise be kept.
			if err := config.Save(path, config.Config{ServerURLs: []string{srv.URL}, AgentID: "planted", AgentSecret: "x"}); err != nil {
				t.Fatal(err)
			}
			tt.spoil(t, path)

			code, stdout, stderr := runCLI(t, "install", "--server", srv.URL, "--token", "tok", "--config", path, "--no-service")
			if code != exitOK {
				t.Fatalf("install exit %d; stderr:\n%s", code, stderr)
			}
			if !strings.Contains(stderr, path+" "+tt.reason) || !strings.Contains(stderr, "is not used. It is moved aside, and this machine enrolls afresh") {
				t.Errorf("stderr does not say why the config is not trusted:\n%s", stderr)
			}
			if len(*reqs) != 1 {
				t.Errorf("server saw %d enrollments, want 1", len(*reqs))
			}
			cfg, err := config.Load(path)
			if err != nil || cfg.AgentID != "agent-7" {
				t.Errorf("config after install: %+v, %v; want agent-7", cfg, err)
			}
			if err := config.CheckTrusted(path); err != nil {
				t.Errorf("the new config: %v", err)
			}
			// Both planted files are kept aside, for a look, and said so.
			for _, p := range []string{path, config.PolicyPath(path)} {
				aside, _ := filepath.Glob(p + ".untrusted-*")
				if len(aside) != 1 {
					t.Errorf("%s moved aside as %q, want one file", p, aside)
				} else if !strings.Contains(stdout, "moved "+p+" aside to "+aside[0]) {
					t.Errorf("stdout does not say %s was moved aside:\n%s", p, stdout)
				}
			}
			if _, err := os.Stat(config.PolicyPath(path)); !os.IsNotExist(err) {
				t.Errorf("the planted policy is still in place: %v", err)
			}
		})
	}
}

// TestInstallUntrustedFolder: a --config in a folder that others may write
// cannot be made safe by install (it is not the agent's folder): install
// refuses before spending the token.
func TestInstallUntrustedFolder(t *testing.T) {
	needRoot(t)
	srv, reqs := enrollServer(t, http.StatusCreated, protocol.EnrollResponse{AgentID: "agent-7", AgentSecret: "sekret"})
	dir := filepath.Join(t.TempDir(), "shared")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	mustChmod(t, dir, 0o777)
	path := filepath.Join(dir, "agent.json")
	code, _, stderr := runCLI(t, "install", "--server", srv.URL, "--token", "tok", "--config", path, "--no-service")
	if code != exitFail || !strings.Contains(stderr, dir+" is writable by users other than its owner (mode 0777)") ||
		!strings.Contains(stderr, "choose a --config in a folder that only administrators can write") {
		t.Errorf("exit %d, stderr:\n%s\nwant 1 and the folder named", code, stderr)
	}
	if len(*reqs) != 0 {
		t.Errorf("the token was spent")
	}
}

// TestRunRefusesUntrustedConfig: as root, run refuses a config that others
// could have written, and says why, before reading it.
func TestRunRefusesUntrustedConfig(t *testing.T) {
	needRoot(t)
	tests := []struct {
		name   string
		spoil  func(t *testing.T, path string)
		reason string
	}{
		{"file world-writable", func(t *testing.T, path string) { mustChmod(t, path, 0o646) }, "agent.json is writable by users other than its owner (mode 0646)"},
		{"folder group-writable", func(t *testing.T, path string) { mustChmod(t, filepath.Dir(path), 0o770) }, "steward-agent is writable by users other than its owner (mode 0770)"},
		{"file owned by a user", func(t *testing.T, path string) {
			if err := os.Chown(path, 4242, 0); err != nil {
				t.Fatal(err)
			}
		}, "agent.json is owned by uid 4242, not root"},
		{"folder owned by a user", func(t *testing.T, path string) {
			if err := os.Chown(filepath.Dir(path), 4242, 0); err != nil {
				t.Fatal(err)
			}
		}, "steward-agent is owned by uid 4242, not root"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "steward-agent", "agent.json")
			plantConfig(t, path)
			tt.spoil(t, path)
			// Bounded: a run that did not refuse would keep going (and
			// end with exit 0 when cancelled).
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			var out, errOut bytes.Buffer
			code := Run(ctx, []string{"run", "--config", path, "--ipc", filepath.Join(t.TempDir(), "ipc.sock")}, &out, &errOut)
			stderr := errOut.String()
			if code != exitFail || !strings.Contains(stderr, "steward-agent run: refusing the config: ") || !strings.Contains(stderr, tt.reason) {
				t.Errorf("exit %d, stderr:\n%s\nwant 1 and %q", code, stderr, tt.reason)
			}
			if _, err := os.Stat(config.StatePath(path)); !os.IsNotExist(err) {
				t.Errorf("run started anyway: state file %v", err)
			}
		})
	}
}

func mustChmod(t *testing.T, path string, mode os.FileMode) {
	t.Helper()
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
}
