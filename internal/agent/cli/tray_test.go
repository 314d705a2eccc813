//go:build unix

package cli

import (
	"bytes"
	"strings"
	"testing"

	"github.com/steward-rmm/steward/internal/agent/tray"
)

func TestTrayOnePerSession(t *testing.T) {
	t.Setenv("XDG_RUNTIME_DIR", t.TempDir())
	lock, err := tray.AcquireLock()
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Release()
	var stdout, stderr bytes.Buffer
	if code := Run(t.Context(), []string{"tray", "--log", t.TempDir() + "/tray.log"}, &stdout, &stderr); code != exitOK {
		t.Errorf("second tray: exit %d, want %d; stderr %q", code, exitOK, stderr.String())
	}
	if !strings.Contains(stderr.String(), "already running") {
		t.Errorf("second tray said %q, want already running", stderr.String())
	}
}

func TestTrayUsage(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := Run(t.Context(), []string{"tray", "extra"}, &stdout, &stderr); code != exitUsage {
		t.Errorf("tray extra: exit %d, want %d", code, exitUsage)
	}
	stderr.Reset()
	if code := Run(t.Context(), []string{"tray", "-h"}, &stdout, &stderr); code != exitOK || !strings.Contains(stderr.String(), "notification area") {
		t.Errorf("tray -h: exit %d, help %q", code, stderr.String())
	}
	stdout.Reset()
	Run(t.Context(), []string{"help"}, &stdout, &stderr)
	if !strings.Contains(stdout.String(), "steward-agent tray") {
		t.Errorf("usage does not list tray:\n%s", stdout.String())
	}
}
