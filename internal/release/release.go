// Package release makes and checks signed agent releases on the release
// side: the release key pair, the statement of a binary and its signature.
// The signed format itself is protocol.SignedRelease, which agents check.
package release

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"debug/buildinfo"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/steward-rmm/steward/internal/protocol"
)

// Key files GenerateKey writes.
const (
	PrivateKeyFile = "release.key"
	PublicKeyFile  = "release.pub"
	pemType        = "STEWARD RELEASE PRIVATE KEY"
)

// AgentPackage is the main package of the agent binary.
const AgentPackage = "github.com/steward-rmm/steward/cmd/steward-agent"

// GenerateKey writes a new key pair into dir: the private key (mode 0600;
// keep it offline) and the public key the server and agents trust. It
// refuses to replace an existing key.
func GenerateKey(dir string) (protocol.ReleaseKey, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return protocol.ReleaseKey{}, fmt.Errorf("create %s: %w", dir, err)
	}
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return protocol.ReleaseKey{}, fmt.Errorf("generate release key: %w", err)
	}
	key := protocol.NewReleaseKey(pub)
	block := pem.EncodeToMemory(&pem.Block{Type: pemType, Headers: map[string]string{"Key-Id": key.ID}, Bytes: priv.Seed()})
	if err := writeNew(filepath.Join(dir, PrivateKeyFile), block, 0o600); err != nil {
		return protocol.ReleaseKey{}, err
	}
	if err := writeNew(filepath.Join(dir, PublicKeyFile), []byte(key.String()+"\n"), 0o644); err != nil {
		os.Remove(filepath.Join(dir, PrivateKeyFile))
		return protocol.ReleaseKey{}, err
	}
	return key, nil
}

func writeNew(path string, data []byte, mode os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if errors.Is(err, os.ErrExist) {
		return fmt.Errorf("%s already exists: a release key is never replaced by accident (move it away first)", path)
	}
	if err != nil {
		return fmt.Errorf("create %s: %w", path, err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(path)
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		os.Remove(path)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// LoadPrivateKey reads a private key GenerateKey wrote.
func LoadPrivateKey(path string) (ed25519.PrivateKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read release key: %w", err)
	}
	block, _ := pem.Decode(data)
	if block == nil || block.Type != pemType {
		return nil, fmt.Errorf("%s is not a Steward release private key (want a PEM block %q)", path, pemType)
	}
	if len(block.Bytes) != ed25519.SeedSize {
		return nil, fmt.Errorf("%s: key is %d bytes, want %d", path, len(block.Bytes), ed25519.SeedSize)
	}
	return ed25519.NewKeyFromSeed(block.Bytes), nil
}

// LoadPublicKeys reads trusted release public keys. Each spec is either a
// key in its text form ("steward-release-ed25519 BASE64") or the path of a
// file holding one or more such keys, one per line (# starts a comment).
func LoadPublicKeys(specs []string) ([]protocol.ReleaseKey, error) {
	var keys []protocol.ReleaseKey
	seen := map[string]bool{}
	add := func(k protocol.ReleaseKey) {
		if !seen[k.ID] {
			seen[k.ID] = true
			keys = append(keys, k)
		}
	}
	for _, spec := range specs {
		spec = strings.TrimSpace(spec)
		if spec == "" {
			continue
		}
		if strings.HasPrefix(spec, protocol.ReleaseKeyPrefix) {
			k, err := protocol.ParseReleaseKey(spec)
			if err != nil {
				return nil, err
			}
			add(k)
			continue
		}
		data, err := os.ReadFile(spec)
		if err != nil {
			return nil, fmt.Errorf("read release public key: %w", err)
		}
		n := 0
		for i, line := range strings.Split(string(data), "\n") {
			line = strings.TrimSpace(line)
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			k, err := protocol.ParseReleaseKey(line)
			if err != nil {
				return nil, fmt.Errorf("%s line %d: %w", spec, i+1, err)
			}
			add(k)
			n++
		}
		if n == 0 {
			return nil, fmt.Errorf("%s holds no release public key", spec)
		}
	}
	return keys, nil
}

// Describe returns the statement of an agent binary: its size and SHA-256,
// its OS and architecture as read from the binary's build information
// (never typed by hand, so a binary cannot be signed for the wrong
// platform), and version. It refuses a file that is not a Steward agent.
func Describe(path, version string) (protocol.ReleaseStatement, error) {
	info, err := buildinfo.ReadFile(path)
	if err != nil {
		return protocol.ReleaseStatement{}, fmt.Errorf("%s is not a Go binary with build information: %w", path, err)
	}
	if info.Path != AgentPackage {
		return protocol.ReleaseStatement{}, fmt.Errorf("%s is %s, not the Steward agent (%s)", path, info.Path, AgentPackage)
	}
	st := protocol.ReleaseStatement{Version: version}
	for _, s := range info.Settings {
		switch s.Key {
		case "GOOS":
			st.OS = s.Value
		case "GOARCH":
			st.Arch = s.Value
		}
	}
	f, err := os.Open(path)
	if err != nil {
		return protocol.ReleaseStatement{}, fmt.Errorf("open %s: %w", path, err)
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return protocol.ReleaseStatement{}, fmt.Errorf("read %s: %w", path, err)
	}
	st.Size, st.SHA256 = n, hex.EncodeToString(h.Sum(nil))
	if err := st.Validate(); err != nil {
		return protocol.ReleaseStatement{}, fmt.Errorf("%s: %w", path, err)
	}
	return st, nil
}

// SignFile describes the agent binary at path as version and signs it.
func SignFile(priv ed25519.PrivateKey, path, version string) (protocol.SignedRelease, error) {
	st, err := Describe(path, version)
	if err != nil {
		return protocol.SignedRelease{}, err
	}
	return protocol.SignRelease(priv, st)
}
