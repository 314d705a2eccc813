package watchdog

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestBinaryWatch(t *testing.T) {
	path := filepath.Join(t.TempDir(), "steward-agent")
	os.WriteFile(path, []byte("version 1"), 0o755)
	w := newBinaryWatch(path)
	if w.changed() {
		t.Fatal("changed without a change")
	}
	// Touched with the same content: not a change.
	later := time.Now().Add(time.Hour)
	os.Chtimes(path, later, later)
	if w.changed() {
		t.Fatal("a touch counts as a change")
	}
	// Replaced by a rename, as an update does.
	next := path + ".new"
	os.WriteFile(next, []byte("version 2"), 0o755)
	os.Rename(next, path)
	if !w.changed() {
		t.Fatal("a replaced binary is not seen")
	}
	// Missing mid-swap: not (yet) a change.
	os.Remove(path)
	if w.changed() {
		t.Fatal("a missing binary counts as a change")
	}
}
