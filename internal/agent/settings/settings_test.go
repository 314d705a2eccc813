package settings

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/steward-rmm/steward/internal/agent/config"
	"github.com/steward-rmm/steward/internal/protocol"
)

func update(rev string) protocol.PolicyUpdate {
	return protocol.PolicyUpdate{Revision: rev, Policy: json.RawMessage(`{"metrics":{"interval":"60s"}}`)}
}

func TestApplyPersistsAndLoads(t *testing.T) {
	path := filepath.Join(t.TempDir(), config.PolicyFile)
	s := New(path)
	if err := s.Load(); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Load with no file got %v, want fs.ErrNotExist", err)
	}
	if got := s.Current(); got.Revision != "" {
		t.Errorf("Current before any policy got %+v, want empty", got)
	}

	changed := s.Changed()
	before := time.Now().UTC()
	if err := s.Apply(update("r1")); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	select {
	case <-changed:
	default:
		t.Error("Changed channel not closed by Apply")
	}
	select {
	case <-s.Changed():
		t.Error("Changed after Apply returned a closed channel, want the next change's")
	default:
	}
	got := s.Current()
	if got.Revision != "r1" || string(got.Policy) != `{"metrics":{"interval":"60s"}}` || got.AppliedAt.Before(before) {
		t.Errorf("Current got %+v, want r1 applied after %v", got, before)
	}

	if runtime.GOOS != "windows" {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if perm := fi.Mode().Perm(); perm != 0o600 {
			t.Errorf("mode of %s got %v, want 0600", path, perm)
		}
	}

	// A new run picks the policy up from disk.
	next := New(path)
	if err := next.Load(); err != nil {
		t.Fatalf("Load: %v", err)
	}
	loaded := next.Current()
	if loaded.Revision != "r1" || string(loaded.Policy) != string(got.Policy) || !loaded.AppliedAt.Equal(got.AppliedAt) {
		t.Errorf("loaded %+v, want %+v", loaded, got)
	}
}

func TestApplyFailureKeepsPolicy(t *testing.T) {
	dir := t.TempDir()
	s := New(filepath.Join(dir, "missing-parent-is-a-file", config.PolicyFile))
	if err := os.WriteFile(filepath.Join(dir, "missing-parent-is-a-file"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	changed := s.Changed()
	if err := s.Apply(update("r1")); err == nil {
		t.Fatal("Apply into an unwritable path got nil error, want one")
	}
	if got := s.Current(); got.Revision != "" {
		t.Errorf("Current after a failed Apply got %q, want empty", got.Revision)
	}
	select {
	case <-changed:
		t.Error("Changed closed by a failed Apply")
	default:
	}
}

func TestLoadCorrupt(t *testing.T) {
	path := filepath.Join(t.TempDir(), config.PolicyFile)
	for _, content := range []string{`{`, `{"revision":"","policy":{}}`, `{"revision":"r1"}`} {
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		s := New(path)
		if err := s.Load(); err == nil || errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Load(%q) got %v, want a parse error", content, err)
		}
		if got := s.Current(); got.Revision != "" {
			t.Errorf("Load(%q) left Current %+v, want empty", content, got)
		}
	}
}
