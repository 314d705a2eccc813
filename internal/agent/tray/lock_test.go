package tray

import (
	"errors"
	"path/filepath"
	"runtime"
	"testing"
)

func TestLockOneInstance(t *testing.T) {
	name := filepath.Join(t.TempDir(), "steward-tray.lock")
	if runtime.GOOS == "windows" {
		name = `Local\StewardTrayTest-` + filepath.Base(t.TempDir())
	}
	l, err := acquire(name)
	if err != nil {
		t.Fatalf("first acquire: %v", err)
	}
	if _, err := acquire(name); !errors.Is(err, ErrRunning) {
		t.Fatalf("second acquire: %v, want ErrRunning", err)
	}
	if err := l.Release(); err != nil {
		t.Fatalf("release: %v", err)
	}
	l, err = acquire(name)
	if err != nil {
		t.Fatalf("acquire after release: %v", err)
	}
	l.Release()
}
