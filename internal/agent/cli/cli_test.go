package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/steward-rmm/steward/internal/agent/config"
	"github.com/steward-rmm/steward/internal/protocol"
)

// runCLI runs one command and returns its exit code and output.
func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = Run(t.Context(), args, &out, &errOut)
	return code, out.String(), errOut.String()
}

// enrollServer answers enrollment with status and body, recording requests.
func enrollServer(t *testing.T, status int, body any) (*httptest.Server, *[]protocol.EnrollRequest) {
	t.Helper()
	var mu sync.Mutex
	var reqs []protocol.EnrollRequest
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		req, err := protocol.DecodeEnrollRequest(b)
		if err != nil {
			t.Errorf("server: bad enroll request: %v", err)
		}
		mu.Lock()
		reqs = append(reqs, req)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(body)
	}))
	t.Cleanup(srv.Close)
	return srv, &reqs
}

func TestInstall(t *testing.T) {
	srv, reqs := enrollServer(t, http.StatusCreated, protocol.EnrollResponse{AgentID: "agent-7", AgentSecret: "sekret"})
	path := filepath.Join(t.TempDir(), "Application Support", "agent.json")

	code, stdout, stderr := runCLI(t, "install", "--server", srv.URL+"/", "--token", "tok-1", "--config", path, "--no-service")
	if code != 0 {
		t.Fatalf("install exit %d, want 0; stderr:\n%s", code, stderr)
	}
	if len(*reqs) != 1 || (*reqs)[0].Token != "tok-1" || (*reqs)[0].Facts.Hostname == "" {
		t.Errorf("server saw %+v, want one request with token and facts", *reqs)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	want := config.Config{ServerURL: srv.URL, ServerURLs: []string{srv.URL}, AgentID: "agent-7", AgentSecret: "sekret"}
	if diff := cmp.Diff(want, cfg, cmpopts.IgnoreFields(config.Config{}, "EnrolledAt")); diff != "" {
		t.Errorf("config (-want +got):\n%s", diff)
	}
	if cfg.EnrolledAt.IsZero() {
		t.Errorf("config has no enrolled_at")
	}
	if !strings.Contains(stdout, "as agent agent-7") || strings.Contains(stdout, "service") {
		t.Errorf("stdout lacks the enrollment or speaks of services:\n%s", stdout)
	}
	if strings.Contains(stdout+stderr, "sekret") {
		t.Errorf("install printed the agent secret:\n%s\n%s", stdout, stderr)
	}
	if !strings.Contains(stderr, "plain http") {
		t.Errorf("stderr lacks the plain-http warning:\n%s", stderr)
	}

	// A second install refuses to replace the enrollment...
	code, _, stderr = runCLI(t, "install", "--server", srv.URL, "--token", "tok-2", "--config", path, "--no-service")
	if code != exitFail || !strings.Contains(stderr, "already enrolled as agent agent-7") || !strings.Contains(stderr, "--force") {
		t.Errorf("second install: exit %d, stderr %q; want 1 and an already-enrolled error", code, stderr)
	}
	if len(*reqs) != 1 {
		t.Errorf("second install contacted the server")
	}
	// ...unless forced.
	code, stdout, stderr = runCLI(t, "install", "--server", srv.URL, "--token", "tok-2", "--config", path, "--no-service", "--force")
	if code != 0 {
		t.Fatalf("forced install exit %d; stderr:\n%s", code, stderr)
	}
	if strings.Contains(stdout, "service") {
		t.Errorf("--no-service output mentions services:\n%s", stdout)
	}
}

// closedURL returns the URL of a server that has gone away: connections to
// it are refused.
func closedURL(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(http.NotFoundHandler())
	srv.Close()
	return srv.URL
}

// TestInstallServerList enrolls with two server URLs whose first fails in
// various ways: enrollment moves on to the second when the first could not
// handle it, and stops when the first refused it.
func TestInstallServerList(t *testing.T) {
	ok := protocol.EnrollResponse{AgentID: "agent-7", AgentSecret: "sekret"}
	tests := []struct {
		name       string
		first      func(t *testing.T) string // URL of the first server
		repeat     bool                      // --server twice instead of a comma
		wantCode   int
		wantStderr string
		wantSecond int // enrollment requests the second server sees
	}{
		{"first refuses connections", closedURL, false, exitOK, "trying ", 1},
		{"first refuses connections, repeated flag", closedURL, true, exitOK, "trying ", 1},
		{"first unavailable", func(t *testing.T) string {
			srv, _ := enrollServer(t, http.StatusServiceUnavailable, protocol.ErrorResponse{Error: "draining"})
			return srv.URL
		}, false, exitOK, "(HTTP 503 Service Unavailable): draining; trying ", 1},
		{"first rate limited", func(t *testing.T) string {
			srv, _ := enrollServer(t, http.StatusTooManyRequests, protocol.ErrorResponse{Error: "slow down"})
			return srv.URL
		}, false, exitOK, "slow down; trying ", 1},
		{"first rejects the token", func(t *testing.T) string {
			srv, _ := enrollServer(t, http.StatusUnauthorized, protocol.ErrorResponse{Error: "enrollment token expired"})
			return srv.URL
		}, false, exitFail, "the server refused the enrollment (HTTP 401): enrollment token expired", 0},
		{"first refuses the request", func(t *testing.T) string {
			srv, _ := enrollServer(t, http.StatusBadRequest, protocol.ErrorResponse{Error: "facts: hostname is required"})
			return srv.URL
		}, false, exitFail, "(HTTP 400): facts: hostname is required", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			first := tt.first(t)
			second, reqs := enrollServer(t, http.StatusCreated, ok)
			path := filepath.Join(t.TempDir(), "agent.json")
			args := []string{"install", "--server", first + "," + second.URL, "--token", "tok", "--config", path, "--no-service"}
			if tt.repeat {
				args = []string{"install", "--server", first, "--server", second.URL, "--token", "tok", "--config", path, "--no-service"}
			}
			code, stdout, stderr := runCLI(t, args...)
			if code != tt.wantCode || !strings.Contains(stderr, tt.wantStderr) {
				t.Fatalf("exit %d, stderr:\n%s\nwant exit %d and %q", code, stderr, tt.wantCode, tt.wantStderr)
			}
			if got := len(*reqs); got != tt.wantSecond {
				t.Errorf("second server saw %d enrollments, want %d", got, tt.wantSecond)
			}
			if tt.wantCode != exitOK {
				if _, err := os.Stat(path); !os.IsNotExist(err) {
					t.Errorf("failed enrollment left a config behind: %v", err)
				}
				return
			}
			if !strings.Contains(stdout, "Enrolled with "+second.URL) {
				t.Errorf("stdout does not name the server that enrolled:\n%s", stdout)
			}
			cfg, err := config.Load(path)
			if err != nil {
				t.Fatal(err)
			}
			// The server that answered goes first.
			if diff := cmp.Diff([]string{second.URL, first}, cfg.ServerURLs); diff != "" {
				t.Errorf("server_urls (-want +got):\n%s", diff)
			}
			if cfg.ServerURL != second.URL {
				t.Errorf("server_url got %q, want %q", cfg.ServerURL, second.URL)
			}
		})
	}
}

func TestInstallAllServersDown(t *testing.T) {
	a, b := closedURL(t), closedURL(t)
	code, _, stderr := runCLI(t, "install", "--server", a+","+b, "--token", "t", "--config", filepath.Join(t.TempDir(), "agent.json"), "--no-service")
	if code != exitFail {
		t.Errorf("exit %d, want %d", code, exitFail)
	}
	if !strings.Contains(stderr, "warning: enrollment with "+a+" failed") || !strings.Contains(stderr, "trying "+b) ||
		!strings.Contains(stderr, "steward-agent install: enroll: ") {
		t.Errorf("stderr does not report both failures:\n%s", stderr)
	}
}

func TestInstallErrors(t *testing.T) {
	rejected, _ := enrollServer(t, http.StatusUnauthorized, protocol.ErrorResponse{Error: "enrollment token expired"})
	limited, _ := enrollServer(t, http.StatusTooManyRequests, protocol.ErrorResponse{Error: "too many enrollments"})
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.json")
	if err := os.WriteFile(garbage, []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantErr  string
	}{
		{"no args", []string{"install"}, exitUsage, "--server is required"},
		{"no token", []string{"install", "--server", "https://x"}, exitUsage, "an enrollment token is required: set STEWARD_TOKEN"},
		{"bad url", []string{"install", "--server", "rmm.example.com", "--token", "t"}, exitUsage, `invalid server URL "rmm.example.com": add http:// or https:// in front`},
		{"bad second url", []string{"install", "--server", "https://x,rmm.example.com", "--token", "t"}, exitUsage, `--server: invalid server URL "rmm.example.com"`},
		{"empty entry", []string{"install", "--server", "https://x,", "--token", "t"}, exitUsage, "--server: server URL is empty"},
		{"duplicate", []string{"install", "--server", "https://x", "--server", "HTTPS://x/", "--token", "t"}, exitUsage, "--server: server URL https://x is given twice"},
		{"extra arg", []string{"install", "--server", "https://x", "--token", "t", "oops"}, exitUsage, `unexpected argument "oops"`},
		{"expired token", []string{"install", "--server", rejected.URL, "--token", "t", "--no-service", "--config", filepath.Join(dir, "a.json")}, exitFail,
			"the server refused the enrollment (HTTP 401): enrollment token expired"},
		{"rate limited", []string{"install", "--server", limited.URL, "--token", "t", "--no-service", "--config", filepath.Join(dir, "b.json")}, exitFail,
			"(HTTP 429): too many enrollments"},
		{"existing file", []string{"install", "--server", rejected.URL, "--token", "t", "--no-service", "--config", garbage}, exitFail,
			"already exists; use --force"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr := runCLI(t, tt.args...)
			if code != tt.wantCode || !strings.Contains(stderr, tt.wantErr) {
				t.Errorf("exit %d, stderr:\n%s\nwant exit %d and %q", code, stderr, tt.wantCode, tt.wantErr)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(dir, "a.json")); !os.IsNotExist(err) {
		t.Errorf("failed enrollment left a config behind: %v", err)
	}
}

func TestVersionAndUsage(t *testing.T) {
	if code, stdout, _ := runCLI(t, "version"); code != 0 || !strings.HasPrefix(stdout, "steward-agent dev ") {
		t.Errorf("version: exit %d, stdout %q; want 0 and steward-agent dev", code, stdout)
	}
	if code, _, _ := runCLI(t); code != exitUsage {
		t.Errorf("no command: exit %d, want %d", code, exitUsage)
	}
	if code, _, stderr := runCLI(t, "frobnicate"); code != exitUsage || !strings.Contains(stderr, `unknown command "frobnicate"`) {
		t.Errorf("unknown command: exit %d, stderr %q", code, stderr)
	}
	if code, _, stderr := runCLI(t, "status", "-h"); code != 0 || !strings.Contains(stderr, "Exit codes:") {
		t.Errorf("status -h: exit %d, stderr %q; want 0 and the exit codes", code, stderr)
	}
}

// deadPID returns the pid of a process that has exited.
func deadPID(t *testing.T) int {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	return cmd.Process.Pid
}

func TestStatus(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "agent.json")
	since := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)

	tests := []struct {
		name     string
		config   bool
		state    *config.State
		wantCode int
		wantOut  []string
	}{
		{"not enrolled", false, nil, statusNotEnrolled, []string{"Enrolled:  no"}},
		{"not running", true, nil, statusNotRunning, []string{"Enrolled:  yes, agent agent-7 with https://rmm.example.com, https://rmm2.example.com\n", "Agent:     not running"}},
		{"stale", true, &config.State{PID: deadPID(t), Connected: true, Since: since}, statusNotRunning, []string{"not running (stale state from pid"}},
		{"connected", true, &config.State{PID: os.Getpid(), Connected: true, Since: since, ServerURL: "https://rmm2.example.com"}, statusConnected,
			[]string{"running (pid", "Policy:    none received yet", "Connected: yes, to https://rmm2.example.com, since"}},
		{"connected with a policy", true, &config.State{PID: os.Getpid(), Connected: true, Since: since, PolicyRevision: "7f3a9c", PolicyAppliedAt: since}, statusConnected,
			[]string{"Policy:    revision 7f3a9c (applied " + since.Local().Format(time.RFC3339) + ")\n"}},
		{"connected, old state file", true, &config.State{PID: os.Getpid(), Connected: true, Since: since}, statusConnected,
			[]string{"Connected: yes, since"}},
		{"disconnected", true, &config.State{PID: os.Getpid(), Since: since, LastError: "dial: connection refused", ServerURL: "https://rmm.example.com"},
			statusDisconnected, []string{"Connected: no", "Last error: https://rmm.example.com: dial: connection refused"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			os.Remove(path)
			config.RemoveState(config.StatePath(path))
			if tt.config {
				cfg := config.Config{ServerURLs: []string{"https://rmm.example.com", "https://rmm2.example.com"}, AgentID: "agent-7", AgentSecret: "s"}
				if err := config.Save(path, cfg); err != nil {
					t.Fatal(err)
				}
			}
			if tt.state != nil {
				if err := config.SaveState(config.StatePath(path), *tt.state); err != nil {
					t.Fatal(err)
				}
			}
			code, stdout, _ := runCLI(t, "status", "--config", path)
			if code != tt.wantCode {
				t.Errorf("exit %d, want %d; stdout:\n%s", code, tt.wantCode, stdout)
			}
			for _, want := range tt.wantOut {
				if !strings.Contains(stdout, want) {
					t.Errorf("stdout lacks %q:\n%s", want, stdout)
				}
			}
		})
	}
}

func TestRunConnectsAndCleansUp(t *testing.T) {
	helloSeen := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != protocol.FormatCredential("agent-7", "s") {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		conn, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer conn.CloseNow()
		ctx := r.Context()
		if _, _, err := conn.Read(ctx); err != nil {
			return
		}
		close(helloSeen)
		b, _ := protocol.Encode(protocol.TypeWelcome, "", protocol.Welcome{AgentID: "agent-7", ProtocolVersion: protocol.Version, HeartbeatInterval: protocol.Duration(time.Minute)})
		conn.Write(ctx, websocket.MessageText, b)
		for {
			if _, _, err := conn.Read(context.Background()); err != nil {
				return
			}
		}
	}))
	t.Cleanup(srv.Close)

	// The first server is down: the agent moves on to the second, and the
	// state file says so.
	path := filepath.Join(t.TempDir(), "agent.json")
	if err := config.Save(path, config.Config{ServerURLs: []string{closedURL(t), srv.URL}, AgentID: "agent-7", AgentSecret: "s"}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var stderr bytes.Buffer
	done := make(chan int, 1)
	endpoint := testIPCEndpoint(t)
	go func() { done <- Run(ctx, []string{"run", "--config", path, "--ipc", endpoint}, io.Discard, &stderr) }()

	select {
	case <-helloSeen:
	case <-time.After(5 * time.Second):
		t.Fatal("agent did not connect")
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		st, err := config.LoadState(config.StatePath(path))
		if err == nil && st.Connected {
			if st.PID != os.Getpid() || st.ServerURL != srv.URL {
				t.Errorf("state got %+v, want our pid and server", st)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("state never showed connected (last: %+v, %v)", st, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if code, stdout, _ := runCLI(t, "status", "--config", path); code != statusConnected || !strings.Contains(stdout, "Connected: yes, to "+srv.URL+",") {
		t.Errorf("status while running: exit %d, want 0 and connected to %s:\n%s", code, srv.URL, stdout)
	}

	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("run exit %d, want 0; stderr:\n%s", code, stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("run did not stop")
	}
	if _, err := os.Stat(config.StatePath(path)); !os.IsNotExist(err) {
		t.Errorf("state file still present after clean exit: %v", err)
	}
}

func TestRunNotEnrolled(t *testing.T) {
	code, _, stderr := runCLI(t, "run", "--config", filepath.Join(t.TempDir(), "agent.json"))
	if code != exitFail || !strings.Contains(stderr, "not enrolled") {
		t.Errorf("exit %d, stderr %q; want 1 and not enrolled", code, stderr)
	}
}

func TestShellQuote(t *testing.T) {
	tests := []struct{ in, want string }{
		{"/etc/steward-agent/agent.json", "/etc/steward-agent/agent.json"},
		{"/Library/Application Support/Steward/agent.json", `"/Library/Application Support/Steward/agent.json"`},
		{`C:\ProgramData\Steward\agent.json`, `C:\ProgramData\Steward\agent.json`},
	}
	for _, tt := range tests {
		if got := shellQuote(tt.in); got != tt.want {
			t.Errorf("shellQuote(%q) got %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestRunPolicy runs the agent with a policy saved by an earlier run; the
// server resends that revision in its welcome (acked, not applied again),
// then sends a new one, which is applied, saved, acked and shown by status.
func TestRunPolicy(t *testing.T) {
	path := filepath.Join(t.TempDir(), "agent.json")
	policyPath := config.PolicyPath(path)
	savedAt := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	if err := config.SavePolicy(policyPath, config.Policy{Revision: "r1", Policy: json.RawMessage(`{"metrics":{"interval":"60s"}}`), AppliedAt: savedAt}); err != nil {
		t.Fatal(err)
	}

	acks := make(chan string, 10)
	sendR2 := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer conn.CloseNow()
		ctx := r.Context()
		if _, _, err := conn.Read(ctx); err != nil { // hello
			return
		}
		p1 := protocol.PolicyUpdate{Revision: "r1", Policy: json.RawMessage(`{"metrics":{"interval":"60s"}}`)}
		b, _ := protocol.Encode(protocol.TypeWelcome, "", protocol.Welcome{AgentID: "agent-7", ProtocolVersion: protocol.Version, HeartbeatInterval: protocol.Duration(time.Minute), Policy: &p1})
		conn.Write(ctx, websocket.MessageText, b)
		go func() {
			select {
			case <-sendR2:
			case <-ctx.Done():
				return
			}
			b, _ := protocol.Encode(protocol.TypePolicy, "", protocol.PolicyUpdate{Revision: "r2", Policy: json.RawMessage(`{"metrics":{"interval":"30s"}}`)})
			conn.Write(ctx, websocket.MessageText, b)
		}()
		for {
			_, b, err := conn.Read(context.Background())
			if err != nil {
				return
			}
			env, err := protocol.DecodeEnvelope(b)
			if err != nil || env.Type != protocol.TypePolicyAck {
				continue
			}
			if ack, err := protocol.DecodePolicyAck(env.Data); err == nil {
				acks <- ack.Revision
			}
		}
	}))
	t.Cleanup(srv.Close)
	if err := config.Save(path, config.Config{ServerURLs: []string{srv.URL}, AgentID: "agent-7", AgentSecret: "s"}); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var stderr syncWriter
	done := make(chan int, 1)
	endpoint := testIPCEndpoint(t)
	go func() { done <- Run(ctx, []string{"run", "--config", path, "--ipc", endpoint}, io.Discard, &stderr) }()
	expectAck := func(want string) {
		t.Helper()
		select {
		case got := <-acks:
			if got != want {
				t.Errorf("policy_ack got %q, want %q", got, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("no policy_ack for %s; stderr:\n%s", want, stderr.String())
		}
	}

	expectAck("r1")
	if p, err := config.LoadPolicy(policyPath); err != nil || !p.AppliedAt.Equal(savedAt) {
		t.Errorf("policy file after the welcome got %+v, %v; want r1 untouched", p, err)
	}
	if code, stdout, _ := runCLI(t, "status", "--config", path); !strings.Contains(stdout, "Policy:    revision r1 (applied "+savedAt.Local().Format(time.RFC3339)+")") {
		t.Errorf("status with the saved policy: exit %d, want revision r1:\n%s", code, stdout)
	}

	close(sendR2)
	expectAck("r2")
	p, err := config.LoadPolicy(policyPath)
	if err != nil || p.Revision != "r2" || string(p.Policy) != `{"metrics":{"interval":"30s"}}` || !p.AppliedAt.After(savedAt) {
		t.Errorf("policy file got %+v, %v; want r2 applied now", p, err)
	}
	if code, stdout, _ := runCLI(t, "status", "--config", path); !strings.Contains(stdout, "Policy:    revision r2 (applied ") {
		t.Errorf("status after a new policy: exit %d, want revision r2:\n%s", code, stdout)
	}
	if !strings.Contains(stderr.String(), "policy applied") {
		t.Errorf("log does not say the policy was applied:\n%s", stderr.String())
	}

	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("run exit %d, want 0; stderr:\n%s", code, stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("run did not stop")
	}
	// The policy outlives the run; the state file does not.
	if p, err := config.LoadPolicy(policyPath); err != nil || p.Revision != "r2" {
		t.Errorf("policy file after exit got %+v, %v; want r2", p, err)
	}
}

// syncWriter is a bytes.Buffer safe for the agent's log and the test.
type syncWriter struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (w *syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *syncWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}
