package cli

import (
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/steward-rmm/steward/internal/protocol"
)

func TestInventoryCommand(t *testing.T) {
	code, stdout, stderr := runCLI(t, "inventory")
	if code != exitOK {
		t.Fatalf("inventory exit code %d, want 0; stderr: %s", code, stderr)
	}
	if !strings.HasPrefix(stdout, "{\n  \"collected_at\"") {
		t.Errorf("output is not indented JSON: %.80q", stdout)
	}
	inv, err := protocol.DecodeInventory([]byte(stdout))
	if err != nil {
		t.Fatalf("printed report does not decode as the server would: %v", err)
	}
	if inv.Reason != protocol.InventoryRequest || time.Since(inv.CollectedAt) > time.Minute {
		t.Errorf("got reason %q collected at %v", inv.Reason, inv.CollectedAt)
	}
	// Only on Linux: under wine the Linux host's files show through Z:\.
	if _, err := os.Stat("/var/lib/dpkg/status"); runtime.GOOS == "linux" && err == nil && len(inv.Software) == 0 {
		t.Error("this host has a dpkg database, but the report lists no software")
	}
}

func TestInventoryUsage(t *testing.T) {
	if code, _, stderr := runCLI(t, "inventory", "extra"); code != exitUsage || !strings.Contains(stderr, `unexpected argument "extra"`) {
		t.Errorf("inventory extra: code %d, stderr %q; want usage error", code, stderr)
	}
	if code, _, stderr := runCLI(t, "inventory", "-h"); code != exitOK || !strings.Contains(stderr, "Usage: steward-agent inventory") {
		t.Errorf("inventory -h: code %d, stderr %q; want help", code, stderr)
	}
	if code, _, _ := runCLI(t, "inventory", "--config", "x"); code != exitUsage {
		t.Errorf("inventory --config: code %d, want a usage error (no config is read)", code)
	}
}
