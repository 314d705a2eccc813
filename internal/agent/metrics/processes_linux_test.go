package metrics

import (
	"os"
	"path/filepath"
	"testing"
)

func TestCountProcesses(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"1", "42", "31337", "self", "net", "sys", "1a", "irq"} {
		if err := os.Mkdir(filepath.Join(dir, name), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "7"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	// Entries are counted by name, as in /proc; "7" is a file here only.
	if n, err := countProcesses(dir); err != nil || n != 4 {
		t.Errorf("countProcesses got %d (%v), want 4", n, err)
	}
	if _, err := countProcesses(filepath.Join(dir, "missing")); err == nil {
		t.Errorf("countProcesses of a missing directory got no error")
	}
}

func TestCountProcessesOnThisMachine(t *testing.T) {
	n, err := countProcesses("/proc")
	if err != nil {
		t.Fatalf("countProcesses(/proc): %v", err)
	}
	// This test process and PID 1 at least.
	if n < 2 {
		t.Errorf("countProcesses(/proc) got %d, want at least 2", n)
	}
}
