package cli

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/steward-rmm/steward/internal/protocol"
	"github.com/steward-rmm/steward/internal/release"
	"github.com/steward-rmm/steward/internal/servertest"
	"github.com/steward-rmm/steward/internal/store"
)

// TestReleaseBuildPublishesOverAPI builds linux/amd64 (to keep the test
// short), signs it, packages it and publishes it to a real server over
// its API; then checks what the server holds verifies, that the binary
// carries the version and both keys, and that a second run reports the
// release already published instead of failing.
func TestReleaseBuildPublishesOverAPI(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the agent and the packager")
	}
	work := t.TempDir()
	key, err := release.GenerateKey(filepath.Join(work, "key"))
	if err != nil {
		t.Fatal(err)
	}
	other, err := release.GenerateKey(filepath.Join(work, "other"))
	if err != nil {
		t.Fatal(err)
	}
	s := servertest.Start(t, servertest.Options{ReleaseKeys: []string{key.String()}})
	tokenFile := filepath.Join(work, "token")
	if err := os.WriteFile(tokenFile, []byte(s.User(t, store.RoleOwner).Token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(work, "dist")
	env := map[string]string{"STEWARD_RELEASE_TARGETS": "linux/amd64"}
	args := []string{"release", "build", "--key", filepath.Join(work, "key", release.PrivateKeyFile),
		"--version", "v1.2.3", "--channel", "beta", "--notes", "built", "--out", out,
		"--server", s.URL, "--token-file", tokenFile, "--embed-key", filepath.Join(work, "other", release.PublicKeyFile)}

	r := steward(t, env, "", args...)
	if r.code != 0 {
		t.Fatalf("release build: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	t.Logf("release build:\n%s", r.stdout)
	for _, want := range []string{"[1/6] build linux/amd64", "[2/6] sign steward-agent-linux-amd64", "steward-agent-linux-amd64.deb",
		"steward-agent-linux-amd64.rpm", "[6/6] publish 1.2.3 linux/amd64", "published as release"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("output lacks %q", want)
		}
	}

	bin := filepath.Join(out, "steward-agent-linux-amd64")
	data, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	hexSum := hex.EncodeToString(sum[:])
	sums, err := os.ReadFile(filepath.Join(out, "SHA256SUMS"))
	if err != nil || !strings.Contains(string(sums), hexSum+"  steward-agent-linux-amd64\n") {
		t.Errorf("SHA256SUMS = %q, %v; want the binary's sum %s", sums, err, hexSum)
	}
	for _, f := range []string{".sig", ".deb", ".rpm"} {
		if _, err := os.Stat(bin + f); err != nil {
			t.Errorf("missing %s: %v", bin+f, err)
		}
	}
	if _, err := os.Stat(filepath.Join(out, release.LockFile)); !os.IsNotExist(err) {
		t.Errorf("lock file after the build: %v; want it gone", err)
	}

	// What the server holds: the release, with the binary's hash, and a
	// signature that verifies against the key the server trusts.
	rels := servertest.Decode[struct{ Items []store.Release }](t,
		s.Do(t, servertest.Request{Method: "GET", Path: "/api/v1/releases", Token: s.User(t, store.RoleOwner).Token}).Want(t, 200))
	if len(rels.Items) != 1 {
		t.Fatalf("server holds %d releases, want 1: %+v", len(rels.Items), rels.Items)
	}
	got := rels.Items[0]
	if got.Version != "1.2.3" || got.OS != "linux" || got.Arch != "amd64" || got.Channel != "beta" || got.SHA256 != hexSum || got.Size != int64(len(data)) || got.KeyID != key.ID {
		t.Errorf("published release %+v; want 1.2.3 linux/amd64 beta, sha256 %s, %d bytes, key %s", got, hexSum, len(data), key.ID)
	}
	sigData, _ := os.ReadFile(bin + ".sig")
	signed, err := protocol.DecodeSignedRelease(sigData)
	if err != nil {
		t.Fatal(err)
	}
	if err := protocol.VerifyRelease([]protocol.ReleaseKey{key}, signed); err != nil {
		t.Errorf("signature does not verify: %v", err)
	}
	if st, err := release.Describe(bin, "1.2.3"); err != nil || st != signed.Statement {
		t.Errorf("binary describes as %+v, %v; signed %+v", st, err, signed.Statement)
	}

	// The binary carries both keys (-trimpath keeps -ldflags out of the
	// build information, so the bytes are searched) and the version.
	for _, k := range []protocol.ReleaseKey{key, other} {
		if !bytes.Contains(data, []byte(k.String())) {
			t.Errorf("the binary does not embed the release key %s", k)
		}
	}
	if runtime.GOOS == "linux" && runtime.GOARCH == "amd64" {
		b, err := exec.Command(bin, "version").CombinedOutput()
		if err != nil || !strings.Contains(string(b), "1.2.3") {
			t.Errorf("steward-agent version = %q, %v; want 1.2.3", b, err)
		}
	}

	// Again: the same bytes (the build is reproducible) are already
	// published, which is reported, not fatal.
	r = steward(t, env, "", args...)
	if r.code != 0 || !strings.Contains(r.stdout, "removed 5 files of an earlier build") || !strings.Contains(r.stdout, "with the same sha256: kept") {
		t.Errorf("second release build: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}

	// Into a database directly, trusting the key from the environment.
	dir := dataDir(t)
	dbArgs := append(append([]string{}, args[:len(args)-6]...), "--data-dir", dir, "--embed-key", filepath.Join(work, "other", release.PublicKeyFile))
	env["STEWARD_RELEASE_KEYS"] = filepath.Join(work, "key", release.PublicKeyFile)
	r = steward(t, env, "", dbArgs...)
	if r.code != 0 || !strings.Contains(r.stdout, "publish 1.2.3 linux/amd64 to the database") {
		t.Fatalf("release build into the database: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	stored, _, err := openDB(t, dir).ListReleases(t.Context(), store.ReleaseFilter{}, store.Page{})
	if err != nil || len(stored) != 1 || stored[0].SHA256 != hexSum || stored[0].Channel != "beta" {
		t.Errorf("database holds %+v, %v; want the one release, sha256 %s", stored, err, hexSum)
	}
}

// TestReleaseBuildRefusals: every refusal happens before any build.
func TestReleaseBuildRefusals(t *testing.T) {
	work := t.TempDir()
	if _, err := release.GenerateKey(work); err != nil {
		t.Fatal(err)
	}
	key := filepath.Join(work, release.PrivateKeyFile)
	busy := filepath.Join(work, "busy")
	os.MkdirAll(busy, 0o755)
	lock, err := release.AcquireLock(filepath.Join(busy, release.LockFile))
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Release()
	s := servertest.Start(t, servertest.Options{})
	foreign := filepath.Join(work, "foreign")
	os.MkdirAll(foreign, 0o755)
	os.WriteFile(filepath.Join(foreign, "notes.txt"), nil, 0o644)

	tests := []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"no key", nil, nil, "--key KEY is required"},
		{"bad version", nil, []string{"--key", key, "--version", "1.2"}, "not a semantic version"},
		{"unknown target", nil, []string{"--key", key, "--version", "1.2.3", "--targets", "plan9/386"}, "unknown target"},
		{"bad channel", nil, []string{"--key", key, "--version", "1.2.3", "--channel", "Beta!"}, "--channel"},
		{"unreachable server", map[string]string{"STEWARD_TOKEN": "x"}, []string{"--key", key, "--version", "1.2.3", "--server", "http://127.0.0.1:1"}, "--server: GET /api/v1/releases"},
		{"wrong token", map[string]string{"STEWARD_TOKEN": "stw_bogus"}, []string{"--key", key, "--version", "1.2.3", "--server", s.URL}, "401"},
		{"no token", nil, []string{"--key", key, "--version", "1.2.3", "--server", "http://127.0.0.1:1"}, "STEWARD_TOKEN"},
		{"server and database", map[string]string{"STEWARD_TOKEN": "x"}, []string{"--key", key, "--version", "1.2.3", "--server", "http://127.0.0.1:1", "--data-dir", work}, "not both"},
		{"database without keys", nil, []string{"--key", key, "--version", "1.2.3", "--data-dir", work}, "trusts no release key"},
		{"locked", nil, []string{"--key", key, "--version", "1.2.3", "--out", busy}, "another release build is running (PID"},
		{"foreign out", nil, []string{"--key", key, "--version", "1.2.3", "--out", foreign}, "notes.txt, which a release build did not write"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := steward(t, tt.env, "", append([]string{"release", "build"}, tt.args...)...)
			if r.code == 0 || !strings.Contains(r.stderr, tt.want) {
				t.Errorf("exit %d, stderr %q; want a failure saying %q", r.code, r.stderr, tt.want)
			}
		})
	}
}

// fakePublisher holds at most one release.
type fakePublisher struct {
	have      *store.Release
	published int
}

func (f *fakePublisher) String() string { return "fake" }

func (f *fakePublisher) existing(context.Context, string, string, string) (store.Release, error) {
	if f.have == nil {
		return store.Release{}, store.ErrNotFound
	}
	return *f.have, nil
}

func (f *fakePublisher) publish(_ context.Context, _ string, _ []byte, s protocol.SignedRelease, channel, _ string) (store.Release, error) {
	f.published++
	f.have = &store.Release{ID: "r1", Version: s.Statement.Version, SHA256: s.Statement.SHA256, Channel: channel}
	return *f.have, nil
}

// TestPublishOneExisting: a version already published with the same bytes
// is kept; with other bytes it is an error.
func TestPublishOneExisting(t *testing.T) {
	st := protocol.ReleaseStatement{Version: "1.0.0", OS: "linux", Arch: "amd64", Size: 1, SHA256: strings.Repeat("a", 64)}
	_, priv, _ := ed25519.GenerateKey(nil)
	signed, err := protocol.SignRelease(priv, st)
	if err != nil {
		t.Fatal(err)
	}
	sig := signed.Encode()
	p := &fakePublisher{}
	cfg := buildConfig{channel: "stable", publisher: p}
	if msg, err := publishOne(t.Context(), cfg, "bin", sig, st); err != nil || !strings.Contains(msg, "published as release r1") {
		t.Fatalf("first publish = %q, %v", msg, err)
	}
	if msg, err := publishOne(t.Context(), cfg, "bin", sig, st); err != nil || !strings.Contains(msg, "same sha256: kept") || p.published != 1 {
		t.Errorf("same bytes again = %q, %v (%d publishes); want kept, 1 publish", msg, err, p.published)
	}
	p.have.SHA256 = strings.Repeat("b", 64)
	if _, err := publishOne(t.Context(), cfg, "bin", sig, st); err == nil || !strings.Contains(err.Error(), "never replaced") {
		t.Errorf("other bytes at a published version: %v; want a refusal", err)
	}
}
