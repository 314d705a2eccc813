package release

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/steward-rmm/steward/internal/protocol"
)

// buildAgent cross-compiles the agent for goos/goarch into dir.
func buildAgent(t *testing.T, dir, goos, goarch string) string {
	t.Helper()
	out := filepath.Join(dir, "steward-agent-"+goos+"-"+goarch)
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", out, AgentPackage)
	cmd.Env = append(os.Environ(), "GOOS="+goos, "GOARCH="+goarch, "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build agent: %v\n%s", err, b)
	}
	return out
}

func TestKeygenSignVerify(t *testing.T) {
	dir := t.TempDir()
	key, err := GenerateKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := GenerateKey(dir); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("second keygen into the same folder: %v", err)
	}
	// Windows has no mode bits: the key's folder ACL guards it there.
	if fi, err := os.Stat(filepath.Join(dir, PrivateKeyFile)); err != nil || (runtime.GOOS != "windows" && fi.Mode().Perm() != 0o600) {
		t.Fatalf("private key mode: %v %v", fi.Mode(), err)
	}
	priv, err := LoadPrivateKey(filepath.Join(dir, PrivateKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	keys, err := LoadPublicKeys([]string{filepath.Join(dir, PublicKeyFile), key.String()})
	if err != nil || len(keys) != 1 || keys[0].ID != key.ID {
		t.Fatalf("LoadPublicKeys = %v, %v; want the one key once", keys, err)
	}

	bin := buildAgent(t, t.TempDir(), "windows", "arm64")
	signed, err := SignFile(priv, bin, "1.2.3")
	if err != nil {
		t.Fatal(err)
	}
	if signed.Statement.OS != "windows" || signed.Statement.Arch != "arm64" {
		t.Fatalf("statement %+v: want the binary's own platform", signed.Statement)
	}
	if err := protocol.VerifyRelease(keys, signed); err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(bin)
	if signed.Statement.Size != fi.Size() {
		t.Fatalf("size %d, file %d", signed.Statement.Size, fi.Size())
	}

	if _, err := SignFile(priv, bin, "1.2"); err == nil {
		t.Fatal("signed a version that is not semantic")
	}
	self, _ := os.Executable() // a Go binary, but not the agent
	if _, err := SignFile(priv, self, "1.2.3"); err == nil || !strings.Contains(err.Error(), "not the Steward agent") {
		t.Fatalf("signing the test binary: %v", err)
	}
	notGo := filepath.Join(t.TempDir(), "x")
	os.WriteFile(notGo, []byte("#!/bin/sh\n"), 0o755)
	if _, err := SignFile(priv, notGo, "1.2.3"); err == nil {
		t.Fatal("signed a shell script")
	}
}

func TestLoadKeyErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad")
	os.WriteFile(bad, []byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"), 0o600)
	if _, err := LoadPrivateKey(bad); err == nil {
		t.Fatal("loaded a PEM block of another type")
	}
	empty := filepath.Join(dir, "empty.pub")
	os.WriteFile(empty, []byte("# nothing here\n"), 0o644)
	if _, err := LoadPublicKeys([]string{empty}); err == nil {
		t.Fatal("a key file without keys was accepted")
	}
	if _, err := LoadPublicKeys([]string{filepath.Join(dir, "missing")}); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}
}
