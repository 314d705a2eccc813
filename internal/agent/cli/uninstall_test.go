package cli

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// fakeMSI is Windows Installer for handOverToMSI: it records the removals.
type fakeMSI struct {
	product string
	fail    error
	removed []string
}

func (f *fakeMSI) Product() string { return f.product }
func (f *fakeMSI) RunByMSI() bool  { return false }
func (f *fakeMSI) Remove(_ context.Context, product string, props ...string) error {
	f.removed = append(f.removed, strings.Join(append([]string{product}, props...), " "))
	return f.fail
}

func TestHandOverToMSI(t *testing.T) {
	const code = "{0E4B1B5E-6E1C-5C84-9C2B-6A1F0A0B0C0D}"
	tests := []struct {
		name       string
		product    string
		keep       bool
		fail       error
		wantHanded bool
		wantErr    bool
		want       []string
	}{
		{"no MSI: the CLI does the work", "", false, nil, false, false, nil},
		{"MSI: msiexec /x of the product", code, false, nil, true, false, []string{code}},
		{"MSI, --keep-config passed on", code, true, nil, true, false, []string{code + " UNINSTALLFLAGS=--keep-config"}},
		{"msiexec fails: reported, nothing done by hand", code, false, errors.New("exit 1603"), true, true, []string{code}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeMSI{product: tt.product, fail: tt.fail}
			var out bytes.Buffer
			handed, err := handOverToMSI(t.Context(), f, tt.keep, &out)
			if handed != tt.wantHanded || (err != nil) != tt.wantErr {
				t.Errorf("handOverToMSI = %v, %v; want handed %v, error %v", handed, err, tt.wantHanded, tt.wantErr)
			}
			if !slices.Equal(f.removed, tt.want) {
				t.Errorf("msiexec /x calls %q, want %q", f.removed, tt.want)
			}
			if tt.product != "" && !strings.Contains(out.String(), tt.product) {
				t.Errorf("output does not name the product: %q", out.String())
			}
		})
	}
}

func TestUninstallMarker(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "agent.json")
	now := time.Now()
	if uninstalling(cfg, now) {
		t.Fatal("uninstalling before any marker")
	}
	outer, err := holdUninstallMarker(cfg, now)
	if err != nil {
		t.Fatal(err)
	}
	if !uninstalling(cfg, now) {
		t.Fatal("not uninstalling while the marker is held")
	}
	// msiexec runs the MSI's uninstall step inside the CLI's uninstall:
	// that one finds the marker and leaves it to its owner.
	inner, err := holdUninstallMarker(cfg, now)
	if err != nil {
		t.Fatal(err)
	}
	inner.release()
	if !uninstalling(cfg, now) {
		t.Error("the nested uninstall removed the marker it does not own")
	}
	if uninstalling(cfg, now.Add(uninstallMarkerStale+time.Second)) {
		t.Error("a marker older than uninstallMarkerStale still counts")
	}
	outer.release()
	if _, err := os.Stat(uninstallMarkerPath(cfg)); !os.IsNotExist(err) {
		t.Errorf("marker after release: %v, want it gone", err)
	}

	// A stale marker (a crashed uninstall) is taken over and removed.
	old := now.Add(-time.Hour)
	if err := os.WriteFile(uninstallMarkerPath(cfg), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(uninstallMarkerPath(cfg), old, old); err != nil {
		t.Fatal(err)
	}
	m, err := holdUninstallMarker(cfg, now)
	if err != nil {
		t.Fatal(err)
	}
	if !uninstalling(cfg, time.Now()) {
		t.Error("a stale marker was not renewed by a new uninstall")
	}
	m.release()
	if _, err := os.Stat(uninstallMarkerPath(cfg)); !os.IsNotExist(err) {
		t.Errorf("stale marker after release: %v, want it gone", err)
	}

	// No config directory: nothing to mark, nothing created.
	gone := filepath.Join(t.TempDir(), "missing", "agent.json")
	if m, err := holdUninstallMarker(gone, now); err != nil || m.path != "" {
		t.Errorf("holdUninstallMarker without a directory = %+v, %v", m, err)
	}
	if _, err := os.Stat(filepath.Dir(gone)); !os.IsNotExist(err) {
		t.Errorf("the marker created the config directory: %v", err)
	}
}
