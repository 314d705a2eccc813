package cli

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/steward-rmm/steward/internal/agent/config"
	"github.com/steward-rmm/steward/internal/agent/control"
	"github.com/steward-rmm/steward/internal/agent/ipc"
	"github.com/steward-rmm/steward/internal/agent/settings"
	"github.com/steward-rmm/steward/internal/protocol"
)

// testIPCEndpoint is a private endpoint, so that tests never take the
// machine's real one.
func testIPCEndpoint(t *testing.T) string {
	t.Helper()
	// The test's agents run as this process's account, not (under wine,
	// or a non-root run) the service's.
	t.Setenv(ipcOwnerEnv, "current")
	if runtime.GOOS == "windows" {
		return `\\.\pipe\steward-cli-test-` + rand.Text()
	}
	dir, err := os.MkdirTemp("", "cli-ipc")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return filepath.Join(dir, "run", "agent.sock")
}

// TestRunServesIPC runs the agent against a WebSocket server and calls
// every method over the real endpoint: a help request reaches the server
// on the control channel and leaves the agent's file once acknowledged.
func TestRunServesIPC(t *testing.T) {
	helps := make(chan protocol.HelpRequest, 10)
	tray := `{"enabled":true,"company":"Acme IT","help_requests":true}`
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
		p := protocol.PolicyUpdate{Revision: "r1", Policy: json.RawMessage(`{"metrics":{"interval":"60s"},"tray":` + tray + `}`)}
		b, _ := protocol.Encode(protocol.TypeWelcome, "", protocol.Welcome{AgentID: "agent-7", ProtocolVersion: protocol.Version,
			HeartbeatInterval: protocol.Duration(time.Minute), Policy: &p})
		conn.Write(ctx, websocket.MessageText, b)
		for {
			_, b, err := conn.Read(ctx)
			if err != nil {
				return
			}
			env, err := protocol.DecodeEnvelope(b)
			if err != nil || env.Type != protocol.TypeHelpRequest {
				continue
			}
			h, err := protocol.DecodeHelpRequest(env.Data)
			if err != nil {
				t.Errorf("help request from the agent: %v", err)
				continue
			}
			helps <- h
			ack, _ := protocol.Encode(protocol.TypeHelpRequestAck, env.ID, nil)
			conn.Write(ctx, websocket.MessageText, ack)
		}
	}))
	t.Cleanup(srv.Close)
	path := filepath.Join(t.TempDir(), "agent.json")
	if err := config.Save(path, config.Config{ServerURLs: []string{srv.URL}, AgentID: "agent-7", AgentSecret: "s"}); err != nil {
		t.Fatal(err)
	}
	endpoint := testIPCEndpoint(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var stderr syncWriter
	done := make(chan int, 1)
	go func() { done <- Run(ctx, []string{"run", "--config", path, "--ipc", endpoint}, io.Discard, &stderr) }()

	c := dialAgent(t, endpoint)
	call := func(method string, req, resp any) error {
		t.Helper()
		cctx, ccancel := context.WithTimeout(ctx, 5*time.Second)
		defer ccancel()
		return c.Call(cctx, method, req, resp)
	}
	// status, once the welcome's policy is applied.
	var st ipc.StatusReply
	deadline := time.Now().Add(5 * time.Second)
	for {
		if err := call(ipc.MethodStatus, nil, &st); err != nil {
			t.Fatalf("status: %v; agent log:\n%s", err, stderr.String())
		}
		if st.Connected && st.PolicyRevision == "r1" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("status never showed connected with r1: %+v\n%s", st, stderr.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	if st.AgentID != "agent-7" || st.PID != os.Getpid() || st.Hostname == "" || st.Version == "" || st.ServerURL != srv.URL {
		t.Errorf("status got %+v, want agent-7, this pid, a hostname, a version and %s", st, srv.URL)
	}

	var tc ipc.TrayConfigReply
	if err := call(ipc.MethodTrayConfig, nil, &tc); err != nil || !jsonSame(tc.Tray, tray) {
		t.Errorf("tray_config got %s, %v; want %s", tc.Tray, err, tray)
	}

	var hr ipc.HelpRequestReply
	if err := call(ipc.MethodHelpRequest, ipc.HelpRequestArgs{Message: "My screen is blank."}, &hr); err != nil || hr.ID == "" {
		t.Fatalf("help_request got %+v, %v; want an ID", hr, err)
	}
	select {
	case h := <-helps:
		if h.ID != hr.ID || h.Message != "My screen is blank." || h.User == "" {
			t.Errorf("server got help request %+v, want ID %s with the message and a user", h, hr.ID)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("the help request did not reach the server\n%s", stderr.String())
	}
	waitAcked(t, helpRequestsPath(path), hr.ID, &stderr)
	if err := call(ipc.MethodHelpRequest, ipc.HelpRequestArgs{Message: " "}, nil); !errors.Is(err, ipc.ErrBadRequest) {
		t.Errorf("empty help request got %v, want ErrBadRequest", err)
	}

	if isAdmin() {
		var h ipc.HealthReply
		if err := call(ipc.MethodHealth, nil, &h); err != nil || h.PID != os.Getpid() || !h.Connected || time.Since(h.ControlAlive) > healthStale {
			t.Errorf("health got %+v, %v; want this pid, connected, alive", h, err)
		}
	}

	if code, stdout, _ := runCLI(t, "status", "--config", path, "--ipc", endpoint); code != statusConnected ||
		!strings.Contains(stdout, "IPC:       listening at "+endpoint) {
		t.Errorf("status: exit %d, want 0 and IPC listening:\n%s", code, stdout)
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
	// The endpoint went with the agent.
	dctx, dcancel := context.WithTimeout(context.Background(), time.Second)
	defer dcancel()
	if c, err := dialLocal(dctx, endpoint); err == nil {
		c.Close()
		t.Error("the endpoint still answers after run stopped")
	}
}

// serveOnly serves endpoint with method alone, to any local caller, as
// another process would (an older agent, an impostor), until the test
// ends.
func serveOnly(t *testing.T, endpoint, method string, h ipc.Handler) {
	t.Helper()
	srv := ipc.NewServer(endpoint, slog.New(slog.DiscardHandler))
	srv.Handle(method, ipc.RoleUser, h)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	<-srv.Ready()
}

// testControlClient is a control client that never reaches a server,
// for handlers that need one; helpFile may be "".
func testControlClient(t *testing.T, log *slog.Logger, helpFile string) *control.Client {
	t.Helper()
	client, err := control.New(control.Options{ServerURLs: []string{"http://127.0.0.1:9"}, AgentID: "agent-7", AgentSecret: "s",
		Facts: func(context.Context) (protocol.Facts, error) { return protocol.Facts{}, nil }, Log: log, HelpFile: helpFile})
	if err != nil {
		t.Fatal(err)
	}
	return client
}

func dialAgent(t *testing.T, endpoint string) *ipc.Client {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		c, err := dialLocal(ctx, endpoint)
		cancel()
		if err == nil {
			t.Cleanup(func() { c.Close() })
			return c
		}
		if time.Now().After(deadline) {
			t.Fatalf("the agent never listened at %s: %v", endpoint, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitAcked waits until the agent logs the server's acknowledgement of
// help request id, then checks the file no longer holds it. The file is
// read once: on Windows a reader blocks the agent's rename over it.
func waitAcked(t *testing.T, path, id string, log *syncWriter) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(log.String(), `server acknowledged help request" id=`+id) {
		if time.Now().After(deadline) {
			t.Fatalf("help request %s never acknowledged; agent log:\n%s", id, log.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	if b, err := os.ReadFile(path); err != nil || strings.Contains(string(b), id) {
		t.Errorf("%s after the ack: %q, %v; want the request gone", path, b, err)
	}
}

func jsonSame(a json.RawMessage, b string) bool {
	var x, y any
	return json.Unmarshal(a, &x) == nil && json.Unmarshal([]byte(b), &y) == nil && reflect.DeepEqual(x, y)
}

// TestHealthStale: a control loop that stopped proving itself alive makes
// health fail, which is what the watchdog acts on.
func TestHealthStale(t *testing.T) {
	a := newLocalAPI("agent-7", settings.New(filepath.Join(t.TempDir(), "policy.json")), slog.New(slog.DiscardHandler))
	now := time.Now()
	if _, err := a.health(now.Add(-time.Second), now); err != nil {
		t.Errorf("health with a fresh loop: %v", err)
	}
	_, err := a.health(now.Add(-healthStale-time.Second), now)
	if !errors.Is(err, ipc.ErrUnhealthy) {
		t.Errorf("health with a stale loop got %v, want ErrUnhealthy", err)
	}
}

// TestTrayConfig: the policy's tray section, {} without one, and help
// requests refused when the policy turns them off.
func TestTrayConfig(t *testing.T) {
	tests := []struct {
		policy string // "" for none yet
		want   string
		helpOK bool
	}{
		{"", `{}`, true},
		{`{"metrics":{}}`, `{}`, true},
		{`{"tray":{"company":"Acme"}}`, `{"company":"Acme"}`, true},
		{`{"tray":{"help_requests":false}}`, `{"help_requests":false}`, false},
		{`{"tray":"garbage"}`, `{}`, true},
	}
	for _, tt := range tests {
		store := settings.New(filepath.Join(t.TempDir(), "policy.json"))
		if tt.policy != "" {
			if err := store.Apply(protocol.PolicyUpdate{Revision: "r", Policy: json.RawMessage(tt.policy)}); err != nil {
				t.Fatal(err)
			}
		}
		a := newLocalAPI("agent-7", store, slog.New(slog.DiscardHandler))
		if got := a.tray(); !jsonSame(got, tt.want) {
			t.Errorf("tray with policy %s got %s, want %s", tt.policy, got, tt.want)
		}
		if !tt.helpOK {
			_, err := a.helpRequest(t.Context(), nil, ipc.Caller{User: "u"}, json.RawMessage(`{"message":"hi"}`))
			if !errors.Is(err, ipc.ErrForbidden) {
				t.Errorf("help request with policy %s got %v, want ErrForbidden", tt.policy, err)
			}
		}
	}
}
