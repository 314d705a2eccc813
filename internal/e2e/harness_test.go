package e2e

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// binaries are built once per test run into binDir.
var (
	binDir   string
	buildErr error
)

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		os.Exit(m.Run())
	}
	dir, err := os.MkdirTemp("", "steward-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	buildErr = build(dir)
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func build(dir string) error {
	root, err := filepath.Abs("../..")
	if err != nil {
		return err
	}
	for _, name := range []string{"steward", "steward-agent", "steward-sim"} {
		cmd := exec.Command("go", "build", "-o", filepath.Join(dir, name), "./cmd/"+name)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("go build %s: %v\n%s", name, err, out)
		}
	}
	return nil
}

func bin(t *testing.T, name string) string {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end test skipped in -short mode")
	}
	if buildErr != nil {
		t.Fatalf("build binaries: %v", buildErr)
	}
	return filepath.Join(binDir, name)
}

// logBuffer collects a process's output for assertions and failure logs.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// server is a running steward serve process.
type server struct {
	t       *testing.T
	URL     string
	addr    string
	dataDir string
	dbURL   string
	// extra holds additional steward serve flags.
	extra   []string
	cmd     *exec.Cmd
	log     *logBuffer
	waitErr chan error
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startServer runs steward serve on a free port with a fresh data dir.
func startServer(t *testing.T, dbURL string, extra ...string) *server {
	t.Helper()
	addr := freeAddr(t)
	s := &server{t: t, addr: addr, URL: "http://" + addr, dataDir: t.TempDir(), dbURL: dbURL, log: &logBuffer{}, extra: extra}
	// Registered before the start, so a server that fails to start shows
	// its log.
	t.Cleanup(func() {
		s.stop()
		if t.Failed() {
			t.Logf("server log:\n%s", s.log.String())
		}
	})
	s.start()
	return s
}

func (s *server) args(extra ...string) []string {
	args := append([]string{}, extra...)
	args = append(args, "--data-dir", s.dataDir)
	if s.dbURL != "" {
		args = append(args, "--database-url", s.dbURL)
	}
	return args
}

func (s *server) start() {
	t := s.t
	t.Helper()
	args := append(s.args("serve", "--listen", s.addr, "--heartbeat", "1s", "--log-level", "debug"), s.extra...)
	cmd := exec.Command(bin(t, "steward"), args...)
	cmd.Stdout, cmd.Stderr = s.log, s.log
	if err := cmd.Start(); err != nil {
		t.Fatalf("start steward serve: %v", err)
	}
	s.cmd = cmd
	s.waitErr = make(chan error, 1)
	go func() { s.waitErr <- cmd.Wait() }()
	waitFor(t, 30*time.Second, "server healthy", func() error {
		select {
		case err := <-s.waitErr:
			s.waitErr <- err
			return fmt.Errorf("server exited: %v", err)
		default:
		}
		resp, err := http.Get(s.URL + "/healthz")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("healthz: %s", resp.Status)
		}
		return nil
	})
}

// kill ends the server with SIGKILL, as a crash would.
func (s *server) kill() {
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Kill()
	<-s.waitErr
	s.cmd = nil
}

// stop ends the server with SIGTERM and waits for a clean exit.
func (s *server) stop() {
	if s.cmd == nil {
		return
	}
	if runtime.GOOS == "windows" {
		s.cmd.Process.Kill()
	} else {
		s.cmd.Process.Signal(os.Interrupt)
	}
	select {
	case err := <-s.waitErr:
		if err != nil {
			s.t.Errorf("steward serve exited with %v", err)
		}
	case <-time.After(20 * time.Second):
		s.cmd.Process.Kill()
		<-s.waitErr
		s.t.Errorf("steward serve did not stop within 20s of SIGINT")
	}
	s.cmd = nil
}

func (s *server) restart() {
	s.stop()
	s.start()
}

// cli runs a steward console command against the server's database.
func (s *server) cli(stdin string, args ...string) (string, error) {
	cmd := exec.Command(bin(s.t, "steward"), s.args(args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err != nil {
		return stdout.String(), fmt.Errorf("steward %s: %v: %s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String(), nil
}

var setupURLRe = regexp.MustCompile(`setup_url=(\S+)`)

// setupURL returns the one-time setup link from the server log.
func (s *server) setupURL() string {
	s.t.Helper()
	var link string
	waitFor(s.t, 10*time.Second, "setup link in log", func() error {
		m := setupURLRe.FindStringSubmatch(s.log.String())
		if m == nil {
			return fmt.Errorf("no setup_url in log")
		}
		link = strings.Trim(m[1], `"`)
		return nil
	})
	return link
}

// apiClient calls the JSON API with a bearer token.
type apiClient struct {
	t     *testing.T
	base  string
	token string
}

// in returns the client for the (sub)test t, so that a failure is
// reported where it happened.
func (c *apiClient) in(t *testing.T) *apiClient {
	return &apiClient{t: t, base: c.base, token: c.token}
}

func (c *apiClient) do(method, path string, body any, out any) int {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, c.base+path, rd)
	req.Header.Set("Authorization", "Bearer "+c.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil && len(b) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			c.t.Fatalf("%s %s: decode %q: %v", method, path, b, err)
		}
	}
	return resp.StatusCode
}

func (c *apiClient) mustDo(method, path string, body any, out any, want int) {
	c.t.Helper()
	var raw json.RawMessage
	got := c.do(method, path, body, &raw)
	if got != want {
		c.t.Fatalf("%s %s = %d %s, want %d", method, path, got, raw, want)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			c.t.Fatalf("%s %s: decode: %v", method, path, err)
		}
	}
}

// agentProc is a running steward-agent run process.
type agentProc struct {
	cmd     *exec.Cmd
	log     *logBuffer
	waitErr chan error
}

// agentEnv is the environment of a steward-agent command for the agent of
// config: its own local IPC endpoint, so that agents of tests running at
// the same time (and `status` calls) never meet at the machine's one.
// Unix socket paths are short (108 bytes): a hash of config names it.
func agentEnv(t *testing.T, config string) []string {
	t.Helper()
	dir := filepath.Join(os.TempDir(), fmt.Sprintf("steward-ipc-%x", sha256.Sum256([]byte(config)))[:len("steward-ipc-")+12])
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return append(os.Environ(), "STEWARD_AGENT_IPC="+filepath.Join(dir, "agent.sock"))
}

func startAgent(t *testing.T, config string) *agentProc {
	t.Helper()
	return startAgentBinary(t, bin(t, "steward-agent"), config)
}

// startAgentBinary runs "binary run" for the agent of config: an agent
// installed at a path of its own, as an update replaces it; env is added
// to its environment.
func startAgentBinary(t *testing.T, binary, config string, env ...string) *agentProc {
	t.Helper()
	a := &agentProc{log: &logBuffer{}, waitErr: make(chan error, 1)}
	a.cmd = exec.Command(binary, "run", "--config", config)
	a.cmd.Env = append(agentEnv(t, config), env...)
	a.cmd.Stdout, a.cmd.Stderr = a.log, a.log
	if err := a.cmd.Start(); err != nil {
		t.Fatalf("start steward-agent run: %v", err)
	}
	go func() { a.waitErr <- a.cmd.Wait() }()
	t.Cleanup(func() {
		a.kill()
		if t.Failed() {
			t.Logf("agent log:\n%s", a.log.String())
		}
	})
	return a
}

func (a *agentProc) kill() {
	if a.cmd.ProcessState != nil {
		return
	}
	a.cmd.Process.Kill()
	<-a.waitErr
	a.waitErr <- nil
}

// waitFor polls fn until it returns nil or the timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, fn func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var err error
	for time.Now().Before(deadline) {
		if err = fn(); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("waiting for %s: %v", what, err)
}

// firstLine returns the first non-empty line of s.
func firstLine(s string) string {
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" {
			return l
		}
	}
	return ""
}

// httpGet returns the status code of a GET.
func httpGet(url string) (int, error) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// benchFleet is a server with an owner's API client and one site whose
// enrollment token any number of agents may use: the start of every
// benchmark.
type benchFleet struct {
	srv      *server
	api      *apiClient
	clientID string
	siteID   string
	token    string
}

func newBenchFleet(t *testing.T, dbURL string, flags ...string) benchFleet {
	t.Helper()
	srv := startServer(t, dbURL, flags...)
	if _, err := srv.cli("bench-password-1\n", "user", "create", "--email", "bench@example.com", "--role", "owner", "--password-stdin"); err != nil {
		t.Fatal(err)
	}
	out, err := srv.cli("", "user", "api-token", "--email", "bench@example.com", "--name", "bench")
	if err != nil {
		t.Fatal(err)
	}
	api := &apiClient{t: t, base: srv.URL, token: firstLine(out)}
	var client, site struct{ ID string }
	api.mustDo("POST", "/api/v1/clients", map[string]any{"name": "Big Client"}, &client, 201)
	api.mustDo("POST", "/api/v1/clients/"+client.ID+"/sites", map[string]any{"name": "Everything"}, &site, 201)
	var tok struct{ Token string }
	api.mustDo("POST", "/api/v1/sites/"+site.ID+"/enrollment-tokens", map[string]any{"expires_in": "24h"}, &tok, 201)
	return benchFleet{srv: srv, api: api, clientID: client.ID, siteID: site.ID, token: tok.Token}
}
