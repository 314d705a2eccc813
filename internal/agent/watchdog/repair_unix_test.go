//go:build unix

package watchdog

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/steward-rmm/steward/internal/agent/config"
	"github.com/steward-rmm/steward/internal/agent/update"
)

// TestRunRestoresMissingBinary: the agent was killed between the two
// renames of a swap (the Windows way), so the installed path is empty and
// the state says swapping. The supervising watchdog puts the previous
// binary back before it starts the agent, rather than failing to start
// it.
func TestRunRestoresMissingBinary(t *testing.T) {
	_, ts := newServer(t)
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "agent.json")
	if err := config.Save(cfgPath, config.Config{ServerURL: ts.URL, AgentID: "agent-1", AgentSecret: "s3cret"}); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "steward-agent")
	backup := filepath.Join(dir, "steward-agent.previous")
	started := filepath.Join(dir, "started")
	// The previous version: says it started, then waits to be stopped.
	script := "#!/bin/sh\necho \"$@\" > " + started + "\nexec sleep 600\n"
	if err := os.WriteFile(backup, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	updDir := filepath.Join(dir, "update")
	if err := update.SaveState(updDir, update.State{Pending: &update.Pending{Phase: update.PhaseSwapping,
		ReleaseID: "r1", FromVersion: "1.0.0", ToVersion: "1.1.0", ToSHA256: "00", Backup: backup}}); err != nil {
		t.Fatal(err)
	}
	u := &update.Updater{Binary: bin, Dir: updDir, Log: discard()}

	var logged bytes.Buffer
	log := slog.New(slog.NewTextHandler(&lockedBuffer{b: &logged}, nil))
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Options{ConfigPath: cfgPath, Supervise: true, Executable: bin, Updates: u,
			Services: &fakeManager{running: map[string]bool{}}, Log: log})
	}()
	stop := func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}
	defer func() {
		if ctx.Err() == nil {
			stop()
		}
	}()
	// A plain poll: the start is another process writing a file.
	deadline := time.Now().Add(30 * time.Second)
	for {
		if b, err := os.ReadFile(started); err == nil && len(b) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the agent was not started from the restored binary")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if b, err := os.ReadFile(bin); err != nil || string(b) != script {
		t.Errorf("installed binary %q, %v; want the previous one", b, err)
	}
	st, err := update.LoadState(updDir)
	if err != nil || st.Pending != nil {
		t.Errorf("state %+v, %v; want the interrupted update forgotten", st.Pending, err)
	}
	stop()
	if out := logged.String(); strings.Contains(out, "cannot start the agent") || !strings.Contains(out, "restored the agent binary") {
		t.Errorf("want the binary restored before the first start, without a failed start; log:\n%s", out)
	}
}
