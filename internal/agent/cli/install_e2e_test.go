//go:build linux

package cli

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/steward-rmm/steward/internal/agent/config"
	"github.com/steward-rmm/steward/internal/agent/service"
	"github.com/steward-rmm/steward/internal/servertest"
)

// buildAgent builds the real steward-agent binary into dir.
func buildAgent(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "steward-agent")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/steward-rmm/steward/cmd/steward-agent")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// execStart reads the ExecStart= line of an installed unit.
func execStart(t *testing.T, unitPath string) []string {
	t.Helper()
	b, err := os.ReadFile(unitPath)
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "ExecStart="); ok {
			words, err := service.ParseExecStart(v)
			if err != nil {
				t.Fatal(err)
			}
			return words
		}
	}
	t.Fatalf("%s has no ExecStart", unitPath)
	return nil
}

// startProc starts a process whose output goes to a buffer the test shows
// on failure, and returns a channel closed when it has exited.
func startProc(t *testing.T, name string, args ...string) (*exec.Cmd, chan struct{}) {
	t.Helper()
	var out syncWriter
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-done
		if t.Failed() {
			t.Logf("%s output:\n%s", filepath.Base(name), out.String())
		}
	})
	return cmd, done
}

func waitClosed(t *testing.T, ch chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(30 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
	}
}

// TestServiceEndToEnd runs the real binary against a real server: an
// agent enrolled with --no-service runs in the foreground; install (into a
// temporary root, since no systemd runs here) stops it, copies the binary
// and writes the units; the unit's ExecStart, run as systemd would run it,
// brings the agent online; uninstall tells the server, stops the agent and
// leaves nothing behind.
func TestServiceEndToEnd(t *testing.T) {
	// A private local IPC endpoint for the agents this test starts, so they
	// never meet another test's agent (or a real one) at the machine's.
	ipcDir, err := os.MkdirTemp("", "sa-ipc")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(ipcDir) })
	t.Setenv("STEWARD_AGENT_IPC", filepath.Join(ipcDir, "agent.sock"))
	if testing.Short() {
		t.Skip("builds the agent")
	}
	work := t.TempDir()
	agentBin := buildAgent(t, work)
	srv := servertest.Start(t, servertest.Options{})
	token := srv.EnrollmentToken(t, srv.NewSite(t).ID)

	cfgPath := filepath.Join(work, "etc", "agent.json")
	root := filepath.Join(work, "root")

	// A previous foreground install.
	if out, err := exec.Command(agentBin, "install", "--no-service", "--server", srv.URL, "--token", token, "--config", cfgPath).CombinedOutput(); err != nil {
		t.Fatalf("install --no-service: %v\n%s", err, out)
	}
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	fg, fgDone := startProc(t, agentBin, "run", "--config", cfgPath)
	srv.WaitPresence(t, cfg.AgentID, true)

	start := time.Now()
	out, err := exec.Command(agentBin, "install", "--server", srv.URL, "--token", token, "--config", cfgPath, "--root", root).CombinedOutput()
	if err != nil {
		t.Fatalf("install: %v\n%s", err, out)
	}
	installTook := time.Since(start)
	for _, want := range []string{"keeping the enrollment", "Stopped the agent running in the foreground (pid " + strconv.Itoa(fg.Process.Pid) + ")", "Copied this binary"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("install output lacks %q:\n%s", want, out)
		}
	}
	waitClosed(t, fgDone, "the foreground agent to stop")
	if bytes.Contains(out, []byte(cfg.AgentSecret)) {
		t.Errorf("install printed the agent secret")
	}

	unitDir := filepath.Join(root, "etc", "systemd", "system")
	if words := execStart(t, filepath.Join(unitDir, service.SystemdName(service.Watchdog))); strings.Join(words[1:], " ") != "watchdog --config "+cfgPath {
		t.Errorf("watchdog ExecStart = %q", words)
	}
	words := execStart(t, filepath.Join(unitDir, service.SystemdName(service.Agent)))
	if words[0] != "/usr/local/bin/steward-agent" || strings.Join(words[1:], " ") != "run --config "+cfgPath {
		t.Fatalf("agent ExecStart = %q", words)
	}
	// Run the unit's command line as systemd would, from the installed copy.
	svcProc, svcDone := startProc(t, filepath.Join(root, words[0]), words[1:]...)
	servertest.Eventually(t, "the service's agent to connect", func() bool {
		st, err := config.LoadState(config.StatePath(cfgPath))
		return err == nil && st.PID == svcProc.Process.Pid && st.Connected
	})
	srv.WaitPresence(t, cfg.AgentID, true)
	t.Logf("install took %s; install to online %s", installTook.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))

	status, _ := exec.Command(filepath.Join(root, words[0]), "status", "--config", cfgPath).CombinedOutput()
	if !strings.Contains(string(status), "Connected: yes") {
		t.Errorf("status of the service's agent:\n%s", status)
	}

	start = time.Now()
	out, err = exec.Command(filepath.Join(root, words[0]), "uninstall", "--config", cfgPath, "--root", root).CombinedOutput()
	if err != nil {
		t.Fatalf("uninstall: %v\n%s", err, out)
	}
	waitClosed(t, svcDone, "the agent to stop")
	t.Logf("uninstall took %s", time.Since(start).Round(time.Millisecond))
	if a := srv.Agent(t, cfg.AgentID); !a.Uninstalled() || a.UninstallReason == "" {
		t.Errorf("after uninstall the server holds %+v, want it uninstalled with a reason", a)
	}
	for _, p := range listFiles(t, root) {
		if fi, err := os.Stat(filepath.Join(root, p)); err == nil && !fi.IsDir() {
			t.Errorf("uninstall left %s", p)
		}
	}
	if _, err := os.Stat(filepath.Dir(cfgPath)); !os.IsNotExist(err) {
		t.Errorf("uninstall left the config directory: %v", err)
	}
	srv.WaitPresence(t, cfg.AgentID, false)
}
