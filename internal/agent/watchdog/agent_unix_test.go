//go:build unix

package watchdog

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/steward-rmm/steward/internal/agent/config"
	"github.com/steward-rmm/steward/internal/protocol"
)

var agentBinary struct {
	once sync.Once
	path string
	err  error
}

// buildAgent builds steward-agent once per test binary.
func buildAgent(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go tool to build steward-agent with")
	}
	agentBinary.once.Do(func() {
		dir, err := os.MkdirTemp("", "watchdog-agent-")
		if err != nil {
			agentBinary.err = err
			return
		}
		agentBinary.path = filepath.Join(dir, "steward-agent")
		out, err := exec.Command("go", "build", "-o", agentBinary.path, "github.com/steward-rmm/steward/cmd/steward-agent").CombinedOutput()
		if err != nil {
			agentBinary.err = &buildError{err, out}
		}
	})
	if agentBinary.err != nil {
		t.Fatal(agentBinary.err)
	}
	return agentBinary.path
}

type buildError struct {
	err error
	out []byte
}

func (e *buildError) Error() string {
	return "go build steward-agent: " + e.err.Error() + "\n" + string(e.out)
}

// TestWatchdogCommandSupervises runs `steward-agent watchdog --supervise`
// as it runs in a container: it starts `steward-agent run`, which keeps
// trying to reach a server that has no control endpoint; kill -9 of the
// agent brings a new one; the server receives the reports; SIGTERM to the
// watchdog stops the agent cleanly and the watchdog exits 0.
func TestWatchdogCommandSupervises(t *testing.T) {
	bin := buildAgent(t)
	var mu sync.Mutex
	var reports []protocol.WatchdogReport
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != protocol.WatchdogPath {
			http.NotFound(w, r) // the agent's control channel: it retries
			return
		}
		if id, _, ok := protocol.ParseCredential(r.Header.Get("Authorization")); !ok || id != "agent-1" {
			http.Error(w, "who?", http.StatusUnauthorized)
			return
		}
		b, _ := io.ReadAll(r.Body)
		rep, err := protocol.DecodeWatchdogReport(b)
		if err != nil {
			t.Errorf("DecodeWatchdogReport: %v", err)
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		mu.Lock()
		reports = append(reports, rep)
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(ts.Close)

	cfgPath := filepath.Join(t.TempDir(), "agent.json")
	if err := config.Save(cfgPath, config.Config{ServerURL: ts.URL, AgentID: "agent-1", AgentSecret: "s3cret"}); err != nil {
		t.Fatal(err)
	}
	// Health is asked every 10s (the least interval) over a private IPC
	// endpoint, which the agent the watchdog starts inherits.
	if err := config.SavePolicy(config.PolicyPath(cfgPath), config.Policy{Revision: "r1",
		Policy: []byte(`{"watchdog":{"interval":"10s"}}`), AppliedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	ipcDir, err := os.MkdirTemp("", "wd-ipc")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(ipcDir) })
	var stderr bytes.Buffer
	wd := exec.Command(bin, "watchdog", "--supervise", "--config", cfgPath)
	wd.Env = append(os.Environ(), "STEWARD_AGENT_IPC="+filepath.Join(ipcDir, "run", "agent.sock"))
	wd.Stderr = &lockedBuffer{b: &stderr}
	if err := wd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- wd.Wait() }()
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			wd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("watchdog output:\n%s", stderr.String())
		}
	})

	statePath := config.StatePath(cfgPath)
	agentPID := func() int {
		st, err := config.LoadState(statePath)
		if err != nil || !processAlive(st.PID) {
			return 0
		}
		return st.PID
	}
	waitUntil(t, "the agent runs", func() bool { return agentPID() != 0 })
	// The watchdog reports the agent running once it answers its health.
	waitUntil(t, "the first running report", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(reports) > 0
	})
	first := agentPID()
	if err := syscall.Kill(first, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "a new agent runs", func() bool { p := agentPID(); return p != 0 && p != first })
	second := agentPID()

	states := func() []string {
		mu.Lock()
		defer mu.Unlock()
		var s []string
		for _, r := range reports {
			s = append(s, r.Agent.State+": "+r.Agent.Reason)
		}
		return s
	}
	want := []string{"running: ", "restarting: signal: killed", "running: "}
	waitUntil(t, "the server has the reports", func() bool { return len(states()) >= len(want) })
	// Reports are coalesced, but "restarting" is sent a second before
	// the agent is started again.
	if got := states(); !slices.Equal(got, want) {
		t.Errorf("reports %q, want %q", got, want)
	}

	if err := wd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	err = <-exited
	stopped = true
	if err != nil {
		t.Errorf("watchdog exited with %v after SIGTERM, want status 0", err)
	}
	if processAlive(second) {
		t.Errorf("agent %d still runs after the watchdog stopped", second)
	}
	// The agent removes its state file only on a clean stop: it was
	// asked with SIGTERM, not killed.
	if _, err := os.Stat(statePath); !os.IsNotExist(err) {
		t.Errorf("state file after the stop: %v, want it removed by a clean exit", err)
	}
}

// lockedBuffer is a bytes.Buffer that exec's copying goroutine and the
// test may share.
type lockedBuffer struct {
	mu sync.Mutex
	b  *bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}
