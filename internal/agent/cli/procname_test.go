package cli

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

func TestProcessName(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	// Linux and macOS keep the first 15 or 16 bytes of the name.
	got, err := processName(os.Getpid())
	if want := filepath.Base(exe); err != nil || got == "" || !strings.HasPrefix(want, got) {
		t.Errorf("processName(self) got %q (%v), want a prefix of %q", got, err, want)
	}
	// Windows keeps an exited process's object, name included, while a
	// handle to it is open; callers check pidAlive first.
	if got, err := processName(deadPID(t)); err == nil && runtime.GOOS != "windows" {
		t.Errorf("processName(exited process) got %q, want an error", got)
	}
}
