package cli

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/steward-rmm/steward/internal/protocol"
	"github.com/steward-rmm/steward/internal/release"
	"github.com/steward-rmm/steward/internal/store"
)

// TestReleaseCommands goes keygen → sign → publish → list with a real
// agent binary, and checks the refusals on the way.
func TestReleaseCommands(t *testing.T) {
	work := t.TempDir()
	keys := filepath.Join(work, "keys")
	out := runOK(t, "release", "keygen", "--out", keys)
	if !strings.Contains(out.stdout, "--release-key "+keys+"/release.pub") {
		t.Errorf("keygen says %q; want it to say how to trust the key", out.stdout)
	}
	if r := steward(t, nil, "", "release", "keygen", "--out", keys); r.code == 0 || !strings.Contains(r.stderr, "already exists") {
		t.Errorf("keygen over an existing key: exit %d %q", r.code, r.stderr)
	}

	bin := filepath.Join(work, "steward-agent")
	build := exec.Command("go", "build", "-trimpath", "-o", bin, release.AgentPackage)
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=arm64")
	if b, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build agent: %v\n%s", err, b)
	}
	key := filepath.Join(keys, release.PrivateKeyFile)
	pub := filepath.Join(keys, release.PublicKeyFile)
	if r := steward(t, nil, "", "release", "sign", "--key", key, "--version", "v1.0", bin); r.code == 0 || !strings.Contains(r.stderr, "not a semantic version") {
		t.Errorf("sign with a bad version: exit %d %q", r.code, r.stderr)
	}
	out = runOK(t, "release", "sign", "--key", key, "--version", "1.0.0", bin)
	if !strings.Contains(out.stdout, "1.0.0 linux/arm64") {
		t.Errorf("sign says %q", out.stdout)
	}

	out = runOK(t, "release", "sign", "--key", key, "--version", "1.0.0", "--rollback", bin)
	if !strings.Contains(out.stdout, "agents may go back to 1.0.0 linux/arm64") {
		t.Errorf("sign --rollback says %q", out.stdout)
	}
	rbData, err := os.ReadFile(bin + ".rollback")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := protocol.DecodeSignedRollback(rbData); err != nil {
		t.Errorf("the rollback instruction does not decode: %v", err)
	}

	dir := dataDir(t)
	// Without a trusted key nothing can be checked.
	if r := steward(t, nil, "", "release", "publish", "--data-dir", dir, "--file", bin); r.code == 0 || !strings.Contains(r.stderr, "trusts no release key") {
		t.Errorf("publish without keys: exit %d %q", r.code, r.stderr)
	}
	if r := steward(t, nil, "", "release", "publish", "--data-dir", dir, "--release-key", pub, "--file", bin, "--arch", "amd64"); r.code == 0 || !strings.Contains(r.stderr, "differs from the signed arch arm64") {
		t.Errorf("publish naming another arch: exit %d %q", r.code, r.stderr)
	}
	// A binary changed after signing is refused.
	tampered := filepath.Join(work, "tampered")
	data, _ := os.ReadFile(bin)
	data[len(data)/2] ^= 0xff
	os.WriteFile(tampered, data, 0o755)
	os.Link(bin+".sig", tampered+".sig")
	if r := steward(t, nil, "", "release", "publish", "--data-dir", dir, "--release-key", pub, "--file", tampered); r.code == 0 || !strings.Contains(r.stderr, "not the file that was signed") {
		t.Errorf("publish a tampered file: exit %d %q", r.code, r.stderr)
	}

	env := map[string]string{"STEWARD_RELEASE_KEYS": pub, "STEWARD_DATA_DIR": dir}
	r := steward(t, env, "", "release", "publish", "--file", bin, "--channel", "beta", "--notes", "first")
	if r.code != 0 || !strings.Contains(r.stdout, "published 1.0.0 linux/arm64 on beta") {
		t.Fatalf("publish: exit %d %q %q", r.code, r.stdout, r.stderr)
	}
	list := steward(t, env, "", "release", "list")
	if list.code != 0 || !strings.Contains(list.stdout, "1.0.0") || !strings.Contains(list.stdout, "linux/arm64") {
		t.Errorf("list: %q %q", list.stdout, list.stderr)
	}
	rels, total, err := openDB(t, dir).ListReleases(t.Context(), store.ReleaseFilter{}, store.Page{})
	if err != nil || total != 1 || rels[0].Notes != "first" {
		t.Fatalf("stored releases: %+v %v", rels, err)
	}
}
