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

	"golang.org/x/sys/windows"

	"github.com/steward-rmm/steward/internal/agent/config"
	"github.com/steward-rmm/steward/internal/protocol"
)

// letEveryoneWrite gives path a DACL that lets Everyone write, as a
// standard user who made the file or folder first could; it skips the
// test where that is not kept, or not privileged (the checks apply to an
// elevated administrator or SYSTEM only). Under wine the DACL is kept as
// Unix permissions, which is what makes this testable there.
func letEveryoneWrite(t *testing.T, path string) {
	t.Helper()
	if !config.Privileged() {
		t.Skip("the config checks apply to an elevated administrator or SYSTEM only")
	}
	sd, err := windows.SecurityDescriptorFromString("D:(A;OICI;FA;;;SY)(A;OICI;FA;;;WD)")
	if err != nil {
		t.Fatal(err)
	}
	dacl, _, _ := sd.DACL()
	if err := windows.SetNamedSecurityInfo(path, windows.SE_FILE_OBJECT,
		windows.DACL_SECURITY_INFORMATION|windows.UNPROTECTED_DACL_SECURITY_INFORMATION, nil, nil, dacl, nil); err != nil {
		t.Skipf("cannot set a DACL on %s: %v", path, err)
	}
	if err := config.CheckTrusted(filepath.Join(path, "agent.json")); err == nil && config.CheckTrusted(path) == nil {
		t.Skipf("%s did not keep a DACL that lets everyone write", path)
	}
}

// TestInstallUntrustedConfigWindows: a config whose DACL lets everyone
// write is moved aside and the machine enrolls afresh, even when it names
// the server given.
func TestInstallUntrustedConfigWindows(t *testing.T) {
	srv, reqs := enrollServer(t, http.StatusCreated, protocol.EnrollResponse{AgentID: "agent-7", AgentSecret: "sekret"})
	path := filepath.Join(t.TempDir(), "Steward", "agent.json")
	if err := config.Save(path, config.Config{ServerURLs: []string{srv.URL}, AgentID: "planted", AgentSecret: "x"}); err != nil {
		t.Fatal(err)
	}
	letEveryoneWrite(t, path)

	code, stdout, stderr := runCLI(t, "install", "--server", srv.URL, "--token", "tok", "--config", path, "--no-service")
	if code != exitOK {
		t.Fatalf("install exit %d; stderr:\n%s", code, stderr)
	}
	if !strings.Contains(stderr, path+" lets Everyone") || !strings.Contains(stderr, "It is moved aside, and this machine enrolls afresh") {
		t.Errorf("stderr does not say why the config is not trusted:\n%s", stderr)
	}
	aside, _ := filepath.Glob(path + ".untrusted-*")
	if len(aside) != 1 || !strings.Contains(stdout, "moved "+path+" aside to "+aside[0]) {
		t.Errorf("moved aside: %q; stdout:\n%s", aside, stdout)
	}
	if len(*reqs) != 1 {
		t.Errorf("server saw %d enrollments, want 1", len(*reqs))
	}
	if cfg, err := config.Load(path); err != nil || cfg.AgentID != "agent-7" {
		t.Errorf("config after install: %+v, %v; want agent-7", cfg, err)
	}
	if err := config.CheckTrusted(path); err != nil {
		t.Errorf("the new config: %v", err)
	}
}

// TestRunRefusesUntrustedConfigWindows: run, privileged, refuses a config
// in a folder that lets everyone write.
func TestRunRefusesUntrustedConfigWindows(t *testing.T) {
	path := filepath.Join(t.TempDir(), "Steward", "agent.json")
	if err := config.Save(path, config.Config{ServerURLs: []string{"https://evil.example"}, AgentID: "planted", AgentSecret: "x"}); err != nil {
		t.Fatal(err)
	}
	letEveryoneWrite(t, filepath.Dir(path))
	// Bounded: a run that did not refuse would keep going.
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	var out, errOut bytes.Buffer
	code := Run(ctx, []string{"run", "--config", path, "--ipc", `\\.\pipe\steward-test-` + filepath.Base(t.TempDir())}, &out, &errOut)
	if code != exitFail || !strings.Contains(errOut.String(), "refusing the config: "+filepath.Dir(path)+" lets Everyone") {
		t.Errorf("exit %d, stderr:\n%s\nwant 1 and the folder refused", code, errOut.String())
	}
	if _, err := os.Stat(config.StatePath(path)); !os.IsNotExist(err) {
		t.Errorf("run started anyway: state file %v", err)
	}
}
