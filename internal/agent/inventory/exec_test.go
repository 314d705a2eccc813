package inventory

import (
	"context"
	"os/exec"
	"runtime"
	"testing"
	"time"
)

// TestRunReturnsWhenAHelperHoldsTheOutput stops a tool whose child keeps
// its output open: run must return soon after its context ends, not when
// the child does.
func TestRunReturnsWhenAHelperHoldsTheOutput(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("needs a POSIX shell")
	}
	if _, err := exec.LookPath("sh"); err != nil {
		t.Skip("no sh")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := run(ctx, "sh", "-c", "sleep 15 & sleep 15")
	if err == nil {
		t.Fatalf("run of a killed tool succeeded, want an error")
	}
	if took := time.Since(start); took > toolWaitDelay+5*time.Second {
		t.Errorf("run returned after %v, want within %v of its context ending", took, toolWaitDelay)
	}
}
