// Package config reads and writes the agent's files on disk: the enrollment
// config (server URLs, agent ID and secret) written by `steward-agent install`,
// the small state file that `steward-agent run` keeps beside it so that
// `steward-agent status` can tell whether the agent is connected, and the
// last effective policy the agent applied (policy.json).
//
// All of them hold or sit beside the agent secret, so they are written
// atomically (temporary file, then rename) and readable by root/SYSTEM only;
// how that is enforced is per OS (secure_*.go).
package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/steward-rmm/steward/internal/protocol"
)

// maxFileBytes bounds what Load and LoadState read; real files are a few
// hundred bytes.
const maxFileBytes = 64 << 10

// Config is the enrollment written by install and read by run and status.
// Unknown fields are ignored on load so that newer agents can add fields
// without breaking a rollback to an older binary.
//
// ServerURLs lists the server's replicas (or one load-balanced name) in the
// order the agent tries them. ServerURL is its first entry, still written so
// that an older agent binary, which knows only server_url, keeps working
// after a rollback; a config written by such a binary has only ServerURL.
// Load and Save fill in whichever of the two is missing.
type Config struct {
	ServerURL   string    `json:"server_url"`
	ServerURLs  []string  `json:"server_urls,omitempty"`
	AgentID     string    `json:"agent_id"`
	AgentSecret string    `json:"agent_secret"`
	EnrolledAt  time.Time `json:"enrolled_at,omitzero"`
	// ReleaseKeys are release public keys trusted for updates besides
	// those built into the binary (written at install).
	ReleaseKeys []string `json:"release_keys,omitempty"`
}

// Servers returns the server URLs in the order the agent tries them:
// ServerURLs, or ServerURL alone for a config that predates ServerURLs.
func (c Config) Servers() []string {
	if len(c.ServerURLs) > 0 {
		return c.ServerURLs
	}
	if c.ServerURL != "" {
		return []string{c.ServerURL}
	}
	return nil
}

// Validate reports the first bad field.
func (c Config) Validate() error {
	if len(c.ServerURLs) == 0 {
		if _, err := ParseServerURL(c.ServerURL); err != nil {
			return fmt.Errorf("server_url: %w", err)
		}
	}
	seen := make(map[string]int, len(c.ServerURLs))
	for i, raw := range c.ServerURLs {
		u, err := ParseServerURL(raw)
		if err != nil {
			return fmt.Errorf("server_urls[%d]: %w", i, err)
		}
		if j, ok := seen[u]; ok {
			return fmt.Errorf("server_urls[%d]: %s repeats server_urls[%d]", i, u, j)
		}
		seen[u] = i
	}
	if c.ServerURL != "" && len(c.ServerURLs) > 0 {
		// Older agents read only server_url; if it disagreed with the list,
		// a rollback would silently talk to another server.
		first, _ := ParseServerURL(c.ServerURLs[0])
		if u, err := ParseServerURL(c.ServerURL); err != nil || u != first {
			return fmt.Errorf("server_url %q is not the first entry of server_urls (%q)", c.ServerURL, c.ServerURLs[0])
		}
	}
	if c.AgentID == "" {
		return errors.New("agent_id is missing")
	}
	if c.AgentSecret == "" {
		return errors.New("agent_secret is missing")
	}
	// The credential header is the one place both values travel; if it does
	// not round-trip, the server could never accept them.
	if id, _, ok := protocol.ParseCredential(protocol.FormatCredential(c.AgentID, "x")); !ok || id != c.AgentID {
		return errors.New("agent_id is malformed")
	}
	if _, secret, ok := protocol.ParseCredential(protocol.FormatCredential("x", c.AgentSecret)); !ok || secret != c.AgentSecret {
		return errors.New("agent_secret is malformed")
	}
	return nil
}

// complete returns a valid c with both ServerURL and ServerURLs set.
func (c Config) complete() Config {
	c.ServerURLs = slices.Clone(c.Servers())
	c.ServerURL = c.ServerURLs[0]
	return c
}

// Load reads and validates the config at path. A missing file yields an
// error matching fs.ErrNotExist.
func Load(path string) (Config, error) {
	var c Config
	if err := readJSON(path, &c); err != nil {
		return Config{}, fmt.Errorf("load config: %w", err)
	}
	if err := c.Validate(); err != nil {
		return Config{}, fmt.Errorf("load config %s: %w", path, err)
	}
	return c.complete(), nil
}

// Save validates c and writes it to path atomically, readable by root/SYSTEM
// only. It creates the directory if needed. Both server_url and server_urls
// are written, whichever of them c sets.
func Save(path string, c Config) error {
	if err := c.Validate(); err != nil {
		return fmt.Errorf("save config: %w", err)
	}
	c = c.complete()
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return fmt.Errorf("save config: %w", err)
	}
	if err := writeFileSecure(path, append(b, '\n')); err != nil {
		return fmt.Errorf("save config: %w", err)
	}
	return nil
}

// PrepareDir creates the directory of path with restricted permissions and
// checks that a file can be created in it. Install calls it before enrolling
// so that a permission problem does not waste an enrollment token.
func PrepareDir(path string) error {
	dir := filepath.Dir(path)
	if err := mkdirSecure(dir); err != nil {
		return fmt.Errorf("prepare %s: %w", dir, err)
	}
	f, err := os.CreateTemp(dir, ".probe-*")
	if err != nil {
		return fmt.Errorf("prepare %s: %w", dir, err)
	}
	name := f.Name()
	f.Close()
	if err := os.Remove(name); err != nil {
		return fmt.Errorf("prepare %s: %w", dir, err)
	}
	return nil
}

// ParseServerURL checks a server base URL given by a user and returns it
// normalized: lowercase http or https scheme, no trailing slash. A path is
// kept, for servers behind a reverse proxy under a prefix.
func ParseServerURL(raw string) (string, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return "", errors.New("server URL is empty")
	}
	if lower := strings.ToLower(raw); !strings.Contains(raw, "://") && !strings.HasPrefix(lower, "http:") && !strings.HasPrefix(lower, "https:") {
		// "127.0.0.1:8080" or "rmm.example.com": the URL parser's own
		// complaint (a colon in the first path segment) would not say this.
		return "", fmt.Errorf("invalid server URL %q: add http:// or https:// in front, e.g. https://%s", raw, raw)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("invalid server URL %q: %w", raw, errors.Unwrap(err))
	}
	switch strings.ToLower(u.Scheme) {
	case "http", "https":
	default:
		return "", fmt.Errorf("invalid server URL %q: must start with https:// or http://", raw)
	}
	if u.Opaque != "" || u.Hostname() == "" {
		return "", fmt.Errorf("invalid server URL %q: missing host", raw)
	}
	if u.User != nil {
		return "", fmt.Errorf("invalid server URL %q: must not contain a user name or password", raw)
	}
	if u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
		return "", fmt.Errorf("invalid server URL %q: must not contain a query or fragment", raw)
	}
	u.Scheme = strings.ToLower(u.Scheme)
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = ""
	return u.String(), nil
}

// readJSON decodes one bounded JSON file.
func readJSON(path string, v any) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxFileBytes+1))
	if err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	if len(b) > maxFileBytes {
		return fmt.Errorf("read %s: file is larger than %d bytes", path, maxFileBytes)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("parse %s: %w", path, err)
	}
	return nil
}

// writeFileSecure writes data to path atomically: a temporary file in the
// same directory, restricted before any data is written, synced, then
// renamed over path. Readers see the old file or the new one, never a part.
func writeFileSecure(path string, data []byte) (err error) {
	dir := filepath.Dir(path)
	if err := mkdirSecure(dir); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if err := restrictFile(f); err != nil {
		return fmt.Errorf("write %s: restrict permissions: %w", path, err)
	}
	if _, err := f.Write(data); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := replaceFile(tmp, path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	syncDir(dir)
	return nil
}

// mkdirSecure creates dir (and parents). The directory itself is restricted
// to root/SYSTEM when this call created it or when it is the default config
// directory; an existing directory the user chose (say, their home) is left
// alone, since the file inside is restricted anyway.
func mkdirSecure(dir string) error {
	_, statErr := os.Stat(dir)
	created := errors.Is(statErr, os.ErrNotExist)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if created || filepath.Clean(dir) == filepath.Dir(DefaultPath()) {
		return restrictDir(dir)
	}
	return nil
}
