// The race detector allows 8128 live goroutines, fewer than a large run
// needs, and would distort its numbers anyway.
//go:build !race

package sim_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/steward-rmm/steward/internal/sim"
)

// EnvLarge names the variable that enables TestLarge with an agent count,
// e.g. STEWARD_SIM_LARGE=5000. STEWARD_SIM_LARGE_DURATION (default 30s)
// and STEWARD_SIM_LARGE_RAMP (default 0, all at once) shape the run.
const EnvLarge = "STEWARD_SIM_LARGE"

// TestLarge runs the steward-sim binary with many agents against a server
// in this process and logs what each side costs per agent. The simulator
// runs as its own process so that its summary measures it alone; the
// server's share is this process's growth.
func TestLarge(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv(EnvLarge))
	if n <= 0 {
		t.Skipf("large simulation skipped: set %s to an agent count (e.g. 5000) to run it", EnvLarge)
	}
	duration := 30 * time.Second
	if v := os.Getenv(EnvLarge + "_DURATION"); v != "" {
		var err error
		if duration, err = time.ParseDuration(v); err != nil {
			t.Fatalf("%s_DURATION: %v", EnvLarge, err)
		}
	}
	ramp := os.Getenv(EnvLarge + "_RAMP")
	if ramp == "" {
		ramp = "0"
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("large simulation skipped: no go command to build steward-sim: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "steward-sim")
	if out, err := exec.Command(goTool, "build", "-o", bin, "github.com/steward-rmm/steward/cmd/steward-sim").CombinedOutput(); err != nil {
		t.Fatalf("build steward-sim: %v\n%s", err, out)
	}

	runtime.GC()
	baseline := residentBytes(t)
	srv := newServer(t, 10*time.Second)
	token := srv.token

	ctx, cancel := context.WithTimeout(t.Context(), duration+5*time.Minute)
	defer cancel()
	var stdout bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, "--server", srv.URL, "--agents", strconv.Itoa(n), "--ramp", ramp,
		"--duration", duration.String(), "--report-every", "5s", "--log-level", "warn")
	cmd.Env = append(os.Environ(), sim.EnvToken+"="+token)
	cmd.Stdout, cmd.Stderr = &stdout, t.Output()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()

	// Sample the server once everybody is connected and has had time to
	// settle, before the simulator starts closing.
	var (
		sampled               bool
		serverRSS, serverHeap uint64
	)
	deadline := time.Now().Add(duration)
	for !sampled && time.Now().Before(deadline) {
		select {
		case err := <-waited:
			t.Fatalf("steward-sim ended early: %v\n%s", err, &stdout)
		case <-time.After(time.Second):
		}
		if srv.Hub().Connected() == n && time.Until(deadline) < duration/2 {
			runtime.GC()
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			serverRSS, serverHeap, sampled = residentBytes(t), ms.HeapAlloc, true
		}
	}
	if err := <-waited; err != nil {
		t.Errorf("steward-sim: %v", err)
	}
	t.Logf("simulator: %s", bytes.TrimSpace(stdout.Bytes()))
	if sampled {
		t.Logf("server (in the test process): rss_growth_per_agent_kb=%.1f heap_per_agent_kb=%.1f agents=%d",
			float64(serverRSS-min(baseline, serverRSS))/float64(n)/1024, float64(serverHeap)/float64(n)/1024, n)
	} else {
		t.Errorf("the server never held all %d agents during the run", n)
	}
}

// residentBytes is this process's resident set size; 0 where /proc is
// missing.
func residentBytes(t *testing.T) uint64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	var size, resident uint64
	if _, err := fmt.Sscan(string(b), &size, &resident); err != nil {
		t.Fatalf("parse /proc/self/statm: %v", err)
	}
	return resident * uint64(os.Getpagesize())
}
