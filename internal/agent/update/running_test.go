package update

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// TestSwapRunningBinary replaces the binary of the running process (this
// test's own executable, run from a copy) and puts it back: Windows lets
// a running image be renamed, not deleted or written, and the swap and
// the rollback rely on exactly that. Under wine this runs the Windows
// path.
func TestSwapRunningBinary(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	// The "new version": the same program with a byte appended (both run).
	newBin := append(append([]byte(nil), data...), 0)
	rs := newReleaseServer(t)
	rs.serve("r1", newBin)
	u := &Updater{
		Binary: self, Dir: filepath.Join(t.TempDir(), "update"), Version: "1.0.0",
		GOOS: runtime.GOOS, GOARCH: runtime.GOARCH, Keys: trusted,
		ServerURL: rs.URL, Authorization: "Agent a.s", Log: slog.New(slog.DiscardHandler),
		SelfCheck: func(_ context.Context, _, _ string) (string, error) { return "1.1.0", nil },
	}
	backup := backupPath(self)
	t.Cleanup(func() {
		// Whatever happened, leave the test binary where go test put it.
		if _, err := os.Stat(self); errors.Is(err, os.ErrNotExist) {
			os.Rename(backup, self)
		}
	})
	if runtime.GOOS == "windows" {
		if err := os.Remove(self); err == nil {
			t.Fatal("Windows let the running executable be deleted")
		}
	}
	offer := offerFor(t, releasePriv, "r1", "1.1.0", runtime.GOOS, runtime.GOARCH, newBin)
	if err := u.Apply(t.Context(), offer); !errors.Is(err, ErrRestart) {
		t.Fatalf("Apply over the running binary = %v", err)
	}
	if got, _ := os.ReadFile(self); len(got) != len(newBin) {
		t.Fatalf("the binary in place has %d bytes, want the new %d", len(got), len(newBin))
	}
	if got, _ := os.ReadFile(backup); len(got) != len(data) {
		t.Fatalf("the backup (the running image) has %d bytes, want %d", len(got), len(data))
	}
	if err := u.Rollback("test"); err != nil {
		t.Fatalf("Rollback with the backup running: %v", err)
	}
	if got, _ := os.ReadFile(self); len(got) != len(data) {
		t.Fatalf("after the rollback the binary has %d bytes, want the original %d", len(got), len(data))
	}
	if _, err := os.Stat(backup); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("backup left after the rollback: %v", err)
	}
}
