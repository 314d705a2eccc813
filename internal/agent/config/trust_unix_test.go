//go:build !windows

package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCheckTrustedUnix(t *testing.T) {
	tests := []struct {
		name    string
		setup   func(t *testing.T, dir, path string) // dir 0700 and path 0600 exist
		wantErr string                               // "" for trusted
	}{
		{"private", func(*testing.T, string, string) {}, ""},
		{"missing file", func(t *testing.T, _, path string) { mustDo(t, os.Remove(path)) }, ""},
		{"group-readable", func(t *testing.T, dir, path string) {
			mustDo(t, os.Chmod(dir, 0o755))
			mustDo(t, os.Chmod(path, 0o644))
		}, ""},
		{"file writable by others", func(t *testing.T, _, path string) { mustDo(t, os.Chmod(path, 0o666)) }, "agent.json is writable by users other than its owner (mode 0666)"},
		{"file writable by group", func(t *testing.T, _, path string) { mustDo(t, os.Chmod(path, 0o620)) }, "(mode 0620)"},
		{"dir writable by others", func(t *testing.T, dir, _ string) { mustDo(t, os.Chmod(dir, 0o777)) }, "is writable by users other than its owner (mode 0777)"},
		{"sticky shared dir", func(t *testing.T, dir, _ string) { mustDo(t, os.Chmod(dir, 0o777|os.ModeSticky)) }, "(mode 0777)"},
		{"link into a shared dir", func(t *testing.T, dir, path string) {
			shared := filepath.Join(filepath.Dir(dir), "shared")
			mustDo(t, os.Mkdir(shared, 0o777))
			mustDo(t, os.Chmod(shared, 0o777))
			target := filepath.Join(shared, "agent.json")
			mustDo(t, os.WriteFile(target, []byte("{}"), 0o600))
			mustDo(t, os.Remove(path))
			mustDo(t, os.Symlink(target, path))
		}, "shared is writable by users other than its owner"},
		{"file owned by another user", func(t *testing.T, _, path string) {
			if os.Geteuid() != 0 {
				t.Skip("chown needs root")
			}
			mustDo(t, os.Chown(path, 4242, 4242))
		}, "agent.json is owned by uid 4242, not root"},
		{"dir owned by another user", func(t *testing.T, dir, _ string) {
			if os.Geteuid() != 0 {
				t.Skip("chown needs root")
			}
			mustDo(t, os.Chown(dir, 4242, 0))
		}, "is owned by uid 4242, not root"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "steward-agent")
			path := filepath.Join(dir, "agent.json")
			if err := Save(path, validConfig()); err != nil {
				t.Fatal(err)
			}
			tt.setup(t, dir, path)
			err := CheckTrusted(path)
			if tt.wantErr == "" {
				if err != nil {
					t.Errorf("CheckTrusted = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, ErrUntrusted) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("CheckTrusted = %v, want ErrUntrusted saying %q", err, tt.wantErr)
			}
		})
	}
}

func mustDo(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
